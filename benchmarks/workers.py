"""Chunks/s held within 3 ms of event-loop lag against the number of engine workers.

    python benchmarks/workers.py                        # workers 1 and 2, rising loads
    python benchmarks/workers.py --quick                # 1 worker, two small loads
    python benchmarks/workers.py --workers 1 2 --loads 50 100 200 300 --duration 5
    python benchmarks/workers.py --only ramp            # the calibration vs the measured ramp
    python benchmarks/workers.py --only workers --workers 1 --calibration --engine-process
                                                        # calibration said X, engine held Y

Two parts (``--only workers`` / ``--only ramp``; both by default):

**workers**: the stamping server (benchmarks/stamping_server.py, its own process, OpenAI
flavour, one token every 10 ms, phase-shifted streams, 100 tokens a request) is read
by a child process that runs ometer-tui's engine as ``ometer-tui run --workers N
--concurrency S --duration D`` runs it (the same plan and runner), collecting the
``WorkerLoad`` reports each worker sends about once a second. Per configuration it
prints the chunks/s the server wrote in the steady part of the run (its first second
and last half second left out), each worker's loop-lag p99 (median of its reports;
the worst report beside it), its CPU and its resident memory. A load is *held* when
every worker's lag p99 stays within 3 ms. One worker is the engine on the child's loop
with the reports the TUI's bridge adds (core/bench/load_report.py); several are engine
processes, each reporting. Were no reports to come, the child measures its own loop the
same way (a 10 ms timer's lateness, CPU time, RSS) and says so (``source probe``).
``--engine-process`` runs one worker as an engine process too (``ProcessRunner``, as the
dashboard and the self-calibration run it: events pickled over the pipe) rather than
on the child's own loop as ``ometer-tui run --workers 1`` does.

``--calibration`` first measures the self-calibration (``ometer-tui calibrate``'s
measurement: the engine in its own process against its own loopback server; not
cached) and prints its capacity beside what the engine held here: *calibration said X,
engine held Y* per number of workers (X times the workers for several).

**ramp**: measures the self-calibration (``ometer-tui calibrate``'s figures) and runs
``benchmarks/accuracy.py --only ramp`` (tcpdump, root), whose lag is the tool's arrival
stamp against the packet's time on the wire; it prints the ramp's rows with the
calibration's capacity placed among them.

Raw results go to ``benchmarks/out/workers-<time>.json``. The machine's load average is
printed before and after: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from accuracy import StampServer  # noqa: E402 (beside this script)

LAG_LIMIT_MS = 3.0
INTERVAL_MS = 10.0  # 100 tokens/s per stream
TOKENS = 100
TTFT_MS = 50.0
TICK_S = 0.01  # the fallback probe's timer (as core/bench/load_report.py)


# -- the server ----------------------------------------------------------------------------


class Server(StampServer):
    """The stamping server at this benchmark's token rate, not pinned to a core."""

    def __init__(self) -> None:
        super().__init__(
            ["--interval-ms", f"{INTERVAL_MS:g}", "--tokens", str(TOKENS),
             "--ttft-ms", f"{TTFT_MS:g}"],
            cpu=None,
        )  # fmt: skip


# -- the child: the engine as `ometer-tui run --workers N` runs it --------------------------


def _make_runner(plan: Any, on_event: Any, engine_process: bool = False) -> Any:
    """The runner `ometer-tui run --workers N` makes for ``plan`` (worker_args.py); one
    engine gets the load reports a worker process sends (as the TUI's bridge does).
    ``engine_process``: one worker is an engine process (as the dashboard runs it)."""
    if engine_process and (plan.workers or 1) == 1:
        from ometer_tui.core.bench.process_runner import ProcessRunner

        return ProcessRunner(plan, on_event)
    from ometer_tui.worker_args import runner_factory

    return runner_factory(plan.workers or 1)(plan, on_event)


class Probe:
    """The fallback: this process's loop lag (10 ms timer), CPU and RSS, once a second."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    async def run(self) -> None:
        from ometer_tui.core.bench.load_report import p99

        loop_ns = int(TICK_S * 1e9)
        late: list[float] = []
        since, cpu0 = time.perf_counter_ns(), time.process_time()
        while True:
            before = time.perf_counter_ns()
            await asyncio.sleep(TICK_S)
            now = time.perf_counter_ns()
            late.append(max(0, now - before - loop_ns) / 1e6)
            if now - since >= 1_000_000_000:
                cpu = time.process_time()
                span = (now - since) / 1e9
                self.reports.append({
                    "worker": 0, "t_ns": now, "interval_s": span, "lag_p99_ms": p99(late),
                    "cpu_percent": 100 * (cpu - cpu0) / span, "chunks_per_s": None,
                    "rss_bytes": _rss(), "pid": os.getpid(),
                })  # fmt: skip
                late, since, cpu0 = [], now, cpu


def _rss() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def child(args: argparse.Namespace) -> None:
    from ometer_tui.core.bench.events import WorkerLoad
    from ometer_tui.core.bench.loop import run_engine
    from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
    from ometer_tui.core.bench.workloads.spec import LoadSpec
    from ometer_tui.core.bench.workloads.stop import StopConditions
    from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo

    plan = BenchmarkPlan(
        endpoint=Endpoint(name="stamp", url=args.url, api=ApiFlavour.OPENAI),
        models=(ModelInfo(name="stamp"),),
        prompts=("Write one paragraph about the sea.",),
        passes=1,
        warmup=1,
        concurrency=args.streams,
        params=GenerationParams(max_tokens=TOKENS),
        retry=RetryPolicy(max_retries=0),
        load=LoadSpec(stop=StopConditions(duration_s=args.duration)),
        workers=args.workers,
    )
    loads: list[dict[str, Any]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, WorkerLoad):
            loads.append({
                "worker": event.worker, "t_ns": time.perf_counter_ns(),
                "interval_s": event.interval_s, "lag_p99_ms": event.lag_p99_ms,
                "cpu_percent": event.cpu_percent, "chunks_per_s": event.chunks_per_s,
                "rss_bytes": event.rss_bytes, "pid": event.pid,
            })  # fmt: skip

    probe = Probe()
    runner = _make_runner(plan, on_event, args.engine_process)

    async def main() -> Any:
        task = asyncio.create_task(probe.run())
        try:
            return await runner.run()
        finally:
            task.cancel()

    start = time.perf_counter_ns()
    result = run_engine(main())
    end = time.perf_counter_ns()
    records = [r for m in result.models.values() for r in m.records if not r.warmup]
    source = "WorkerLoad" if loads else "probe"
    Path(args.out).write_text(json.dumps({
        "source": source, "loads": loads or probe.reports, "start_ns": start, "end_ns": end,
        "runs": len(records), "errors": sum(1 for r in records if not r.ok),
    }))  # fmt: skip


# -- one configuration --------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    data = sorted(values)
    mid = len(data) // 2
    return data[mid] if len(data) % 2 else (data[mid - 1] + data[mid]) / 2


def measure(
    server: Server, workers: int, streams: int, duration: float, engine_process: bool = False
) -> dict[str, Any]:
    server.call("/stamp/config", {"ttft_ms": TTFT_MS, "interval_ms": INTERVAL_MS,
                                  "tokens": TOKENS, "phase": "shift"})  # fmt: skip
    server.call("/stamp/reset", {})
    out = Path(tempfile.mkdtemp(prefix="workers-child-")) / "child.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", "--url", server.url,
           "--workers", str(workers), "--streams", str(streams), "--duration", f"{duration:g}",
           "--out", str(out)] + (["--engine-process"] if engine_process else [])  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=duration * 4 + 60)
    row: dict[str, Any] = {"workers": workers, "streams": streams, "duration_s": duration,
                           "offered_chunks_per_s": streams * 1000 / INTERVAL_MS,
                           "engine_process": engine_process or workers > 1}  # fmt: skip
    if proc.returncode != 0 or not out.exists():
        row["error"] = proc.stderr.decode()[-2000:]
        return row
    doc = json.loads(out.read_text())
    out.unlink()
    out.parent.rmdir()
    log = server.call("/stamp/log")
    # the steady part, on the server's clock (CLOCK_MONOTONIC, shared by the processes):
    # a second after its first chunk (connections, warm-up, workers starting) until half
    # a second before its last
    stamps = [w for r in log["requests"] for w in r["written_ns"]]
    if not stamps:
        row["error"] = "the server wrote no chunk"
        return row
    lo, hi = min(stamps) + 1_000_000_000, max(stamps) - 500_000_000
    written = sum(1 for w in stamps if lo <= w < hi)
    late = sum(1 for r in log["requests"] if r["max_late_ns"] > 1_000_000)
    per_worker: dict[int, dict[str, Any]] = {}
    for rep in doc["loads"]:
        if not lo <= rep["t_ns"] <= hi + 500_000_000:
            continue
        w = per_worker.setdefault(rep["worker"], {"lag": [], "cpu": [], "rss": [], "chunks": []})
        w["lag"].append(rep["lag_p99_ms"])
        w["cpu"].append(rep["cpu_percent"])
        if rep.get("rss_bytes"):
            w["rss"].append(rep["rss_bytes"])
        if rep.get("chunks_per_s") is not None:
            w["chunks"].append(rep["chunks_per_s"])
    summary = []
    for index, w in sorted(per_worker.items()):
        summary.append({
            "worker": index, "reports": len(w["lag"]), "lag_p99_ms": _median(w["lag"]),
            "lag_worst_ms": max(w["lag"]), "cpu_percent": _median(w["cpu"]),
            "rss_mb": max(w["rss"]) / 2**20 if w["rss"] else None,
            "chunks_per_s": _median(w["chunks"]),
        })  # fmt: skip
    span = (hi - lo) / 1e9
    worst = max((s["lag_p99_ms"] for s in summary if s["lag_p99_ms"] is not None), default=None)
    row.update(
        source=doc["source"],
        chunks_per_s=written / span if span > 0 else None,
        late_requests=late,
        runs=doc["runs"],
        errors=doc["errors"],
        worker_figures=summary,
        lag_p99_ms=worst,
        held=worst is not None and worst <= LAG_LIMIT_MS,
    )
    return row


def fmt(value: float | None, nd: int = 1) -> str:
    return "-" if value is None else f"{value:,.{nd}f}"


def print_row(row: dict[str, Any]) -> None:
    if row.get("error"):
        print(f"  workers {row['workers']} x {row['streams']:4d} streams: ERROR "
              f"{row['error'][-400:]}", flush=True)  # fmt: skip
        return
    figures = "; ".join(
        f"w{s['worker']}: lag p99 {fmt(s['lag_p99_ms'], 2)} (worst {fmt(s['lag_worst_ms'], 2)})"
        f" ms, cpu {fmt(s['cpu_percent'], 0)}%, rss {fmt(s['rss_mb'], 0)} MB"
        for s in row["worker_figures"]
    )
    print(f"  workers {row['workers']} x {row['streams']:4d} streams: "
          f"{fmt(row['chunks_per_s'], 0)} chunks/s written (offered "
          f"{row['offered_chunks_per_s']:,.0f}), {'held' if row['held'] else 'NOT held'}; "
          f"{figures}; runs {row['runs']}, errors {row['errors']}, late {row['late_requests']}, "
          f"source {row['source']}", flush=True)  # fmt: skip


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| workers | streams x 100 tok/s | chunks/s written | worst worker lag p99 ms "
          "| CPU % per worker | RSS MB per worker | held (<= 3 ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("error"):
            print(f"| {r['workers']} | {r['streams']} | error | | | | |")
            continue
        cpus = " / ".join(fmt(s["cpu_percent"], 0) for s in r["worker_figures"])
        mems = " / ".join(fmt(s["rss_mb"], 0) for s in r["worker_figures"])
        print(f"| {r['workers']} | {r['streams']} | {fmt(r['chunks_per_s'], 0)} | "
              f"{fmt(r['lag_p99_ms'], 2)} | {cpus} | {mems} | "
              f"{'yes' if r['held'] else 'no'} |")  # fmt: skip
    print("\nchunks/s held with every worker's lag p99 <= 3 ms:")
    for n in sorted({r["workers"] for r in rows}):
        held = [r["chunks_per_s"] for r in rows
                if r["workers"] == n and r.get("held") and r.get("chunks_per_s")]  # fmt: skip
        rss = [s["rss_mb"] for r in rows if r["workers"] == n and not r.get("error")
               for s in r["worker_figures"] if s["rss_mb"]]  # fmt: skip
        print(f"  {n} worker{'s' if n != 1 else ''}: "
              f"{fmt(max(held), 0) + ' chunks/s' if held else 'no load measured held'}; "
              f"RSS per worker up to {fmt(max(rss), 0) if rss else '-'} MB")  # fmt: skip


def held_by(rows: list[dict[str, Any]], workers: int) -> tuple[float | None, float | None]:
    """(the heaviest load held, the lightest load not held) for ``workers``, chunks/s."""
    mine = [r for r in rows if r["workers"] == workers and r.get("chunks_per_s")]
    held = [r["chunks_per_s"] for r in mine if r.get("held")]
    over = [r["chunks_per_s"] for r in mine if not r.get("held")]
    return (max(held) if held else None), (min(over) if over else None)


def print_against_calibration(rows: list[dict[str, Any]], cal: dict[str, Any]) -> None:
    """*calibration said X, engine held Y*, per number of workers."""
    from ometer_tui.core.bench.calibrate import about

    per_worker = cal["capacity_chunks_per_s"]
    print("\nthe calibration against what the engine held (lag p99 <= 3 ms, every worker):")
    for n in sorted({r["workers"] for r in rows}):
        held, over = held_by(rows, n)
        said = per_worker * n
        times = f" ({n} x ~{about(per_worker)})" if n > 1 else ""
        ratio = f"; said/held {said / held:.2f}" if held else ""
        past = f", first past it {fmt(over, 0)}" if over else ""
        print(f"  {n} worker{'s' if n != 1 else ''}: calibration said ~{about(said)} chunks/s"
              f"{times}, engine held {fmt(held, 0) if held else 'no load measured'}"
              f"{past}{ratio}", flush=True)  # fmt: skip


def calibration() -> dict[str, Any]:
    """The self-calibration measured now (not cached), its steps printed."""
    from ometer_tui.core.bench.calibrate import about, measure_calibration

    load = os.getloadavg()
    print(f"self-calibration (ometer-tui calibrate's measurement; load average {load[0]:.2f}):",
          flush=True)  # fmt: skip
    cal = measure_calibration()
    for step in cal.steps:
        print(f"  {step.streams:4d} streams x {step.tokens_per_s:g} tok/s: "
              f"{step.chunks_per_s:,.0f} chunks/s, engine CPU {step.cpu_percent:.0f}%, "
              f"lag p99 {step.lag_p99_ms:.2f} ms (start {fmt(step.start_lag_ms, 2)}), "
              f"{step.runs} runs", flush=True)  # fmt: skip
    print(f"  -> {cal.per_chunk_us:.1f} us per chunk; one worker holds ~"
          f"{about(cal.capacity_chunks_per_s)} chunks/s within 3 ms (measured in "
          f"{cal.took_s:.1f} s)" + (f" ({cal.note})" if cal.note else ""), flush=True)  # fmt: skip
    return cal.to_json()


# -- the calibration against the measured ramp --------------------------------------------

_RAMP_LINE = re.compile(
    r"ramp\s+(\d+) streams: ([\d.,-]+) chunks/s, lag p99 ([\d.-]+) ms, cpu ([\d.-]+)%"
)


def ramp_comparison(streams: list[int], cal: dict[str, Any] | None = None) -> dict[str, Any]:
    """The calibration (``cal``, else measured now) among accuracy.py's ramp rows."""
    from ometer_tui.core.bench.calibrate import about

    cal = cal or calibration()
    print("measured ramp (benchmarks/accuracy.py --only ramp: lag = arrival stamp - packet "
          "time on the wire):", flush=True)  # fmt: skip
    cmd = [sys.executable, str(HERE / "accuracy.py"), "--only", "ramp", "--no-peer",
           "--ramp", *map(str, streams)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    ramp = []
    for line in proc.stdout.splitlines():
        m = _RAMP_LINE.search(line)
        if m:
            chunks = None if m.group(2) == "-" else float(m.group(2).replace(",", ""))
            lag = None if m.group(3) == "-" else float(m.group(3))
            cpu = None if m.group(4) == "-" else float(m.group(4))
            ramp.append({"streams": int(m.group(1)), "chunks_per_s": chunks,
                         "lag_p99_ms": lag, "cpu_percent": cpu})  # fmt: skip
    if not ramp:
        print(f"  the ramp gave no rows: {proc.stderr[-1500:]}", flush=True)
    capacity = cal["capacity_chunks_per_s"]
    print(f"\n| ramp streams x 100 tok/s | chunks/s | wire lag p99 ms | client CPU % | "
          f"within the calibration (~{about(capacity)} chunks/s) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in ramp:
        inside = r["chunks_per_s"] is not None and r["chunks_per_s"] <= capacity
        print(f"| {r['streams']} | {fmt(r['chunks_per_s'], 0)} | {fmt(r['lag_p99_ms'], 2)} | "
              f"{fmt(r['cpu_percent'], 0)} | {'yes' if inside else 'no'} |")  # fmt: skip
    over = [r for r in ramp if (r["lag_p99_ms"] or 0) > LAG_LIMIT_MS]
    first_over = min((r["chunks_per_s"] or 0 for r in over), default=None)
    held = [r["chunks_per_s"] for r in ramp if r not in over and r["chunks_per_s"]]
    print(f"\ncalibration: ~{about(capacity)} chunks/s per worker; ramp: highest within 3 ms "
          f"{fmt(max(held), 0) if held else '-'} chunks/s, first past 3 ms "
          f"{fmt(first_over, 0) if first_over else '- (none)'}", flush=True)  # fmt: skip
    return {"calibration": cal, "ramp": ramp}


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("cmd", nargs="?", default="bench", choices=("bench", "child"))
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--loads", type=int, nargs="*", default=[50, 100, 150, 200, 300],
                        help="streams at 100 tokens/s each")  # fmt: skip
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load")
    parser.add_argument("--ramp", type=int, nargs="*", default=[50, 100, 150, 200, 300],
                        help="accuracy.py's ramp: streams at 100 tokens/s each")  # fmt: skip
    parser.add_argument("--only", choices=("workers", "ramp"), nargs="*")
    parser.add_argument("--quick", action="store_true", help="1 worker, 20 and 50 streams, 3 s")
    parser.add_argument("--calibration", action="store_true",
                        help="measure the self-calibration first and print its capacity "
                        "beside the chunks/s the engine held")  # fmt: skip
    parser.add_argument("--engine-process", action="store_true",
                        help="one worker as an engine process (ProcessRunner, as the "
                        "dashboard and the calibration run it), not on the child's "
                        "loop")  # fmt: skip
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--streams", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", default=str(HERE / "out"))
    opts = parser.parse_args(argv)
    if opts.cmd == "child":
        opts.workers = opts.workers[0]
        child(opts)
        return
    if opts.quick:
        opts.workers, opts.loads, opts.duration, opts.ramp = [1], [20, 50], 3.0, [50, 100]
    parts = set(opts.only or ("workers", "ramp"))
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} cores; {platform.python_version()}", flush=True)  # fmt: skip
    doc: dict[str, Any] = {"started": time.time(), "load_before": load, "rows": []}
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"workers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    if "workers" in parts and opts.calibration:
        doc["calibration"] = calibration()
        print(flush=True)
    if "workers" in parts:
        mode = " (one worker: an engine process)" if opts.engine_process else ""
        print(f"workers{mode} (OpenAI SSE, {INTERVAL_MS:g} ms/token, phase-shifted, "
              f"{TOKENS} tokens a request, closed loop, {opts.duration:g} s a load):",
              flush=True)  # fmt: skip
        server = Server()
        try:
            for n in opts.workers:
                for streams in opts.loads:
                    row = measure(server, n, streams, opts.duration, opts.engine_process)
                    doc["rows"].append(row)
                    print_row(row)
        finally:
            server.stop()
        print_table(doc["rows"])
        if "calibration" in doc:
            print_against_calibration(doc["rows"], doc["calibration"])
    if "ramp" in parts:
        print(flush=True)
        doc["ramp"] = ramp_comparison(opts.ramp, doc.get("calibration"))
    doc["load_after"] = os.getloadavg()
    path.write_text(json.dumps(doc, indent=1))
    la = doc["load_after"]
    print(f"\nload average after: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; raw: {path}")


if __name__ == "__main__":
    main()
