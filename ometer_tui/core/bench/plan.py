"""What to run: the benchmark plan, built by a screen or by ``ometer-tui run``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.limits import MAX_CONCURRENCY as MAX_CONCURRENCY
from ometer_tui.core.bench.limits import MAX_PARALLEL_MODELS as MAX_PARALLEL_MODELS
from ometer_tui.core.bench.limits import MAX_WORKERS as MAX_WORKERS
from ometer_tui.core.bench.shard_spec import ShardSpec
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.models import Endpoint, GenerationParams, ModelInfo


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries happen only before the first byte of a response (see metrics.md)."""

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0  # cap on any wait, Retry-After included


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Token buckets; ``None`` means unlimited."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


@dataclass(frozen=True, slots=True)
class Prices:
    """US dollars per million tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0


@dataclass(frozen=True, slots=True)
class BenchmarkPlan:
    endpoint: Endpoint
    models: tuple[ModelInfo, ...]
    prompts: tuple[str, ...] = ("Write one paragraph about the sea.",)
    passes: int = 3
    warmup: int = 1
    concurrency: int = 1  # in-flight requests per model
    parallel_models: int = 1  # models benchmarked at the same time
    params: GenerationParams = field(default_factory=GenerationParams)
    images: tuple[ImageInput, ...] = ()  # sent with every prompt to vision models
    rate_limit: RateLimit = field(default_factory=RateLimit)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    prices: Prices | None = None
    keep_text_chars: int = 2000
    #: use the completion API (/api/generate, /v1/completions) instead of chat
    completion_api: bool = False
    #: open-loop arrivals, ramp-up, stop conditions, datasets, lengths (None: closed loop
    #: over the prompts as before)
    load: LoadSpec | None = None
    #: several endpoints in one benchmark (see :func:`combine_plans`): one single-endpoint
    #: plan each, with its own endpoint's auth, flavour, defaults and rate limits. Empty
    #: for a one-endpoint plan (then ``endpoint`` and ``models`` are the whole plan).
    endpoint_plans: tuple[BenchmarkPlan, ...] = ()
    #: run the endpoints at the same time rather than one after the other
    endpoints_parallel: bool = False
    #: engine workers the load is split across (``--workers``): ``None`` chooses from the
    #: load asked and the machine (self-calibration), 1 is one engine
    workers: int | None = None
    #: run the workers as Ray actors on this cluster (``--ray auto|ADDRESS``); None: local
    ray_address: str | None = None
    #: one worker's part of a plan split across workers (core/bench/shards.py): which
    #: share of the work it sends and the time origin they share; None: the whole plan
    shard: ShardSpec | None = None

    @property
    def runs_per_model(self) -> int:
        """Measured runs per model (warm-up excluded)."""
        return self.passes * len(self.prompts)

    @property
    def parts(self) -> tuple[BenchmarkPlan, ...]:
        """One single-endpoint plan per endpoint (this plan itself when it has one)."""
        return self.endpoint_plans or (self,)

    @property
    def multi_endpoint(self) -> bool:
        """The plan targets several endpoints: its rows are keyed by (endpoint, model)."""
        return len(self.endpoint_plans) > 1

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(part.endpoint for part in self.parts)

    @property
    def planned_rows(self) -> int:
        """(endpoint, model) rows: models on every endpoint that serves them."""
        return sum(len(part.models) for part in self.parts)

    def validate(self) -> list[str]:
        """Problems that make the plan unrunnable, each naming the field (and, for a plan
        on several endpoints, the endpoint)."""
        if self.endpoint_plans:
            return _validate_parts(self.endpoint_plans)
        problems: list[str] = []
        if not self.models:
            problems.append("models: pick at least one model")
        if not self.prompts or not any(p.strip() for p in self.prompts):
            problems.append("prompts: at least one non-empty prompt is needed")
        if self.passes < 1:
            problems.append(f"passes: must be at least 1 (got {self.passes})")
        if self.warmup < 0:
            problems.append(f"warmup: must be 0 or more (got {self.warmup})")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency: must be 1..{MAX_CONCURRENCY} (got {self.concurrency})")
        if not 1 <= self.parallel_models <= MAX_PARALLEL_MODELS:
            problems.append(
                f"parallel_models: must be 1..{MAX_PARALLEL_MODELS} (got {self.parallel_models})"
            )
        mt = self.params.max_tokens
        if mt is not None and mt < 1:
            problems.append(f"max_tokens: must be at least 1 (got {mt})")
        t = self.params.temperature
        if t is not None and not 0.0 <= t <= 2.0:
            problems.append(f"temperature: must be 0..2 (got {t})")
        top_p = self.params.top_p
        if top_p is not None and not 0.0 <= top_p <= 1.0:
            problems.append(f"top_p: must be 0..1 (got {top_p})")
        top_k = self.params.top_k
        if top_k is not None and top_k < 1:
            problems.append(f"top_k: must be at least 1 (got {top_k})")
        for name, value in (
            ("rpm", self.rate_limit.requests_per_minute),
            ("tpm", self.rate_limit.tokens_per_minute),
        ):
            if value is not None and value <= 0:
                problems.append(f"{name}: must be positive (got {value})")
        if self.load is not None:
            problems += self.load.validate()
        if self.workers is not None and not 1 <= self.workers <= MAX_WORKERS:
            problems.append(f"workers: must be 1..{MAX_WORKERS} (got {self.workers})")
        if self.shard is not None:
            problems += self.shard.validate()
        return problems


def _validate_parts(parts: tuple[BenchmarkPlan, ...]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for part in parts:
        name = part.endpoint.name
        if name in seen:
            problems.append(f"endpoints: two endpoints are named {name!r}; names must differ")
        seen.add(name)
        if part.endpoint_plans:
            problems.append(f"{name}: an endpoint's plan cannot itself hold endpoints")
        problems += [f"{name}: {p}" for p in part.validate()]
    return problems


def combine_plans(parts: Sequence[BenchmarkPlan], *, parallel: bool = False) -> BenchmarkPlan:
    """One plan over several endpoints, from one single-endpoint plan each (built by the
    plan builder with that endpoint's defaults). One part is returned unchanged, so a
    one-endpoint benchmark is exactly what it was.

    The combined plan's own fields are the first part's (what a header shows), its
    ``models`` the union of the parts' models by name, in order of first appearance.
    ``parallel``: the endpoints run at the same time (default: one after the other).
    """
    if not parts:
        raise ValueError("combine_plans: no plan given")
    if len(parts) == 1:
        return parts[0]
    union: dict[str, ModelInfo] = {}
    for part in parts:
        for model in part.models:
            union.setdefault(model.name, model)
    return replace(
        parts[0],
        models=tuple(union.values()),
        endpoint_plans=tuple(parts),
        endpoints_parallel=parallel,
    )


def with_all_parts(plan: BenchmarkPlan, **changes: Any) -> BenchmarkPlan:
    """``plan`` with ``changes`` (e.g. ``load=...``) made to it and to every endpoint's part."""
    if not plan.endpoint_plans:
        return replace(plan, **changes)
    parts = tuple(replace(part, **changes) for part in plan.endpoint_plans)
    return replace(plan, **changes, endpoint_plans=parts)
