"""Load and soak: the engine against the demo endpoint in its own process, on loopback.

Phase 1 (load): at least ``--streams`` concurrent streams for at least ``--seconds``
seconds; the demo server's own in-flight counter is sampled to show the streams really
were open at once. Phase 2 (sustained): ``--requests`` requests back to back.

Reported: errors the server did not cause (the models used never fault: every error is
the client's, and must be 0), open file descriptors and TCP sockets of this process
before and after (from /proc/self), resident memory sampled during the load phase and
the peak (getrusage), requests/s. Bounded in count and in time; loopback only; stops by
itself. Linux only (/proc).

    python benchmarks/soak.py                 # the README's figures (about 2 minutes)
    python benchmarks/soak.py --quick         # a 10-second smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ometer_tui.core.bench.events import BenchmarkEvent, RunFinished
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    TimeoutPolicy,
)
from ometer_tui.demo.process import demo_process

#: A hard stop for the whole script, whatever the options say.
HARD_LIMIT_S = 600.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def socket_inodes() -> set[str]:
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp_connections() -> int:
    """TCP sockets of this process (any state, listening excluded), from /proc/net."""
    mine = socket_inodes()
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[9] in mine and parts[3] != "0A":  # 0A = LISTEN
                count += 1
    return count


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Phase:
    name: str
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    in_flight_samples: list[int] = field(default_factory=list)
    rss_samples: list[float] = field(default_factory=list)
    ttft_p50_ms: float = float("nan")
    ttft_p99_ms: float = float("nan")

    def timing(self, result: BenchmarkResult) -> None:
        for entry in result.models.values():
            stats = entry.summary.metrics.get("ttft_s") if entry.summary else None
            if stats is not None:
                self.ttft_p50_ms, self.ttft_p99_ms = stats.p50 * 1000, stats.p99 * 1000

    def on_event(self, event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished) and not event.record.warmup:
            self.requests += 1
            if event.record.ok:
                self.ok += 1
            else:
                kind = event.record.error_kind or "unknown"
                self.errors[kind] = self.errors.get(kind, 0) + 1


def plan_for(
    url: str, model: str, *, concurrency: int, runs: int, max_tokens: int
) -> BenchmarkPlan:
    endpoint = Endpoint(
        name="soak",
        url=url,
        api=ApiFlavour.OLLAMA,
        simulated=True,
        timeouts=TimeoutPolicy(connect_s=10, read_s=30, total_s=120),
    )
    return BenchmarkPlan(
        endpoint=endpoint,
        models=(ModelInfo(name=model),),
        passes=runs,
        warmup=0,
        concurrency=concurrency,
        params=GenerationParams(max_tokens=max_tokens),
        retry=RetryPolicy(max_retries=0),  # an error is an error: nothing hidden by retries
        keep_text_chars=0,
    )


async def sample(url: str, phase: Phase, stop: asyncio.Event, every_s: float) -> None:
    """The server's in-flight count and our RSS, every ``every_s`` seconds."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while not stop.is_set():
            try:
                stats = (await client.get("/demo/stats")).json()
                phase.in_flight_samples.append(int(stats["in_flight"]))
            except (httpx.HTTPError, ValueError, KeyError):
                phase.in_flight_samples.append(-1)
            phase.rss_samples.append(rss_mib())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


async def load_phase(url: str, streams: int, seconds: float) -> Phase:
    """``streams`` streams in flight for ``seconds``; then cancelled (finished runs kept)."""
    phase = Phase(f"load: {streams} concurrent streams, {seconds:g} s")
    # demo-slow:70b: 0.25 s to the first token, 24 tokens 60 ms apart (about 1.7 s a run)
    # more runs than the time allows (a run takes at least 1.7 s), so none runs dry
    runs = streams * (int(seconds) + 2)
    plan = plan_for(url, "demo-slow:70b", concurrency=streams, runs=runs, max_tokens=24)
    runner = BenchmarkRunner(plan, phase.on_event)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(url, phase, stop, max(1.0, seconds / 12)))
    started = time.monotonic()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    runner.cancel()  # in-flight requests are dropped, not counted; finished ones are kept
    result = await task
    phase.wall_s = time.monotonic() - started
    stop.set()
    await sampler
    assert result.cancelled
    phase.timing(result)
    return phase


async def sustained_phase(url: str, requests: int, concurrency: int) -> Phase:
    phase = Phase(f"sustained: {requests} requests, concurrency {concurrency}")
    # demo-fast:1b: 30 ms to the first token, then 16 tokens 5 ms apart
    plan = plan_for(url, "demo-fast:1b", concurrency=concurrency, runs=requests, max_tokens=16)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(url, phase, stop, 2.0))
    started = time.monotonic()
    result = await BenchmarkRunner(plan, phase.on_event).run()
    phase.wall_s = time.monotonic() - started
    stop.set()
    await sampler
    assert not result.cancelled
    phase.timing(result)
    return phase


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure':<{width}} | value |", f"| {'-' * width} | --- |"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    with demo_process() as demo:
        url = demo.url
        # one throwaway request so lazy imports and the first connect are not "leaks"
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/api/version")
        gc.collect()
        fds_before, tcp_before, rss_before = open_fds(), tcp_connections(), rss_mib()
        print(f"demo endpoint (own process, pid {demo.pid}) at {url}", file=sys.stderr)
        async with asyncio.timeout(HARD_LIMIT_S):
            load = await load_phase(url, args.streams, args.seconds)
            print(f"load phase done: {load.requests} requests", file=sys.stderr)
            sustained = await sustained_phase(url, args.requests, args.concurrency)
            print(f"sustained phase done: {sustained.requests} requests", file=sys.stderr)
        await asyncio.sleep(0.2)  # let closed sockets leave the tables
        gc.collect()
        fds_after, tcp_after, rss_after = open_fds(), tcp_connections(), rss_mib()

    def errors(p: Phase) -> str:
        total = sum(p.errors.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(p.errors.items()))
        return f"{total}" + (f" ({kinds})" if kinds else "")

    mid = sorted(load.in_flight_samples[1:-1] or load.in_flight_samples)
    growth_kib = (load.rss_samples[-1] - load.rss_samples[1]) * 1024 / max(1, load.requests)
    rows = [
        ("Python", sys.version.split()[0]),
        ("load: concurrent streams asked", str(args.streams)),
        ("load: wall time (s)", f"{load.wall_s:.1f}"),
        (
            "load: streams in flight at the server, min/median/max of samples",
            f"{mid[0]}/{mid[len(mid) // 2]}/{mid[-1]}",
        ),
        ("load: requests finished", str(load.requests)),
        ("load: requests/s", f"{load.requests / load.wall_s:.1f}"),
        (
            "load: TTFT p50/p99 (ms; the schedule says 250)",
            f"{load.ttft_p50_ms:.0f}/{load.ttft_p99_ms:.0f}",
        ),
        ("load: errors not caused by the server", errors(load)),
        ("load: RSS samples (MiB)", " ".join(f"{r:.0f}" for r in load.rss_samples)),
        ("load: RSS growth per finished run kept in the result (KiB)", f"{growth_kib:.2f}"),
        ("sustained: requests", str(sustained.requests)),
        ("sustained: wall time (s)", f"{sustained.wall_s:.1f}"),
        ("sustained: requests/s", f"{sustained.requests / sustained.wall_s:.1f}"),
        (
            "sustained: TTFT p50/p99 (ms; the schedule says 30)",
            f"{sustained.ttft_p50_ms:.0f}/{sustained.ttft_p99_ms:.0f}",
        ),
        ("sustained: errors not caused by the server", errors(sustained)),
        ("sustained: RSS samples (MiB)", " ".join(f"{r:.0f}" for r in sustained.rss_samples)),
        ("open file descriptors before/after", f"{fds_before}/{fds_after}"),
        ("TCP connections before/after", f"{tcp_before}/{tcp_after}"),
        ("RSS before/after (MiB)", f"{rss_before:.0f}/{rss_after:.0f}"),
        ("peak RSS (MiB)", f"{peak_rss_mib():.0f}"),
    ]
    print(table(rows))
    failed = (
        sum(load.errors.values())
        or sum(sustained.errors.values())
        or fds_after > fds_before
        or tcp_after > tcp_before
        or sustained.requests != args.requests
        or mid[-1] < args.streams
    )
    if failed:
        print("FAILED: see the table", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="100 streams for 5 s, 500 requests")
    options = parser.parse_args()
    if options.quick:
        options.streams, options.seconds, options.requests = 100, 5.0, 500
    sys.exit(asyncio.run(main(options)))
