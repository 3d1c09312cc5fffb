"""Byte-level splitting of NDJSON lines and SSE events, with arrival timestamps.

This is the hot path of every measured request. The splitters work on whole chunks with
``bytes.find`` / ``bytes.split`` (no per-byte Python loop) and never parse JSON: the
caller stamps a chunk with ``time.perf_counter_ns()`` the moment it arrives, feeds it,
and every line or event the chunk completed carries that stamp.

Two ways to use them:

* drive a splitter yourself (what the API clients do, so the first-byte stamp and the
  per-line work share one loop)::

      splitter = LineSplitter()
      async for chunk in response.aiter_bytes():
          now = time.perf_counter_ns()
          for line in splitter.feed(chunk):
              handle(line, now)
      for line in splitter.close():
          handle(line, now)

Line terminators are LF and CRLF (a lone CR is not treated as a line break: no server we
talk to sends one, and supporting it would cost a second scan of every chunk).
"""

from __future__ import annotations

from typing import NamedTuple

#: The most bytes kept for one line that has not ended yet.
DEFAULT_MAX_LINE_BYTES = 1 << 20
#: The SSE payload that ends an OpenAI-style stream.
DONE = b"[DONE]"

_EMPTY: list[bytes] = []


class StreamTooLarge(Exception):
    """One line grew past the cap without ending."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a single stream line exceeded {limit} bytes without ending")
        self.limit = limit


class LineSplitter:
    """Splits a byte stream into lines (LF or CRLF), keeping a partial tail between feeds.

    Returned lines have their terminator removed (including a trailing ``\\r``); blank
    lines are returned as ``b""`` (SSE needs them). ``close()`` returns the last line if
    the stream did not end with a newline.
    """

    __slots__ = ("_max", "_parts", "_pending")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._parts: list[bytes] = []
        self._pending = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unterminated line held back."""
        return self._pending

    def feed(self, chunk: bytes) -> list[bytes]:
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            if chunk:
                self._pending += len(chunk)
                if self._pending > self._max:
                    raise StreamTooLarge(self._max)
                self._parts.append(chunk)
            return _EMPTY
        if self._parts:
            if self._pending + chunk.find(b"\n") > self._max:
                raise StreamTooLarge(self._max)
            self._parts.append(chunk[:last_nl])
            head = b"".join(self._parts)
            self._parts = []
        else:
            head = chunk[:last_nl]
        tail = chunk[last_nl + 1 :]
        if tail:
            self._pending = len(tail)
            if self._pending > self._max:
                raise StreamTooLarge(self._max)
            self._parts.append(tail)
        else:
            self._pending = 0
        lines = head.split(b"\n")
        if b"\r" in head:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        return lines

    def close(self) -> list[bytes]:
        """The unterminated last line, if any (at a clean end of stream)."""
        if not self._parts:
            return _EMPTY
        line = b"".join(self._parts)
        self._parts = []
        self._pending = 0
        if line.endswith(b"\r"):
            line = line[:-1]
        return [line]


class NdjsonSplitter:
    """NDJSON: one JSON document per line; blank lines are skipped."""

    __slots__ = ("_lines",)

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._lines = LineSplitter(max_line_bytes)

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = self._lines.feed(chunk)
        if not lines:
            return lines
        if len(lines) == 1:  # the usual case: one line per chunk
            return lines if lines[0].strip() else _EMPTY
        return [line for line in lines if line.strip()]

    def close(self) -> list[bytes]:
        return [line for line in self._lines.close() if line.strip()]


class SseEvent(NamedTuple):
    """One dispatched SSE event: its ``event:`` name (``None`` when unnamed) and data.

    Multi-line ``data:`` fields are joined with ``\\n`` as the SSE specification says.
    """

    event: bytes | None
    data: bytes


class SseSplitter:
    """Server-sent events: ``data:`` lines gathered until a blank line dispatches them.

    Comments (lines starting with ``:``), ``id:`` and ``retry:`` are ignored. An event
    with no ``data:`` line is not dispatched. At a clean end of stream, a pending event
    that lacked its closing blank line is dispatched anyway (lenient: some servers end
    with ``data: [DONE]\\n``).
    """

    __slots__ = ("_data", "_event", "_lines")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._lines = LineSplitter(max_line_bytes)
        self._data: list[bytes] = []
        self._event: bytes | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        # Fast path, the usual chunk: exactly one "data: ...\n\n" event, nothing pending.
        if (
            chunk.endswith(b"\n\n")
            and chunk.startswith(b"data:")
            and not self._data
            and self._event is None
            and not self._lines.pending_bytes
        ):
            body = chunk[5:-2]
            if b"\n" not in body and b"\r" not in body:
                return [SseEvent(None, body[1:] if body.startswith(b" ") else body)]
        lines = self._lines.feed(chunk)
        if not lines:
            return []
        return self._take(lines)

    def close(self) -> list[SseEvent]:
        events = self._take(self._lines.close())
        if self._data:
            events.append(self._dispatch())
        return events

    def _dispatch(self) -> SseEvent:
        data = self._data
        event = SseEvent(self._event, data[0] if len(data) == 1 else b"\n".join(data))
        self._data = []
        self._event = None
        return event

    def _take(self, lines: list[bytes]) -> list[SseEvent]:
        events: list[SseEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = None
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b":"):
                continue  # comment / keep-alive
            else:
                name, _, value = line.partition(b":")
                if name == b"event":
                    self._event = value[1:] if value.startswith(b" ") else value
                elif name == b"data":  # a bare "data" line: an empty data value
                    self._data.append(b"")
                # id:, retry: and unknown fields are ignored
        return events
