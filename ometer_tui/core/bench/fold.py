"""The live fold: engine events in, the benchmark's result as it stands out.

The TUI's session and any other consumer of the engine's events (a headless progress
line, a test) fold events with :class:`ResultFold` and render what it holds; none of
them writes its own fold. It also settles the end: :meth:`ResultFold.finish` takes the
engine's final result (or its failure) and gives every model that never finished its
final phase (cancelled, or failed when the engine could not run at all).

Statistics of a model while it runs (:func:`live_stats`) are the engine's summary once
the model finished, and the same rule on the runs so far before that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.metrics import stats_of
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord, Stats
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult, row_key
from ometer_tui.core.models import Workload

#: Exchanges kept for the debug log (oldest dropped first).
MAX_EXCHANGES = 500

#: Phases of a model that has not finished.
ACTIVE_PHASES = frozenset({ModelPhase.QUEUED, ModelPhase.WARMING, ModelPhase.RUNNING})


@dataclass(frozen=True, slots=True)
class Progress:
    """Measured runs finished of a model, out of those planned."""

    done: int
    total: int


@dataclass(slots=True)
class FoldChange:
    """What one batch of events changed: the rows (keys of ``result.models``: see
    :func:`row_key`) that need a repaint, whether
    the benchmark's header did, and how many exchanges arrived."""

    models: set[str] = field(default_factory=set)
    header: bool = False
    exchanges: int = 0

    @property
    def empty(self) -> bool:
        return not (self.models or self.header or self.exchanges)


def planned_rows(plan: BenchmarkPlan) -> dict[str, ModelResult]:
    """Every planned row, queued with no records, keyed by (endpoint, model)
    (:func:`row_key`; by model alone for one endpoint), in plan order."""
    if not plan.multi_endpoint:
        return {m.name: ModelResult(info=m) for m in plan.models}
    rows: dict[str, ModelResult] = {}
    for part in plan.parts:
        name = part.endpoint.name
        for m in part.models:
            rows[row_key(name, m.name)] = ModelResult(info=m, endpoint=name)
    return rows


def empty_result(plan: BenchmarkPlan, started_at: datetime | None = None) -> BenchmarkResult:
    """A result with every planned row queued and no records."""
    return BenchmarkResult(
        plan=plan, started_at=started_at or datetime.now(UTC), models=planned_rows(plan)
    )


def planned_requests(plan: BenchmarkPlan) -> int:
    """Requests the plan makes, warm-up included (every endpoint's)."""
    return sum(len(p.models) * (p.runs_per_model + p.warmup) for p in plan.parts)


class ResultFold:
    """Folds one benchmark's events into its :class:`BenchmarkResult`.

    ``result`` is always a complete, exportable result (models not started yet are
    queued with no records). ``exchanges`` keeps the last ``max_exchanges`` requests and
    responses; ``exchange_count`` counts every one seen.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        *,
        max_exchanges: int = MAX_EXCHANGES,
        started_at: datetime | None = None,
    ) -> None:
        self.plan = plan
        self.result = empty_result(plan, started_at)
        self.progress: dict[str, Progress] = {}
        self.requests_done = 0
        self.requests_total = planned_requests(plan)
        #: requests done since the engine's latest start (a series: the current step's)
        self.step_done = 0
        #: what that start planned (``None``: not known beforehand: see :meth:`counts`)
        self.step_total: int | None = self.requests_total
        self._starts = 0
        self.exchanges: deque[ExchangeLogged] = deque(maxlen=max_exchanges)
        self.exchange_count = 0
        #: the engine failed before or while running (its message), see :meth:`finish`
        self.error: str | None = None
        self.finished = False
        self._started = False

    @classmethod
    def of_result(cls, result: BenchmarkResult) -> ResultFold:
        """A fold holding a finished (or loaded) result: nothing more will arrive."""
        fold = cls(result.plan, started_at=result.started_at)
        fold.result = result
        fold.requests_done = sum(len(m.records) for m in result.models.values())
        fold.requests_total = max(fold.requests_done, 1)
        fold.step_done, fold.step_total = fold.requests_done, fold.requests_total
        fold.finished = True
        return fold

    # ------------------------------------------------------------------- events

    def apply(self, events: Iterable[BenchmarkEvent]) -> FoldChange:
        """Fold a batch of events in order; what changed."""
        change = FoldChange()
        for event in events:
            self._apply(event, change)
        return change

    def _apply(self, event: BenchmarkEvent, change: FoldChange) -> None:
        models = self.result.models
        if isinstance(event, ExchangeLogged):
            self.exchanges.append(event)
            self.exchange_count += 1
            change.exchanges += 1
        elif isinstance(event, BenchmarkStarted):
            endpoints: list[str | None] = list(event.endpoints) or [None] * len(event.models)
            for info, endpoint in zip(event.models, endpoints, strict=True):
                key = row_key(endpoint, info.name)
                if key not in models:
                    models[key] = ModelResult(info=info, endpoint=endpoint)
                    change.models.add(key)
            self.result.warmup_requests = event.warmup_requests
            # a series of steps starts the engine per step: the total counts the
            # requests done before this step and this step's
            before = self.requests_done if self._started else 0
            self.requests_total = before + max(event.total_runs, 1)
            self._started = True
            self._starts += 1
            # a run for a duration plans no measured runs (only its warm-ups): how many
            # it makes is not known beforehand
            known = event.total_runs > event.warmup_requests
            self.step_done, self.step_total = 0, event.total_runs if known else None
            change.header = True
        elif isinstance(event, ModelPhaseChanged):
            key = row_key(event.endpoint, event.model)
            mr = models.get(key)
            if mr is not None and mr.phase is not event.phase:
                mr.phase = event.phase
                change.models.add(key)
        elif isinstance(event, RunFinished):
            key = row_key(event.endpoint, event.record.model)
            mr = models.get(key)
            if mr is not None:
                mr.records.append(event.record)
            self.progress[key] = Progress(event.model_done, event.model_total)
            self.requests_done += 1
            self.step_done += 1
            change.models.add(key)
            change.header = True
        elif isinstance(event, ModelFinished):
            key = row_key(event.endpoint, event.model)
            mr = models.get(key)
            if mr is not None:
                mr.summary = event.summary
                mr.phase = event.phase
                change.models.add(key)
        elif isinstance(event, BenchmarkFinished):
            self.result.cancelled = event.cancelled
            change.header = True

    # ---------------------------------------------------------------------- end

    def finish(
        self,
        final: BenchmarkResult | None,
        *,
        cancel_requested: bool = False,
        error: str | None = None,
    ) -> None:
        """The engine returned ``final`` (or failed with ``error`` and no result).

        The engine's result replaces the mirror. A cancelled benchmark leaves its
        unfinished models ``CANCELLED``; when the engine could not run at all, they are
        ``FAILED`` (nothing of them was measured).
        """
        self.finished = True
        if final is not None:
            self.result = final
        else:
            self.error = error or "the benchmark failed"
        result = self.result
        if result.finished_at is None:
            result.finished_at = datetime.now(UTC)
        if cancel_requested or final is None or result.cancelled:
            result.cancelled = True
            left = ModelPhase.FAILED if final is None else ModelPhase.CANCELLED
            for mr in result.models.values():
                if mr.phase in ACTIVE_PHASES:
                    mr.phase = left

    # ------------------------------------------------------------------ figures

    @property
    def series(self) -> bool:
        """The engine started more than once (a series of steps: one start per step)."""
        return self._starts > 1

    def counts(self) -> tuple[int, int | None]:
        """The requests a progress display counts, done and planned (``None``: not
        known). While it runs: the current start's (a series: the current step's)
        against what it planned; not known for a run for a duration, nor once more
        were done than an open loop's estimate. Once a series is over: every step's
        requests, with nothing planned left to count against; once an open loop for a
        duration is over (not cancelled), what it sent: its total was an estimate (a
        Poisson timetable of 10/s for 8 s sends about 80), "done 75/81" would read as
        unfinished."""
        if self.finished and self.series:
            return self.requests_done, None
        total = self.step_total
        if total is not None and self.step_done > total:
            total = None
        if self.finished and not self.result.cancelled and self._estimated:
            total = None
        return self.step_done, total

    @property
    def _estimated(self) -> bool:
        """The plan's request count is an open loop's estimate (arrivals for a time)."""
        load = self.plan.load
        return load is not None and load.arrival is not None and load.stop.duration_s is not None

    def aggregate_tps(self) -> float | None:
        return aggregate_output_tps(self.result)


def aggregate_output_tps(result: BenchmarkResult) -> float | None:
    """Output tokens of every ok measured run over the window they span (engine clock)."""
    records = [r for m in result.models.values() for r in m.records if not r.warmup and r.ok]
    tokens = sum(r.output_tokens or 0 for r in records)
    if not records or not tokens:
        return None
    window = max(r.finished_at_s for r in records) - min(r.started_at_s for r in records)
    return tokens / window if window > 0 else None


def measured(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Measured (non-warm-up) records in plan order (pass, then prompt)."""
    return sorted(
        (r for r in records if not r.warmup), key=lambda r: (r.pass_index, r.prompt_index)
    )


def is_embedding(mr: ModelResult) -> bool:
    """An embedding model: by its listed workload, or (unknown) by its records."""
    if mr.info.workload is Workload.EMBEDDING:
        return True
    return any(r.latency_s is not None for r in mr.records) and not any(
        r.ttft_s is not None or r.e2e_s is not None for r in mr.records
    )


def live_stats(mr: ModelResult, metric: str) -> Stats | None:
    """The engine's statistics for ``metric`` once it summarised the model, else the
    same rule (ok measured runs) on the runs finished so far."""
    if mr.summary is not None:
        return mr.summary.metrics.get(metric)
    values: list[float] = []
    for rec in measured(mr.records):
        if not rec.ok:
            continue
        value = getattr(rec, metric, None)
        if isinstance(value, int | float):
            values.append(float(value))
    return stats_of(values)


def main_error(mr: ModelResult) -> str | None:
    """The most frequent error of the model's measured runs, as a short kind:
    ``http 403``, ``timeout``, ``connect``... (``None`` when none failed)."""
    counts: dict[str, int] = {}
    for rec in measured(mr.records):
        if rec.ok:
            continue
        label = error_label(rec)
        counts[label] = counts.get(label, 0) + 1
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: kv[1])[0]


def error_label(rec: RunRecord) -> str:
    """One failed run's error kind in a few characters."""
    kind = rec.error_kind or ""
    if rec.status is not None and rec.status >= 400:
        return f"http {rec.status}"
    if kind:
        return kind.replace("_", " ")
    if rec.incomplete:
        return "incomplete"
    return "error"
