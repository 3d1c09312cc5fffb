"""What to run: the benchmark plan, built by a screen or by ``ometer-tui run``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.models import Endpoint, GenerationParams, ModelInfo

#: The one home of the plan's limits: ``BenchmarkPlan.validate`` and the settings'
#: validation (``[defaults]``, ``[endpoints.defaults]``) both read them.
MAX_CONCURRENCY = 4096
MAX_PARALLEL_MODELS = 64


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

    @property
    def runs_per_model(self) -> int:
        """Measured runs per model (warm-up excluded)."""
        return self.passes * len(self.prompts)

    def validate(self) -> list[str]:
        """Problems that make the plan unrunnable, each naming the field."""
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
        return problems
