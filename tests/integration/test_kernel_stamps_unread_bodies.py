"""Kernel receive stamps for bodies whose reader starts late (the load fault of issue 9).

Under load (a busy machine, 200 closed-loop streams) a body's bytes can all arrive and be
parsed before its reader reads the first of them. aiohttp then hands the connection back
to the pool at once (``response.connection`` is None), and the next request may take it.
The body's arrival marks must still be its own: before the fix, such a body was stamped
when it was read (seconds late under load) and its run said ``loop``, and a next response
on the reused connection threw away the unread body's marks.

Each test makes the condition on loopback, without loading the machine: the reader waits
for the server to have written everything. The checks are about which clock stamped a
read and which bytes a stamp belongs to, with margins far above the machine's noise.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from ometer_tui.core.api import _transport, open_client
from ometer_tui.core.api._http import arrival_clock
from ometer_tui.core.api._transport import AiohttpTransport, Arrival
from ometer_tui.core.api.base import GenerationRequest
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams

MS = 1_000_000
KERNEL = _transport.SO_TIMESTAMPNS is not None
pytestmark = pytest.mark.skipif(not KERNEL, reason="kernel receive stamps are Linux-only")

#: a chunk's stamp lies between when the server wrote it and this much after
STAMP_MARGIN_NS = 20 * MS
#: how long after the last write the reader starts (far above the stamp margin)
READER_DELAY_S = 0.15


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class KeepAliveServer:
    """One connection, answering its requests in turn: each response's headers at once,
    then its chunks ``gap_s`` apart (the terminating chunk with the last), noting
    ``perf_counter_ns()`` before each write; ``done[i]`` once response i is written."""

    def __init__(self, responses: list[list[bytes]], gap_s: float = 0.04) -> None:
        self.responses = responses
        self.gap_s = gap_s
        self.sent_ns: list[list[int]] = [[] for _ in responses]
        self.done = [threading.Event() for _ in responses]
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.connections += 1
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = b""
            for index, chunks in enumerate(self.responses):
                while b"\r\n\r\n" not in pending:
                    got = conn.recv(4096)
                    if not got:
                        return
                    pending += got
                pending = pending.split(b"\r\n\r\n", 1)[1]  # the requests have no body
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for number, data in enumerate(chunks):
                    time.sleep(self.gap_s)
                    last = number == len(chunks) - 1
                    self.sent_ns[index].append(time.perf_counter_ns())
                    conn.sendall(chunked(data) + (b"0\r\n\r\n" if last else b""))
                self.done[index].set()
            # let the client close; a second connection would fail the test's count
            conn.settimeout(10)
            while conn.recv(4096):
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


async def written(event: threading.Event) -> None:
    """Wait (the loop free meanwhile) until the server wrote a whole response, then long
    enough for the client's loop to have read and parsed all of it."""
    assert await asyncio.to_thread(event.wait, 10)
    await asyncio.sleep(READER_DELAY_S)


def check_stamps(pieces: list[tuple[bytes, int]], chunks: list[bytes], sent: list[int]) -> None:
    """The pieces are the body, each stamped when the newest chunk in it arrived (one
    piece per chunk unless the machine's load made the kernel merge two reads)."""
    assert b"".join(piece for piece, _ in pieces) == b"".join(chunks)
    ends = [sum(map(len, chunks[: i + 1])) for i in range(len(chunks))]
    offset = 0
    for piece, stamp in pieces:
        offset += len(piece)
        newest = next(i for i, end in enumerate(ends) if end >= offset)
        wrote = sent[newest]
        assert wrote - MS // 10 <= stamp <= wrote + STAMP_MARGIN_NS, (stamp - wrote) / MS


async def whole_body_before_reading() -> tuple[list[tuple[bytes, int]], list[int], str, int]:
    chunks = [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    server = KeepAliveServer([chunks])
    try:
        async with (
            httpx.AsyncClient(transport=AiohttpTransport(max_connections=1)) as client,
            client.stream("GET", server.url) as response,
        ):
            await written(server.done[0])  # the whole body is in, parsed, not yet read
            started = time.perf_counter_ns()
            stamp = arrival_clock(response)
            pieces = [(piece, stamp()) async for piece in response.aiter_raw()]
            arrival = response.extensions["arrival"]
            assert isinstance(arrival, Arrival)
    finally:
        server.close()
    # the condition: every byte was read from the buffer well after it arrived
    assert started - server.sent_ns[0][-1] > READER_DELAY_S * 1e9 / 2
    return pieces, server.sent_ns[0], arrival.clock, len(chunks)


def check_whole_body(result: tuple[list[tuple[bytes, int]], list[int], str, int]) -> None:
    pieces, sent, clock, _count = result
    # before the fix: one piece, "loop", stamped when read (150+ ms after the last write)
    assert clock == "kernel"
    check_stamps(pieces, [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"], sent)


async def test_a_body_wholly_arrived_before_its_reader_starts_keeps_kernel_stamps() -> None:
    check_whole_body(await whole_body_before_reading())


def test_a_body_wholly_arrived_before_its_reader_starts_keeps_kernel_stamps_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        check_whole_body(runner.run(whole_body_before_reading()))


async def test_a_connection_reused_before_a_body_is_read_leaves_that_body_its_stamps() -> None:
    # A's last chunk comes (the connection goes back to the pool) while A's reader is
    # still at its first piece; B takes the connection and is read whole; then A's
    # reader goes on: B must not have taken A's marks, nor A B's
    a_chunks = [b"data: a0\n\n", b"data: a1\n\n", b"data: a2\n\n"]
    b_chunks = [b"data: b0\n\n", b"data: b1\n\n"]
    server = KeepAliveServer([a_chunks, b_chunks])
    transport = AiohttpTransport(max_connections=1)
    try:
        async with (
            httpx.AsyncClient(transport=transport) as client,
            client.stream("GET", server.url) as a,
        ):
            a_stamp = arrival_clock(a)
            a_iter = a.aiter_raw()
            first = await a_iter.__anext__()
            a_pieces = [(first, a_stamp())]
            await written(server.done[0])
            async with client.stream("GET", server.url) as b:
                b_stamp = arrival_clock(b)
                b_pieces = [(piece, b_stamp()) async for piece in b.aiter_raw()]
                b_clock = b.extensions["arrival"].clock
            await asyncio.sleep(READER_DELAY_S)
            a_pieces += [(piece, a_stamp()) async for piece in a_iter]
            a_clock = a.extensions["arrival"].clock
    finally:
        server.close()
    assert server.connections == 1  # B did reuse A's connection
    assert (a_clock, b_clock) == ("kernel", "kernel")
    check_stamps(a_pieces, a_chunks, server.sent_ns[0])
    check_stamps(b_pieces, b_chunks, server.sent_ns[1])


async def test_a_reader_more_marks_behind_than_kept_gets_merged_marks_not_late_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # more reads than marks kept: the newest ones merge (the newer stamp for both, as the
    # kernel does for a late read); no byte goes without a kernel stamp, none is stamped
    # before it was written, and none later than the next chunk's arrival
    monkeypatch.setattr(_transport, "MAX_ARRIVAL_MARKS", 3)
    chunks = [b"data: %d\n\n" % n for n in range(6)]
    server = KeepAliveServer([chunks], gap_s=0.03)
    try:
        async with (
            httpx.AsyncClient(transport=AiohttpTransport(max_connections=1)) as client,
            client.stream("GET", server.url) as response,
        ):
            await written(server.done[0])
            stamp = arrival_clock(response)
            pieces = [(piece, stamp()) async for piece in response.aiter_raw()]
            clock = response.extensions["arrival"].clock
    finally:
        server.close()
    assert clock == "kernel"
    assert len(pieces) <= 3  # the marks kept: the newest merged
    check_stamps(pieces, chunks, server.sent_ns[0])


class OneWriteServer:
    """Answers one request with headers and a whole SSE body in one write (a buffering
    proxy): the body is parsed with the headers, before any reader exists."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent_ns = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, rest = request.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")),
                0,
            )  # fmt: skip
            while len(rest) < length:
                rest += conn.recv(65536)
            time.sleep(0.05)
            self.sent_ns = time.perf_counter_ns()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(self.body), self.body)
            )

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


async def test_a_run_whose_body_came_with_its_headers_is_kernel_stamped() -> None:
    # the engine's path: a run whose answer arrived in one read said "loop" before
    events = [
        b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % word
        for word in (b"one", b"two", b"three")
    ]
    usage = b'data: {"choices":[],"usage":{"completion_tokens":3}}\n\n'
    server = OneWriteServer(b"".join(events) + usage + b"data: [DONE]\n\n")
    endpoint = Endpoint(name="one-write", url=server.url, api=ApiFlavour.OPENAI)
    request = GenerationRequest("m", "hi", GenerationParams(max_tokens=3))
    client = open_client(endpoint, flavour=ApiFlavour.OPENAI)
    try:
        obs = await client.generate(request)
    finally:
        await client.aclose()
        server.close()
    assert obs.error is None and obs.output_tokens == 3
    assert obs.clock == "kernel"
    first = obs.first_token_ns
    assert first is not None and first == obs.last_token_ns  # one read: one stamp
    assert server.sent_ns - MS // 10 <= first <= server.sent_ns + STAMP_MARGIN_NS
