"""Schedule lag of the open-loop engine: how late requests leave against the timetable.

An open-loop load at ``--rate`` requests/s (Poisson, seeded) for ``--seconds`` against
the demo endpoint in its own process, on loopback. For every request the engine records
its intended send time (from the timetable) and its actual one (handed to the socket);
the lag is actual - intended. Printed: requests, offered and achieved rate, lag p50, p90,
p99, p99.9 and max, and the load average before and after (the machine may be shared).
The target (issue #11): p99 <= 1 ms at 200 requests/s for 60 s.

Each request is started ahead of its time and its bytes are held until then
(``core/api/send_at.py``, ``_held_send.py``); the figures split the lag so a regression
shows where it is: how the requests were sent (held and written by the pool's timed
writer, or waited for in their task), how early each request's bytes were ready (its
slack: a negative one was built too late), and how late the writer wrote against the
deadline. The cyclic garbage collector's pauses during the run are timed
(``gc.callbacks``) by generation, with the late sends (over 1 ms) that had a pause
inside their lag. A/B switches: ``--hold off`` makes each request's task wait for its
send time before it is written, instead of holding its bytes; ``--policy off`` leaves the
collector alone while the open loop runs (``core/bench/open_loop_policy.py``);
``--gc default`` also turns off the engine's collector policy (``gc_policy.py``).

Stalls of the whole machine (this VM pauses every process now and then) are told apart
from the engine's own lateness by a separate process, a probe that sleeps 1 ms at a
time on the same monotonic clock and notes every wake-up more than 5 ms late, and by the
kernel's steal time (``/proc/stat``) over the run: printed with how many of the late
sends (over 1 ms) had such a stall inside their lag.

    python benchmarks/schedule_lag.py                 # the README's figures (~70 s)
    python benchmarks/schedule_lag.py --seconds 5     # a smoke run
    python benchmarks/schedule_lag.py --seconds 20 --hold off --policy off   # A/B
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import gc
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ometer_tui.core.api import _held_send, _transport
from ometer_tui.core.bench import gc_policy, open_loop_policy
from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.loop import engine_loop_factory, run_engine
from ometer_tui.core.bench.metrics import percentile
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.bench.workloads.summary import LoadSummary
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.demo.process import demo_process

#: held requests: their send time minus when their bytes were ready, ms (the slack)
SLACK_MS: list[float] = []
#: the timed writer: its write minus the send time, ms
WRITER_LATE_MS: list[float] = []
#: requests with a send time: held for the writer, or waited for in their task
HOLDS = {"held": 0, "loop": 0}
#: the cyclic garbage collector's pauses: (generation, start ns, end ns)
GC_PAUSES: list[tuple[int, int, int]] = []
_gc_started = [0]


def _time_gc(phase: str, info: dict[str, int]) -> None:
    now = time.perf_counter_ns()
    if phase == "start":
        _gc_started[0] = now
    else:
        GC_PAUSES.append((info["generation"], _gc_started[0], now))


def _watch_sends() -> None:
    """Count how requests were sent, and time the slack and the send thread."""
    release = _held_send.HeldTransport.release
    hold = _transport._StampingHandler.hold
    send = _held_send._Job.send
    submit = _held_send.TimedWriter.submit
    dues: dict[int, int] = {}

    def timed_release(self: _held_send.HeldTransport, at_once: bool = False) -> None:
        if not self._released:
            SLACK_MS.append((self._due - time.perf_counter_ns()) / 1e6)
        release(self, at_once)

    def counted_hold(self: _transport._StampingHandler, due_ns: int, writer: object) -> bool:
        held = hold(self, due_ns, writer)  # type: ignore[arg-type]
        HOLDS["held" if held else "loop"] += 1
        return held

    def noted_submit(self: _held_send.TimedWriter, due_ns: int, job: _held_send._Job) -> None:
        dues[id(job)] = due_ns
        submit(self, due_ns, job)

    def timed_send(self: _held_send._Job) -> None:
        due = dues.pop(id(self), None)
        if due is not None:
            WRITER_LATE_MS.append((time.perf_counter_ns() - due) / 1e6)
        send(self)

    _held_send.HeldTransport.release = timed_release  # type: ignore[method-assign]
    _transport._StampingHandler.hold = counted_hold  # type: ignore[method-assign]
    _held_send.TimedWriter.submit = noted_submit  # type: ignore[method-assign]
    _held_send._Job.send = timed_send  # type: ignore[method-assign]


#: The stall probe: a process of its own that sleeps 1 ms at a time and prints each
#: wake-up later than 5 ms as "<start ns> <length ns>" (time.monotonic_ns: the clock
#: of perf_counter_ns on Linux, so its stalls line up with the sends).
STALL_PROBE = """
import sys, time
while True:
    before = time.monotonic_ns()
    time.sleep(0.001)
    late = time.monotonic_ns() - before - 1_000_000
    if late > 5_000_000:
        print(before, late + 1_000_000, flush=True)
"""


def _steal_ticks() -> int | None:
    """The kernel's steal time (ticks the hypervisor ran something else), all CPUs."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8])
    except (OSError, IndexError, ValueError):
        return None


def _print_stalls(
    probe: subprocess.Popen[str], records: list[RunRecord], bench_start_ns: int, steal: int
) -> None:
    """What the probe saw, the steal time, and the late sends a stall explains."""
    probe.terminate()
    out, _ = probe.communicate(timeout=5)
    stalls = sorted(
        (int(start), int(start) + int(length))
        for start, length in (line.split() for line in out.splitlines() if line.strip())
    )
    lengths = sorted((end - start) / 1e6 for start, end in stalls)
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    stolen = "" if steal < 0 else f"; steal time {steal * tick_ms:.0f} ms"
    if not lengths:
        print(f"  machine stalls (a 1 ms sleeper in its own process woke > 5 ms late): 0{stolen}")
        return
    late = _late_sends(records, bench_start_ns)
    hit = sum(1 for due, sent in late if any(s < sent and e > due for s, e in stalls))
    print(
        f"  machine stalls (a 1 ms sleeper in its own process woke > 5 ms late): "
        f"{len(lengths)}, max {lengths[-1]:.1f} ms{stolen}"
    )
    print(f"  late sends (> 1 ms) with a machine stall inside their lag: {hit} of {len(late)}")


def _late_sends(records: list[RunRecord], bench_start_ns: int) -> list[tuple[int, int]]:
    """(due, sent) in ns on the engine's clock of every send more than 1 ms late."""
    return [
        (
            bench_start_ns + round(r.load.intended_at_s * 1e9),
            bench_start_ns + round(r.started_at_s * 1e9),
        )
        for r in records
        if r.load is not None
        and r.load.intended_at_s is not None
        and r.load.schedule_lag_s is not None
        and r.load.schedule_lag_s > 1e-3
    ]


def _quantiles(values: list[float]) -> str:
    ms = sorted(values)
    pct = {q: percentile(ms, q) for q in (50, 90, 99, 99.9)}
    return (
        f"p50 {pct[50]:.3f}  p90 {pct[90]:.3f}  p99 {pct[99]:.3f}  "
        f"p99.9 {pct[99.9]:.3f}  max {ms[-1]:.3f}"
    )


def _print_gc(records: list[RunRecord], bench_start_ns: int, started_ns: int) -> None:
    """The collector's pauses during the run by generation, and the late sends they explain."""
    pauses = [p for p in GC_PAUSES if p[1] >= started_ns]
    for gen in (0, 1, 2):
        took = sorted((end - start) / 1e6 for g, start, end in pauses if g == gen)
        if took:
            print(
                f"  gc gen {gen}: {len(took)} pauses, total {sum(took):.1f} ms, "
                f"p50 {percentile(took, 50):.3f}  p99 {percentile(took, 99):.3f}  "
                f"max {took[-1]:.3f} ms"
            )
    late = _late_sends(records, bench_start_ns)
    starts = sorted((start, end) for _, start, end in pauses)
    hit = 0
    for due, sent in late:
        i = bisect.bisect_right(starts, (sent, sent))
        if any(s < sent and e > due for s, e in starts[max(0, i - 50) : i]):
            hit += 1
    print(f"  late sends (> 1 ms) with a gc pause inside their lag: {hit} of {len(late)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--arrival", choices=("poisson", "constant", "gamma"), default="poisson")
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--api", choices=("openai", "ollama"), default="openai")
    parser.add_argument(
        "--gc",
        choices=("engine", "default"),
        default="engine",
        help="engine: the engine's collector policy (core/bench/gc_policy.py); "
        "default: Python's own (for an A/B; implies --policy off)",
    )
    parser.add_argument(
        "--hold",
        choices=("on", "off"),
        default="on",
        help="on: requests' bytes held for the timed writer; off: their task waits (A/B)",
    )
    parser.add_argument(
        "--policy",
        choices=("on", "off"),
        default="on",
        help="on: young collections in the timetable's gaps while the open loop runs "
        "(core/bench/open_loop_policy.py); off: Python's automatic ones (A/B)",
    )
    args = parser.parse_args()
    gc_policy.ENABLED = args.gc == "engine"
    open_loop_policy.ENABLED = args.policy == "on" and args.gc == "engine"
    _transport.held_sends_enabled = args.hold == "on"
    load = LoadSpec(
        arrival=ArrivalSpec(args.rate, ArrivalKind(args.arrival)),
        stop=StopConditions(duration_s=args.seconds),
        seed=1,
    )
    _watch_sends()
    gc.callbacks.append(_time_gc)
    before = os.getloadavg()
    steal_before = _steal_ticks()
    probe = subprocess.Popen([sys.executable, "-c", STALL_PROBE], stdout=subprocess.PIPE, text=True)
    atexit.register(probe.kill)  # whatever happens below
    with demo_process() as server:
        plan = BenchmarkPlan(
            endpoint=Endpoint(
                name="demo", url=server.url, api=ApiFlavour(args.api), simulated=True
            ),
            models=(ModelInfo("demo-fast:1b"),),
            warmup=1,
            params=GenerationParams(max_tokens=args.max_tokens),
            retry=RetryPolicy(max_retries=0),
            keep_text_chars=0,
            load=load,
        )
        events: list[BenchmarkEvent] = []
        started = time.perf_counter()
        runner = BenchmarkRunner(plan, events.append)
        result = run_engine(runner.run())
        took = time.perf_counter() - started
    after = os.getloadavg()
    records = [r for r in result.models["demo-fast:1b"].records if not r.warmup]
    lags = sorted(
        r.load.schedule_lag_s for r in records if r.load and r.load.schedule_lag_s is not None
    )
    errors = sum(1 for r in records if not r.ok)
    summary = result.models["demo-fast:1b"].summary
    load_figures = summary.load if summary is not None else None
    assert isinstance(load_figures, LoadSummary)
    loop = "uvloop" if engine_loop_factory() is not None else "asyncio"
    print(
        f"schedule lag: {args.arrival} arrivals at {args.rate:g}/s for {args.seconds:g} s, "
        f"demo endpoint ({args.api}) in its own process, {args.max_tokens}-token answers, "
        f"engine on {loop}, {os.cpu_count()} CPUs, gc {args.gc}, hold {args.hold}, "
        f"policy {'on' if open_loop_policy.ENABLED else 'off'}"
    )
    print(
        f"  requests {len(records)} ({errors} errors), "
        f"achieved {load_figures.achieved_rate or 0:.2f} req/s, "
        f"max in flight {load_figures.max_in_flight}, "
        f"wall {took:.1f} s"
    )
    ms = [x * 1e3 for x in lags]
    if ms:
        print(f"  schedule lag ms (intended -> sent):  {_quantiles(ms)}")
        print(
            f"  sends: {HOLDS['held']} held for the writer, {HOLDS['loop']} waited for in "
            f"their task, {sum(1 for r in records if r.send_clock == 'kernel')} of "
            f"{len(records)} stamped by the kernel"
        )
        if SLACK_MS:
            late = sum(1 for x in SLACK_MS if x < 0)
            print(f"    bytes ready before the send time, ms:  {_quantiles(SLACK_MS)}")
            print(f"    ready only after it: {late}")
        if WRITER_LATE_MS:
            print(f"    writer after the send time, ms:  {_quantiles(WRITER_LATE_MS)}")
        print(f"  over 1 ms: {sum(1 for x in ms if x > 1.0)} of {len(ms)}")
        _print_gc(records, runner._bench_start_ns, started_ns=round(started * 1e9))
    steal_after = _steal_ticks()
    steal = -1 if steal_before is None or steal_after is None else steal_after - steal_before
    _print_stalls(probe, records, runner._bench_start_ns, steal)
    print(f"  load average before {before[0]:.2f}, after {after[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
