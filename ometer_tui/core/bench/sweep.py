"""Sweeps, repeats and the SLO search: series of load steps run by the ordinary engine.

A **step** is one measured phase: the plan with its load changed (a concurrency, or an
open-loop rate), run by :class:`~ometer_tui.core.bench.runner.BenchmarkRunner` as any
plan is, with its own warm-up (the plan's ``warmup``) and its own summary. A sweep is a
list of steps:

* ``concurrency=1,2,4,8``: closed loop with each number of streams;
* ``rate=1,2,4``: open loop (the plan's arrival law, Poisson by default) at each rate;
* ``rate=auto:N``: two anchor steps first, one-at-a-time (concurrency 1) and the maximum
  throughput (concurrency :data:`AUTO_MAX_CONCURRENCY`, or ``--max-concurrency``), then
  N rates evenly spaced from the first's throughput to the second's, both included
  (with several models, each anchor's lowest throughput: the rates suit them all).

Each step runs for the load's own ``--duration``/``--requests`` when given, else for
:data:`DEFAULT_STEP_DURATION_S` seconds. ``repeat`` runs each step that many times.

**Early stop.** After each step (all its repeats: their mean), for each model:

* *saturated*: its throughput (ok requests/s) is less than :data:`SATURATION_MIN_GAIN`
  (10%) above the best of the earlier steps, while its TTFT p50 rose more than
  :data:`SATURATION_TTFT_RISE` (20%) and at least :data:`SATURATION_TTFT_FLOOR_S` (5 ms)
  above the previous step's. The sweep stops once every model has been saturated for
  :data:`SATURATION_PATIENCE` (2) steps in a row: throughput no longer grows while TTFT
  keeps rising;
* *error budget*: more than ``max_error_rate`` (default :data:`DEFAULT_MAX_ERROR_RATE`,
  10%) of a step's measured requests failed: the sweep stops after that step.

The **knee** of a model is the lowest load whose throughput is within 10%
(:data:`SATURATION_MIN_GAIN`) of the highest throughput any step reached: beyond it, more
offered load buys less than 10% more requests per second.

The **SLO search** (:func:`find_max`) looks for the highest rate (or concurrency) whose
chosen percentile of each SLO figure is within its limit (``slo.percentile_check``): a
probe at the one-at-a-time rate first (none meets: there is no such rate), then doubling
until a probe misses, then bisection until the bracket is narrower than ``precision``
(relative, default 5%; for concurrency: exact, to 1 stream). Every probe is a step.

Events: :class:`StepStarted`, :class:`StepFinished` (with one :class:`StepPoint` per
model: plain floats for a chart) and :class:`SweepFinished`; the engine's own events for
each step pass through unchanged to the same sink.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from ometer_tui.core.api import detect_flavour
from ometer_tui.core.api.base import ClientError
from ometer_tui.core.bench.events import BenchmarkEvent, ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import MAX_CONCURRENCY, BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.repeat import mean_ci
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.bench.shards import Runner
from ometer_tui.core.bench.slo import SloTargets, percentile_check
from ometer_tui.core.bench.slo import slo_figures as compute_slo_figures
from ometer_tui.core.bench.steps import (
    DEFAULT_MAX_ERROR_RATE,
    POINT_FIGURES,
    SATURATION_MIN_GAIN,
    SATURATION_PATIENCE,
    SATURATION_TTFT_FLOOR_S,
    SATURATION_TTFT_RISE,
    LoadKind,
    ModelStep,
    SearchOutcome,
    StepFinished,
    StepLoad,
    StepPoint,
    StepResult,
    StepRole,
    StepStarted,
    SweepFinished,
    SweepRecord,
    SweepSink,
    knees,
)
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec

#: A step's length when the load gives neither --duration nor --requests.
DEFAULT_STEP_DURATION_S = 10.0
#: rate=auto: the maximum-throughput anchor's streams (unless --max-concurrency).
AUTO_MAX_CONCURRENCY = 32
#: The SLO search's relative precision (rates) when none is given.
DEFAULT_PRECISION = 0.05
#: The SLO search doubles at most this many times looking for a load that misses.
MAX_DOUBLINGS = 10
MAX_STEPS = 64


class SweepError(ValueError):
    """A bad sweep description; one line naming the flag."""


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """What to sweep. ``values`` (a list), or ``auto_steps`` (rate=auto:N)."""

    kind: LoadKind
    values: tuple[float, ...] = ()
    auto_steps: int | None = None
    repeat: int = 1
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    early_stop: bool = True

    def describe(self) -> str:
        if self.auto_steps is not None:
            return f"{self.kind.value}=auto:{self.auto_steps}"
        return f"{self.kind.value}=" + ",".join(f"{v:g}" for v in self.values)


def parse_sweep(text: str, flag: str = "--sweep") -> SweepSpec:
    """``concurrency=1,2,4``, ``rate=0.5,1,2`` or ``rate=auto:8``; :class:`SweepError`
    (one line naming ``flag``) for anything else."""
    name, sep, rest = text.partition("=")
    try:
        kind = LoadKind(name.strip().lower())
    except ValueError:
        raise SweepError(
            f"{flag} {text}: expected concurrency=N,N,... or rate=R,R,... or rate=auto:N"
        ) from None
    rest = rest.strip()
    if not sep or not rest:
        raise SweepError(f"{flag} {text}: give the {kind.value} values after '='")
    if rest.startswith("auto"):
        if kind is not LoadKind.RATE:
            raise SweepError(f"{flag} {text}: auto applies to rate=auto:N")
        _, colon, count = rest.partition(":")
        try:
            n = int(count) if colon else 5
        except ValueError:
            raise SweepError(f"{flag} {text}: expected rate=auto:N with N a whole number") from None
        if not 2 <= n <= MAX_STEPS:
            raise SweepError(f"{flag} {text}: auto:N needs N from 2 to {MAX_STEPS}, got {n}")
        return SweepSpec(kind, auto_steps=n)
    values: list[float] = []
    for part in rest.split(","):
        try:
            value = int(part) if kind is LoadKind.CONCURRENCY else float(part)
        except ValueError:
            what = "a whole number" if kind is LoadKind.CONCURRENCY else "a number"
            raise SweepError(f"{flag} {text}: {part.strip()!r} is not {what}") from None
        if not (math.isfinite(value) and value > 0):
            raise SweepError(f"{flag} {text}: each {kind.value} must be more than 0, got {part}")
        if kind is LoadKind.CONCURRENCY and value > MAX_CONCURRENCY:
            raise SweepError(f"{flag} {text}: concurrency above {MAX_CONCURRENCY}: {part}")
        values.append(float(value))
    if len(values) > MAX_STEPS:
        raise SweepError(f"{flag} {text}: at most {MAX_STEPS} steps, got {len(values)}")
    return SweepSpec(kind, tuple(values))


# --------------------------------------------------------------------------- plans


def step_plan(
    plan: BenchmarkPlan, load: StepLoad, default_duration_s: float = DEFAULT_STEP_DURATION_S
) -> BenchmarkPlan:
    """The plan of one step: ``plan`` with its load set to ``load`` (a closed loop of
    ``value`` streams, or an open loop at ``value`` requests/s), stopping at the plan
    load's own --duration/--requests when it has them, else after
    ``default_duration_s``."""
    base = plan.load or LoadSpec()
    stop = base.stop if base.stop.bounded else replace(base.stop, duration_s=default_duration_s)
    if load.kind is LoadKind.CONCURRENCY:
        spec = replace(base, arrival=None, max_concurrency=None, stop=stop)
        return replace(plan, concurrency=int(load.value), load=spec)
    arrival = base.arrival or ArrivalSpec(load.value, ArrivalKind.POISSON)
    spec = replace(base, arrival=replace(arrival, rate=load.value), stop=stop)
    return replace(plan, load=spec)


def plan_load(plan: BenchmarkPlan) -> StepLoad:
    """The load a plan runs as it is (what ``--repeat`` without a sweep repeats)."""
    if plan.load is not None and plan.load.arrival is not None:
        return StepLoad(LoadKind.RATE, plan.load.arrival.rate)
    return StepLoad(LoadKind.CONCURRENCY, plan.concurrency)


def is_saturated(previous: Sequence[StepPoint], current: StepPoint) -> bool:
    """The saturation rule of one model (see the module's docstring)."""
    if not previous or current.throughput_rps is None:
        return False
    best = max((p.throughput_rps or 0.0) for p in previous)
    last = previous[-1]
    if current.ttft_p50_s is None or last.ttft_p50_s is None:
        return False
    flat = current.throughput_rps < best * (1 + SATURATION_MIN_GAIN)
    rise = current.ttft_p50_s - last.ttft_p50_s
    rising = rise >= SATURATION_TTFT_FLOOR_S and current.ttft_p50_s > last.ttft_p50_s * (
        1 + SATURATION_TTFT_RISE
    )
    return flat and rising


def _mean_point(points: Sequence[StepPoint]) -> StepPoint:
    """The repeats' mean of each figure (``None`` where no repeat had it)."""
    values: dict[str, float | None] = {}
    for name in ("offered", *POINT_FIGURES):
        ci = mean_ci(getattr(p, name) for p in points)
        values[name] = None if ci is None else ci.mean
    offered = values.pop("offered")
    return StepPoint(offered=offered or 0.0, **values)


# --------------------------------------------------------------------------- runner


class _Stopped(Exception):
    """A later step could not run (``record.stop_reason`` says why): the steps measured
    so far are kept and the series ends there."""


@dataclass(slots=True)
class _Bracket:
    """The SLO search so far: the highest load that met the SLOs, the lowest that
    missed."""

    best: float | None = None
    missed: float | None = None


@dataclass(frozen=True, slots=True)
class SweepJob:
    """What :meth:`SweepRunner.run` does: a sweep (``sweep``), the SLO search
    (``find_max``: its kind), or the plan as it is ``repeat`` times."""

    sweep: SweepSpec | None = None
    find_max: LoadKind | None = None
    precision: float = DEFAULT_PRECISION
    repeat: int = 1

    def describe(self) -> str:
        if self.find_max is not None:
            return f"find-max-{self.find_max.value}"
        if self.sweep is not None:
            return self.sweep.describe()
        return f"repeat {self.repeat}" if self.repeat > 1 else "one step"


class SweepRunner:
    """Runs a series of steps with the ordinary engine; ``run()`` returns one
    :class:`BenchmarkResult` holding every step's records (``models``, on the sweep's
    timeline) and the steps themselves (``result.sweep``).

    ``cancel()`` may be called from any thread: the running step is cancelled (its
    finished runs kept) and no further step starts.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: SweepSink,
        *,
        slo: SloTargets | None = None,
        default_duration_s: float = DEFAULT_STEP_DURATION_S,
        job: SweepJob | None = None,
        runner_factory: Callable[[BenchmarkPlan, Callable[[BenchmarkEvent], None]], Runner]
        | None = None,
    ) -> None:
        self.plan = plan
        self._emit = on_event
        self.slo = slo or SloTargets()
        self.default_duration_s = default_duration_s
        self.job = job or SweepJob()
        self._factory = runner_factory or (lambda p, sink: BenchmarkRunner(p, sink))
        self._runner: Runner | None = None
        self._cancelled = False
        self._start_ns = 0
        self._started_at = datetime.now(UTC)
        self._result = BenchmarkResult(
            plan=plan,
            started_at=self._started_at,
            models={m.name: ModelResult(info=m) for m in plan.models},
        )
        self.record: SweepRecord | None = None

    @property
    def result(self) -> BenchmarkResult:
        return self._result

    def cancel(self) -> None:
        self._cancelled = True
        runner = self._runner
        if runner is not None:
            runner.cancel()

    async def run(self) -> BenchmarkResult:
        """Run :attr:`job` (as ``BenchmarkRunner.run`` runs a plan)."""
        job = self.job
        if job.find_max is not None:
            return await self.find_max(job.find_max, job.precision)
        if job.sweep is not None:
            return await self.sweep(replace(job.sweep, repeat=job.repeat))
        return await self.repeat(job.repeat)

    # -- the three modes ------------------------------------------------------------

    async def sweep(self, spec: SweepSpec) -> BenchmarkResult:
        record = self._begin("sweep", spec.kind, spec.describe(), spec.repeat)
        try:
            await self._prepare()
            loads: list[StepLoad]
            index = 0
            if spec.auto_steps is not None:
                anchors = await self._anchors(record)
                if anchors is None:
                    record.stop_reason = "the anchor steps served no request: no rates to sweep"
                    return self._result
                low, high = anchors
                index = 2
                n = spec.auto_steps
                loads = [
                    StepLoad(LoadKind.RATE, low + (high - low) * k / (n - 1)) for k in range(n)
                ]
            else:
                loads = [StepLoad(spec.kind, v) for v in spec.values]
            history: dict[str, list[StepPoint]] = {}
            streak: dict[str, int] = {}
            planned = None if spec.auto_steps is not None else len(loads) * spec.repeat
            for load in loads:
                if self._cancelled:
                    break
                steps: list[StepResult] = []
                for rep in range(spec.repeat):
                    if self._cancelled:
                        break
                    last = rep == spec.repeat - 1  # judged with its repeats, before its event
                    judge = partial(self._judge, steps, history, streak, spec) if last else None
                    steps.append(
                        await self._step(record, index, load, rep, "step", planned, judge=judge)
                    )
                if self._cancelled or not steps:
                    break
                index += 1
                reason = steps[-1].stop_reason
                if reason is not None and spec.early_stop:
                    record.stop_reason = reason
                    break
        except _Stopped:
            pass
        finally:
            record.knees = knees(record.steps)
            self._end(record)
        return self._result

    async def repeat(self, times: int) -> BenchmarkResult:
        """The plan as it is, ``times`` times (``--repeat N`` without a sweep)."""
        load = plan_load(self.plan)
        record = self._begin("repeat", load.kind, load.label(), times)
        try:
            await self._prepare()
            for rep in range(times):
                if self._cancelled:
                    break
                await self._step(record, 0, load, rep, "repeat", times, as_is=True)
        except _Stopped:
            pass
        finally:
            self._end(record)
        return self._result

    async def find_max(
        self, kind: LoadKind, precision: float = DEFAULT_PRECISION
    ) -> BenchmarkResult:
        """The SLO search (see the module's docstring); ``record.search`` holds the
        answer (what was found so far, when cancelled or stopped)."""
        if self.slo.empty:
            raise SweepError("--find-max: give the targets with --slo NAME:MS (or [slo])")
        label = "find-max-rate" if kind is LoadKind.RATE else "find-max-concurrency"
        record = self._begin("search", kind, label, 1)
        precision = 1.0 if kind is LoadKind.CONCURRENCY else precision
        bracket = _Bracket()
        try:
            await self._prepare()
            await self._search(record, kind, precision, bracket)
        except _Stopped:
            pass
        finally:
            record.search = SearchOutcome(
                kind, bracket.best, bracket.missed, precision, self.slo.percentile
            )
            record.knees = knees(record.steps)
            self._end(record)
        return self._result

    async def _search(
        self, record: SweepRecord, kind: LoadKind, precision: float, bracket: _Bracket
    ) -> None:
        index = 0

        async def probe(value: float) -> bool:
            nonlocal index
            step = await self._step(record, index, StepLoad(kind, value), 0, "probe", None)
            index += 1
            met = bool(step.meets_slo) and not step.cancelled
            if step.cancelled:
                return False
            if met:
                bracket.best = value
            else:
                bracket.missed = value
            return met

        start = 1.0
        if kind is LoadKind.RATE:
            one = StepLoad(LoadKind.CONCURRENCY, 1)
            anchor = await self._step(record, index, one, 0, "anchor", None)
            index += 1
            start = min((m.summary.request_throughput or 0.0 for m in anchor.models), default=0)
            if start <= 0 or self._cancelled:
                return
        if not await probe(start):
            return
        value = start
        for _ in range(MAX_DOUBLINGS):
            value *= 2
            if self._cancelled or (kind is LoadKind.CONCURRENCY and value > MAX_CONCURRENCY):
                return
            if not await probe(value):
                break
        while not self._cancelled:
            best, missed = bracket.best, bracket.missed
            if best is None or missed is None:
                return
            if kind is LoadKind.CONCURRENCY:
                if missed - best <= 1:
                    return
                mid = float((int(best) + int(missed)) // 2)
            else:
                if missed - best <= precision * best:
                    return
                mid = (best + missed) / 2
            await probe(mid)

    # -- steps ----------------------------------------------------------------------

    def _begin(
        self, mode: Literal["sweep", "search", "repeat"], kind: LoadKind, spec: str, repeat: int
    ) -> SweepRecord:
        self._start_ns = time.perf_counter_ns()
        self._started_at = self._result.started_at = datetime.now(UTC)
        record = SweepRecord(mode, kind, spec, self.slo, repeat)
        self.record = record
        self._result.sweep = record
        return record

    async def _prepare(self) -> None:
        """Detect the API flavour once, so that no step detects it again."""
        endpoint = self.plan.endpoint
        if endpoint.api is None:
            try:
                flavour = await detect_flavour(endpoint)
            except ClientError as exc:
                raise EndpointUnreachable(exc.error) from None
            self.plan = replace(self.plan, endpoint=replace(endpoint, api=flavour))

    async def _anchors(self, record: SweepRecord) -> tuple[float, float] | None:
        """rate=auto: the one-at-a-time throughput and the maximum throughput."""
        first = await self._step(record, 0, StepLoad(LoadKind.CONCURRENCY, 1), 0, "anchor", None)
        cap = (self.plan.load.max_concurrency if self.plan.load else None) or AUTO_MAX_CONCURRENCY
        second = await self._step(record, 1, StepLoad(LoadKind.CONCURRENCY, cap), 0, "anchor", None)
        low = min((m.summary.request_throughput or 0.0 for m in first.models), default=0.0)
        high = min((m.summary.request_throughput or 0.0 for m in second.models), default=0.0)
        if low <= 0 or high <= 0 or self._cancelled:
            return None
        return low, max(low, high)

    async def _step(
        self,
        record: SweepRecord,
        index: int,
        load: StepLoad,
        rep: int,
        role: StepRole,
        planned: int | None,
        *,
        as_is: bool = False,
        judge: Callable[[StepResult], None] | None = None,
    ) -> StepResult:
        """Run one step; ``judge`` (a sweep's last repeat of a load) marks it saturated
        or over the error budget before its :class:`StepFinished` goes out."""
        self._emit(StepStarted(index, rep, role, load, planned))
        plan = self.plan if as_is else step_plan(self.plan, load, self.default_duration_s)
        runner = self._factory(plan, self._emit)
        self._runner = runner
        if self._cancelled:
            runner.cancel()
        began = time.perf_counter_ns()
        try:
            result = await runner.run()
        except EndpointUnreachable as exc:
            if not record.steps:
                raise  # nothing measured: the run fails as a single one would
            record.stop_reason = f"the endpoint became unreachable at {load.label()}: {exc}"
            raise _Stopped from None
        finally:
            self._runner = None
        ended = time.perf_counter_ns()
        offset = (result.started_at - self._started_at).total_seconds()
        step = StepResult(
            index=index,
            load=load,
            repeat=rep,
            role=role,
            started_s=(began - self._start_ns) / 1e9,
            duration_s=(ended - began) / 1e9,
            cancelled=result.cancelled,
        )
        for name, mr in result.models.items():
            _shift(mr.records, offset)
            step.models.append(model_step(name, mr, self.slo, plan))
            mine = self._result.models.setdefault(name, ModelResult(info=mr.info))
            mine.records.extend(mr.records)
            for key, value in mr.backend.items():
                mine.backend.setdefault(key, value)
        if self._result.server is None:
            self._result.server = result.server
        self._result.warmup_requests += result.warmup_requests
        record.steps.append(step)
        if result.cancelled:
            self._cancelled = True
        verdict = None
        if role == "probe" and not self.slo.empty:
            checks = "; ".join(
                f"{m.model}: {m.check.describe()}" for m in step.models if m.check is not None
            )
            verdict = ("meets the SLOs" if step.meets_slo else "misses the SLOs") + f" ({checks})"
        if judge is not None and not step.cancelled:
            judge(step)
            verdict = verdict or step.stop_reason
        self._emit(StepFinished(step, step.points(), saturated=step.saturated, verdict=verdict))
        return step

    def _judge(
        self,
        earlier_repeats: list[StepResult],
        history: dict[str, list[StepPoint]],
        streak: dict[str, int],
        spec: SweepSpec,
        last: StepResult,
    ) -> None:
        """After a load's repeats (``last`` the final one): mark ``last`` with the models
        saturated there and the stop reason, if the sweep must stop."""
        steps = [*earlier_repeats, last]
        for step in steps:
            for m in step.models:
                s = m.summary
                if s.runs and s.errors / s.runs > spec.max_error_rate:
                    last.stop_reason = (
                        f"error budget: {s.errors}/{s.runs} requests of {m.model} failed at "
                        f"{step.load.label()} (above {spec.max_error_rate:.0%})"
                    )
                    return
        models = list(dict.fromkeys(m.model for s in steps for m in s.models))
        saturated = []
        for model in models:
            point = _mean_point([s.points()[model] for s in steps if model in s.points()])
            earlier = history.setdefault(model, [])
            if is_saturated(earlier, point):
                streak[model] = streak.get(model, 0) + 1
                saturated.append(model)
            else:
                streak[model] = 0
            earlier.append(point)
        last.saturated = tuple(saturated)
        if models and all(streak.get(m, 0) >= SATURATION_PATIENCE for m in models):
            last.stop_reason = (
                f"saturated at {last.load.label()}: throughput no longer grows "
                f"(< {SATURATION_MIN_GAIN:.0%} over the best step) while TTFT p50 keeps "
                f"rising (> {SATURATION_TTFT_RISE:.0%}), {SATURATION_PATIENCE} steps in a row"
            )

    def _end(self, record: SweepRecord) -> None:
        result = self._result
        result.finished_at = datetime.now(UTC)
        result.cancelled = self._cancelled
        for name, mr in result.models.items():
            mr.summary = summarise(name, mr.records, self.plan.prices)
            phases = [m.phase for s in record.steps for m in s.models if m.model == name]
            if self._cancelled:
                mr.phase = ModelPhase.CANCELLED
            elif phases and all(p is ModelPhase.FAILED for p in phases):
                mr.phase = ModelPhase.FAILED
            else:
                mr.phase = ModelPhase.DONE if phases else ModelPhase.QUEUED
        self._emit(SweepFinished(record, self._cancelled))


def model_step(name: str, mr: ModelResult, slo: SloTargets, plan: BenchmarkPlan) -> ModelStep:
    """One model's part of a step: its summary and, with SLOs, their figures and the
    percentile verdict over its records."""
    summary = mr.summary or summarise(name, mr.records, plan.prices)
    step = ModelStep(name, summary, mr.phase, list(mr.records))
    if not slo.empty:
        step.slo = compute_slo_figures(mr.records, slo)
        step.check = percentile_check(mr.records, slo)
    return step


def single_run_record(result: BenchmarkResult, slo: SloTargets) -> SweepRecord | None:
    """A finished single run judged by SLOs, as the one step ``SweepRunner.repeat(1)``
    makes of it (headless ``--slo`` without a sweep): the SLOs and each model's figures
    and verdict are then saved, exported and shown again with the result. ``None``
    without SLOs, without a measured run, or for several endpoints (a series takes one
    endpoint: its steps name models, not rows)."""
    measured = any(not r.warmup for mr in result.models.values() for r in mr.records)
    if slo.empty or not measured or result.multi_endpoint:
        return None
    plan = result.plan
    load = plan_load(plan)
    record = SweepRecord("repeat", load.kind, load.label(), slo, 1)
    ended = result.finished_at or datetime.now(UTC)
    step = StepResult(
        index=0,
        load=load,
        repeat=0,
        role="repeat",
        started_s=0.0,
        duration_s=max(0.0, (ended - result.started_at).total_seconds()),
        cancelled=result.cancelled,
    )
    step.models = [model_step(name, mr, slo, plan) for name, mr in result.models.items()]
    record.steps.append(step)
    return record


def _shift(records: list[RunRecord], offset_s: float) -> None:
    """Put a step's records on the sweep's timeline (they were on the step's)."""
    if not offset_s:
        return
    for r in records:
        r.started_at_s += offset_s
        r.finished_at_s += offset_s
        stamp = r.load
        if stamp is not None and stamp.intended_at_s is not None:
            r.load = replace(stamp, intended_at_s=stamp.intended_at_s + offset_s)
