"""What a series of load steps measured: steps, their per-model figures and points for
a chart, knees, the SLO search's answer, and the events a sweep emits.

The data only (no engine): ``result.BenchmarkResult.sweep`` holds a :class:`SweepRecord`,
the exports write it, and ``sweep.SweepRunner`` (which runs the steps) fills it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from ometer_tui.core.bench.events import BenchmarkEvent, ModelPhase
from ometer_tui.core.bench.records import ModelSummary, RunRecord
from ometer_tui.core.bench.repeat import MeanCI, mean_ci
from ometer_tui.core.bench.slo import PercentileCheck, SloFigures, SloTargets

#: The early-stop rule (sweep.py's docstring) and the knee. Saturation: throughput less
#: than 10% above the best earlier step (a knee: within 10% of the best) ...
SATURATION_MIN_GAIN = 0.10
#: ... while TTFT p50 rose more than 20% over the previous step ...
SATURATION_TTFT_RISE = 0.20
#: ... and by at least 5 ms (noise on a fast server is not a rise) ...
SATURATION_TTFT_FLOOR_S = 0.005
#: ... for this many steps in a row.
SATURATION_PATIENCE = 2
#: The error budget of a step: above this fraction failed, the sweep stops.
DEFAULT_MAX_ERROR_RATE = 0.10

StepRole = Literal["step", "anchor", "probe", "repeat"]


class LoadKind(StrEnum):
    CONCURRENCY = "concurrency"
    RATE = "rate"


@dataclass(frozen=True, slots=True)
class StepLoad:
    kind: LoadKind
    value: float

    def label(self) -> str:
        if self.kind is LoadKind.CONCURRENCY:
            return f"concurrency {self.value:g}"
        return f"rate {self.value:.3g}/s"

    def as_dict(self) -> dict[str, Any]:
        value: float | int = int(self.value) if self.kind is LoadKind.CONCURRENCY else self.value
        return {"kind": self.kind.value, "value": value}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class StepPoint:
    """One model's figures at one step, as a chart draws them. Rates per second, times
    in seconds, ``attainment`` and ``error_rate`` as fractions (0..1); ``None`` where
    not measured (no ok request, or no SLO set for the goodput figures).

    ``offered``: the step's load value (streams, or requests/s asked).
    """

    offered: float
    throughput_rps: float | None
    output_tps: float | None
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    e2e_p50_s: float | None
    tpot_p50_s: float | None
    goodput_rps: float | None
    token_goodput_tps: float | None
    attainment: float | None
    error_rate: float | None


#: The figures of :class:`StepPoint` a repeat's confidence interval is given for.
POINT_FIGURES: tuple[str, ...] = (
    "throughput_rps",
    "output_tps",
    "ttft_p50_s",
    "ttft_p99_s",
    "e2e_p50_s",
    "tpot_p50_s",
    "goodput_rps",
    "token_goodput_tps",
    "attainment",
    "error_rate",
)


@dataclass(slots=True)
class ModelStep:
    """One model's part of a step: its summary, SLO figures and records."""

    model: str
    summary: ModelSummary
    phase: ModelPhase
    records: list[RunRecord] = field(default_factory=list)
    slo: SloFigures | None = None
    check: PercentileCheck | None = None

    def point(self, offered: float) -> StepPoint:
        s = self.summary
        ttft = s.metrics.get("ttft_s")
        e2e = s.metrics.get("e2e_s")
        tpot = s.metrics.get("tpot_s")
        slo = self.slo
        return StepPoint(
            offered=offered,
            throughput_rps=s.request_throughput,
            output_tps=s.output_tps_aggregate,
            ttft_p50_s=None if ttft is None else ttft.p50,
            ttft_p99_s=None if ttft is None else ttft.p99,
            e2e_p50_s=None if e2e is None else e2e.p50,
            tpot_p50_s=None if tpot is None else tpot.p50,
            goodput_rps=None if slo is None else slo.goodput_rps,
            token_goodput_tps=None if slo is None else slo.token_goodput_tps,
            attainment=None if slo is None else slo.attainment,
            error_rate=s.errors / s.runs if s.runs else None,
        )


@dataclass(slots=True)
class StepResult:
    index: int  # 0-based position of the load in the series (repeats share it)
    load: StepLoad
    repeat: int  # 0-based
    role: StepRole
    started_s: float  # seconds from the sweep's start
    duration_s: float
    models: list[ModelStep] = field(default_factory=list)
    cancelled: bool = False
    #: a sweep's verdict on this load (set on its last repeat): the models saturated
    #: here, and why the sweep stopped after it (saturation, error budget), if it did
    saturated: tuple[str, ...] = ()
    stop_reason: str | None = None

    def points(self) -> dict[str, StepPoint]:
        return {m.model: m.point(self.load.value) for m in self.models}

    @property
    def meets_slo(self) -> bool | None:
        """Every model's percentile check passed (``None`` without SLOs)."""
        checks = [m.check for m in self.models]
        if not checks or any(c is None for c in checks):
            return None
        return all(c.ok for c in checks if c is not None)


@dataclass(frozen=True, slots=True)
class Knee:
    """A model's knee (see :func:`knees`): the step, its load and throughput, and the
    highest throughput of any step."""

    index: int
    load: StepLoad
    throughput_rps: float
    max_throughput_rps: float

    def describe(self) -> str:
        return (
            f"knee at {self.load.label()}: {self.throughput_rps:.3g} req/s "
            f"(highest {self.max_throughput_rps:.3g} req/s)"
        )


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """The SLO search's answer: ``best`` (None: even the first probe missed)."""

    kind: LoadKind
    best: float | None
    missed: float | None  # the lowest load seen missing (the bracket's top)
    precision: float  # relative for rates; 1 (stream) for concurrency
    percentile: float

    def describe(self) -> str:
        unit = " requests/s" if self.kind is LoadKind.RATE else " streams"
        if self.best is None:
            return f"no {self.kind.value} meets the SLOs (the first probe missed)"
        above = "" if self.missed is None else f" ({self.missed:.4g}{unit} missed)"
        prec = f"{self.precision:.0%}" if self.kind is LoadKind.RATE else "1 stream"
        return (
            f"max {self.kind.value} meeting the SLOs at p{self.percentile:g}: "
            f"{self.best:.4g}{unit}{above}; precision {prec}"
        )


@dataclass(slots=True)
class SweepRecord:
    """A series of steps and what came of it (``BenchmarkResult.sweep``)."""

    mode: Literal["sweep", "search", "repeat"]
    kind: LoadKind
    spec: str  # the sweep as given (``concurrency=1,2,4``), ``find-max-rate``...
    slo: SloTargets
    repeat: int
    steps: list[StepResult] = field(default_factory=list)
    stop_reason: str | None = None
    knees: dict[str, Knee] = field(default_factory=dict)
    search: SearchOutcome | None = None

    def indices(self) -> list[int]:
        return sorted({s.index for s in self.steps})

    def repeat_stats(self) -> list[tuple[int, StepLoad, str, dict[str, MeanCI]]]:
        """Per step index and model, each :data:`POINT_FIGURES` figure's mean and 95% CI
        across the repeats: ``(index, load, model, {figure: MeanCI})``."""
        out: list[tuple[int, StepLoad, str, dict[str, MeanCI]]] = []
        for index in self.indices():
            steps = [s for s in self.steps if s.index == index and not s.cancelled]
            if not steps:
                continue
            models = list(dict.fromkeys(m.model for s in steps for m in s.models))
            for model in models:
                points = [s.points()[model] for s in steps if model in s.points()]
                figures: dict[str, MeanCI] = {}
                for name in POINT_FIGURES:
                    ci = mean_ci(getattr(p, name) for p in points)
                    if ci is not None:
                        figures[name] = ci
                out.append((index, steps[0].load, model, figures))
        return out

    @property
    def single_run(self) -> bool:
        """One run judged by SLOs (SLOs without a sweep, a search or repeats: see
        ``sweep.single_run_record``), shown as a plain run's SLO rows."""
        return (
            self.mode == "repeat"
            and self.repeat == 1
            and not self.slo.empty
            and len(self.indices()) == 1
        )

    @property
    def any_meets_slo(self) -> bool | None:
        verdicts = [s.meets_slo for s in self.steps]
        if self.slo.empty or not verdicts:
            return None
        return any(v is True for v in verdicts)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class StepStarted:
    index: int
    repeat: int
    role: StepRole
    load: StepLoad
    planned: int | None  # steps planned in all (None: not known ahead, auto or search)


@dataclass(frozen=True, slots=True)
class StepFinished:
    step: StepResult
    points: dict[str, StepPoint]  # model -> its figures
    saturated: tuple[str, ...] = ()  # models judged saturated at this step (a sweep)
    verdict: str | None = None  # a probe's SLO verdict, or why the sweep stops here


@dataclass(frozen=True, slots=True)
class SweepFinished:
    record: SweepRecord
    cancelled: bool


SweepEvent = StepStarted | StepFinished | SweepFinished
SweepSink = Callable[[BenchmarkEvent | SweepEvent], None]


def knees(steps: Sequence[StepResult]) -> dict[str, Knee]:
    """Each model's knee: of the steps (anchors and probes included) whose throughput is
    within :data:`SATURATION_MIN_GAIN` of the model's highest, the one with the lowest
    load. More load than the knee's buys less than 10% more requests per second."""
    out: dict[str, Knee] = {}
    best: dict[str, float] = {}
    done = [s for s in steps if not s.cancelled]
    for step in done:
        for m in step.models:
            if m.summary.request_throughput is not None:
                best[m.model] = max(best.get(m.model, 0.0), m.summary.request_throughput)
    by_load = sorted(done, key=lambda s: (s.load.kind is LoadKind.RATE, s.load.value))
    for step in by_load:
        for m in step.models:
            rps = m.summary.request_throughput
            if rps is None or m.model in out:
                continue
            if rps * (1 + SATURATION_MIN_GAIN) >= best[m.model]:
                out[m.model] = Knee(step.index, step.load, rps, best[m.model])
    return out
