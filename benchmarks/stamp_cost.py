"""What kernel receive stamps cost per chunk, against stamping on the event loop.

    python benchmarks/stamp_cost.py [--streams 20] [--chunks 500] [--interval-ms 5]

A server process writes ``--chunks`` small chunks per stream, ``--interval-ms`` apart,
on ``--streams`` connections at once (an HTTP/1.1 chunked body each). A client process
reads them through ometer-tui's transport (httpx over aiohttp, as the clients do), on
uvloop, once with kernel stamps and once with loop stamps, in alternation (``--rounds``).
Printed per mode: the client's CPU time (user + system) per piece read, the pieces per
read of the socket, and which clock stamped them. The server runs in its own process so
only the client's CPU is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def serve(streams: int, chunks: int, interval_s: float, port_file: Path) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(streams)
    port_file.write_text(str(listener.getsockname()[1]))
    piece = b'data: {"choices":[{"delta":{"content":"tok"}}]}\n\n'
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)

    def one(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                request = b""
                while b"\r\n\r\n" not in request:
                    got = conn.recv(4096)
                    if not got:
                        return
                    request += got
                head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                conn.sendall(head + b"transfer-encoding: chunked\r\n\r\n")
                due = time.monotonic()
                for _ in range(chunks):
                    due += interval_s
                    time.sleep(max(0.0, due - time.monotonic()))
                    conn.sendall(frame)
                conn.sendall(b"0\r\n\r\n")

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def client(url: str, streams: int, mode: str) -> dict[str, object]:
    import asyncio

    import httpx
    import uvloop

    from ometer_tui.core.api import _transport
    from ometer_tui.core.api._transport import AiohttpTransport, Arrival

    _transport.kernel_stamps_enabled = mode.startswith("kernel")
    if mode == "kernel-no-checkpoints":  # no read checkpoints (ReadySockets) in bodies
        _transport.BODY_CHECKPOINT_GAP_NS = 1 << 62

    async def run() -> tuple[int, int, int]:
        transport = AiohttpTransport(max_connections=streams)
        async with httpx.AsyncClient(transport=transport, base_url=url) as http:

            async def one() -> tuple[int, int]:
                async with http.stream("POST", "/", content=b"{}") as response:
                    pieces = 0
                    async for _piece in response.aiter_raw():
                        pieces += 1
                    arrival = response.extensions["arrival"]
                    assert isinstance(arrival, Arrival)
                    return pieces, arrival.kernel_reads

            await asyncio.gather(*(one() for _ in range(streams)))  # connect, warm up
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            results = await asyncio.gather(*(one() for _ in range(streams)))
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_ns = int(((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) * 1e9)
        return sum(p for p, _ in results), sum(k for _, k in results), cpu_ns

    pieces, kernel, cpu_ns = uvloop.run(run())
    return {"mode": mode, "pieces": pieces, "kernel_pieces": kernel, "cpu_ns": cpu_ns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--modes", nargs="*", default=["kernel", "loop"],
        choices=["kernel", "loop", "kernel-no-checkpoints"],
    )  # fmt: skip
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve:
        serve(opts.streams, opts.chunks, opts.interval_ms / 1000, Path(opts.serve))
        return
    if opts.client:
        print(json.dumps(client(opts.client, opts.streams, opts.mode)))
        return
    port_file = Path(f"/tmp/stamp-cost-{os.getpid()}.port")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port_file), "--streams", str(opts.streams),
         "--chunks", str(opts.chunks), "--interval-ms", str(opts.interval_ms)]
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        per_piece: dict[str, list[float]] = {mode: [] for mode in opts.modes}
        for _ in range(opts.rounds):
            for mode in opts.modes:
                out = subprocess.run(
                    [sys.executable, __file__, "--client", url, "--mode", mode,
                     "--streams", str(opts.streams)],
                    capture_output=True, text=True, timeout=600, check=True,
                )  # fmt: skip
                row = json.loads(out.stdout)
                us = row["cpu_ns"] / row["pieces"] / 1000
                per_piece[mode].append(us)
                print(f"  {mode:21s}: {row['pieces']} pieces ({row['kernel_pieces']} kernel-"
                      f"stamped), client CPU {us:.1f} us per piece", flush=True)  # fmt: skip
        for mode, values in per_piece.items():
            low, high, median = min(values), max(values), statistics.median(values)
            print(f"{mode}: median {median:.1f} us CPU per piece "
                  f"(min {low:.1f}, max {high:.1f}, {len(values)} rounds)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(5)
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
