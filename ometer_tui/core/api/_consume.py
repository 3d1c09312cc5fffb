"""The one chunk loop both API flavours share (issue #8): stamps, caps, debug capture,
splitting, the end-of-stream verdict, and a whole (not streamed) JSON answer.

A flavour supplies a :class:`StreamFormat`: how to split its bytes (NDJSON lines or SSE
events), what one item means, what a whole answer looks like, and how to say that the
body was not its stream. Everything else (the hot loop) is written once here.

**Not streamed.** A server that ignores ``stream: true`` answers with one
``application/json`` body. Both flavours read it the same way: the body is read with
each read's stamp kept; if it is one JSON object the flavour recognises as a whole
answer, the run keeps its output, usage and end time, and is flagged ``not_streamed``
(no TTFT: the first token's time is unknown, and the body's arrival is not it). A body
labelled ``application/json`` that is not one JSON object (an NDJSON or SSE stream with
the wrong label) is then read as the stream it is, each read with its own stamp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

import httpx

from ometer_tui.core.api._http import HttpClient, TokenSink, arrival_clock
from ometer_tui.core.api.base import ErrorKind, RequestError
from ometer_tui.core.api.errors import short
from ometer_tui.core.api.stream import DONE, StreamTooLarge
from ometer_tui.core.load_counters import COUNTERS

Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)


class Splitter(Protocol[Item_co]):
    def feed(self, chunk: bytes) -> Sequence[Item_co]: ...

    def close(self) -> Sequence[Item_co]: ...


class StreamFormat(Generic[Item]):
    """One flavour's stream, for :func:`consume`. One instance per response."""

    #: what was expected, for "expected ..., got ..." messages
    expected: str = "a stream"
    #: what a complete stream ends with, for "stream ended without ..."
    end_marker: str = "its end marker"

    def splitter(self) -> Splitter[Item]:
        raise NotImplementedError

    def refuses(self, content_type: str) -> bool:
        """A content type that cannot be this stream (an HTML page, the other flavour's)."""
        return "html" in content_type

    def item(self, item: Item, now: int, sink: TokenSink) -> bool:
        """Handle one line/event read at ``now``; True stops reading."""
        raise NotImplementedError

    def whole(self, obj: dict[str, Any], now: int, sink: TokenSink) -> bool:
        """A whole JSON answer read by ``now``: True when recognised (output or error
        taken from it), False when it is not this flavour's answer."""
        raise NotImplementedError

    def not_this_stream(self, head: bytes, sink: TokenSink) -> str | None:
        """At the end: why the body was not this stream at all, or ``None`` if it was."""
        raise NotImplementedError


def event_json(
    client: HttpClient, sink: TokenSink, event: bytes | None, data: bytes, end: bytes | None = None
) -> tuple[object, bool | None]:
    """The first step of every SSE event (or NDJSON line): ``(decoded JSON, None)``, or
    ``(None, stop)`` when the event was dealt with here. ``[DONE]`` (or ``end``) marks the
    stream done; a payload that is not JSON is an ``error`` event's message (stop
    reading) or a malformed event (counted; reading goes on)."""
    if data == DONE or (end is not None and data == end):
        sink.obs.done = True
        return None, False
    try:
        return json.loads(data), None
    except ValueError:
        if event == b"error":
            message = client.redact(short(data.decode("utf-8", "replace")))
            sink.obs.error = RequestError(ErrorKind.STREAM, message, before_first_byte=False)
            return None, True
        sink.malformed(data)
        return None, False


def is_plain_json(content_type: str) -> bool:
    """``application/json`` (or ``+json``), not NDJSON or an event stream."""
    return "json" in content_type and "ndjson" not in content_type and "stream" not in content_type


async def consume(
    client: HttpClient, response: httpx.Response, sink: TokenSink, fmt: StreamFormat[Any]
) -> None:
    """Read a 2xx body into ``sink.obs``; never raises for a malformed body (a PROTOCOL,
    STREAM, INCOMPLETE or TOO_LARGE error on the observation says what went wrong)."""
    obs = sink.obs
    ctype = response.headers.get("content-type", "").lower()
    if fmt.refuses(ctype):
        await client.not_a_stream(response, sink, fmt.expected)
        return
    held: list[tuple[int, bytes]] | None = [] if is_plain_json(ctype) else None
    splitter = fmt.splitter()
    item = fmt.item
    capture = sink.capture is not None
    now = 0
    stop = False
    received = 0
    head = b""
    max_bytes, max_tokens = client.max_stream_bytes, client.max_token_chunks
    arrived = arrival_clock(response)
    counters = COUNTERS
    try:
        async for chunk in response.aiter_bytes():
            now = arrived()
            counters.chunks += 1
            if obs.first_byte_ns is None:
                obs.first_byte_ns = now
                head = chunk[:200]
            received += len(chunk)
            if (received > max_bytes or obs.token_chunks > max_tokens) and client.over_cap(
                obs, received
            ):
                return
            if capture:
                client.capture(sink, chunk)
            if held is not None:
                held.append((now, chunk))
                continue
            for one in splitter.feed(chunk):
                if item(one, now, sink):
                    stop = True
                    break
            if stop:
                break
        if held is not None:
            if _whole(b"".join(chunk for _, chunk in held), now, sink, fmt):
                return
            # not one JSON answer: the stream it may be, each read with its own stamp
            for stamp, chunk in held:
                now = stamp
                for one in splitter.feed(chunk):
                    if item(one, now, sink):
                        stop = True
                        break
                if stop:
                    break
        if not stop:
            for one in splitter.close():
                if item(one, now, sink):
                    break
    except StreamTooLarge as exc:
        obs.error = RequestError(ErrorKind.TOO_LARGE, str(exc), before_first_byte=False)
        return
    if obs.error is not None and obs.error.kind is ErrorKind.STREAM:
        return
    if obs.first_byte_ns is not None:
        why = fmt.not_this_stream(head, sink)
        if why is not None:
            obs.error = RequestError(
                ErrorKind.PROTOCOL, client.redact(why), before_first_byte=False
            )
            return
    if not obs.done:
        client.incomplete(obs, fmt.end_marker)


def _whole(body: bytes, now: int, sink: TokenSink, fmt: StreamFormat[Any]) -> bool:
    """True when ``body`` is one JSON object that ``fmt`` took as a whole answer."""
    try:
        obj = json.loads(body)
    except ValueError:
        return False
    if type(obj) is not dict:
        return False
    return fmt.whole(obj, now, sink)
