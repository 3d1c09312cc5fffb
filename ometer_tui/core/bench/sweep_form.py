"""A sweep, SLOs and repeats as a form gives them (the dashboard's run panel): three texts,
parsed with the same rules as the headless flags (``parse_sweep``, ``parse_slo``), each
problem naming its field (``sweep``, ``slo``, ``repeat``).

The rule of when a run goes by steps is the headless one (:func:`goes_by_steps`): a
sweep, repeats, or any SLO (SLOs alone make the run one step, so a single run gets
attainment and goodput too).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ometer_tui.core.bench.events import BenchmarkEvent, BenchmarkStarted
from ometer_tui.core.bench.slo import SloError, SloTargets, parse_slo
from ometer_tui.core.bench.sweep import (
    DEFAULT_STEP_DURATION_S,
    SweepError,
    SweepJob,
    SweepSpec,
    parse_sweep,
)

__all__ = ["StepsRequest", "first_start_only", "goes_by_steps", "slo_text", "steps_from_texts"]

#: repeats a form accepts (each a full run of the plan, or of every step)
MAX_REPEAT = 100


@dataclass(frozen=True, slots=True)
class StepsRequest:
    """What a :class:`~ometer_tui.core.bench.sweep.SweepRunner` needs beside the plan."""

    job: SweepJob
    slo: SloTargets
    default_duration_s: float = DEFAULT_STEP_DURATION_S

    def describe(self) -> str:
        """``concurrency=1,2,4, SLOs ttft <= 500 ms at p90``."""
        bits = [self.job.describe()]
        if self.job.repeat > 1 and self.job.sweep is not None:
            bits.append(f"{self.job.repeat} repeats a step")
        if not self.slo.empty:
            bits.append(f"SLOs {self.slo.describe()} at p{self.slo.percentile:g}")
        return ", ".join(bits)


def goes_by_steps(job: SweepJob, slo: SloTargets) -> bool:
    """A sweep, a search, repeats or SLOs: the run is a series of steps (else a plain
    run, as before)."""
    return job.sweep is not None or job.find_max is not None or job.repeat > 1 or not slo.empty


def slo_text(targets: SloTargets) -> str:
    """``ttft:500 tpot:50``: the targets as a form field shows them."""
    return " ".join(f"{name}:{ms:g}" for name, ms in targets.limits_ms)


def steps_from_texts(
    sweep: str, slo: str, repeat: str, *, percentile: float | None = None
) -> tuple[StepsRequest | None, list[str]]:
    """The request the three fields ask for (``None``: a plain run) and the problems, each
    naming its field. ``slo``: ``NAME:MS`` items separated by spaces or commas (the
    whole set: an empty field is no SLO); ``percentile``: the settings' (default 90)."""
    problems: list[str] = []
    spec: SweepSpec | None = None
    if sweep.strip():
        try:
            spec = parse_sweep(sweep.strip(), flag="sweep")
        except SweepError as exc:
            problems.append(str(exc))
    targets = SloTargets() if percentile is None else SloTargets((), percentile)
    for item in re.split(r"[\s,]+", slo.strip()):
        if not item:
            continue
        try:
            name, ms = parse_slo(item, flag="slo")
        except SloError as exc:
            problems.append(str(exc))
            continue
        targets = targets.with_limit(name, ms)
    times = 1
    if repeat.strip():
        try:
            times = int(repeat.strip())
        except ValueError:
            problems.append(f"repeat: {repeat.strip()!r} is not a whole number")
        else:
            if not 1 <= times <= MAX_REPEAT:
                problems.append(f"repeat: must be from 1 to {MAX_REPEAT}, got {times}")
    if problems:
        return None, problems
    job = SweepJob(sweep=spec, repeat=times)
    if not goes_by_steps(job, targets):
        return None, []
    return StepsRequest(job, targets), []


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
