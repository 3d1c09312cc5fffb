"""One plan split across several workers (``--workers``), their events merged into the
stream one engine would emit for the whole plan.

What is split (:func:`split_plan`):

* closed loop: the streams per model (``concurrency``) as evenly as possible, and the
  work with them: job ``j`` of the plan's passes x prompts (or conversation ``j`` of a
  load, up to ``--requests``) goes to stream ``j % concurrency`` and so to the worker
  holding that stream. A worker is never made without a stream or without work.
  ``--duration`` applies to every worker as it is; a ramp-up starts each worker's
  streams when one engine would have started them.
* open loop: every worker computes the same timetable (same seed) and sends arrival
  ``k`` when ``k % workers`` is its index; conversation numbers stay the whole plan's, so
  every request is the prompt one engine would send at that point of the timetable.
  ``--max-concurrency`` is split; ``--requests`` counts the whole timetable's arrivals.
* rate limits (rpm, tpm) are split evenly; an error budget (``--max-errors``) too (each
  worker judges its share; ``--max-error-rate`` applies to each as it is).
* warm-up: every worker sends the plan's warm-up requests for its own connections and
  its own first requests (workers do not wait for each other, so a worker that skipped
  them could measure while another still warms the model up). The result says so:
  ``warmup_requests`` is the plan's times the workers.
* models one after the other (``parallel_models`` below the number of models): every
  model is run by its own set of workers, a model starting when a slot is free, as one
  engine does; models at once: one set of workers runs them all.
* several endpoints: refused (:class:`ShardError`), one line.

What the merge promises (:class:`MergedRunner`): one ``BenchmarkStarted``; a model is
WARMING/RUNNING when its first worker is, DONE/FAILED/CANCELLED when every worker has
finished it, with ``summarise()`` of the union of its records and the load figures of
that union (the most requests in flight is the sum of the workers' peaks); progress
counted across workers; one ``BenchmarkFinished``. Records share one time origin
(``ShardSpec.origin_ns``), so time series read as one engine's.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
    RunRetrying,
    WorkerLoad,
)
from ometer_tui.core.bench.fold import empty_result
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.runner import (
    BenchmarkRunner,
    EndpointUnreachable,
    EventSink,
    planned_runs_per_model,
)
from ometer_tui.core.bench.shard_spec import ShardSpec
from ometer_tui.core.bench.workloads.summary import LoadSummary, summarise_load
from ometer_tui.core.models import ModelInfo

if TYPE_CHECKING:
    from ometer_tui.core.bench.calibrate import WorkersChoice

__all__ = [
    "MergedRunner",
    "Runner",
    "ShardError",
    "ShardFactory",
    "ShardSpec",
    "WorkerFailed",
    "default_shard_factory",
    "in_loop_shard_factory",
    "process_shard_factory",
    "runner_for",
    "split_plan",
    "worker_count",
]


class Runner(Protocol):
    """The Runner shape: what a shard (and :class:`MergedRunner` itself) offers."""

    @property
    def result(self) -> BenchmarkResult: ...

    async def run(self) -> BenchmarkResult: ...

    def cancel(self) -> None: ...


#: (shard plan, worker index, worker count, event sink) -> the runner of that shard
ShardFactory = Callable[[BenchmarkPlan, int, int, EventSink], Runner]


class ShardError(ValueError):
    """The plan cannot be split across workers as asked (one line, for the user)."""


class WorkerFailed(RuntimeError):
    """A worker's run raised; the others were cancelled, finished runs are kept."""

    def __init__(self, worker: int, error: BaseException) -> None:
        super().__init__(f"worker {worker} failed: {type(error).__name__}: {error}")
        self.worker = worker


def _even(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split as evenly as possible into ``parts``."""
    return total // parts + (1 if index < total % parts else 0)


def worker_count(plan: BenchmarkPlan, workers: int) -> int:
    """How many workers ``plan`` is split into when ``workers`` are asked: never more
    than it has streams (closed loop), connections (``--max-concurrency``) or requests."""
    if workers < 1:
        raise ShardError(f"--workers: must be at least 1 (got {workers})")
    load = plan.load
    if load is None:
        streams = min(plan.concurrency, plan.runs_per_model)
    elif load.arrival is None:
        streams = plan.concurrency
    else:
        streams = load.max_concurrency or workers
    if load is not None and load.stop.max_requests is not None:
        streams = min(streams, load.stop.max_requests)
    return max(1, min(workers, streams))


def split_plan(
    plan: BenchmarkPlan,
    workers: int,
    *,
    origin_ns: int | None = None,
    start_ns: int | None = None,
    rate_parts: int = 1,
) -> list[BenchmarkPlan]:
    """Shard ``i`` of the ``n`` plans ``plan`` splits into (n: :func:`worker_count`).

    The union of the shards' work is the plan's exactly (see the module's docstring).
    ``origin_ns``: the shared time origin (``ShardSpec.origin_ns``); ``start_ns``: the
    shared start of the load (``ShardSpec.start_ns``). ``rate_parts``:
    further groups the rate limits are shared with (models run as separate sets of
    workers at once). Each shard plan has ``workers=1``: it is one engine.
    """
    if plan.endpoint_plans:
        raise ShardError(
            "--workers: a benchmark of several endpoints runs on one worker; "
            "give one endpoint, or --workers 1"
        )
    n = worker_count(plan, workers)
    load = plan.load
    open_loop = load is not None and load.arrival is not None
    lanes = n if open_loop else plan.concurrency
    rpm, tpm = plan.rate_limit.requests_per_minute, plan.rate_limit.tokens_per_minute
    parts = n * rate_parts
    rate = RateLimit(
        requests_per_minute=None if rpm is None else rpm / parts,
        tokens_per_minute=None if tpm is None else tpm / parts,
    )
    shards: list[BenchmarkPlan] = []
    for i in range(n):
        spec = ShardSpec(index=i, count=n, lanes=lanes, origin_ns=origin_ns, start_ns=start_ns)
        shard_load = load
        if load is not None:
            stop = load.stop
            if stop.max_errors is not None:
                stop = replace(stop, max_errors=max(1, _even(stop.max_errors, n, i)))
            mc = load.max_concurrency
            if open_loop and mc is not None:
                mc = _even(mc, n, i)
            shard_load = replace(load, stop=stop, max_concurrency=mc)
        shards.append(
            replace(
                plan,
                concurrency=plan.concurrency if open_loop else len(spec.residues),
                load=shard_load,
                rate_limit=rate,
                workers=1,
                shard=spec,
            )
        )
    return shards


# -- shard factories ------------------------------------------------------------------


def in_loop_shard_factory(log_exchanges: bool = False) -> ShardFactory:
    """Every shard a :class:`BenchmarkRunner` on the current loop (tests, and the
    fallback when the engine cannot run in processes)."""

    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        del worker, workers
        return BenchmarkRunner(plan, sink, log_exchanges=log_exchanges)

    return make


def process_shard_factory(log_exchanges: bool = False) -> ShardFactory:
    """Every shard an engine in its own process (``process_runner.ProcessRunner``),
    reporting its load as worker ``worker`` of ``workers``."""
    from ometer_tui.core.bench.process_runner import ProcessRunner

    def make(plan: BenchmarkPlan, worker: int, workers: int, sink: EventSink) -> Runner:
        return ProcessRunner(
            plan, sink, log_exchanges=log_exchanges, worker=worker, workers=workers
        )

    return make


def default_shard_factory(log_exchanges: bool = False) -> ShardFactory:
    """The shards ``--workers`` runs: one engine process each (POSIX: the process runner
    talks over Unix sockets), else every shard on the current loop."""
    if os.name == "posix":
        return process_shard_factory(log_exchanges)
    return in_loop_shard_factory(log_exchanges)


def workers_to_run(
    plan: BenchmarkPlan, note: Callable[[str], None] | None = None
) -> tuple[int, WorkersChoice | None]:
    """How many workers ``plan`` runs on: ``plan.workers`` when set, else chosen by
    self-calibration (``calibrate.workers_for``: one engine for a light load, else what
    this machine's workers hold, measured once and cached). An automatic choice that the
    plan cannot be split into (several endpoints) falls back to one engine, with a note;
    a number the user set is kept (``split_plan`` then says why it cannot be done).
    Blocking (it may measure for a few seconds): call it off any running loop."""
    from ometer_tui.core.bench.calibrate import workers_for

    workers, choice = workers_for(plan, note=note)
    if plan.workers is None and workers > 1:
        try:
            split_plan(plan, workers)
        except ShardError as exc:
            if note is not None:
                note(f"one engine: {exc}")
            return 1, choice
    return workers, choice


def workers_told(
    plan: BenchmarkPlan, note: Callable[[str], None], warn: Callable[[str], None]
) -> int:
    """:func:`workers_to_run`, saying what a user should read: ``note`` hears the
    calibration's notes and, when the choice is more than one worker and automatic,
    ``chosen automatically: <why>``; ``warn`` hears the warning that the load asked is
    past what the workers hold within the lag limit. Headless prints these lines and the
    dashboard notifies them: the one wording of both."""
    workers, choice = workers_to_run(plan, note)
    if choice is not None:
        if choice.warning:
            warn(choice.warning)
        if plan.workers is None and workers > 1:
            note(f"chosen automatically: {choice.reason}")
    return workers


def runner_for(
    plan: BenchmarkPlan,
    on_event: EventSink,
    *,
    workers: int,
    log_exchanges: bool = False,
    shard_factory: ShardFactory | None = None,
    start_lead_s: float = 0.0,
) -> Runner:
    """The runner of ``plan`` on ``workers`` workers: one engine for 1, else the plan
    split and merged, its shards made by ``shard_factory`` (default:
    :func:`default_shard_factory`). The TUI's and the headless command's one rule.
    One engine reports its load (``WorkerLoad``) from its own loop; each worker does."""
    if workers <= 1:
        from ometer_tui.core.bench.load_report import ReportingRunner

        engine = BenchmarkRunner(plan, on_event, log_exchanges=log_exchanges)
        return ReportingRunner(engine, on_event)
    return MergedRunner(
        plan,
        on_event,
        workers=workers,
        shard_factory=shard_factory or default_shard_factory(log_exchanges),
        log_exchanges=log_exchanges,
        start_lead_s=start_lead_s,
    )


# -- the merge ------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """One model's merge state."""

    entry: ModelResult
    total: int  # measured runs the whole plan expects of it (0: unknown)
    done: int = 0
    shards: int = 0  # workers running it
    finished: dict[int, tuple[ModelSummary, ModelPhase]] = field(default_factory=dict)
    merged: bool = False


def _record_order(r: RunRecord) -> tuple[bool, float, int, int, int, int]:
    load = r.load
    conv, turn = (load.conversation, load.turn) if load is not None else (-1, 0)
    return (not r.warmup, r.started_at_s, r.pass_index, r.prompt_index, conv, turn)


class MergedRunner:
    """Runs ``plan`` as ``workers`` shards made by ``shard_factory``, concurrently on the
    current loop, and reports the events one engine would emit for the whole plan.

    The Runner shape: ``run()``, ``cancel()`` (any thread: reaches every shard),
    ``result`` (the merged result so far), ``cancel_requested``. A shard whose ``run()``
    raises cancels the others; ``run()`` then raises :class:`WorkerFailed` naming it
    (an :class:`EndpointUnreachable` before anything started is raised as it is), and
    ``result`` keeps every finished run.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        workers: int,
        shard_factory: ShardFactory,
        log_exchanges: bool = False,
        start_lead_s: float = 0.0,
    ) -> None:
        self.plan = plan
        #: > 0: a load starts on every worker at once, this long after its workers are
        #: made (ShardSpec.start_ns; long enough for them to start and warm up)
        self._start_lead_s = start_lead_s
        self._emit = on_event
        self._workers = workers
        self._factory = shard_factory
        self._log_exchanges = log_exchanges
        self._result = empty_result(plan)
        self._cancel_requested = False
        self._failure: tuple[int, BaseException] | None = None
        self._live: list[Runner] = []
        self._started = False
        total = planned_runs_per_model(plan)
        self._rows = {
            name: _Row(entry=entry, total=total) for name, entry in self._result.models.items()
        }
        self._shard_results: list[BenchmarkResult] = []

    @property
    def result(self) -> BenchmarkResult:
        return self._result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Cancel every shard (callable from any thread); finished runs are kept."""
        self._cancel_requested = True
        for runner in list(self._live):
            runner.cancel()

    # -- running ----------------------------------------------------------------------

    def _groups(self) -> list[tuple[ModelInfo, ...]]:
        plan = self.plan
        if plan.parallel_models >= len(plan.models):
            return [plan.models]
        return [(m,) for m in plan.models]  # each its own set of workers, gated below

    async def run(self) -> BenchmarkResult:
        problems = self.plan.validate()
        if problems:
            raise ValueError("; ".join(problems))
        plan = self.plan
        split_plan(plan, self._workers)  # refuses what cannot be split, before any start
        groups = self._groups()
        concurrent = 1 if len(groups) == 1 else min(plan.parallel_models, len(groups))
        self._result.warmup_requests = (
            plan.warmup * len(plan.models) * worker_count(plan, self._workers)
        )
        origin = time.perf_counter_ns()
        self._result.started_at = datetime.now(UTC)
        gate = asyncio.Semaphore(concurrent)

        async def gated(models: tuple[ModelInfo, ...]) -> None:
            async with gate:
                if self._cancel_requested or self._failure is not None:
                    return
                await self._run_group(models, origin, concurrent)

        await asyncio.gather(*(gated(g) for g in groups))
        return self._finish()

    async def _run_group(self, models: tuple[ModelInfo, ...], origin: int, rate_parts: int) -> None:
        plan = replace(
            self.plan, models=models, parallel_models=min(self.plan.parallel_models, len(models))
        )
        lead = self._start_lead_s
        start = time.perf_counter_ns() + round(lead * 1e9) if lead > 0 else None
        shards = split_plan(
            plan, self._workers, origin_ns=origin, start_ns=start, rate_parts=rate_parts
        )
        n = len(shards)
        for m in models:
            self._rows[m.name].shards = n
        runners: list[Runner] = []
        for i, shard in enumerate(shards):
            try:  # a worker that cannot even be made (a process that will not start)
                runners.append(self._factory(shard, i, n, self._sink(i)))
            except Exception as exc:  # named and re-raised by run()
                self._fail(i, exc)
                break
        self._live.extend(runners)
        if self._cancel_requested or self._failure is not None:
            for runner in runners:
                runner.cancel()

        async def one(i: int, runner: Runner) -> None:
            try:
                self._shard_results.append(await runner.run())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # named and re-raised by run()
                self._fail(i, exc)
                self._shard_results.append(runner.result)
            finally:
                self._live.remove(runner)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(runners)))

    def _fail(self, worker: int, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = (worker, exc)
        for runner in list(self._live):
            runner.cancel()

    def _finish(self) -> BenchmarkResult:
        result = self._result
        failure = self._failure
        if (
            failure is not None
            and not self._started
            and isinstance(failure[1], EndpointUnreachable)
        ):
            failure[1].add_note(f"(worker {failure[0]})")
            raise failure[1]
        cancelled = self._cancel_requested or failure is not None
        for row in self._rows.values():
            if not row.merged:
                self._merge_row(row, settle=True)
        for shard in self._shard_results:  # what the servers said, first seen
            if result.server is None:
                result.server = shard.server
            for key, mr in shard.models.items():
                own = result.models.get(key)
                if own is not None:
                    for name, value in mr.backend.items():
                        own.backend.setdefault(name, value)
        result.finished_at = datetime.now(UTC)
        result.cancelled = cancelled
        if self._started or failure is not None:
            self._emit(BenchmarkFinished(cancelled=cancelled))
        if failure is not None:
            raise WorkerFailed(*failure) from failure[1]
        return result

    # -- merging events -----------------------------------------------------------

    def _sink(self, worker: int) -> EventSink:
        def on_event(event: BenchmarkEvent) -> None:
            self._on_event(worker, event)

        return on_event

    def _on_event(self, worker: int, event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            row = self._rows.get(event.record.model)
            if row is None:
                return
            row.entry.records.append(event.record)
            if not event.record.warmup:
                row.done += 1
            self._emit(
                RunFinished(
                    record=event.record,
                    model_done=row.done,
                    model_total=max(row.total, row.done),
                )
            )
        elif isinstance(event, ModelPhaseChanged):
            row = self._rows.get(event.model)
            if row is None or row.merged:
                return
            order = (ModelPhase.QUEUED, ModelPhase.WARMING, ModelPhase.RUNNING)
            now = row.entry.phase
            if (
                event.phase in order
                and now in order
                and order.index(event.phase) > order.index(now)
            ):
                row.entry.phase = event.phase
                self._emit(ModelPhaseChanged(model=event.model, phase=event.phase))
        elif isinstance(event, ModelFinished):
            row = self._rows.get(event.model)
            if row is None:
                return
            row.finished[worker] = (event.summary, event.phase)
            if len(row.finished) >= row.shards and not row.merged:
                self._merge_row(row)
        elif isinstance(event, BenchmarkStarted):
            if not self._started:
                self._started = True
                plan = self.plan
                runs = planned_runs_per_model(plan) * len(plan.models)
                self._emit(
                    BenchmarkStarted(
                        models=plan.models,
                        total_runs=runs + self._result.warmup_requests,
                        warmup_requests=self._result.warmup_requests,
                    )
                )
        elif isinstance(event, BenchmarkFinished):
            return  # one for the whole plan, at the end
        elif isinstance(event, ExchangeLogged):
            if self._log_exchanges:
                self._emit(event)
        elif isinstance(event, RunRetrying | WorkerLoad):
            self._emit(event)

    def _merge_row(self, row: _Row, *, settle: bool = False) -> None:
        """Every worker finished this model (or the run ends: ``settle``): its one
        ``ModelFinished``, from the union of its records."""
        row.merged = True
        entry, plan = row.entry, self.plan
        entry.records.sort(key=_record_order)
        summary = summarise(entry.info.name, entry.records, plan.prices)
        loads = [s.load for s, _ in row.finished.values() if s.load is not None]
        if plan.load is not None and loads:
            summary.load = _merged_load(entry.records, plan, loads)
        phases = {phase for _, phase in row.finished.values()}
        if settle or ModelPhase.CANCELLED in phases or len(row.finished) < row.shards:
            phase = ModelPhase.CANCELLED
        else:
            phase = ModelPhase.FAILED if summary.runs and not summary.ok else ModelPhase.DONE
        entry.summary = summary
        entry.phase = phase
        if self._started:  # nothing is said of a benchmark that never started
            self._emit(ModelFinished(model=entry.info.name, summary=summary, phase=phase))


def _merged_load(
    records: Sequence[RunRecord], plan: BenchmarkPlan, loads: list[Any]
) -> LoadSummary:
    """The load figures of the union of the workers' records (``loads``: theirs)."""
    assert plan.load is not None
    figures = [load.as_dict() for load in loads]
    reasons = [f["stop_reason"] for f in figures if f.get("stop_reason")]
    merged = summarise_load(
        records,
        mode="open" if plan.load.arrival is not None else "closed",
        offered_rate=plan.load.arrival.rate if plan.load.arrival is not None else None,
        max_in_flight=sum(int(f.get("max_in_flight") or 0) for f in figures),
        stop_reason=None,
        token_source=next((f["token_source"] for f in figures if f.get("token_source")), None),
    )
    merged.stop_reason = _stop_reason(reasons, merged.requests_sent)
    return merged


def _stop_reason(reasons: list[str], sent: int) -> str | None:
    """Why the whole load stopped: an error budget first; every worker's share of
    ``--requests`` sent is the plan's requests sent."""
    if not reasons:
        return None
    budget = [r for r in reasons if r.startswith("error budget")]
    if budget:
        return budget[0]
    if all(r.endswith("(--requests)") for r in reasons):
        return f"{sent} requests sent (--requests)"
    return reasons[0]
