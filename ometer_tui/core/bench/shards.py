"""One plan split across several workers (``--workers``), their events merged into the
stream one engine would emit for the whole plan.

How the plan is cut is :mod:`ometer_tui.core.bench.shard_split` (re-exported here):
each endpoint's streams or open-loop arrivals, rate limits and error budget shared out.
How the merge runs it (:class:`MergedRunner`):

* warm-up: every worker sends the plan's warm-up requests for its own connections and
  its own first requests (workers do not wait for each other, so a worker that skipped
  them could measure while another still warms the model up). The result says so:
  ``warmup_requests`` is the plan's times the workers.
* models one after the other (``parallel_models`` below the number of models): every
  model is run by its own set of workers, a model starting when a slot is free, as one
  engine does; models at once: one set of workers runs them all.
* several endpoints: every endpoint is probed once, here, before any worker starts (one
  that cannot be reached stops the benchmark before it starts, ``EndpointUnreachable``
  naming it, as one engine does); then each endpoint's plan runs on its own workers
  (``shard_split.endpoint_workers``): one endpoint after the other (the next starts
  when every worker of the previous one has finished), or all at once with
  ``endpoints_parallel``. Rows are keyed by (endpoint, model) (``result.row_key``) and
  the events of a row name its endpoint, as one engine's do.
* worker numbers (``WorkerLoad.worker``, ``WorkerFailed``): each worker takes the lowest
  number free when it is made and gives it back when it ends, so two workers running
  at the same time never share one, and a set that follows another (models or
  endpoints one after the other) takes the numbers over. ``workers`` in the reports is
  the most that run at a time.

What the merge promises: one ``BenchmarkStarted``; a row is WARMING/RUNNING when its
first worker is, DONE/FAILED/CANCELLED when every worker has finished it, with
``summarise()`` of the union of its records and the load figures of that union (the
most requests in flight is the sum of the workers' peaks); progress counted across
workers; one ``BenchmarkFinished``. Records share one time origin
(``ShardSpec.origin_ns``), so time series read as one engine's.
"""

from __future__ import annotations

import asyncio
import heapq
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
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult, row_key
from ometer_tui.core.bench.runner import (
    BenchmarkRunner,
    EndpointUnreachable,
    EventSink,
    planned_runs_per_model,
)
from ometer_tui.core.bench.shard_spec import ShardSpec
from ometer_tui.core.bench.shard_split import (
    ShardError,
    endpoint_workers,
    split_plan,
    worker_count,
)
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
    "endpoint_workers",
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


#: (shard plan, worker number, workers at a time, event sink) -> the runner of that shard
ShardFactory = Callable[[BenchmarkPlan, int, int, EventSink], Runner]


class WorkerFailed(RuntimeError):
    """A worker's run raised; the others were cancelled, finished runs are kept.
    ``worker``: its 0-based index (the message counts from 1, as the workers strip
    does); ``endpoint``: in a benchmark of several endpoints, the one the worker ran."""

    def __init__(self, worker: int, error: BaseException, endpoint: str | None = None) -> None:
        on = "" if endpoint is None else f" ({endpoint})"
        super().__init__(f"worker {worker + 1}{on} failed: {type(error).__name__}: {error}")
        self.worker = worker
        self.endpoint = endpoint


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
    this machine's workers hold, measured once and cached; endpoints at the same time
    add up, one after the other the heaviest counts). Blocking (it may measure for a
    few seconds): call it off any running loop."""
    from ometer_tui.core.bench.calibrate import workers_for

    return workers_for(plan, note=note)


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
    """One (endpoint, model) row's merge state."""

    entry: ModelResult
    plan: BenchmarkPlan  # its endpoint's plan (prices, load)
    total: int  # measured runs the whole plan expects of it (0: unknown)
    done: int = 0
    shards: int = 0  # workers running it
    finished: dict[int, tuple[ModelSummary, ModelPhase]] = field(default_factory=dict)
    merged: bool = False


@dataclass(frozen=True, slots=True)
class _Part:
    """One endpoint's plan as the merge runs it."""

    plan: BenchmarkPlan
    tag: str | None  # its name on rows and events (several endpoints); None: one endpoint
    workers: int  # workers in each of its sets (shard_split.endpoint_workers)

    @property
    def groups(self) -> list[tuple[ModelInfo, ...]]:
        """Its models at once (one set of workers), or one set per model."""
        plan = self.plan
        if plan.parallel_models >= len(plan.models):
            return [plan.models]
        return [(m,) for m in plan.models]  # each its own set of workers, gated below

    @property
    def concurrent(self) -> int:
        """Its sets of workers that run at once."""
        groups = len(self.groups)
        return 1 if groups == 1 else min(self.plan.parallel_models, groups)


class _Numbers:
    """Worker numbers: the lowest free one for each worker made, given back when it
    ends (see the module's docstring). ``size``: the most that run at a time."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = list(range(size))

    def take(self) -> int:
        if not self._free:  # never expected: the size is the plan's most at a time
            self.size += 1
            return self.size - 1
        return heapq.heappop(self._free)

    def give(self, number: int) -> None:
        heapq.heappush(self._free, number)


def _record_order(r: RunRecord) -> tuple[bool, float, int, int, int, int]:
    load = r.load
    conv, turn = (load.conversation, load.turn) if load is not None else (-1, 0)
    return (not r.warmup, r.started_at_s, r.pass_index, r.prompt_index, conv, turn)


class MergedRunner:
    """Runs ``plan`` as shards made by ``shard_factory`` (``workers`` asked: see
    ``shard_split``), concurrently on the current loop, and reports the events one
    engine would emit for the whole plan (several endpoints: see the module).

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
        self._failure: tuple[int, BaseException, str | None] | None = None
        self._live: list[Runner] = []
        self._started = False
        self._numbers = _Numbers(0)
        self._rows: dict[str, _Row] = {}
        for part in plan.parts:
            tag = part.endpoint.name if plan.multi_endpoint else None
            total = planned_runs_per_model(part)
            for m in part.models:
                key = row_key(tag, m.name)
                self._rows[key] = _Row(entry=self._result.models[key], plan=part, total=total)
        #: (the endpoint's tag, a shard's result), for what its servers said
        self._shard_results: list[tuple[str | None, BenchmarkResult]] = []

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

    def _halted(self) -> bool:
        return self._cancel_requested or self._failure is not None

    async def run(self) -> BenchmarkResult:
        problems = self.plan.validate()
        if problems:
            raise ValueError("; ".join(problems))
        plan = self.plan
        counts = endpoint_workers(plan, self._workers)  # refused before any start
        parts = [
            _Part(part, part.endpoint.name if plan.multi_endpoint else None, n)
            for part, n in zip(plan.parts, counts, strict=True)
        ]
        peaks = [worker_count(p.plan, p.workers) * p.concurrent for p in parts]
        self._numbers = _Numbers(sum(peaks) if plan.endpoints_parallel else max(peaks))
        self._result.warmup_requests = sum(
            p.plan.warmup * len(p.plan.models) * worker_count(p.plan, p.workers) for p in parts
        )
        if plan.multi_endpoint and not self._cancel_requested:
            await self._probe()  # EndpointUnreachable: nothing has started
        origin = time.perf_counter_ns()
        self._result.started_at = datetime.now(UTC)
        if plan.multi_endpoint and not self._cancel_requested:
            self._announce()  # one engine's start: every endpoint probed, none run yet
        if plan.endpoints_parallel:
            await asyncio.gather(*(self._run_part(p, origin) for p in parts))
        else:
            for part in parts:  # the next starts when every worker of this one ended
                await self._run_part(part, origin)
        return self._finish()

    async def _probe(self) -> None:
        """Every endpoint probed once, here, as one engine does before its start."""
        probed = await BenchmarkRunner(
            self.plan, self._emit, log_exchanges=self._log_exchanges
        ).probe()
        self._result.servers = dict(probed.servers)
        self._result.server = probed.server

    async def _run_part(self, part: _Part, origin: int) -> None:
        gate = asyncio.Semaphore(part.concurrent)

        async def gated(models: tuple[ModelInfo, ...]) -> None:
            async with gate:
                if not self._halted():
                    await self._run_group(part, models, origin)

        await asyncio.gather(*(gated(g) for g in part.groups))

    async def _run_group(self, part: _Part, models: tuple[ModelInfo, ...], origin: int) -> None:
        plan = replace(
            part.plan, models=models, parallel_models=min(part.plan.parallel_models, len(models))
        )
        lead = self._start_lead_s
        start = time.perf_counter_ns() + round(lead * 1e9) if lead > 0 else None
        shards = split_plan(
            plan, part.workers, origin_ns=origin, start_ns=start, rate_parts=part.concurrent
        )
        for m in models:
            self._rows[row_key(part.tag, m.name)].shards = len(shards)
        numbers = self._numbers
        runners: list[tuple[int, Runner]] = []
        for shard in shards:
            worker = numbers.take()
            try:  # a worker that cannot even be made (a process that will not start)
                runners.append(
                    (worker, self._factory(shard, worker, numbers.size, self._sink(worker, part)))
                )
            except Exception as exc:  # named and re-raised by run()
                numbers.give(worker)
                self._fail(worker, exc, part.tag)
                break
        self._live.extend(runner for _, runner in runners)
        if self._halted():
            for _, runner in runners:
                runner.cancel()

        async def one(worker: int, runner: Runner) -> None:
            try:
                self._shard_results.append((part.tag, await runner.run()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # named and re-raised by run()
                self._fail(worker, exc, part.tag)
                self._shard_results.append((part.tag, runner.result))
            finally:
                self._live.remove(runner)
                numbers.give(worker)

        await asyncio.gather(*(one(w, r) for w, r in runners))

    def _fail(self, worker: int, exc: BaseException, tag: str | None) -> None:
        if self._failure is None:
            self._failure = (worker, exc, tag)
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
            failure[1].add_note(f"(worker {failure[0] + 1})")
            raise failure[1]
        cancelled = self._cancel_requested or failure is not None
        for row in self._rows.values():
            if not row.merged:
                self._merge_row(row, settle=True)
        for tag, shard in self._shard_results:  # what the servers said, first seen
            if result.server is None and tag is None:
                result.server = shard.server
            for name, mr in shard.models.items():
                own = result.models.get(row_key(tag, name))
                if own is not None:
                    for key, value in mr.backend.items():
                        own.backend.setdefault(key, value)
        result.finished_at = datetime.now(UTC)
        result.cancelled = cancelled
        if self._started or failure is not None:
            self._emit(BenchmarkFinished(cancelled=cancelled))
        if failure is not None:
            raise WorkerFailed(*failure) from failure[1]
        return result

    # -- merging events -----------------------------------------------------------

    def _announce(self) -> None:
        """The one ``BenchmarkStarted``: every row, as one engine announces them."""
        self._started = True
        rows = list(self._result.models.values())
        runs = sum(row.total for row in self._rows.values())
        warmups = self._result.warmup_requests
        self._emit(
            BenchmarkStarted(
                models=tuple(mr.info for mr in rows),
                total_runs=runs + warmups,
                warmup_requests=warmups,
                endpoints=tuple(mr.endpoint or "" for mr in rows)
                if self.plan.multi_endpoint
                else (),
            )
        )

    def _sink(self, worker: int, part: _Part) -> EventSink:
        def on_event(event: BenchmarkEvent) -> None:
            self._on_event(worker, part.tag, event)

        return on_event

    def _on_event(self, worker: int, tag: str | None, event: BenchmarkEvent) -> None:
        if isinstance(event, RunFinished):
            row = self._rows.get(row_key(tag, event.record.model))
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
                    endpoint=tag,
                )
            )
        elif isinstance(event, ModelPhaseChanged):
            row = self._rows.get(row_key(tag, event.model))
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
                self._emit(ModelPhaseChanged(model=event.model, phase=event.phase, endpoint=tag))
        elif isinstance(event, ModelFinished):
            row = self._rows.get(row_key(tag, event.model))
            if row is None:
                return
            row.finished[worker] = (event.summary, event.phase)
            if len(row.finished) >= row.shards and not row.merged:
                self._merge_row(row)
        elif isinstance(event, BenchmarkStarted):
            if not self._started:  # one endpoint: when its first worker starts
                self._announce()
        elif isinstance(event, BenchmarkFinished):
            return  # one for the whole plan, at the end
        elif isinstance(event, ExchangeLogged):
            if self._log_exchanges:
                self._emit(event)
        elif isinstance(event, RunRetrying):
            self._emit(event if tag is None else replace(event, endpoint=tag))
        elif isinstance(event, WorkerLoad):
            self._emit(event)

    def _merge_row(self, row: _Row, *, settle: bool = False) -> None:
        """Every worker finished this row (or the run ends: ``settle``): its one
        ``ModelFinished``, from the union of its records."""
        row.merged = True
        entry, plan = row.entry, row.plan
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
            self._emit(
                ModelFinished(
                    model=entry.info.name, summary=summary, phase=phase, endpoint=entry.endpoint
                )
            )


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
