"""When open-loop requests are due: constant, Poisson or gamma arrivals, with ramp-up.

Arrival times are an absolute timetable (seconds from the start of the load), computed
before anything is sent, so a slow server can never slow the test down.

Gamma arrivals follow vLLM's ``--burstiness``: the gaps are gamma distributed with shape
``burstiness`` and mean ``1 / rate``. Burstiness 1 is a Poisson process; below 1 the
gaps are more variable (bursts and lulls), above 1 more regular. The gaps' coefficient of
variation is ``1 / sqrt(burstiness)``.

Ramp-up: the rate rises linearly from 0 to ``rate`` over ``ramp_up_s`` seconds. The
timetable is that of a unit-rate process mapped through the inverse of the cumulative
rate ``L(t) = integral of r(s) ds``, so the arrival law (constant, Poisson, gamma) keeps
its shape while the rate grows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from ometer_tui.core.bench.workloads.errors import WorkloadError


class ArrivalKind(StrEnum):
    CONSTANT = "constant"
    POISSON = "poisson"
    GAMMA = "gamma"


@dataclass(frozen=True, slots=True)
class ArrivalSpec:
    """An open-loop arrival process: ``rate`` requests per second."""

    rate: float
    kind: ArrivalKind = ArrivalKind.POISSON
    burstiness: float = 1.0

    def validate(self) -> list[str]:
        problems: list[str] = []
        if not (self.rate > 0 and math.isfinite(self.rate)):
            problems.append(f"--rate: must be more than 0 requests/s (got {self.rate:g})")
        if not (self.burstiness > 0 and math.isfinite(self.burstiness)):
            problems.append(f"--burstiness: must be more than 0 (got {self.burstiness:g})")
        return problems


def unit_gaps(kind: ArrivalKind, burstiness: float, rng: random.Random) -> Iterator[float]:
    """Gaps with mean 1 (multiply by 1/rate for seconds)."""
    if kind is ArrivalKind.CONSTANT:
        while True:
            yield 1.0
    if kind is ArrivalKind.POISSON or (kind is ArrivalKind.GAMMA and burstiness == 1.0):
        expo = rng.expovariate
        while True:
            yield expo(1.0)
    gamma = rng.gammavariate
    shape, scale = burstiness, 1.0 / burstiness
    while True:
        yield gamma(shape, scale)


def _time_of(work: float, rate: float, ramp_s: float) -> float:
    """The time at which the cumulative rate reaches ``work`` (inverse of L)."""
    if ramp_s <= 0:
        return work / rate
    ramp_work = rate * ramp_s / 2.0  # L(ramp_s)
    if work < ramp_work:
        return math.sqrt(2.0 * ramp_s * work / rate)
    return ramp_s + (work - ramp_work) / rate


def arrival_times(spec: ArrivalSpec, seed: int | None, ramp_up_s: float = 0.0) -> Iterator[float]:
    """The timetable: seconds from the start, the first at 0, non-decreasing, endless.

    With ``ramp_up_s`` the rate rises linearly from 0 to ``spec.rate`` over that time."""
    problems = spec.validate()
    if not (ramp_up_s >= 0 and math.isfinite(ramp_up_s)):
        problems.append(f"--ramp-up: must be 0 or more seconds (got {ramp_up_s:g})")
    if problems:
        raise WorkloadError(problems[0])
    rng = random.Random(seed)
    work = 0.0
    yield 0.0
    for gap in unit_gaps(spec.kind, spec.burstiness, rng):
        work += gap
        yield _time_of(work, spec.rate, ramp_up_s)


def worker_start_times(concurrency: int, ramp_up_s: float) -> list[float]:
    """Closed loop with ramp-up: worker ``k`` of ``n`` starts at ``ramp_up_s * k / n``, so
    the number of streams rises linearly from 1 to ``n`` over ``ramp_up_s`` seconds."""
    if ramp_up_s <= 0:
        return [0.0] * concurrency
    return [ramp_up_s * k / concurrency for k in range(concurrency)]
