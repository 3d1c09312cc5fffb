"""``LoadSpec``: the one description of a load a plan carries (``BenchmarkPlan.load``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ometer_tui.core.bench.workloads.arrivals import ArrivalSpec
from ometer_tui.core.bench.workloads.datasets import Dataset
from ometer_tui.core.bench.workloads.lengths import LengthSpec, Pairs, shortest
from ometer_tui.core.bench.workloads.stop import StopConditions

#: At most this many distinct requests are prepared per model; a longer load reuses
#: them in order (prefix caches may then hit: the README says so).
MAX_PREPARED = 4096
MAX_TURNS = 100


def prefix_problem(
    prefix: int | None,
    input_tokens: LengthSpec | None,
    names: tuple[str, str] = ("--shared-prefix", "--input-tokens"),
) -> str | None:
    """A shared prefix no shorter than the shortest prompt asked (``--input-tokens`` is
    the whole prompt, the prefix included; a 200-token prefix in 100-token prompts sent
    235-token prompts, silently); ``names``: how the two are called (flags, fields)."""
    if not prefix or input_tokens is None:
        return None
    least = shortest(input_tokens)
    if least > prefix:
        return None
    return (
        f"{names[0]}: {prefix} tokens is not shorter than the shortest prompt {names[1]} "
        f"asks ({least} tokens: the whole prompt, the prefix included); ask for longer "
        "prompts or a shorter prefix"
    )


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """How a load is shaped and what it sends.

    ``arrival`` set: open loop (requests on a timetable, at most ``max_concurrency`` in
    flight when given). ``arrival`` None: closed loop with the plan's concurrency, its
    streams started over ``ramp_up_s``. What is sent: ``dataset`` prompts, or synthetic
    prompts of ``input_tokens`` (else the plan's prompts), answers of ``output_tokens``,
    behind a ``shared_prefix_tokens`` prefix, over ``turns`` turns per conversation.
    """

    arrival: ArrivalSpec | None = None
    max_concurrency: int | None = None
    ramp_up_s: float = 0.0
    stop: StopConditions = field(default_factory=StopConditions)
    dataset: Dataset | None = None
    input_tokens: LengthSpec | None = None
    output_tokens: LengthSpec | None = None
    shared_prefix_tokens: int = 0
    turns: int = 1
    seed: int = 0

    @property
    def open_loop(self) -> bool:
        return self.arrival is not None

    @property
    def synthetic(self) -> bool:
        return self.dataset is None and self.input_tokens is not None

    def brief(self) -> str:
        """A few words for a header: ``open 10/s, 60 s``, ``closed, 100 req``."""
        parts = [f"open {self.arrival.rate:g}/s" if self.arrival is not None else "closed"]
        if self.stop.duration_s is not None:
            parts.append(f"{self.stop.duration_s:g} s")
        if self.stop.max_requests is not None:
            parts.append(f"{self.stop.max_requests} req")
        return ", ".join(parts)

    def expected_requests(self) -> int | None:
        """How many requests the load sends, where that is known beforehand."""
        stop = self.stop
        counts: list[int] = []
        if stop.max_requests is not None:
            counts.append(stop.max_requests)
        if stop.duration_s is not None and self.arrival is not None:
            # the ramp sends half as many as the full rate would over its time
            full = max(0.0, stop.duration_s - self.ramp_up_s / 2)
            counts.append(max(1, round(self.arrival.rate * full)))
        return min(counts) if counts else None

    def validate(self) -> list[str]:
        problems: list[str] = []
        if self.arrival is not None:
            problems += self.arrival.validate()
        problems += self.stop.validate()
        if not self.stop.bounded:
            problems.append("--requests or --duration: a load needs one to know when to stop")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            problems.append(f"--max-concurrency: must be at least 1 (got {self.max_concurrency})")
        if not self.ramp_up_s >= 0:
            problems.append(f"--ramp-up: must be 0 or more seconds (got {self.ramp_up_s:g})")
        if self.shared_prefix_tokens < 0:
            problems.append(
                f"--shared-prefix: must be 0 or more tokens (got {self.shared_prefix_tokens})"
            )
        problem = prefix_problem(self.shared_prefix_tokens, self.input_tokens)
        if problem is not None:
            problems.append(problem)
        if not 1 <= self.turns <= MAX_TURNS:
            problems.append(f"--turns: must be 1..{MAX_TURNS} (got {self.turns})")
        if self.dataset is not None and self.input_tokens is not None:
            problems.append("--dataset and --input-tokens: give one, not both")
        if isinstance(self.output_tokens, Pairs):
            problems.append("--output-tokens: pairs: belongs in --input-tokens")
        if isinstance(self.input_tokens, Pairs) and self.output_tokens is not None:
            problems.append(
                "--input-tokens pairs: and --output-tokens: give the outputs in the pairs only"
            )
        return problems
