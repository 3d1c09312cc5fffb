"""Self-calibration: what one engine worker can read on this machine within 3 ms of lag.

:func:`measure_calibration` starts a small loopback server in its own process
(:mod:`.calibrate_server`: OpenAI-style SSE, every stream one token per 10 ms) and reads
it with ometer-tui's real client path, the one the engine uses (``open_client`` ->
``generate`` -> ``generation_record``, kernel receive stamps where the platform has
them), at a few rising loads (20, 60 and 120 streams by default, 2,000-12,000 chunks/s) for
about a second each.
At each load it measures, over a window after the streams have started:

* the chunks read per second (token chunks whose arrival stamp falls in the window),
* the CPU time of the thread that runs the client (``time.thread_time``: the server
  and any other thread are not counted), and
* the event-loop lag p99: how late a 10 ms timer on an absolute schedule runs (the
  ``WorkerLoad`` figure the dashboard warns on past :data:`WORKER_LAG_WARN_MS`).

A load counts as held when its lag is within the limit and the client read at least 90%
of the chunks offered (a client or server starved of CPU reads fewer, on time or not).

The fit (:func:`fit_calibration`, pure): the per-chunk cost is the slope of CPU
against chunks/s (the intercept is the loop's idle cost); the lag is fitted as
``base + k * u / (1 - u)`` of the CPU busy fraction ``u`` (a single-server queue), and
the capacity is the chunks/s at which that reaches the limit, never less than the highest
load measured within it nor more than a load measured past it. When the lag did not grow
over the loads measured, the capacity assumes half a core busy (what the README's
throughput ramps held within 3 ms).

:func:`load_calibration` keeps the result in the user cache folder (one small JSON,
written atomically), keyed by machine, Python and ometer-tui version, for 30 days;
:func:`choose_workers` turns a plan and a calibration into a number of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ometer_tui import __version__
from ometer_tui.core.bench.events import WORKER_LAG_WARN_MS
from ometer_tui.core.bench.load_report import TICK_S, p99
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.workloads.lengths import Pairs

#: the lag a worker may show and still be trusted to the millisecond
LAG_LIMIT_MS = WORKER_LAG_WARN_MS
#: a cached calibration is reused this long
CACHE_MAX_AGE_S = 30 * 86_400
CACHE_FILE = "calibration.json"
#: a path for the cached calibration instead of the user cache folder's (tests use it)
CACHE_ENV = "OMETER_TUI_CALIBRATION"
CACHE_FORMAT = 1
#: closed loop without a probe figure: the tokens/s one stream is expected to bring
DEFAULT_STREAM_TOKENS_PER_S = 50.0
#: open loop without an output length (nor max_tokens): tokens expected per answer
DEFAULT_OUTPUT_TOKENS = 256
#: when the lag did not grow over the loads measured: the CPU share assumed to be safe
SAFE_UTILISATION = 0.5
MAX_UTILISATION = 0.95
#: a load is held only if at least this share of the chunks offered was read
HELD_SHARE = 0.9
#: the lag probe's period: the WorkerLoad reports' (core/bench/load_report.py), a timer
#: on an absolute schedule whose lateness is the lag (uvloop rounds a deadline to the
#: millisecond, so an idle loop already reads up to about 1 ms)
LAG_PERIOD_S = TICK_S
_TAIL_S = 0.2  # streams keep going this long past the window
_SERVER = Path(__file__).with_name("calibrate_server.py")


class CalibrationError(Exception):
    """The calibration could not be measured (the server did not start, streams failed)."""


@dataclass(frozen=True, slots=True)
class CalibrationSettings:
    """How to measure: ``streams`` at each step, each at ``tokens_per_s``."""

    streams: tuple[int, ...] = (20, 60, 120)
    tokens_per_s: float = 100.0
    step_s: float = 1.0
    settle_s: float = 0.25  # streams start; the window opens after this
    lag_limit_ms: float = LAG_LIMIT_MS


@dataclass(frozen=True, slots=True)
class CalibrationStep:
    """One load measured."""

    streams: int
    tokens_per_s: float  # per stream, as served
    chunks_per_s: float  # read in the window
    cpu_percent: float  # the client thread's CPU over the window (100 = one core)
    lag_p99_ms: float  # over the whole window (what a WorkerLoad report would show)
    lag_samples: int
    #: the median of the window's thirds' p99: the lag the load sustains, which one
    #: stall of another process on a shared machine does not move (the fit uses it)
    steady_lag_ms: float | None = None

    @property
    def fit_lag_ms(self) -> float:
        return self.lag_p99_ms if self.steady_lag_ms is None else self.steady_lag_ms

    @property
    def offered_chunks_per_s(self) -> float:
        return self.streams * self.tokens_per_s

    def held(self, lag_limit_ms: float) -> bool:
        """Within the lag limit, and at least 90% of the offered chunks were read."""
        return (
            self.fit_lag_ms <= lag_limit_ms
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
    idle_cpu_percent: float = 0.0  # the fit's intercept: the loop's own cost
    base_lag_ms: float = 0.0  # the fit's lag at no load
    tokens_per_s: float = 100.0  # per stream, in the measurement
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
            steps = tuple(
                CalibrationStep(
                    streams=int(s["streams"]),
                    tokens_per_s=float(s["tokens_per_s"]),
                    chunks_per_s=float(s["chunks_per_s"]),
                    cpu_percent=float(s["cpu_percent"]),
                    lag_p99_ms=float(s["lag_p99_ms"]),
                    lag_samples=int(s["lag_samples"]),
                    steady_lag_ms=(
                        None if s.get("steady_lag_ms") is None else float(s["steady_lag_ms"])
                    ),
                )
                for s in doc.get("steps", [])
            )
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
                tokens_per_s=float(doc.get("tokens_per_s", 100.0)),
                steps=steps,
                machine=str(doc.get("machine", "")),
                version=str(doc.get("version", "")),
                note=None if doc.get("note") is None else str(doc["note"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or wrong field: {exc}") from None
        if not (cal.per_chunk_us > 0 and math.isfinite(cal.per_chunk_us)):
            raise ValueError("per_chunk_us is not a positive number")
        if not (cal.capacity_chunks_per_s > 0 and math.isfinite(cal.capacity_chunks_per_s)):
            raise ValueError("capacity_chunks_per_s is not a positive number")
        if cal.cores < 1:
            raise ValueError("cores is not positive")
        return cal


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
    base_lag_ms: float
    note: str | None


def fit_calibration(steps: Sequence[CalibrationStep], lag_limit_ms: float = LAG_LIMIT_MS) -> Fit:
    """Per-chunk cost and capacity from the steps measured (see the module's docstring)."""
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
    util = [min(u, MAX_UTILISATION) for u in busy]
    pressure = [u / (1 - u) for u in util]
    lag = [s.fit_lag_ms for s in steps]
    lag_line = _line(pressure, lag)
    note: str | None = None
    if lag_line is not None and lag_line[1] > 0:
        base, k = max(0.0, lag_line[0]), lag_line[1]
        if base >= lag_limit_ms:
            target = None
        else:
            x = (lag_limit_ms - base) / k
            target = min(MAX_UTILISATION, x / (1 + x))
    else:
        base = min(lag)
        target = None if base >= lag_limit_ms else max(SAFE_UTILISATION, max(util))
        if target is not None:
            note = (
                "the loop's lag did not grow over the loads measured: the capacity "
                f"assumes {target:.0%} of a core busy"
            )
    # the fit interpolates between what was measured; it never contradicts it
    held = max((s.chunks_per_s for s in steps if s.held(lag_limit_ms)), default=None)
    if held is None:
        lightest = min(steps, key=lambda s: (s.streams, s.chunks_per_s))
        capacity = lightest.chunks_per_s
        what = (
            f"the event loop lagged {lightest.fit_lag_ms:.1f} ms (p99) already at "
            f"{lightest.chunks_per_s:,.0f} chunks/s"
            if lightest.fit_lag_ms > lag_limit_ms
            else f"only {lightest.chunks_per_s:,.0f} of the "
            f"{lightest.offered_chunks_per_s:,.0f} chunks/s offered were read"
        )
        note = (
            f"{what}: the machine is busy, and the capacity is at most the lightest load "
            "measured (measure again when it is quiet)"
        )
    elif target is None or target <= idle:
        capacity = held
    else:
        capacity = max((target - idle) / slope, held)
        over = [s.chunks_per_s for s in steps if not s.held(lag_limit_ms) and s.chunks_per_s > held]
        if over:
            capacity = min(capacity, min(over))
    return Fit(
        per_chunk_us=slope * 1e6,
        capacity_chunks_per_s=capacity,
        idle_cpu_percent=idle * 100,
        base_lag_ms=base,
        note=note,
    )


# -- measuring -----------------------------------------------------------------------------


def _steady(late: Sequence[float]) -> float:
    """The median of the p99 of each third of ``late`` (in time order)."""
    n = len(late)
    if n < 3:
        return p99(list(late))
    thirds = [late[i * n // 3 : (i + 1) * n // 3] for i in range(3)]
    return sorted(p99(list(part)) for part in thirds)[1]


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


async def _window(settle_s: float, step_s: float) -> tuple[int, int, float, list[float]]:
    """After ``settle_s``, for ``step_s``: (start ns, end ns, CPU s, timer lateness ms).

    The timer runs on an absolute schedule (tick ``k`` is due at ``start + k * period``)
    and each tick's lateness is how long after its due time it ran; after a stall of
    more than 10 periods the schedule starts again from then (one stall, one figure).
    """
    await asyncio.sleep(settle_s)
    period_ns = round(LAG_PERIOD_S * 1e9)
    start = time.perf_counter_ns()
    cpu0 = time.thread_time()
    end = start + round(step_s * 1e9)
    late: list[float] = []
    due = start
    now = start
    while now < end:
        due += period_ns
        await asyncio.sleep(max(0.0, (due - time.perf_counter_ns()) / 1e9))
        now = time.perf_counter_ns()
        late.append(max(0, now - due) / 1e6)
        if now - due > 10 * period_ns:
            due = now
    return start, now, time.thread_time() - cpu0, late


async def _step(client: Any, streams: int, s: CalibrationSettings) -> CalibrationStep:
    from ometer_tui.core.api.base import GenerationRequest
    from ometer_tui.core.bench.metrics import RunContext, generation_record
    from ometer_tui.core.models import GenerationParams

    tokens = math.ceil(s.tokens_per_s * (s.settle_s + s.step_s + _TAIL_S))
    request = GenerationRequest(
        model="calibration", prompt="calibrate", params=GenerationParams(max_tokens=tokens)
    )
    bench_start = time.perf_counter_ns()

    async def one() -> list[int]:
        obs = await client.generate(request)
        if obs.error is not None:
            raise CalibrationError(f"a calibration stream failed: {obs.error}")
        generation_record(  # the engine's per-run work on the chunks' stamps
            obs,
            RunContext(
                model="calibration", pass_index=1, prompt_index=0, warmup=False,
                attempts=1, queue_s=0.0, bench_start_ns=bench_start,
            ),
        )  # fmt: skip
        stamps: list[int] = obs.token_times_ns
        return stamps

    window = asyncio.create_task(_window(s.settle_s, s.step_s))
    try:
        stamp_lists = await asyncio.gather(*(one() for _ in range(streams)))
        start, end, cpu_s, late = await window
    finally:
        window.cancel()
    chunks = sum(1 for stamps in stamp_lists for t in stamps if start <= t < end)
    span_s = (end - start) / 1e9
    return CalibrationStep(
        streams=streams,
        tokens_per_s=s.tokens_per_s,
        chunks_per_s=chunks / span_s if span_s > 0 else 0.0,
        cpu_percent=100 * cpu_s / span_s if span_s > 0 else 0.0,
        lag_p99_ms=p99(late),
        lag_samples=len(late),
        steady_lag_ms=_steady(late),
    )


async def _measure_steps(url: str, s: CalibrationSettings) -> list[CalibrationStep]:
    from ometer_tui.core.api import open_client
    from ometer_tui.core.models import ApiFlavour, Endpoint

    endpoint = Endpoint(name="calibration", url=url, api=ApiFlavour.OPENAI)
    top = max(s.streams)
    client = open_client(endpoint, flavour=ApiFlavour.OPENAI, max_connections=top)
    steps: list[CalibrationStep] = []
    try:
        await client.warm_pool(top)
        warm = CalibrationSettings(
            streams=(min(s.streams),), tokens_per_s=s.tokens_per_s, step_s=0.05, settle_s=0.05
        )
        await _step(client, min(s.streams), warm)  # first-use costs out of the figures
        for streams in sorted(s.streams):
            step = await _step(client, streams, s)
            steps.append(step)
            if step.fit_lag_ms > 3 * s.lag_limit_ms and len(steps) >= 2:
                break  # well past the limit: a higher load adds nothing to the fit
    finally:
        await client.aclose()
    return steps


def measure_calibration(settings: CalibrationSettings | None = None) -> Calibration:
    """Measure this machine now (a few seconds). Blocking: call it outside any running
    event loop (a worker thread in the TUI). Raises :class:`CalibrationError`."""
    from ometer_tui.core.bench.loop import run_engine

    s = settings or CalibrationSettings()
    if not s.streams or min(s.streams) < 1 or s.tokens_per_s <= 0 or s.step_s <= 0:
        raise ValueError("calibration settings: streams >= 1, tokens/s and step > 0")
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
        tokens_per_s=s.tokens_per_s,
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


#: a plan asking less than this needs no calibration: one worker (every machine measured
#: read at least this much per worker, and fewer than one worker is not possible)
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
    is used, measured first when there is none (about 4 s; ``note`` says so, and any
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
            "measuring what one worker holds on this machine (about 4 s, kept 30 days; "
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
