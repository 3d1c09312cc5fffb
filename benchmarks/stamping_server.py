"""A stamping LLM server for measuring clients: every token on an absolute timetable.

Run it in its own process, pinned to a core other than the client's::

    python benchmarks/stamping_server.py --port 18411 --cpu 1

It speaks both streaming flavours on loopback, over HTTP/1.1 keep-alive with chunked
bodies and TCP_NODELAY:

* Ollama ``POST /api/chat`` and ``/api/generate`` (NDJSON), and
* OpenAI ``POST /v1/chat/completions`` and ``/v1/completions`` (SSE, with usage).

Any other ``GET`` answers a small JSON document that satisfies discovery probes
(``/api/version``, ``/api/tags``, ``/v1/models``), except ``GET /metrics``: a vLLM-style
Prometheus page (streams in flight, tokens written), so a client can run with server
telemetry on; ``/stamp/log`` counts the polls it answered.

Timetable (``POST /stamp/config`` with a JSON body changes it between runs):

* ``phase = "shift"``: the request's own clock. Token ``i`` is due at
  ``arrival + ttft + i * interval``, so concurrent streams are phase-shifted.
* ``phase = "burst"``: one global grid, ``origin + k * interval``, like a batching server
  that emits one token for every sequence per step. A stream's first token is the first
  grid tick at or after ``arrival + ttft``; all streams write on the same ticks.

Every chunk's due time and the time it was actually written (``time.perf_counter_ns``,
CLOCK_MONOTONIC, comparable across processes on one machine) are recorded;
``GET /stamp/log`` returns them and ``POST /stamp/reset`` clears them. A chunk written
more than ``late_ms`` after its due time marks its request as late, so a run where the
server fell behind is marked instead of blamed on the client.

The first token's text is ``r<id> `` (``id`` is a 6-digit request number, also sent as
the ``x-request-id`` header): it lets a packet capture and any client's saved output be
matched to the same request. Later tokens are ``w ``.

The scheduler is a single heap of due chunks on a ``select()`` event loop (its timers
wake within tens of microseconds; epoll rounds to whole milliseconds), so bursts of
hundreds of streams are written in one pass with one ``write`` per chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import selectors
import socket
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

_perf = time.perf_counter_ns
MS = 1_000_000
#: Wake this long before a chunk is due and spin: a timer wake-up alone is ~0.3 ms late.
SPIN_NS = 500_000


@dataclass
class Timetable:
    ttft_ms: float = 50.0
    interval_ms: float = 20.0
    tokens: int = 64
    phase: str = "shift"  # or "burst"
    late_ms: float = 1.0

    def update(self, data: dict[str, Any]) -> None:
        for key in ("ttft_ms", "interval_ms", "late_ms"):
            if key in data:
                setattr(self, key, float(data[key]))
        if "tokens" in data:
            self.tokens = max(1, int(data["tokens"]))
        if "phase" in data:
            if data["phase"] not in ("shift", "burst"):
                raise ValueError("phase must be 'shift' or 'burst'")
            self.phase = str(data["phase"])


@dataclass
class Stream:
    rid: int
    flavour: str  # "ollama" or "openai"
    chat: bool
    model: str
    arrival_ns: int
    transport: asyncio.Transport
    tokens: int
    interval_ns: int
    due: array[int] = field(default_factory=lambda: array("q"))
    written: array[int] = field(default_factory=lambda: array("q"))
    next_index: int = 0
    header_ns: int = 0
    done_ns: int = 0
    closed: bool = False

    def log(self) -> dict[str, Any]:
        lateness = [w - d for d, w in zip(self.due, self.written, strict=False)]
        return {
            "id": self.rid,
            "flavour": self.flavour,
            "arrival_ns": self.arrival_ns,
            "header_ns": self.header_ns,
            "done_ns": self.done_ns,
            "due_ns": list(self.due),
            "written_ns": list(self.written),
            "max_late_ns": max(lateness) if lateness else 0,
            "closed_early": self.closed and len(self.written) < self.tokens,
        }


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunked-encoding chunk."""
    return b"%x\r\n%b\r\n" % (len(data), data)


_JSON_HEADERS = b"content-type: application/json\r\n"


class Server:
    def __init__(self, table: Timetable) -> None:
        self.table = table
        self.origin_ns = _perf()
        self.heap: list[tuple[int, int, Stream]] = []
        self.streams: list[Stream] = []
        self.next_id = 1
        self.metrics_polls = 0
        self.wake: asyncio.Future[None] | None = None
        self.loop = asyncio.get_running_loop()

    # -- scheduling -----------------------------------------------------------------------

    def first_due(self, arrival_ns: int) -> int:
        t = self.table
        start = arrival_ns + int(t.ttft_ms * MS)
        if t.phase == "burst":
            step = int(t.interval_ms * MS)
            k = -(-(start - self.origin_ns) // step)
            return self.origin_ns + k * step
        return start

    def schedule(self, stream: Stream, due_ns: int) -> None:
        heapq.heappush(self.heap, (due_ns, stream.rid, stream))
        if self.wake is not None and not self.wake.done() and self.heap[0][2] is stream:
            self.wake.set_result(None)

    async def writer(self) -> None:
        """Writes every due chunk; sleeps on a timer until the next one is due."""
        heap = self.heap
        loop = self.loop
        while True:
            if not heap:
                self.wake = loop.create_future()
                await self.wake
                continue
            due = heap[0][0]
            now = _perf()
            if due - now > SPIN_NS:
                self.wake = loop.create_future()
                handle = loop.call_later((due - now - SPIN_NS) / 1e9, _settle, self.wake)
                await self.wake
                handle.cancel()
                continue
            while _perf() < due:  # the last stretch: spin (this process has its own core)
                pass
            while heap and heap[0][0] <= _perf():
                due, _, stream = heapq.heappop(heap)
                self.emit(stream, due)
            await asyncio.sleep(0)  # let reads and the kernel in between passes

    def emit(self, stream: Stream, due: int) -> None:
        if stream.closed or stream.transport.is_closing():
            stream.closed = True
            fut = stream_done.pop(stream.rid, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
            return
        i = stream.next_index
        payload = token_payload(stream, i)
        last = i + 1 >= stream.tokens
        stream.transport.write(payload)
        now = _perf()
        stream.due.append(due)
        stream.written.append(now)
        stream.next_index = i + 1
        if last:
            stream.transport.write(final_payload(stream))
            stream.done_ns = _perf()
        else:
            self.schedule(stream, due + stream.interval_ns)

    # -- HTTP -----------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = writer.transport
        assert isinstance(transport, asyncio.Transport)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                arrival = _perf()
                path = path.split("?", 1)[0]
                if method == "POST" and path in STREAM_PATHS:
                    done = self.start_stream(path, body, arrival, transport)
                    await done
                    if transport.is_closing():
                        return
                else:
                    transport.write(self.plain(method, path, body))
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    def start_stream(
        self, path: str, body: bytes, arrival: int, transport: asyncio.Transport
    ) -> asyncio.Future[None]:
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            req = {}
        flavour, chat = STREAM_PATHS[path]
        t = self.table
        n = t.tokens
        limit = req.get("max_tokens") or (req.get("options") or {}).get("num_predict")
        if isinstance(limit, int) and limit > 0:
            n = min(n, limit)
        stream = Stream(
            rid=self.next_id,
            flavour=flavour,
            chat=chat,
            model=str(req.get("model", "stamp")),
            arrival_ns=arrival,
            transport=transport,
            tokens=n,
            interval_ns=int(t.interval_ms * MS),
        )
        self.next_id += 1
        self.streams.append(stream)
        ctype = b"application/x-ndjson" if flavour == "ollama" else b"text/event-stream"
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: %b\r\ntransfer-encoding: chunked\r\n"
            b"x-request-id: %06d\r\n\r\n" % (ctype, stream.rid)
        )
        if flavour == "openai" and chat:
            head += _chunk(openai_event(stream, {"role": "assistant", "content": ""}, None))
        transport.write(head)
        stream.header_ns = _perf()
        done: asyncio.Future[None] = self.loop.create_future()
        stream_done[stream.rid] = done
        self.schedule(stream, self.first_due(arrival))
        return done

    def plain(self, method: str, path: str, body: bytes) -> bytes:
        status = b"200 OK"
        payload: Any
        if path == "/stamp/config" and method == "POST":
            try:
                self.table.update(json.loads(body or b"{}"))
                payload = self.config()
            except (ValueError, TypeError) as exc:
                status, payload = b"400 Bad Request", {"error": str(exc)}
        elif path == "/stamp/reset":
            self.streams.clear()
            self.next_id = 1
            self.metrics_polls = 0
            payload = {"ok": True}
        elif path == "/stamp/log":
            payload = {"config": self.config(), "requests": [s.log() for s in self.streams],
                       "metrics_polls": self.metrics_polls}  # fmt: skip
        elif path == "/metrics" and method == "GET":
            return self.metrics_page()
        elif path.startswith("/v1"):
            payload = {"object": "list", "data": [{"id": "stamp", "object": "model"}]}
        else:
            payload = {
                "version": "0.0.0-stamp",
                "models": [{"name": "stamp", "model": "stamp", "details": {}}],
            }
        data = json.dumps(payload).encode()
        return b"HTTP/1.1 %b\r\n%bcontent-length: %d\r\n\r\n%b" % (
            status,
            _JSON_HEADERS,
            len(data),
            data,
        )

    def metrics_page(self) -> bytes:
        """vLLM's names: requests in flight (gauge) and tokens written (counter)."""
        self.metrics_polls += 1
        running = sum(1 for s in self.streams if not s.done_ns and not s.closed)
        tokens = sum(len(s.written) for s in self.streams)
        text = (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="stamp"}} {running}\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            'vllm:num_requests_waiting{model_name="stamp"} 0\n'
            "# TYPE vllm:generation_tokens_total counter\n"
            f'vllm:generation_tokens_total{{model_name="stamp"}} {tokens}\n'
        ).encode()
        return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n" + (
            b"content-length: %d\r\n\r\n%b" % (len(text), text)
        )

    def config(self) -> dict[str, Any]:
        t = self.table
        return {
            "ttft_ms": t.ttft_ms,
            "interval_ms": t.interval_ms,
            "tokens": t.tokens,
            "phase": t.phase,
            "late_ms": t.late_ms,
        }


stream_done: dict[int, asyncio.Future[None]] = {}

STREAM_PATHS = {
    "/api/chat": ("ollama", True),
    "/api/generate": ("ollama", False),
    "/v1/chat/completions": ("openai", True),
    "/v1/completions": ("openai", False),
}


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def token_text(stream: Stream, i: int) -> str:
    return f"r{stream.rid:06d} " if i == 0 else "w "


def openai_event(stream: Stream, delta: dict[str, Any] | None, finish: str | None) -> bytes:
    if stream.chat:
        choice: dict[str, Any] = {"index": 0, "delta": delta or {}, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        text = (delta or {}).get("content", "")
        choice = {"index": 0, "text": text, "finish_reason": finish}
        obj = "text_completion"
    doc = {
        "id": f"cmpl-{stream.rid}",
        "object": obj,
        "created": 0,
        "model": stream.model,
        "choices": [choice],
    }
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def ollama_line(stream: Stream, content: str, done: bool) -> bytes:
    doc: dict[str, Any] = {"model": stream.model, "created_at": "2025-01-01T00:00:00Z"}
    if stream.chat:
        doc["message"] = {"role": "assistant", "content": content}
    else:
        doc["response"] = content
    doc["done"] = done
    if done:
        interval_ns = stream.interval_ns
        doc.update(
            done_reason="stop",
            total_duration=stream.done_ns - stream.arrival_ns if stream.done_ns else 0,
            load_duration=0,
            prompt_eval_count=8,
            prompt_eval_duration=1_000_000,
            eval_count=stream.tokens,
            eval_duration=interval_ns * stream.tokens,
        )
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def token_payload(stream: Stream, i: int) -> bytes:
    text = token_text(stream, i)
    if stream.flavour == "ollama":
        return _chunk(ollama_line(stream, text, False))
    return _chunk(openai_event(stream, {"content": text}, None))


def final_payload(stream: Stream) -> bytes:
    if stream.flavour == "ollama":
        data = _chunk(ollama_line(stream, "", True))
    else:
        usage = {
            "prompt_tokens": 8,
            "completion_tokens": stream.tokens,
            "total_tokens": 8 + stream.tokens,
        }
        done_doc = {
            "id": f"cmpl-{stream.rid}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": stream.model,
            "choices": [],
            "usage": usage,
        }
        data = (
            _chunk(openai_event(stream, {}, "length"))
            + _chunk(b"data: " + json.dumps(done_doc, separators=(",", ":")).encode() + b"\n\n")
            + _chunk(b"data: [DONE]\n\n")
        )
    fut = stream_done.pop(stream.rid, None)
    if fut is not None and not fut.done():
        fut.set_result(None)
    return data + b"0\r\n\r\n"


def _write_ready(path: str, port: int) -> None:
    with open(path + ".tmp", "w") as fh:
        fh.write(str(port))
    os.replace(path + ".tmp", path)


async def serve(host: str, port: int, table: Timetable, ready_file: str | None) -> None:
    server = Server(table)
    srv = await asyncio.start_server(server.handle, host, port, backlog=1024)
    writer_task = asyncio.create_task(server.writer())
    bound = srv.sockets[0].getsockname()[1]
    if ready_file:
        _write_ready(ready_file, bound)
    print(f"stamping server on {host}:{bound}", flush=True)
    try:
        async with srv:
            await srv.serve_forever()
    finally:
        writer_task.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--phase", choices=("shift", "burst"), default="shift")
    parser.add_argument("--ready-file", default=None, help="write the bound port here")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("loopback only")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    table = Timetable(args.ttft_ms, args.interval_ms, args.tokens, args.phase)

    async def bounded() -> None:
        try:
            async with asyncio.timeout(args.max_seconds):
                await serve(args.host, args.port, table, args.ready_file)
        except TimeoutError:
            pass

    with asyncio.Runner(
        loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())
    ) as runner:
        runner.run(bounded())


if __name__ == "__main__":
    main()
