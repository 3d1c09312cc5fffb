"""Self-calibration: what one engine worker holds on this machine within 3 ms of lag.

:func:`measure_calibration` starts a small loopback server in its own process
(:mod:`.calibrate_server`: OpenAI-style SSE, every stream one token per 10 ms) and runs
the whole engine against it as one worker of ``--workers`` runs: a closed-loop
:class:`~ometer_tui.core.bench.runner.BenchmarkRunner` in an engine process of its own
(:class:`~ometer_tui.core.bench.process_runner.ProcessRunner`: the engine's records and
events, pickled in batches over the pipe, and its ``WorkerLoad`` reports from the
child's loop), at a few rising loads (10, 20 and 40 streams by default, 1,000-4,000
chunks/s, 100 tokens a request), each for two report intervals: the first report covers
the start (connections, streams starting) and is left out, the second is the step's
figure. From the engine's own reports, at each load:

* the chunks the engine read per second,
* the CPU of the engine's process (the calibrating process, the server and anything
  else are not counted), and
* the engine's event-loop lag p99: the ``WorkerLoad`` figure the dashboard warns on past
  :data:`WORKER_LAG_WARN_MS` and ``benchmarks/workers.py`` calls held.

Why a process of its own: every worker of several is one (``shards.default_shard_factory``)
and so is the dashboard's engine; the caller (a CLI, the TUI's thread) stays out of the
figures. (``ometer-tui run`` with one worker runs the engine on its own loop instead,
beside its progress lines: not measured apart.)

A load counts as held when its lag is within the limit and the engine read at least 90%
of the chunks offered (an engine or server starved of CPU reads fewer, on time or not).

The fit (:func:`fit_calibration`, pure): the per-chunk cost is the slope of the
engine's CPU against chunks/s (the intercept is its idle cost); the lag is fitted as a
line in chunks/s and the capacity is where it reaches the limit, never less than the
heaviest load measured within it, nor more than a load measured past it or twice the
heaviest load measured.

:func:`load_calibration` keeps the result in the user cache folder (one small JSON,
written atomically), keyed by machine, Python and ometer-tui version, for 30 days;
:func:`choose_workers` turns a plan and a calibration into a number of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ometer_tui import __version__
from ometer_tui.core.bench.events import WORKER_LAG_WARN_MS, WorkerLoad
from ometer_tui.core.bench.load_report import REPORT_INTERVAL_S
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.workloads.lengths import Pairs

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

#: the lag a worker may show and still be trusted to the millisecond
LAG_LIMIT_MS = WORKER_LAG_WARN_MS
#: a cached calibration is reused this long
CACHE_MAX_AGE_S = 30 * 86_400
CACHE_FILE = "calibration.json"
#: a path for the cached calibration instead of the user cache folder's (tests use it)
CACHE_ENV = "OMETER_TUI_CALIBRATION"
#: 2: the whole engine measured (1 timed the client's read path alone: not reused)
CACHE_FORMAT = 2
#: closed loop without a probe figure: the tokens/s one stream is expected to bring
DEFAULT_STREAM_TOKENS_PER_S = 50.0
#: open loop without an output length (nor max_tokens): tokens expected per answer
DEFAULT_OUTPUT_TOKENS = 256
#: the fitted capacity is never more than this times the heaviest load measured
EXTRAPOLATE_AT_MOST = 2.0
#: a load is held only if at least this share of the chunks offered was read
HELD_SHARE = 0.9
#: a step's engine stops this long after its last report is due (a report closes on the
#: first 10 ms tick past its second; a last partial report needs 0.2 s, so none is sent)
_STOP_MARGIN_S = 0.1
_SERVER = Path(__file__).with_name("calibrate_server.py")
#: the engine measured in a process of its own, as ``--workers`` runs each worker where
#: it can (``shards.default_shard_factory``: POSIX); else on the calibrating loop
ENGINE_PROCESS = os.name == "posix"


class CalibrationError(Exception):
    """The calibration could not be measured (the server did not start, streams failed)."""


@dataclass(frozen=True, slots=True)
class CalibrationSettings:
    """How to measure: the engine at ``streams`` streams at each step, each stream
    ``tokens_per_s`` in requests of ``tokens_per_request``; a step lasts
    ``settle_reports + steady_reports`` load reports (one a second)."""

    streams: tuple[int, ...] = (10, 20, 40)
    tokens_per_s: float = 100.0
    tokens_per_request: int = 100
    settle_reports: int = 1  # the start of a step: left out
    steady_reports: int = 1  # the step's figures
    lag_limit_ms: float = LAG_LIMIT_MS


@dataclass(frozen=True, slots=True)
class CalibrationStep:
    """One load measured: the engine's own ``WorkerLoad`` figures."""

    streams: int
    tokens_per_s: float  # per stream, as served
    chunks_per_s: float  # the engine read, over its steady reports
    cpu_percent: float  # the engine process's CPU over them (100 = one core)
    #: the engine's event-loop lag p99 (the median of its steady reports'): the figure
    #: the dashboard warns on, and the one the fit uses
    lag_p99_ms: float
    reports: int = 1  # steady WorkerLoad reports behind the figures
    worst_lag_ms: float | None = None  # the highest of them
    start_lag_ms: float | None = None  # the left-out first report(s): the start
    runs: int = 0  # runs the engine finished in the step (its RunFinished records)
    tokens: int = 0  # their output tokens
    events: int = 0  # events the engine process sent in the step
    read_chunks: int = 0  # chunks the engine read over the whole step (all its reports)

    @property
    def offered_chunks_per_s(self) -> float:
        return self.streams * self.tokens_per_s

    def held(self, lag_limit_ms: float) -> bool:
        """Within the lag limit, and at least 90% of the offered chunks were read."""
        return (
            self.lag_p99_ms <= lag_limit_ms
            and self.chunks_per_s >= HELD_SHARE * self.offered_chunks_per_s
        )

    @property
    def us_per_chunk(self) -> float:
        if self.chunks_per_s <= 0:
            return math.inf
        return self.cpu_percent / 100 / self.chunks_per_s * 1e6


@dataclass(frozen=True, slots=True)
class Calibration:
    """What one worker holds on this machine (see the module's docstring)."""

    per_chunk_us: float  # CPU per chunk read (the slope)
    capacity_chunks_per_s: float  # held with lag p99 <= lag_limit_ms
    cores: int
    python: str
    measured_at: float  # epoch seconds (only to age the cache)
    took_s: float
    lag_limit_ms: float = LAG_LIMIT_MS
    idle_cpu_percent: float = 0.0  # the fit's intercept: the engine's idle cost
    base_lag_ms: float = 0.0  # the fit's lag at no load
    lag_ms_per_kchunk: float = 0.0  # the fit's lag growth per 1,000 chunks/s
    tokens_per_s: float = 100.0  # per stream, in the measurement
    tokens_per_request: int = 100  # in the measurement
    steps: tuple[CalibrationStep, ...] = ()
    machine: str = ""
    version: str = __version__
    note: str | None = None  # a caveat on the figures, in words

    def streams_at(self, tokens_per_s: float) -> int:
        """Streams of ``tokens_per_s`` one worker holds."""
        return max(0, math.floor(self.capacity_chunks_per_s / tokens_per_s))

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["steps"] = [asdict(step) for step in self.steps]
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Calibration:
        """Raises ``ValueError`` for anything that is not a calibration."""
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        try:
            steps = tuple(_step_from_json(s) for s in doc.get("steps", []))
            cal = cls(
                per_chunk_us=float(doc["per_chunk_us"]),
                capacity_chunks_per_s=float(doc["capacity_chunks_per_s"]),
                cores=int(doc["cores"]),
                python=str(doc["python"]),
                measured_at=float(doc["measured_at"]),
                took_s=float(doc["took_s"]),
                lag_limit_ms=float(doc.get("lag_limit_ms", LAG_LIMIT_MS)),
                idle_cpu_percent=float(doc.get("idle_cpu_percent", 0.0)),
                base_lag_ms=float(doc.get("base_lag_ms", 0.0)),
                lag_ms_per_kchunk=float(doc.get("lag_ms_per_kchunk", 0.0)),
                tokens_per_s=float(doc.get("tokens_per_s", 100.0)),
                tokens_per_request=int(doc.get("tokens_per_request", 100)),
                steps=steps,
                machine=str(doc.get("machine", "")),
                version=str(doc.get("version", "")),
                note=None if doc.get("note") is None else str(doc["note"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"missing or wrong field: {exc}") from None
        if not (cal.per_chunk_us > 0 and math.isfinite(cal.per_chunk_us)):
            raise ValueError("per_chunk_us is not a positive number")
        if not (cal.capacity_chunks_per_s > 0 and math.isfinite(cal.capacity_chunks_per_s)):
            raise ValueError("capacity_chunks_per_s is not a positive number")
        if cal.cores < 1:
            raise ValueError("cores is not positive")
        return cal


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _step_from_json(s: Any) -> CalibrationStep:
    return CalibrationStep(
        streams=int(s["streams"]),
        tokens_per_s=float(s["tokens_per_s"]),
        chunks_per_s=float(s["chunks_per_s"]),
        cpu_percent=float(s["cpu_percent"]),
        lag_p99_ms=float(s["lag_p99_ms"]),
        reports=int(s.get("reports", 1)),
        worst_lag_ms=_optional(s.get("worst_lag_ms")),
        start_lag_ms=_optional(s.get("start_lag_ms")),
        runs=int(s.get("runs", 0)),
        tokens=int(s.get("tokens", 0)),
        events=int(s.get("events", 0)),
        read_chunks=int(s.get("read_chunks", 0)),
    )


# -- the machine ----------------------------------------------------------------------------


def usable_cores() -> int:
    """Cores this process may run on (its affinity where the platform says)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def machine_key() -> dict[str, str]:
    """What a calibration is valid for: this machine, this Python, this ometer-tui."""
    return {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count() or 0} cpus",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "version": __version__,
    }


# -- the fit (pure) ---------------------------------------------------------------------------


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares ``y = a + b x``; None with fewer than two distinct x."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - b * mx, b


@dataclass(frozen=True, slots=True)
class Fit:
    per_chunk_us: float
    capacity_chunks_per_s: float
    idle_cpu_percent: float
    base_lag_ms: float  # the lag line at no load
    lag_ms_per_kchunk: float  # and its growth, per 1,000 chunks/s
    note: str | None


def fit_calibration(steps: Sequence[CalibrationStep], lag_limit_ms: float = LAG_LIMIT_MS) -> Fit:
    """Per-chunk cost and capacity from the steps measured (pure).

    The per-chunk cost is the slope of the engine's CPU against chunks/s. The lag is
    fitted as a line in chunks/s (the whole engine's lag grows with the load long before
    its CPU is busy: at a third of a core it is already several times the limit; its
    stalls are the runs that end and start together, more of them the more streams),
    and the capacity is where that line reaches ``lag_limit_ms``, never below the
    heaviest load measured within the limit, never above a heavier load measured past
    it, and never more than :data:`EXTRAPOLATE_AT_MOST` times the heaviest load measured.
    """
    steps = [s for s in steps if s.chunks_per_s > 0]
    if not steps:
        raise CalibrationError("no chunks were read: nothing to fit")
    loads = [s.chunks_per_s for s in steps]
    busy = [s.cpu_percent / 100 for s in steps]
    line = _line(loads, busy)
    if line is not None and line[1] > 0:
        idle, slope = max(0.0, line[0]), line[1]
    else:  # one load, or CPU did not grow with it: the plain ratio
        idle, slope = 0.0, sum(busy) / sum(loads)
    if slope <= 0:
        raise CalibrationError("no CPU time was measured: nothing to fit")
    lag_line = _line(loads, [s.lag_p99_ms for s in steps])
    base, growth = (min(s.lag_p99_ms for s in steps), 0.0) if lag_line is None else lag_line
    fitted = (lag_limit_ms - base) / growth if growth > 0 and base < lag_limit_ms else None
    note: str | None = None
    held = max((s.chunks_per_s for s in steps if s.held(lag_limit_ms)), default=None)
    if held is None:
        lightest = min(steps, key=lambda s: (s.streams, s.chunks_per_s))
        capacity = lightest.chunks_per_s
        what = (
            f"the engine's event loop lagged {lightest.lag_p99_ms:.1f} ms (p99) already at "
            f"{lightest.chunks_per_s:,.0f} chunks/s"
            if lightest.lag_p99_ms > lag_limit_ms
            else f"only {lightest.chunks_per_s:,.0f} of the "
            f"{lightest.offered_chunks_per_s:,.0f} chunks/s offered were read"
        )
        note = (
            f"{what}: the capacity is at most the lightest load measured (on a busy "
            "machine, measure again when it is quiet)"
        )
    else:
        over = [s.chunks_per_s for s in steps if not s.held(lag_limit_ms) and s.chunks_per_s > held]
        ceiling = min(over) if over else EXTRAPOLATE_AT_MOST * max(loads)
        capacity = held if fitted is None else min(max(fitted, held), ceiling)
        if not over and (fitted is None or fitted > ceiling):
            note = "every load measured was held within the limit: the capacity is " + (
                "the heaviest of them (the lag did not grow with the load)"
                if fitted is None
                else f"{EXTRAPOLATE_AT_MOST:g}x the heaviest of them, no more"
            )
    return Fit(
        per_chunk_us=slope * 1e6,
        capacity_chunks_per_s=capacity,
        idle_cpu_percent=idle * 100,
        base_lag_ms=max(0.0, base),
        lag_ms_per_kchunk=growth * 1000,
        note=note,
    )


# -- measuring -----------------------------------------------------------------------------


class _Server:
    """The calibration server in its own process; stops when we close its stdin."""

    def __init__(self, interval_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(_SERVER), "--interval-ms", f"{interval_ms:g}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        line: list[bytes] = []
        assert self.proc.stdout is not None
        out = self.proc.stdout
        reader = threading.Thread(target=lambda: line.append(out.readline()), daemon=True)
        reader.start()
        reader.join(15.0)
        try:
            self.port = int(line[0]) if line else 0
        except ValueError:
            self.port = 0
        if not self.port:
            self.stop()
            raise CalibrationError("the calibration server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(3.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(3.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class _TimedRun:
    """The engine (``inner``, a :class:`BenchmarkRunner`) cancelled ``stop_after_s`` after
    it starts, in the engine process: a step ends once its load reports are in, without
    the requests in flight running to their end, and the run still ends cleanly, so the
    engine process is kept for the next step (``ProcessRunner`` lets go of one whose
    owner cancelled)."""

    def __init__(self, inner: Any, stop_after_s: float) -> None:
        self.inner = inner
        self.stop_after_s = stop_after_s

    @property
    def result(self) -> BenchmarkResult:
        result: BenchmarkResult = self.inner.result
        return result

    def cancel(self) -> None:
        self.inner.cancel()

    async def run(self) -> BenchmarkResult:
        task = asyncio.ensure_future(self.inner.run())
        done, _ = await asyncio.wait({task}, timeout=self.stop_after_s)
        if not done:
            self.inner.cancel()
        result: BenchmarkResult = await task
        return result


def timed_engine(
    stop_after_s: float, plan: BenchmarkPlan, on_event: Callable[[Any], None], log_exchanges: bool
) -> _TimedRun:
    """The engine process's runner for one step (``ProcessRunner(engine=partial(
    timed_engine, s))``): the plan's ``BenchmarkRunner``, stopped after ``s`` seconds."""
    from ometer_tui.core.bench.runner import BenchmarkRunner

    engine = BenchmarkRunner(plan, on_event, log_exchanges=log_exchanges)
    return _TimedRun(engine, stop_after_s)


class _StepSink:
    """The events of one step, as the engine process sent them: counted, and its
    ``WorkerLoad`` reports kept (what headless or the dashboard would be told)."""

    def __init__(self) -> None:
        self.loads: list[WorkerLoad] = []
        self.events = 0
        self.runs = 0
        self.failed = 0
        self.tokens = 0
        self.error: str | None = None

    def __call__(self, event: Any) -> None:
        from ometer_tui.core.bench.events import RunFinished

        self.events += 1
        if isinstance(event, WorkerLoad):
            self.loads.append(event)
        elif isinstance(event, RunFinished) and not event.record.warmup:
            record = event.record
            if record.ok:
                self.runs += 1
                self.tokens += record.output_tokens or 0
            else:
                self.failed += 1
                self.error = self.error or record.error


def step_figures(
    streams: int,
    tokens_per_s: float,
    loads: Sequence[WorkerLoad],
    settle_reports: int,
    steady_reports: int,
) -> CalibrationStep:
    """One step's figures from the engine's ``WorkerLoad`` reports, in the order sent
    (pure): the first ``settle_reports`` cover the start (connections, streams
    starting) and are left out; the next ``steady_reports`` (at least half a report
    interval each) give chunks/s and CPU (weighted by their intervals) and the lag p99
    (their median: the figure the dashboard warns on). Raises :class:`CalibrationError`
    when the engine sent no report."""
    if not loads:
        raise CalibrationError("the engine sent no load report")
    start, rest = loads[:settle_reports], loads[settle_reports:]
    steady = [r for r in rest if r.interval_s >= 0.5 * REPORT_INTERVAL_S][:steady_reports]
    if not steady:  # the engine stalled past its reports: the last one it sent
        steady = [loads[-1]]
    span = sum(r.interval_s for r in steady)
    lags = sorted(r.lag_p99_ms for r in steady)
    mid = len(lags) // 2
    lag = lags[mid] if len(lags) % 2 else (lags[mid - 1] + lags[mid]) / 2
    return CalibrationStep(
        streams=streams,
        tokens_per_s=tokens_per_s,
        chunks_per_s=sum(r.chunks_per_s * r.interval_s for r in steady) / span,
        cpu_percent=sum(r.cpu_percent * r.interval_s for r in steady) / span,
        lag_p99_ms=lag,
        reports=len(steady),
        worst_lag_ms=lags[-1],
        start_lag_ms=max((r.lag_p99_ms for r in start), default=None),
        read_chunks=round(sum(r.chunks_per_s * r.interval_s for r in loads)),
    )


def _step_plan(url: str, streams: int, s: CalibrationSettings, run_s: float) -> BenchmarkPlan:
    from ometer_tui.core.bench.plan import RetryPolicy
    from ometer_tui.core.bench.workloads.spec import LoadSpec
    from ometer_tui.core.bench.workloads.stop import StopConditions
    from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo

    return BenchmarkPlan(
        endpoint=Endpoint(name="calibration", url=url, api=ApiFlavour.OPENAI),
        models=(ModelInfo(name="calibration"),),
        prompts=("calibrate",),
        passes=1,
        warmup=0,  # the settling report covers the start; the engine stops by itself
        concurrency=streams,
        params=GenerationParams(max_tokens=s.tokens_per_request),
        retry=RetryPolicy(max_retries=0),
        load=LoadSpec(stop=StopConditions(duration_s=run_s + 30.0)),  # a backstop only
        workers=1,
    )


async def _step(url: str, streams: int, s: CalibrationSettings) -> CalibrationStep:
    """One load: the engine as a worker runs it (its own process where workers are
    processes, :data:`ENGINE_PROCESS`; else on this loop, reporting its load, as
    ``shards.default_shard_factory`` falls back) for ``settle_reports + steady_reports``
    report intervals, then stopped."""
    from ometer_tui.core.bench.load_report import ReportingRunner
    from ometer_tui.core.bench.process_runner import EngineProcessError, ProcessRunner

    reports = s.settle_reports + s.steady_reports
    run_s = reports * REPORT_INTERVAL_S + _STOP_MARGIN_S
    plan = _step_plan(url, streams, s, run_s)
    sink = _StepSink()
    runner: ProcessRunner | ReportingRunner = (
        ProcessRunner(plan, sink, engine=functools.partial(timed_engine, run_s))
        if ENGINE_PROCESS
        else ReportingRunner(timed_engine(run_s, plan, sink, False), sink)
    )
    try:
        await runner.run()
    except (EngineProcessError, OSError) as exc:
        raise CalibrationError(f"the engine process failed: {exc}") from None
    except Exception as exc:  # the engine's own error (an unreachable server, ...)
        raise CalibrationError(f"the engine failed: {type(exc).__name__}: {exc}") from None
    if sink.runs == 0 and sink.failed:
        raise CalibrationError(f"the calibration streams failed: {sink.error}")
    step = step_figures(streams, s.tokens_per_s, sink.loads, s.settle_reports, s.steady_reports)
    return replace(step, runs=sink.runs, tokens=sink.tokens, events=sink.events)


async def _measure_steps(url: str, s: CalibrationSettings) -> list[CalibrationStep]:
    steps: list[CalibrationStep] = []
    for streams in sorted(s.streams):
        step = await _step(url, streams, s)
        steps.append(step)
        if not step.held(s.lag_limit_ms) and len(steps) >= 2:
            break  # past the limit: a heavier load adds nothing to the fit
    return steps


def measure_calibration(settings: CalibrationSettings | None = None) -> Calibration:
    """Measure this machine now (about 7 s). Blocking: call it outside any running
    event loop (a worker thread in the TUI). Raises :class:`CalibrationError`."""
    from ometer_tui.core.bench.loop import run_engine

    s = settings or CalibrationSettings()
    if (
        not s.streams
        or min(s.streams) < 1
        or s.tokens_per_s <= 0
        or s.tokens_per_request < 1
        or s.settle_reports < 0
        or s.steady_reports < 1
    ):
        raise ValueError(
            "calibration settings: streams >= 1, tokens/s > 0, tokens a request >= 1, "
            "settle reports >= 0, steady reports >= 1"
        )
    t0 = time.perf_counter()
    server = _Server(1000.0 / s.tokens_per_s)
    try:
        steps = run_engine(_measure_steps(server.url, s))
    finally:
        server.stop()
    fit = fit_calibration(steps, s.lag_limit_ms)
    key = machine_key()
    return Calibration(
        per_chunk_us=fit.per_chunk_us,
        capacity_chunks_per_s=fit.capacity_chunks_per_s,
        cores=usable_cores(),
        python=key["python"],
        measured_at=time.time(),
        took_s=time.perf_counter() - t0,
        lag_limit_ms=s.lag_limit_ms,
        idle_cpu_percent=fit.idle_cpu_percent,
        base_lag_ms=fit.base_lag_ms,
        lag_ms_per_kchunk=fit.lag_ms_per_kchunk,
        tokens_per_s=s.tokens_per_s,
        tokens_per_request=s.tokens_per_request,
        steps=tuple(steps),
        machine=key["machine"],
        version=key["version"],
        note=fit.note,
    )


# -- the cache -------------------------------------------------------------------------------


def cache_path() -> Path:
    """``$OMETER_TUI_CALIBRATION``, else ``platformdirs.user_cache_dir("ometer-tui")/
    calibration.json`` (``~/.cache/ometer-tui/`` on Linux; never the settings file)."""
    import platformdirs

    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()

    from ometer_tui.core.settings.paths import APP_NAME

    return Path(platformdirs.user_cache_dir(APP_NAME)) / CACHE_FILE


@dataclass(frozen=True, slots=True)
class CacheRead:
    """A cached calibration, or why there is none to use (one line)."""

    calibration: Calibration | None
    problem: str | None = None  # None with no calibration: nothing cached yet


def read_cached(path: Path | None = None, *, now: float | None = None) -> CacheRead:
    """The cached calibration if it is for this machine and younger than 30 days.

    Never raises: an unreadable, corrupt, foreign or expired file is a ``problem``.
    """
    path = path or cache_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return CacheRead(None)
    except (OSError, UnicodeDecodeError) as exc:
        return CacheRead(None, f"the cached calibration {path} is unreadable ({exc})")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and doc.get("format") == 1:
            return CacheRead(
                None,
                "the cached calibration is an older kind (it timed the client's read path "
                "alone, not the whole engine)",
            )
        if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT:
            raise ValueError("unknown format")
        cal = Calibration.from_json(doc.get("calibration"))
        key = doc.get("key")
    except ValueError as exc:
        return CacheRead(None, f"the cached calibration {path} is corrupt ({exc})")
    if key != machine_key():
        return CacheRead(None, "the cached calibration is for another machine, Python or version")
    now = time.time() if now is None else now
    age = now - cal.measured_at
    if age > CACHE_MAX_AGE_S or age < -86_400:
        return CacheRead(None, f"the cached calibration is {age / 86_400:.0f} days old")
    return CacheRead(cal)


def write_cached(calibration: Calibration, path: Path | None = None) -> Path:
    """Write ``calibration`` atomically (a reader sees the old file or the new one).
    Raises ``OSError`` naming the path."""
    from ometer_tui.core.atomic import named_os_error, write_atomic

    path = path or cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise named_os_error(exc, f"cannot write {path}") from exc
    doc = {"format": CACHE_FORMAT, "key": machine_key(), "calibration": calibration.to_json()}
    write_atomic(path, json.dumps(doc, indent=1) + "\n")
    return path


def load_calibration(
    path: Path | None = None,
    *,
    refresh: bool = False,
    measure: Callable[[], Calibration] = measure_calibration,
    note: Callable[[str], None] | None = None,
    now: float | None = None,
) -> Calibration:
    """The cached calibration, else a new one measured and cached (``refresh``: always
    measure). A cache that cannot be read or written is one line to ``note``, never an
    error; a failed measurement raises :class:`CalibrationError`."""
    path = path or cache_path()
    if not refresh:
        read = read_cached(path, now=now)
        if read.calibration is not None:
            return read.calibration
        if read.problem is not None and note is not None:
            note(f"{read.problem}: measuring again (a few seconds)")
    cal = measure()
    try:
        write_cached(cal, path)
    except OSError as exc:
        if note is not None:
            note(f"the calibration was not cached: {exc}")
    return cal


# -- choosing workers (pure) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkersChoice:
    """How many workers a plan runs on, and why, in words."""

    workers: int
    asked_chunks_per_s: float  # what the plan is expected to ask
    worker_capacity_chunks_per_s: float
    machine_capacity_chunks_per_s: float  # one worker's capacity x the cores
    streams: int | None  # requests the plan keeps in flight (None: not bounded)
    user_set: bool
    reason: str
    warning: str | None = None
    assumptions: tuple[str, ...] = field(default=())


def about(value: float) -> str:
    """``12,000``: two significant figures, grouped."""
    if not (value > 0 and math.isfinite(value)):
        return f"{value:g}"
    digits = 1 - math.floor(math.log10(value))
    rounded = round(value, digits)
    return f"{rounded:,.{max(0, digits)}f}"


def expected_output_tokens(plan: BenchmarkPlan) -> tuple[float, str | None]:
    """Tokens one answer is expected to bring, and the assumption made (None: given)."""
    load = plan.load
    if load is not None:
        if load.output_tokens is not None and not isinstance(load.output_tokens, Pairs):
            return load.output_tokens.mean, None
        if isinstance(load.input_tokens, Pairs):
            outs = [out for _, out in load.input_tokens.pairs]
            return sum(outs) / len(outs), None
    if plan.params.max_tokens is not None:
        return float(plan.params.max_tokens), f"answers of max_tokens ({plan.params.max_tokens})"
    return float(DEFAULT_OUTPUT_TOKENS), f"answers of {DEFAULT_OUTPUT_TOKENS} tokens"


def _part_load(plan: BenchmarkPlan, tokens_per_s: float) -> tuple[float, int | None, list[str]]:
    """(chunks/s, streams in flight or None, assumptions) of one endpoint's plan."""
    models = max(1, min(plan.parallel_models, len(plan.models)))
    load = plan.load
    if load is None or load.arrival is None:
        closed = plan.concurrency * models
        return closed * tokens_per_s, closed, []
    out, assumed = expected_output_tokens(plan)
    notes = [assumed] if assumed else []
    rate = load.arrival.rate
    chunks = rate * out  # per model: requests/s x tokens each (Little's law)
    in_flight = rate * out / tokens_per_s
    streams: int | None = None
    if load.max_concurrency is not None:
        chunks = min(chunks, load.max_concurrency * tokens_per_s)
        streams = load.max_concurrency * models
    elif in_flight > 0:
        streams = max(1, math.ceil(in_flight)) * models
    return chunks * models, streams, notes


def asked_load(
    plan: BenchmarkPlan, per_stream_tokens_per_s: float | None = None
) -> tuple[float, int | None, tuple[str, ...]]:
    """The chunks/s ``plan`` asks at its peak, the streams it keeps in flight (None when
    unbounded), and the assumptions made, in words."""
    tps = per_stream_tokens_per_s
    notes: list[str] = []
    if tps is None or not tps > 0:
        tps = DEFAULT_STREAM_TOKENS_PER_S
        notes.append(f"{tps:g} tokens/s per stream (no probe figure)")
    parts = [_part_load(part, tps) for part in plan.parts]
    for _, _, part_notes in parts:
        notes += [n for n in part_notes if n not in notes]
    if plan.endpoints_parallel or len(parts) == 1:
        chunks = sum(p[0] for p in parts)
        counted = [p[1] for p in parts]
        streams: int | None = None
        if None not in counted:
            streams = sum(c for c in counted if c is not None)
    else:  # one endpoint after the other: the heaviest one
        chunks, streams, _ = max(parts, key=lambda p: p[0])
    return chunks, streams, tuple(notes)


def choose_workers(
    plan: BenchmarkPlan,
    calibration: Calibration,
    cores: int,
    per_stream_tokens_per_s: float | None = None,
) -> WorkersChoice:
    """Workers for ``plan``: the chunks/s it asks over one worker's capacity, rounded up,
    at most ``cores`` and at most the streams; ``plan.workers`` when the user set it.

    The warning says when the load is more than all the cores hold within the lag limit.
    """
    cores = max(1, cores)
    asked, streams, notes = asked_load(plan, per_stream_tokens_per_s)
    per_worker = calibration.capacity_chunks_per_s
    machine = per_worker * cores
    limit = f"{calibration.lag_limit_ms:g} ms"
    needed = max(1, math.ceil(asked / per_worker)) if per_worker > 0 else cores
    if plan.workers is not None:
        workers, user_set = plan.workers, True
        reason = f"{workers} worker{'s' if workers != 1 else ''}: set by the user"
    else:
        user_set = False
        workers = min(needed, cores)
        if streams is not None:
            workers = min(workers, max(1, streams))
        workers = max(1, workers)
        reason = (
            f"{workers} worker{'s' if workers != 1 else ''}: ~{about(asked)} chunks/s asked, "
            f"one worker holds ~{about(per_worker)} within {limit} of lag"
        )
        if workers < needed:
            held_by = "the streams" if streams is not None and workers == streams else "the cores"
            reason += f" (capped at {held_by}: {workers})"
    warning: str | None = None
    if asked > machine:
        warning = (
            f"this asks ~{about(asked)} chunks/s; this machine holds ~{about(machine)} "
            f"within {limit} of lag: numbers past that are the client's limit, not the server's"
        )
    elif user_set and asked > per_worker * workers:
        held = per_worker * workers
        warning = (
            f"this asks ~{about(asked)} chunks/s; {workers} worker{'s' if workers != 1 else ''} "
            f"hold ~{about(held)} within {limit} of lag: numbers past that are the client's "
            "limit, not the server's"
        )
    return WorkersChoice(
        workers=workers,
        asked_chunks_per_s=asked,
        worker_capacity_chunks_per_s=per_worker,
        machine_capacity_chunks_per_s=machine,
        streams=streams,
        user_set=user_set,
        reason=reason,
        warning=warning,
        assumptions=notes,
    )


#: a plan asking less than this needs no calibration: one worker (the calibration's
#: lightest load, 10 streams x 100 tokens/s: it never says a worker holds less than it
#: read there, and fewer than one worker is not possible)
NO_CALIBRATION_BELOW = 1_000.0


def workers_for(
    plan: BenchmarkPlan,
    *,
    cores: int | None = None,
    per_stream_tokens_per_s: float | None = None,
    note: Callable[[str], None] | None = None,
    path: Path | None = None,
    measure: Callable[[], Calibration] | None = None,
) -> tuple[int, WorkersChoice | None]:
    """The workers to run ``plan`` on, for ``--workers`` left unset (or set: the warning).

    A plan asking less than :data:`NO_CALIBRATION_BELOW` chunks/s gets ``plan.workers``
    or 1, with no calibration and no choice (``None``). Otherwise the cached calibration
    is used, measured first when there is none (about 7 s; ``note`` says so, and any
    cache problem, in one line each); a failed measurement is a note and one worker (or
    the user's), never an error. Blocking: call it outside any running event loop.
    """
    asked, _, _ = asked_load(plan, per_stream_tokens_per_s)
    given = plan.workers
    if asked < NO_CALIBRATION_BELOW:
        return given or 1, None
    path = path or cache_path()
    if note is not None and read_cached(path).calibration is None:
        note(
            "measuring what one worker holds on this machine (about 7 s, kept 30 days; "
            "`ometer-tui calibrate` measures again)"
        )
    try:
        cal = load_calibration(path, measure=measure or measure_calibration, note=note)
    except CalibrationError as exc:
        if note is not None:
            note(f"the calibration failed ({exc}): {given or 1} worker(s)")
        return given or 1, None
    choice = choose_workers(plan, cal, usable_cores() if cores is None else cores,
                            per_stream_tokens_per_s)  # fmt: skip
    return choice.workers, choice
