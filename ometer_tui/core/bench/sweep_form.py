"""A sweep, the SLO search, SLOs and repeats as a form gives them (the dashboard's run
panel): field texts parsed with the same rules as the headless flags (``parse_sweep``,
``parse_slo``, the ranges of ``--slo-percentile``, ``--search-precision``,
``--step-duration``, ``--sweep-error-budget``), each problem one line naming its field
(:data:`STEPS_KEYS`).

When a dashboard run goes by steps (:attr:`StepsRequest.series`): a sweep, a search or
repeats. SLOs alone do not make a series there: a plain run gets its attainment and
goodput per model (``slo.slo_figures``) and the SLOs travel beside the plan in the
:class:`StepsRequest`. (Headless, ``--slo`` alone still runs one step: its exit code
judges the SLOs.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.slo import SloError, SloTargets, parse_percentile, parse_slo
from ometer_tui.core.bench.steps import (
    DEFAULT_MAX_ERROR_RATE,
    LoadKind,
    StepResult,
    SweepRecord,
)
from ometer_tui.core.bench.sweep import (
    DEFAULT_PRECISION,
    DEFAULT_STEP_DURATION_S,
    SweepError,
    SweepJob,
    SweepSpec,
    parse_sweep,
    plan_load,
)

__all__ = [
    "FORM_NAMES",
    "STEPS_KEYS",
    "StepsRequest",
    "combination_problems",
    "first_start_only",
    "goes_by_steps",
    "slo_text",
    "steps_from_fields",
    "steps_from_texts",
]

#: repeats a form accepts (each a full run of the plan, or of every step)
MAX_REPEAT = 100
#: the form's fields, in the order the run panel shows them
STEPS_KEYS: tuple[str, ...] = (
    "sweep",
    "search",
    "precision",
    "slo",
    "percentile",
    "repeat",
    "step_duration",
    "error_budget",
    "early_stop",
)
#: ``search`` texts: what each searches for
SEARCHES: dict[str, LoadKind] = {"rate": LoadKind.RATE, "concurrency": LoadKind.CONCURRENCY}
#: ``early_stop`` texts (a checkbox's two states; empty: on)
EARLY_STOP = {"": True, "on": True, "off": False}


@dataclass(frozen=True, slots=True)
class StepsRequest:
    """What a run needs beside the plan: its SLOs, and the job of a
    :class:`~ometer_tui.core.bench.sweep.SweepRunner` when :attr:`series`."""

    job: SweepJob
    slo: SloTargets
    default_duration_s: float = DEFAULT_STEP_DURATION_S

    @property
    def series(self) -> bool:
        """A sweep, a search or repeats: the run is a series of steps (else a plain run,
        with SLOs)."""
        return goes_by_steps(self.job)

    def describe(self) -> str:
        """``concurrency=1,2,4, SLOs ttft <= 500 ms at p90``."""
        bits = [self.job.describe()] if self.series else []
        if self.job.repeat > 1 and self.job.sweep is not None:
            bits.append(f"{self.job.repeat} repeats a step")
        if not self.slo.empty:
            bits.append(f"SLOs {self.slo.describe()} at p{self.slo.percentile:g}")
        return ", ".join(bits)

    def live_record(self, plan: BenchmarkPlan, steps: Sequence[StepResult]) -> SweepRecord:
        """The series as far as ``steps`` (the steps finished so far) go: what the step
        table shows while it runs (the runner's own record comes at the end)."""
        job = self.job
        if job.find_max is not None:
            kind, mode, spec = job.find_max, "search", job.describe()
        elif job.sweep is not None:
            kind, mode, spec = job.sweep.kind, "sweep", job.sweep.describe()
        else:
            kind, mode, spec = plan_load(plan).kind, "repeat", plan_load(plan).label()
        repeat = 1 if job.find_max is not None else job.repeat
        return SweepRecord(mode, kind, spec, self.slo, repeat, list(steps))  # type: ignore[arg-type]


def goes_by_steps(job: SweepJob, slo: SloTargets | None = None) -> bool:
    """A sweep, a search or repeats: the dashboard runs a series of steps (else a plain
    run, SLOs or not; ``slo`` is not consulted)."""
    del slo
    return job.sweep is not None or job.find_max is not None or job.repeat > 1


def slo_text(targets: SloTargets) -> str:
    """``ttft:500 tpot:50``: the targets as a form field shows them."""
    return " ".join(f"{name}:{ms:g}" for name, ms in targets.limits_ms)


def _number(
    key: str, text: str, problems: list[str], *, high: float, whole: bool = False
) -> float | None:
    """A number more than 0 and at most ``high`` (``None``: empty, or a problem)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(int(text)) if whole else float(text)
    except ValueError:
        problems.append(f"{key}: {text!r} is not {'a whole number' if whole else 'a number'}")
        return None
    if not (math.isfinite(value) and 0 < value <= high):
        top = "" if math.isinf(high) else f" and at most {high:g}"
        problems.append(f"{key}: must be more than 0{top}, got {text}")
        return None
    return value


def steps_from_fields(
    fields: Mapping[str, str], *, percentile: float | None = None
) -> tuple[StepsRequest | None, list[str]]:
    """The request the fields (:data:`STEPS_KEYS`; a missing one is empty) ask for
    (``None``: a plain run without SLOs) and the problems, each one line naming its
    field. ``slo``: ``NAME:MS`` items separated by spaces or commas (the whole set);
    ``percentile`` field empty: the ``percentile`` given (the settings'), else 90;
    ``search``: ``rate`` or ``concurrency`` (the highest meeting the SLOs);
    ``early_stop``: ``on`` (or empty) / ``off``. A field that does not apply to what
    the others ask (a precision without a rate search...) is refused, as its flag is."""
    text = {k: fields.get(k, "").strip() for k in STEPS_KEYS}
    problems: list[str] = []
    spec: SweepSpec | None = None
    if text["sweep"]:
        try:
            spec = parse_sweep(text["sweep"], flag="sweep")
        except SweepError as exc:
            problems.append(str(exc))
    find_max: LoadKind | None = None
    if text["search"]:
        find_max = SEARCHES.get(text["search"].lower().removeprefix("find-max-"))
        if find_max is None:
            problems.append(f"search: expected rate or concurrency, got {text['search']!r}")
    targets = SloTargets() if percentile is None else SloTargets((), percentile)
    if text["percentile"]:
        try:
            targets = SloTargets((), parse_percentile(float(text["percentile"]), "percentile"))
        except ValueError as exc:
            problems.append(
                str(exc)
                if isinstance(exc, SloError)
                else f"percentile: {text['percentile']!r} is not a number"
            )
    for item in re.split(r"[\s,]+", text["slo"]):
        if not item:
            continue
        try:
            name, ms = parse_slo(item, flag="slo")
        except SloError as exc:
            problems.append(str(exc))
            continue
        targets = targets.with_limit(name, ms)
    times = 1
    if text["repeat"]:
        try:
            times = int(text["repeat"])
        except ValueError:
            problems.append(f"repeat: {text['repeat']!r} is not a whole number")
        else:
            if not 1 <= times <= MAX_REPEAT:
                problems.append(f"repeat: must be from 1 to {MAX_REPEAT}, got {times}")
    precision = _number("precision", text["precision"], problems, high=1.0)
    step_s = _number("step_duration", text["step_duration"], problems, high=math.inf)
    budget = _number("error_budget", text["error_budget"], problems, high=1.0)
    early = EARLY_STOP.get(text["early_stop"].lower())
    if early is None:
        problems.append(f"early_stop: expected on or off, got {text['early_stop']!r}")
    given = {k: bool(text[k]) for k in STEPS_KEYS}
    given["early_stop"] = text["early_stop"].lower() == "off"
    problems += combination_problems(given, find_max, targets, times)
    if problems:
        return None, problems
    if spec is not None:
        spec = replace(
            spec, max_error_rate=budget or DEFAULT_MAX_ERROR_RATE, early_stop=early is not False
        )
    job = SweepJob(
        sweep=spec, find_max=find_max, precision=precision or DEFAULT_PRECISION, repeat=times
    )
    if not goes_by_steps(job) and targets.empty:
        return None, []
    return StepsRequest(job, targets, step_s or DEFAULT_STEP_DURATION_S), []


#: How the form names what :func:`combination_problems` speaks of (the headless command
#: names the flags instead: ``sweep_args.py``).
FORM_NAMES: dict[str, str] = {
    "sweep": "sweep",
    "search": "search",
    "search_rate": "search rate",
    "search_any": "search",
    "slo": "slo (ttft:500...)",
    "repeat": "repeat",
    "precision": "precision",
    "step_duration": "step_duration",
    "error_budget": "error_budget",
    "early_stop": "early_stop",
}


def combination_problems(
    given: Mapping[str, bool],
    find_max: LoadKind | None,
    slo: SloTargets,
    repeat: int,
    names: Mapping[str, str] = FORM_NAMES,
) -> list[str]:
    """The rules of how a series' options go together, the same for the run panel and
    the headless flags, each problem one line in ``names``' words. ``given``: whether
    ``sweep``, ``search``, ``precision``, ``step_duration``, ``error_budget`` and
    ``early_stop`` (turned off) were given."""
    n = names.__getitem__
    problems: list[str] = []
    sweeping, searching = given.get("sweep", False), given.get("search", False)
    if searching and sweeping:
        problems.append(f"{n('search')} and {n('sweep')}: give one, not both")
    if searching and find_max is not None and slo.empty:
        problems.append(f"{n('search')}: give the targets with {n('slo')}")
    if searching and repeat > 1:
        problems.append(f"{n('repeat')}: not with {n('search')} (each probe runs once)")
    if given.get("precision") and find_max is not LoadKind.RATE:
        problems.append(f"{n('precision')}: applies to {n('search_rate')}")
    for key in ("error_budget", "early_stop"):
        if given.get(key) and not sweeping:
            problems.append(f"{n(key)}: applies to {n('sweep')}")
    if given.get("step_duration") and not (sweeping or searching):
        problems.append(f"{n('step_duration')}: applies to {n('sweep')} and {n('search_any')}")
    return problems


def steps_from_texts(
    sweep: str, slo: str, repeat: str, *, percentile: float | None = None
) -> tuple[StepsRequest | None, list[str]]:
    """:func:`steps_from_fields` of the three first fields alone."""
    return steps_from_fields({"sweep": sweep, "slo": slo, "repeat": repeat}, percentile=percentile)


def first_start_only(
    sink: Callable[[BenchmarkEvent], None],
) -> Callable[[BenchmarkEvent], None]:
    """``sink`` with only the first ``BenchmarkStarted`` (each step starts the engine
    again): server telemetry's clock origin stays the series' start."""
    seen = False

    def forward(event: BenchmarkEvent) -> None:
        nonlocal seen
        if isinstance(event, BenchmarkStarted):
            if seen:
                return
            seen = True
        sink(event)

    return forward
