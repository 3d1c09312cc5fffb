"""Readable errors: the server's own message from a failed response, plain words for
network faults, never a secret.

Every message that leaves this module has been through
:func:`ometer_tui.core.secrets.redact_text` with the endpoint's secrets: a proxy that
echoes the request headers in its error page cannot leak the token into a log.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import httpx

from ometer_tui.core.api.base import ErrorKind, RequestError
from ometer_tui.core.secrets import Secret, redact_text

#: Longest server message kept (characters), after whitespace is collapsed.
MAX_MESSAGE_CHARS = 300

_WS = re.compile(r"\s+")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT_STYLE = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(rb"<[^>]*>")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&nbsp;": " "}


def reason_phrase(status: int, given: str | None = None) -> str:
    """The reason phrase the server sent, else the standard one, else ``"HTTP <n>"``."""
    if given:
        return given
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Whitespace collapsed, cut to ``limit`` characters with an ellipsis."""
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text


def html_message(body: bytes) -> str:
    """The ``<title>`` of an HTML page, else its visible text, short."""
    match = _TITLE.search(body)
    title = short(_unescape(match.group(1).decode("utf-8", "replace")), 160) if match else ""
    if match:
        body = body[: match.start()] + body[match.end() :]
    text = _TAG.sub(b" ", _SCRIPT_STYLE.sub(b" ", body))
    rest = short(_unescape(text.decode("utf-8", "replace")), 400)
    if title:
        # nginx-style pages repeat the title in an <h1>: keep what else the page says
        rest = short(rest.replace(title, " ", 1), 400)
        return short(f"{title}: {rest}", 200) if rest else title
    return short(rest, 200)


def message_from_json(value: object) -> str | None:
    """The message in a decoded JSON error body, in the shapes servers use.

    Ollama ``{"error": "..."}``; OpenAI ``{"error": {"message": "..."}}``; FastAPI
    ``{"detail": "..."}`` or ``{"detail": [{"msg": "...", "loc": [...]}, ...]}``; a bare
    ``{"message": "..."}``; a JSON string.
    """
    if isinstance(value, str):
        return value or None
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        inner = error.get("message") or error.get("msg") or error.get("detail")
        if isinstance(inner, str) and inner:
            return inner
        code = error.get("code") or error.get("type")
        if isinstance(code, str) and code:
            return code
    detail = value.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts: list[str] = []
        for item in detail:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            elif isinstance(item, str):
                parts.append(item)
        if parts:
            return "; ".join(parts)
    if isinstance(detail, dict):
        inner = message_from_json(detail)
        if inner:
            return inner
    message = value.get("message")
    if isinstance(message, str) and message:
        return message
    return None


def body_message(body: bytes, content_type: str | None = None) -> str | None:
    """The server's message in an error body, or ``None`` for an empty body."""
    stripped = body.strip()
    if not stripped:
        return None
    ctype = (content_type or "").lower()
    if stripped[:1] in (b"{", b"[", b'"') or "json" in ctype:
        try:
            decoded = json.loads(stripped)
        except ValueError:
            decoded = None
        else:
            found = message_from_json(decoded)
            if found:
                return short(found)
    head = stripped[:512].lower()
    if "html" in ctype or head.startswith((b"<!doctype html", b"<html")) or b"<title" in head:
        return html_message(stripped) or None
    return short(stripped[:4096].decode("utf-8", "replace"))


def _strip_status_prefix(message: str, status: int) -> str:
    """``"404 page not found"`` -> ``"page not found"`` (the status is shown beside it)."""
    prefix = str(status)
    if message.startswith(prefix) and message[len(prefix) : len(prefix) + 1] in (" ", ":", "-"):
        rest = message[len(prefix) :].lstrip(" :-")
        return rest or message
    return message


def parse_retry_after(headers: Mapping[str, str] | httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``Retry-After`` (delta or HTTP date).

    Negative or past values become 0; unparsable values are ignored.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms.strip()) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | httpx.Headers,
    *,
    reason: str | None = None,
    secrets: Iterable[Secret | None] = (),
) -> RequestError:
    """A non-2xx response as a :class:`RequestError` with the server's own message."""
    message = body_message(body, headers.get("content-type"))
    if message is None:
        message = reason_phrase(status, reason)
    else:
        message = _strip_status_prefix(message, status)
    return RequestError(
        ErrorKind.HTTP,
        redact_text(message, secrets),
        status=status,
        retry_after_s=parse_retry_after(headers),
        before_first_byte=True,
    )


def stream_error(value: object, secrets: Iterable[Secret | None] = ()) -> RequestError:
    """An error object found inside a 200 stream (Ollama line or SSE ``data:``)."""
    message = message_from_json(value) or short(json.dumps(value))
    return RequestError(
        ErrorKind.STREAM, redact_text(short(message), secrets), before_first_byte=False
    )


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_message(exc: BaseException, host: str, port: int) -> str:
    where = f"{host}:{port}"
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for host {host} ({cause.strerror or cause})"
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = getattr(cause, "verify_message", None) or str(cause)
            return f"TLS handshake failed: certificate not accepted for {host} ({detail})"
        if isinstance(cause, ssl.SSLError):
            detail = getattr(cause, "reason", None) or cause.strerror or str(cause)
            return f"TLS handshake failed with {where}: {detail}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {where}"
        if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            return f"could not connect to {where}: {cause.strerror}"
    text = str(exc)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return f"DNS lookup failed for host {host}"
    if "ssl" in lowered or "certificate" in lowered:
        return f"TLS handshake failed with {where}: {text}"
    if "refused" in lowered:
        return f"connection refused by {where}"
    return f"could not connect to {where}: {text or type(exc).__name__}"


def error_from_exception(
    exc: BaseException,
    *,
    host: str,
    port: int,
    timeouts: tuple[float, float] = (10.0, 60.0),
    got_first_byte: bool = False,
    tokens: int = 0,
    secrets: Iterable[Secret | None] = (),
) -> RequestError:
    """An httpx (or socket) exception as a :class:`RequestError` in plain words.

    ``timeouts`` is ``(connect_s, read_s)``; ``got_first_byte`` says whether any of the
    response body had arrived, ``tokens`` how many token chunks.
    """
    connect_s, read_s = timeouts
    before = not got_first_byte
    kind: ErrorKind
    if isinstance(exc, httpx.ConnectTimeout):
        kind, message = (
            ErrorKind.CONNECT,
            f"connect to {host}:{port} timed out after {connect_s:g} s",
        )
    elif isinstance(exc, httpx.ConnectError):
        kind, message = ErrorKind.CONNECT, _connect_message(exc, host, port)
    elif isinstance(exc, httpx.ReadTimeout):
        kind = ErrorKind.TIMEOUT
        if got_first_byte:
            message = f"no data for {read_s:g} s between chunks (after {tokens} tokens)"
        else:
            message = f"no response for {read_s:g} s"
    elif isinstance(exc, httpx.WriteTimeout):
        kind, message = ErrorKind.TIMEOUT, f"sending the request stalled for {read_s:g} s"
    elif isinstance(exc, httpx.PoolTimeout):
        kind, message = ErrorKind.TIMEOUT, "no free connection in the client pool"
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        kind = ErrorKind.RESET
        if got_first_byte:
            message = f"connection closed mid-stream after {tokens} tokens"
        else:
            message = "connection closed before a response arrived"
        detail = str(exc)
        if detail and "without sending" not in detail and "incomplete" not in detail.lower():
            message += f" ({short(detail, 120)})"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        kind, message = ErrorKind.CONFIG, f"unsupported URL: {exc}"
    elif isinstance(exc, httpx.DecodingError):
        kind, message = ErrorKind.PROTOCOL, f"could not decode the response: {exc}"
    elif isinstance(exc, httpx.TransportError):
        kind, message = (
            ErrorKind.CONNECT if before else ErrorKind.RESET,
            str(exc) or type(exc).__name__,
        )
    elif isinstance(exc, ConnectionRefusedError):
        kind, message = ErrorKind.CONNECT, f"connection refused by {host}:{port}"
    else:
        kind, message = ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}"
    return RequestError(kind, redact_text(short(message), secrets), before_first_byte=before)
