"""The aiohttp-backed httpx transport: arrival stamps from the protocol, bodies intact.

Real HTTP on loopback against the demo endpoint. The bounds on stamps are about which
bytes a stamp belongs to (a reader that falls behind must not delay them), never about
how fast anything is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ometer_tui.core.api import _transport, open_client
from ometer_tui.core.api._http import arrival_clock
from ometer_tui.core.api._transport import AiohttpTransport, Arrival, _StampingHandler
from ometer_tui.core.api.base import GenerationRequest
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams
from ometer_tui.demo.server import DemoServerThread

MS = 1_000_000


def chat_body(model: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": model,
        "stream": True,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "hello"}],
    }


async def read_pieces(
    response: httpx.Response, pause_after_first_s: float = 0.0
) -> list[tuple[bytes, int, int]]:
    """(piece, its arrival stamp, when the reader got it) for every piece of a body."""
    stamp = arrival_clock(response)
    pieces: list[tuple[bytes, int, int]] = []
    async for piece in response.aiter_raw():
        pieces.append((piece, stamp(), time.perf_counter_ns()))
        if len(pieces) == 1 and pause_after_first_s:
            await asyncio.sleep(pause_after_first_s)  # the reader falls behind
    return pieces


async def test_the_installed_aiohttp_builds_stamping_protocols(demo: DemoServerThread) -> None:
    transport = AiohttpTransport(max_connections=2)
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        body = chat_body("demo-fast:1b", 4)
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert isinstance(response.extensions["arrival"], Arrival)
            pieces = await read_pieces(response)
            connection = transport._get_session().connector
            assert connection is not None
        handlers = [
            proto
            for conns in connection._conns.values()  # type: ignore[attr-defined]
            for proto, _ in conns
        ]
        assert handlers and all(isinstance(h, _StampingHandler) for h in handlers)
    assert pieces and all(stamp > 0 for _, stamp, _ in pieces)


async def test_a_reader_that_falls_behind_still_gets_each_chunks_arrival(
    demo: DemoServerThread,
) -> None:
    # demo-medium writes a token every 20 ms; the reader sleeps 300 ms after the first
    # piece, so ~15 tokens arrive meanwhile, each in its own data_received.
    transport = AiohttpTransport(max_connections=1)
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        body = chat_body("demo-medium:8b", 40)
        await client.post("/v1/chat/completions", json=chat_body("demo-medium:8b", 1))  # load
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            pieces = await read_pieces(response, pause_after_first_s=0.3)
    stamps = [stamp for _, stamp, _ in pieces]
    assert stamps == sorted(stamps)
    # the pieces read right after the pause arrived during it: stamped then, not when read
    behind = [(stamp, got) for _, stamp, got in pieces[1:] if got - pieces[0][2] >= 300 * MS]
    late_read = [got - stamp for stamp, got in behind[:10]]
    assert len(late_read) == 10 and late_read[0] > 150 * MS
    # not one stamp for a whole coalesced read: the ten pieces carry the ~180 ms over
    # which they arrived (loose: a loaded machine may bunch a few of the server's writes)
    distinct = sorted({stamp for stamp, _ in behind[:10]})
    assert len(distinct) >= 5
    assert distinct[-1] - distinct[0] >= 60 * MS


async def test_pieces_join_to_the_exact_body_and_stamps_belong_to_their_response(
    demo: DemoServerThread,
) -> None:
    body = chat_body("demo-fast:1b", 32)
    async with httpx.AsyncClient(base_url=demo.url) as plain:  # httpx's own transport
        reference = (await plain.post("/v1/chat/completions", json=body)).content
    transport = AiohttpTransport(max_connections=1)  # one connection, kept alive
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        for _ in range(3):
            started = time.perf_counter_ns()
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                pieces = await read_pieces(response, pause_after_first_s=0.05)
            joined = b"".join(piece for piece, _, _ in pieces)
            assert strip_ids(joined) == strip_ids(reference)
            assert all(started < stamp <= got for _, stamp, got in pieces)
        assert transport.open_connections == 1


def strip_ids(body: bytes) -> list[object]:
    """The SSE events without the per-response id and timestamp fields."""
    events: list[object] = []
    for line in body.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        for key in ("id", "created", "system_fingerprint", "usage"):
            event.pop(key, None)
        events.append(event)
    return events


# -- kernel receive stamps ---------------------------------------------------------------

KERNEL = _transport.SO_TIMESTAMPNS is not None


class TimedServer:
    """A one-response HTTP/1.1 server in a thread that writes each chunk of a chunked body
    with ``sendall`` and notes ``perf_counter_ns()`` just before (the same clock as the
    client's stamps). The second chunk is written while the client's loop is blocked:
    once ``blocked`` is set, with the rest of the block still to come."""

    CHUNKS = (b'data: {"n":0}\n\n', b'data: {"n":1}\n\n', b'data: {"n":2}\n\n')

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.blocked = threading.Event()
        self.sent_ns: list[int] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            conn.sendall(head + b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            for index, chunk in enumerate(self.CHUNKS):
                if index == 1:
                    self.blocked.wait(10)
                    time.sleep(0.005)  # well inside the client's 60 ms block
                elif index == 2:
                    time.sleep(0.12)  # after the block
                self.sent_ns.append(time.perf_counter_ns())
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self.thread.join(5)
        self.listener.close()


async def blocked_loop_stamps() -> tuple[list[tuple[bytes, int, int]], list[int], str]:
    """Read the timed server's body while the loop is blocked for 60 ms as its second
    chunk arrives; (pieces, when the server wrote each chunk, the run's clock)."""
    server = TimedServer()
    loop = asyncio.get_running_loop()

    def block() -> None:
        server.blocked.set()
        time.sleep(0.06)  # the whole loop stops: no callback, no reader runs

    try:
        transport = AiohttpTransport(max_connections=1)
        url = f"http://127.0.0.1:{server.port}"
        async with (
            httpx.AsyncClient(transport=transport, base_url=url) as client,
            client.stream("POST", "/v1/chat/completions", json={}) as response,
        ):
            stamp = arrival_clock(response)
            pieces: list[tuple[bytes, int, int]] = []
            async for piece in response.aiter_raw():
                pieces.append((piece, stamp(), time.perf_counter_ns()))
                if len(pieces) == 1:
                    loop.call_soon(block)
            arrival = response.extensions["arrival"]
            assert isinstance(arrival, Arrival)
    finally:
        server.close()
    return pieces, server.sent_ns, arrival.clock


def check_blocked_loop(pieces: list[tuple[bytes, int, int]], sent: list[int], clock: str) -> None:
    assert b"".join(piece for piece, _, _ in pieces) == b"".join(TimedServer.CHUNKS)
    assert len(pieces) == 3 and clock == "kernel"
    (_, stamp, got) = pieces[1]
    # read after the block, at least ~50 ms after the server wrote it...
    assert got - sent[1] > 30 * MS
    # ...yet stamped with its arrival (a few ms of margin for a loaded machine)
    assert sent[1] <= stamp + MS // 10 and stamp - sent[1] < 10 * MS, (stamp - sent[1]) / MS
    for (_, stamp, _), written in zip(pieces, sent, strict=True):
        assert 0 <= stamp - written + MS // 10 < 10 * MS + MS // 10


@pytest.mark.skipif(not KERNEL, reason="kernel receive stamps are Linux-only")
async def test_kernel_stamps_carry_arrival_times_while_the_loop_is_blocked() -> None:
    check_blocked_loop(*await blocked_loop_stamps())


@pytest.mark.skipif(not KERNEL, reason="kernel receive stamps are Linux-only")
def test_kernel_stamps_on_uvloop_carry_arrival_times_while_the_loop_is_blocked() -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        check_blocked_loop(*runner.run(blocked_loop_stamps()))


async def test_loop_stamps_are_late_by_the_block_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the same exchange stamped on the loop: the check above would fail
    monkeypatch.setattr(_transport, "kernel_stamps_enabled", False)
    pieces, sent, clock = await blocked_loop_stamps()
    assert clock == "loop"
    assert b"".join(piece for piece, _, _ in pieces) == b"".join(TimedServer.CHUNKS)
    assert pieces[1][1] - sent[1] > 30 * MS
    with pytest.raises(AssertionError):
        check_blocked_loop(pieces, sent, "kernel")


async def test_each_run_records_which_clock_stamped_it(
    demo: DemoServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint(name="clock", url=demo.url, api=ApiFlavour.OPENAI, simulated=True)
    request = GenerationRequest("demo-fast:1b", "hi", GenerationParams(max_tokens=4))
    async with open_client(endpoint, flavour=ApiFlavour.OPENAI) as client:
        obs = await client.generate(request)
    assert obs.error is None and obs.token_chunks >= 4
    assert obs.clock == ("kernel" if KERNEL else "loop")
    monkeypatch.setattr(_transport, "kernel_stamps_enabled", False)
    async with open_client(endpoint, flavour=ApiFlavour.OPENAI) as client:
        obs = await client.generate(request)
    assert obs.error is None and obs.clock == "loop"


async def test_a_large_body_read_slowly_is_intact_through_flow_control() -> None:
    # 4 MiB while the reader sleeps: aiohttp pauses reading (its buffer fills) and
    # resumes it, which with kernel stamps pauses and resumes the protocol's own reads
    block = bytes(range(256)) * 256  # 64 KiB
    body = b"".join(block[i:] + block[:i] for i in range(64))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(4096):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with (
            httpx.AsyncClient(transport=AiohttpTransport(max_connections=1), base_url=url) as c,
            c.stream("GET", "/") as response,
        ):
            pieces = await read_pieces(response, pause_after_first_s=0.3)
            clock = response.extensions["arrival"].clock
    finally:
        thread.join(5)
        listener.close()
    assert b"".join(piece for piece, _, _ in pieces) == body
    assert clock == ("kernel" if KERNEL else "loop")


async def read_until_reset() -> BaseException | None:
    """Read a body whose server writes a chunk and resets the connection while the
    client's loop is blocked, so the data, the error and the end are all queued when
    the loop looks again; the error the reader got (None if the body ended well)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    blocked = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        while b"\r\n\r\n" not in conn.recv(4096):
            pass
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        blocked.wait(10)
        conn.sendall(b"5\r\nworld\r\n")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset (RST), not a clean close

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop = asyncio.get_running_loop()

    def block() -> None:
        blocked.set()
        time.sleep(0.1)

    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with (
            asyncio.timeout(10),  # a connection that never ends fails here
            httpx.AsyncClient(transport=AiohttpTransport(max_connections=1), base_url=url) as c,
            c.stream("GET", "/") as response,
        ):
            try:
                async for _piece in response.aiter_raw():
                    loop.call_soon(block)
            except httpx.TransportError as exc:
                return exc
    finally:
        thread.join(5)
        listener.close()
    return None


def ended_by_the_reset(error: BaseException | None) -> bool:
    """The reset's error, not a read timeout on a connection that stopped being read."""
    return isinstance(error, httpx.TransportError) and not isinstance(error, httpx.TimeoutException)


async def test_a_reset_while_the_loop_is_blocked_ends_the_body_with_an_error() -> None:
    assert ended_by_the_reset(await read_until_reset())


def test_a_reset_while_the_loop_is_blocked_ends_the_body_with_an_error_on_uvloop() -> None:
    # uvloop stops watching a socket that reported an error after one more callback:
    # the reader must drain data, error and end in it (this hung before)
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for _ in range(3):
            assert ended_by_the_reset(runner.run(read_until_reset()))


async def checkpoint_stamps(checkpoint: bool) -> tuple[list[tuple[bytes, int, int]], list[int]]:
    """Two chunks 60 ms apart arrive while the loop is busy for 100 ms; 30 ms into it the
    busy work makes a read checkpoint (as sending a request does) or not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    blocked = threading.Event()
    sent: list[int] = []
    chunks = (b"1\r\na\r\n", b"1\r\nb\r\n", b"1\r\nc\r\n")

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while b"\r\n\r\n" not in conn.recv(4096):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunks[0])
            blocked.wait(10)
            for chunk in chunks[1:]:
                sent.append(time.perf_counter_ns())
                conn.sendall(chunk)
                time.sleep(0.06)
            conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = AiohttpTransport(max_connections=1)
    loop = asyncio.get_running_loop()

    def busy() -> None:
        blocked.set()
        time.sleep(0.03)
        if checkpoint:
            transport.read_checkpoint()
        time.sleep(0.07)

    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url=url) as client,
            client.stream("GET", "/") as response,
        ):
            pieces = await read_pieces_then(response, lambda: loop.call_soon(busy))
    finally:
        thread.join(5)
        listener.close()
    return pieces, sent


async def read_pieces_then(
    response: httpx.Response, after_first: Callable[[], object]
) -> list[tuple[bytes, int, int]]:
    stamp = arrival_clock(response)
    pieces: list[tuple[bytes, int, int]] = []
    async for piece in response.aiter_raw():
        pieces.append((piece, stamp(), time.perf_counter_ns()))
        if len(pieces) == 1:
            after_first()
    return pieces


@pytest.mark.skipif(not KERNEL, reason="kernel receive stamps are Linux-only")
async def test_a_read_checkpoint_in_busy_work_keeps_each_chunks_own_arrival() -> None:
    pieces, sent = await checkpoint_stamps(checkpoint=True)
    assert b"".join(p for p, _, _ in pieces) == b"abc"
    # b was read at the checkpoint, before c arrived: its own time, not c's
    (_, stamp_b, _), (_, stamp_c, _) = pieces[1], pieces[2]
    assert abs(stamp_b - sent[0]) < 10 * MS, (stamp_b - sent[0]) / MS
    assert abs(stamp_c - sent[1]) < 10 * MS, (stamp_c - sent[1]) / MS


@pytest.mark.skipif(not KERNEL, reason="kernel receive stamps are Linux-only")
async def test_without_the_checkpoint_the_kernel_merges_the_chunks_and_stamps_late() -> None:
    # what the checkpoint prevents: b and c read together, both with c's time
    pieces, sent = await checkpoint_stamps(checkpoint=False)
    assert b"".join(p for p, _, _ in pieces) == b"abc"
    stamp_b = next(stamp for piece, stamp, _ in pieces if b"b" in piece)
    assert stamp_b - sent[0] > 30 * MS


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_tls_is_read_by_the_loops_tls_layer_and_stamped_on_the_loop(
    tls_files: tuple[Path, Path],
) -> None:
    # the socket of a TLS connection carries ciphertext: it must never be read directly
    cert, key = tls_files
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in TimedServer.CHUNKS) + b"0\r\n\r\n"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        raw, _ = listener.accept()
        with server_ctx.wrap_socket(raw, server_side=True) as conn:
            while b"\r\n\r\n" not in conn.recv(4096):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for index in range(0, len(body), 20):
                conn.sendall(body[index : index + 20])
                time.sleep(0.005)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with (
            httpx.AsyncClient(
                transport=AiohttpTransport(max_connections=1, verify=client_ctx), base_url=url
            ) as client,
            client.stream("GET", "/") as response,
        ):
            pieces = await read_pieces(response)
            clock = response.extensions["arrival"].clock
    finally:
        thread.join(5)
        listener.close()
    assert b"".join(p for p, _, _ in pieces) == b"".join(TimedServer.CHUNKS)
    assert clock == "loop"
