"""The loopback server self-calibration reads from: OpenAI-style SSE streams on a timetable.

Run by :mod:`ometer_tui.core.bench.calibrate` as its own process (so its CPU is not
counted as the client's)::

    python calibrate_server.py --interval-ms 10

Standard library only (uvloop when installed), so it starts in a fraction of a second.
It prints its port on the first line of standard output, then serves until standard
input closes (the parent is gone) or ``--max-seconds`` pass.

``POST /v1/chat/completions`` streams ``max_tokens`` tokens (an HTTP/1.1 chunked
``text/event-stream`` as vLLM writes it: one ``data:`` event per token, a finish event, a
usage event, ``[DONE]``), one every ``--interval-ms``; the first token is due at once
after a phase offset that spreads the streams evenly over the interval (the golden-ratio
sequence of the request number), like independent requests of a real server. Any
``GET`` answers a small model list (the client's connection warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import cast

_GOLDEN = 0.6180339887498949
_TICK_S = 0.001


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _event(doc: dict[str, object]) -> bytes:
    return _chunk(b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n")


def _delta(rid: int, content: str | None, finish: str | None) -> dict[str, object]:
    delta: dict[str, object] = {} if content is None else {"content": content}
    return {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "calibration",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@dataclass(slots=True)
class _Stream:
    rid: int
    transport: asyncio.Transport
    left: int
    total: int
    done: asyncio.Future[None]
    token: bytes


class _Server:
    def __init__(self, interval_s: float) -> None:
        self.interval_ns = int(interval_s * 1e9)
        self.heap: list[tuple[int, int, _Stream]] = []
        self.next_id = 1

    async def writer(self) -> None:
        """Every millisecond, writes each chunk that is due (one ``write`` per chunk)."""
        heap = self.heap
        while True:
            await asyncio.sleep(_TICK_S)
            now = time.perf_counter_ns()
            while heap and heap[0][0] <= now:
                due, rid, stream = heapq.heappop(heap)
                if stream.transport.is_closing():
                    if not stream.done.done():
                        stream.done.set_result(None)
                    continue
                stream.transport.write(stream.token)
                stream.left -= 1
                if stream.left > 0:
                    heapq.heappush(heap, (due + self.interval_ns, rid, stream))
                else:
                    stream.transport.write(self.tail(rid, stream.total))
                    if not stream.done.done():
                        stream.done.set_result(None)

    def tail(self, rid: int, tokens: int) -> bytes:
        usage = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "calibration",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": 4 + tokens},
        }
        return (
            _event(_delta(rid, None, "length"))
            + _event(usage)
            + _chunk(b"data: [DONE]\n\n")
            + b"0\r\n\r\n"
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = cast(asyncio.Transport, writer.transport)  # uvloop's is not a subclass
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip() or 0)
                body = await reader.readexactly(length) if length else b""
                if method == "POST":
                    await self.stream(body, transport)
                else:
                    data = b'{"object":"list","data":[{"id":"calibration","object":"model"}]}'
                    transport.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%b" % (len(data), data)
                    )
                if transport.is_closing():
                    return
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            writer.close()

    def stream(self, body: bytes, transport: asyncio.Transport) -> asyncio.Future[None]:
        try:
            tokens = int(json.loads(body or b"{}").get("max_tokens") or 16)
        except (ValueError, TypeError, AttributeError):
            tokens = 16
        rid = self.next_id
        self.next_id += 1
        transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + _event(_delta(rid, "", None))
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tokens = max(1, tokens)
        stream = _Stream(rid, transport, tokens, tokens, done, _event(_delta(rid, "w ", None)))
        phase = int(((rid * _GOLDEN) % 1.0) * self.interval_ns)
        heapq.heappush(self.heap, (time.perf_counter_ns() + phase, rid, stream))
        return done


async def _serve(interval_s: float, max_seconds: float) -> None:
    server = _Server(interval_s)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
    task = asyncio.create_task(server.writer())
    port = srv.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        async with srv:
            await asyncio.wait_for(srv.serve_forever(), max_seconds)
    except (TimeoutError, asyncio.CancelledError):
        pass
    finally:
        task.cancel()


def _exit_when_stdin_closes() -> None:
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ometer-tui's calibration server")
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    _exit_when_stdin_closes()
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args.interval_ms / 1000, args.max_seconds))
    else:
        uvloop.run(_serve(args.interval_ms / 1000, args.max_seconds))


if __name__ == "__main__":
    main()
