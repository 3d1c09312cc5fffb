"""Just enough HTTP/1.1 on asyncio streams for the demo endpoint.

Reads a request line, headers and a ``Content-Length`` (or chunked) body; writes
responses with ``Content-Length`` or, for streams, ``Transfer-Encoding: chunked`` with one
chunk per event, drained at once. Keep-alive is the default for HTTP/1.1 and honours
``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

from ometer_tui import __version__

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024

#: Headers every response carries.
SERVER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Server", f"ometer-demo/{__version__}"),
    ("X-Backend", "ometer-demo (simulated)"),
)


class MalformedRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request we can answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    version: str
    #: header names lower-cased; repeated headers joined with ", "
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on the connection; ``None`` when the client closed it cleanly.

    Raises :class:`MalformedRequest` for garbage and ``ConnectionError`` /
    ``asyncio.IncompleteReadError`` when the client goes away mid-request.
    """
    first = await reader.read(1)
    if not first:
        return None
    if first == b"\x16":  # a TLS ClientHello on this plain-HTTP port: say so and close
        raise MalformedRequest(400, "this is a plain HTTP port; TLS is not spoken here")
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not (first + exc.partial).strip():
            return None
        raise
    except asyncio.LimitOverrunError as exc:
        raise MalformedRequest(431, "request headers too large") from exc
    method, target, version, headers = _parse_head(head)
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    body = await _read_body(reader, headers)
    return Request(method, target, version, headers, body)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
        raise MalformedRequest(400, "undecodable request head") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedRequest(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise MalformedRequest(400, "malformed header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked_body(reader)
    raw_length = headers.get("content-length")
    if raw_length is None:
        return b""
    if not raw_length.isdigit():
        raise MalformedRequest(400, "invalid Content-Length")
    length = int(raw_length)
    if length > MAX_BODY_BYTES:
        raise MalformedRequest(413, "request body too large")
    return await reader.readexactly(length)


async def _read_chunked_body(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise MalformedRequest(400, "invalid chunk size") from exc
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise MalformedRequest(413, "request body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass(slots=True)
class Responder:
    """Writes one response on a connection; says whether the connection may be reused."""

    writer: asyncio.StreamWriter
    keep_alive: bool
    http10: bool = False
    started: bool = False
    aborted: bool = False
    _chunked: bool = field(default=False)

    async def send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str] | None = None,
        *,
        content_length: int | None = None,
    ) -> None:
        """A whole response. ``content_length`` may overstate ``body`` to simulate a cut."""
        extra = dict(headers or {})
        if content_type is not None:
            extra["Content-Type"] = content_type
        extra["Content-Length"] = str(len(body) if content_length is None else content_length)
        self._write_head(status, extra)
        self.writer.write(body)
        await self.writer.drain()

    async def send_json(
        self, status: int, payload: object, headers: Mapping[str, str] | None = None
    ) -> None:
        await self.send(status, dump_json(payload), "application/json; charset=utf-8", headers)

    async def start_stream(
        self, status: int, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Headers of a streamed body: chunked on HTTP/1.1, close-delimited on 1.0."""
        extra = dict(headers or {})
        extra["Content-Type"] = content_type
        extra["Cache-Control"] = "no-cache"
        if self.http10:
            self.keep_alive = False
        else:
            extra["Transfer-Encoding"] = "chunked"
            self._chunked = True
        self._write_head(status, extra)
        await self.writer.drain()

    async def write_chunk(self, data: bytes) -> None:
        """One event of a stream, flushed at once."""
        if self._chunked:
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.writer.write(data)
        await self.writer.drain()

    async def end_stream(self) -> None:
        if self._chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()

    def abort(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0) where the OS allows it."""
        self.aborted = True
        self.keep_alive = False
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def _write_head(self, status: int, headers: Mapping[str, str]) -> None:
        self.started = True
        lines = [f"HTTP/1.{0 if self.http10 else 1} {status} {reason_phrase(status)}"]
        lines += [f"{name}: {value}" for name, value in SERVER_HEADERS]
        lines.append(f"Date: {formatdate(usegmt=True)}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Connection: {'keep-alive' if self.keep_alive else 'close'}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def dump_json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def configure_socket(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY: every chunk leaves when it is written, not when Nagle allows."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
