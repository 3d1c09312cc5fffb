"""The send time from the kernel's transmit stamp (``SO_TIMESTAMPING``, error queue).

Real HTTP over loopback against a raw server in this process: its thread stamps
``perf_counter_ns`` as it reads, so the bounds are physical (a request's last byte
cannot leave the client after the server read it, nor before the server made room for
it), never about speed.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from ometer_tui.core.api import _transport, open_client
from ometer_tui.core.api._transport import AiohttpTransport, ReadySockets
from ometer_tui.core.api.base import GenerationObservation, GenerationRequest
from ometer_tui.core.bench.metrics import RunContext, generation_record
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or _transport.SO_TIMESTAMPING is None,
    reason="kernel transmit stamps are Linux-only",
)

MS = 1_000_000
MIB = 1 << 20


@dataclass
class RawServer:
    """Reads each request whole, waits ``wait_s``, then streams two SSE tokens (OpenAI
    flavour, chunked, the first apart) on a kept-alive connection."""

    wait_s: float = 0.03
    #: a 64 KiB receive buffer: a large body then leaves the client only as it is read
    small_buffer: bool = False
    #: per request: when the server had read its last byte
    got_ns: list[int] = field(default_factory=list)
    #: per request: just before the read that brought the body within 1 MiB of its end
    near_end_ns: list[int] = field(default_factory=list)
    sock: socket.socket = field(default_factory=socket.socket)

    def __post_init__(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.small_buffer:  # inherited by the accepted connections
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(1 << 16)
                    if not data:
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body, near_end = bytearray(rest), 0
                while len(body) < length:
                    before = time.perf_counter_ns()
                    data = conn.recv(1 << 16)
                    if not data:
                        return
                    body += data
                    if not near_end and len(body) >= length - MIB:
                        near_end = before
                self.got_ns.append(time.perf_counter_ns())
                self.near_end_ns.append(near_end)
                buf = bytes(body[length:])
                time.sleep(self.wait_s)
                self._respond(conn)

    @staticmethod
    def _respond(conn: socket.socket) -> None:
        events = [
            b"data: " + json.dumps(e).encode() + b"\n\n"
            for e in (
                {"choices": [{"delta": {"content": "one"}}]},
                {"choices": [{"delta": {"content": " two"}}]},
                {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
            )
        ] + [b"data: [DONE]\n\n"]
        chunks = [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunks[0]
        )
        time.sleep(0.005)  # a stream: the first token apart from the rest
        conn.sendall(b"".join(chunks[1:]))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[RawServer]:
    srv = RawServer()
    yield srv
    srv.close()


@dataclass
class Sent:
    obs: GenerationObservation
    call_ns: int  # just before the user-space send call (the client's generate)


async def generate(url: str, runs: int, prompt: str = "hi") -> list[Sent]:
    """``runs`` requests one after another on one kept-alive connection."""
    client = open_client(Endpoint(name="raw", url=url, api=ApiFlavour.OPENAI), max_connections=1)
    out: list[Sent] = []
    try:
        for _ in range(runs):
            call_ns = time.perf_counter_ns()
            request = GenerationRequest(model="m", prompt=prompt, params=GenerationParams())
            out.append(Sent(await client.generate(request), call_ns))
    finally:
        await client.aclose()
    return out


def check_between(sent: Sent, got_ns: int) -> None:
    """The send stamp lies after the send call and no later than the server read the
    request's last byte, which is before the response's first byte arrived."""
    obs = sent.obs
    assert obs.error is None, obs.error
    assert obs.first_byte_ns is not None and obs.first_token_ns is not None
    assert sent.call_ns <= obs.sent_ns <= got_ns <= obs.first_byte_ns


def context() -> RunContext:
    return RunContext(
        model="m", pass_index=1, prompt_index=0, warmup=False, attempts=1, queue_s=0.0,
        bench_start_ns=0, keep_text=False, prices=None,
    )  # fmt: skip


async def test_the_send_time_is_the_kernels_transmit_stamp(server: RawServer) -> None:
    runs = await generate(server.url, 3)
    assert len(server.got_ns) == 3
    for sent, got in zip(runs, server.got_ns, strict=True):
        assert sent.obs.send_clock == "kernel"
        assert sent.obs.clock == "kernel"
        check_between(sent, got)
        # TTFT is measured from it: the server's 30 ms wait is inside it
        assert sent.obs.first_token_ns is not None
        assert sent.obs.first_token_ns - sent.obs.sent_ns >= 30 * MS
    record = generation_record(runs[0].obs, context())
    assert record.send_clock == "kernel" and record.clock == "kernel"


async def test_the_stamp_is_the_requests_last_byte_not_its_first() -> None:
    # A 16 MiB prompt against a 64 KiB receive buffer: the client's kernel takes it in
    # many send calls (its send buffer holds a few MiB at most), each stamped when its
    # last byte leaves. The request's last byte can leave only once the server has read
    # all but a window of the body, so after its read that came within 1 MiB of the end
    # began; every earlier send call's stamp comes before that read.
    srv = RawServer(small_buffer=True)
    try:
        (sent,) = await generate(srv.url, 1, prompt="x" * (16 * MIB))
        assert sent.obs.send_clock == "kernel"
        check_between(sent, srv.got_ns[0])
        assert sent.obs.sent_ns >= srv.near_end_ns[0] > 0
    finally:
        srv.close()


async def test_transmit_stamps_are_read_when_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send stamp waiting on the error queue reports as an error on the socket: left
    there until the response came, it would keep the pool's epoll readable and the loop
    would spin through the whole wait for the first byte."""
    calls = 0
    read_ready = ReadySockets.read_ready

    def counting(self: ReadySockets) -> None:
        nonlocal calls
        calls += 1
        read_ready(self)

    monkeypatch.setattr(ReadySockets, "read_ready", counting)
    srv = RawServer(wait_s=0.2)
    try:
        transport = AiohttpTransport(max_connections=1)
        async with httpx.AsyncClient(transport=transport, base_url=srv.url) as client:
            body = {"model": "m", "stream": True, "messages": []}
            for _ in range(2):  # a new connection, then the kept-alive one
                calls = 0
                async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
                    assert resp.extensions["send_clock"] == "kernel"
                    waited = calls  # wake-ups from the send to the response's headers
                    await resp.aread()
                # a handful (the send's checkpoint, the stamp, the response); a loop
                # spinning on the epoll makes thousands in 200 ms
                assert waited < 50, waited
            await asyncio.sleep(0.05)
            ready = transport._get_session().connector.ready  # type: ignore[attr-defined]
            assert ready._handlers, "the kept-alive connection is read with kernel stamps"
            assert not [e for e in ready._epoll.poll(0) if e[1] & select.EPOLLERR]
    finally:
        srv.close()


@pytest.mark.parametrize("how", ["switched off", "refused by the kernel", "no such option"])
async def test_without_transmit_stamps_the_send_stamp_is_the_write_call(
    server: RawServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "switched off":
        monkeypatch.setattr(_transport, "kernel_tx_stamps_enabled", False)
    elif how == "refused by the kernel":  # setsockopt fails (ENOPROTOOPT)
        monkeypatch.setattr(_transport, "SO_TIMESTAMPING", 0x7FFF)
    else:  # a platform without SO_TIMESTAMPING
        monkeypatch.setattr(_transport, "SO_TIMESTAMPING", None)
    runs = await generate(server.url, 2)
    for sent, got in zip(runs, server.got_ns, strict=True):
        obs = sent.obs
        assert obs.send_clock == "loop"
        assert obs.clock == "kernel"  # the receive stamps do not depend on it
        assert obs.first_byte_ns is not None and obs.first_token_ns is not None
        assert sent.call_ns <= obs.sent_ns <= obs.first_byte_ns
        assert got <= obs.first_byte_ns
        assert obs.first_token_ns - obs.sent_ns >= 30 * MS
    assert generation_record(runs[0].obs, context()).send_clock == "loop"


async def test_loop_stamps_mean_loop_send_stamps(
    server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transport, "kernel_stamps_enabled", False)
    (sent,) = await generate(server.url, 1)
    assert sent.obs.clock == "loop" and sent.obs.send_clock == "loop"
    check_between(sent, server.got_ns[0])
