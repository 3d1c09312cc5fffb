"""Error extraction from every body shape, Retry-After forms, exception wording."""

from __future__ import annotations

import socket
import ssl
import time
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from ometer_tui.core.api.base import ErrorKind
from ometer_tui.core.api.errors import (
    body_message,
    error_from_exception,
    error_from_response,
    parse_retry_after,
    stream_error,
)
from ometer_tui.core.secrets import Secret

TOKEN = Secret("sk-test-0123456789abcdefXYZW")


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        (
            b'{"error":"model \\"x\\" not found, try pulling it first"}',
            "application/json",
            'model "x" not found, try pulling it first',
        ),
        (
            b'{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}',
            None,
            "Incorrect API key",
        ),
        (b'{"error":{"type":"server_error","code":null}}', None, "server_error"),
        (b'{"detail":"Not authenticated"}', "application/json", "Not authenticated"),
        (
            b'{"detail":[{"loc":["body","model"],"msg":"field required"},{"msg":"bad"}]}',
            None,
            "body.model: field required; bad",
        ),
        (b'{"message":"upstream timeout"}', None, "upstream timeout"),
        (b'"just a string"', "application/json", "just a string"),
        (b"404 page not found\n", "text/plain", "404 page not found"),
        (b"  lots \n\n of   whitespace\t here ", "text/plain", "lots of whitespace here"),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body>x</body></html>",
            "text/html",
            "502 Bad Gateway: x",
        ),
        (
            b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
            b"</h1></center><hr><center>nginx/1.25.3</center></body></html>",
            "text/html",
            "502 Bad Gateway: nginx/1.25.3",
        ),
        (
            b"<!DOCTYPE html><html><body><script>x()</script><h1>Oops &amp; sorry</h1></body>",
            None,
            "Oops & sorry",
        ),
        (b"{not json at all", "application/json", "{not json at all"),
    ],
)
def test_body_message_shapes(body: bytes, ctype: str | None, expected: str) -> None:
    assert body_message(body, ctype) == expected


def test_empty_body_is_none_and_long_text_is_cut() -> None:
    assert body_message(b"", None) is None
    assert body_message(b"  \n", "text/plain") is None
    long = body_message(b"word " * 500, "text/plain")
    assert long is not None and len(long) <= 300 and long.endswith("…")


def test_error_from_response_empty_body_uses_reason_phrase() -> None:
    err = error_from_response(503, b"", {})
    assert err.kind is ErrorKind.HTTP and err.status == 503
    assert str(err) == "503 Service Unavailable"
    assert err.retryable
    assert str(error_from_response(599, b"", {})) == "599 HTTP 599"
    assert str(error_from_response(418, b"", {}, reason="Custom Reason")) == "418 Custom Reason"


def test_status_is_not_repeated() -> None:
    err = error_from_response(404, b"404 page not found", {"content-type": "text/plain"})
    assert str(err) == "404 page not found"
    html = b"<html><title>502 Bad Gateway</title></html>"
    assert str(error_from_response(502, html, {"content-type": "text/html"})) == "502 Bad Gateway"


def test_error_messages_are_redacted() -> None:
    body = b'{"error":"bad header Authorization: Bearer sk-test-0123456789abcdefXYZW"}'
    err = error_from_response(401, body, {}, secrets=[TOKEN, None])
    assert "sk-test" not in err.message and "XYZW" in err.message
    assert "sk-test" not in stream_error({"error": TOKEN.reveal()}, [TOKEN]).message


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = formatdate(time.time() + 30, usegmt=True)
    got = parse_retry_after({"retry-after": when})
    assert got is not None and 27 <= got <= 31
    past = formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    err = error_from_response(429, b'{"error":"slow down"}', {"retry-after": "1"})
    assert err.retry_after_s == 1.0 and err.retryable and str(err) == "429 slow down"


def test_stream_error_shapes() -> None:
    err = stream_error({"error": {"message": "overloaded", "code": 503}})
    assert err.kind is ErrorKind.STREAM and err.message == "overloaded"
    assert not err.before_first_byte and not err.retryable


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise httpx.ConnectError(str(inner)) from inner
    except httpx.ConnectError as exc:
        return exc


def test_connect_errors_in_plain_words() -> None:
    kw: dict[str, Any] = {"host": "127.0.0.1", "port": 9}
    refused = error_from_exception(
        _connect_error(ConnectionRefusedError(111, "Connect call failed")), **kw
    )
    assert (
        refused.kind is ErrorKind.CONNECT and refused.message == "connection refused by 127.0.0.1:9"
    )
    assert refused.retryable
    dns = error_from_exception(
        _connect_error(socket.gaierror(-2, "Name or service not known")), host="x", port=80
    )
    assert dns.message.startswith("DNS lookup failed for host x")
    tls = error_from_exception(_connect_error(ssl.SSLError(1, "boom")), **kw)
    assert tls.message.startswith("TLS handshake failed")
    timeout = error_from_exception(httpx.ConnectTimeout("t"), timeouts=(2.0, 5.0), **kw)
    assert timeout.kind is ErrorKind.CONNECT and "2 s" in timeout.message


def test_read_errors() -> None:
    kw: dict[str, Any] = {"host": "h", "port": 1, "timeouts": (1.0, 0.5)}
    stalled = error_from_exception(httpx.ReadTimeout("t"), got_first_byte=True, tokens=3, **kw)
    assert stalled.kind is ErrorKind.TIMEOUT
    assert stalled.message == "no data for 0.5 s between chunks (after 3 tokens)"
    assert not stalled.before_first_byte
    silent = error_from_exception(httpx.ReadTimeout("t"), **kw)
    assert silent.message == "no response for 0.5 s" and silent.before_first_byte
    reset = error_from_exception(
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        got_first_byte=True,
        tokens=4,
        **kw,
    )
    assert reset.kind is ErrorKind.RESET
    assert reset.message == "connection closed mid-stream after 4 tokens"
    assert error_from_exception(httpx.ReadError("x"), **kw).kind is ErrorKind.RESET
