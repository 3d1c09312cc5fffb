"""Prometheus text (``/metrics``): the names we know, parsed with prometheus_client.

Only the lines of the metrics we map are handed to the parser (a vLLM page has hundreds
of series we never show), so a poll costs little. Names follow each server's docs:
vLLM (``vllm:*``), SGLang (``sglang:*``), TGI (``tgi_*``) and llama.cpp
(``llamacpp:*``). A counter's ``_total`` suffix is ignored, as prometheus_client does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from prometheus_client.parser import text_string_to_metric_families


class Kind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"  # recorded as a rate per second between samples
    HISTOGRAM = "histogram"  # recorded as the mean per interval; percentiles over the run


@dataclass(frozen=True, slots=True)
class Known:
    """One thing we show, and the names servers publish it under (first found wins)."""

    key: str
    kind: Kind
    unit: str
    names: tuple[str, ...]
    scale: float = 1.0  # e.g. a 0-1 ratio shown as %


KNOWN: tuple[Known, ...] = (
    Known(
        "requests_running",
        Kind.GAUGE,
        "requests",
        (
            "vllm:num_requests_running",
            "sglang:num_running_reqs",
            "tgi_batch_current_size",
            "llamacpp:requests_processing",
        ),
    ),
    Known(
        "requests_waiting",
        Kind.GAUGE,
        "requests",
        (
            "vllm:num_requests_waiting",
            "sglang:num_queue_reqs",
            "tgi_queue_size",
            "llamacpp:requests_deferred",
        ),
    ),
    Known(
        "kv_cache_usage",
        Kind.GAUGE,
        "%",
        (
            "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc",
            "sglang:token_usage",
            "llamacpp:kv_cache_usage_ratio",
        ),
        scale=100.0,
    ),
    Known(
        "prefix_cache_hit_rate",
        Kind.GAUGE,
        "%",
        ("vllm:gpu_prefix_cache_hit_rate", "sglang:cache_hit_rate"),
        scale=100.0,
    ),
    Known(
        "prefix_cache_hits",
        Kind.COUNTER,
        "tok/s",
        ("vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits"),
    ),
    Known(
        "prefix_cache_queries",
        Kind.COUNTER,
        "tok/s",
        ("vllm:prefix_cache_queries", "vllm:gpu_prefix_cache_queries"),
    ),
    Known("preemptions", Kind.COUNTER, "1/s", ("vllm:num_preemptions",)),
    Known(
        "generation_tokens",
        Kind.COUNTER,
        "tok/s",
        ("vllm:generation_tokens", "sglang:generation_tokens", "llamacpp:tokens_predicted"),
    ),
    Known(
        "prompt_tokens",
        Kind.COUNTER,
        "tok/s",
        ("vllm:prompt_tokens", "sglang:prompt_tokens", "llamacpp:prompt_tokens"),
    ),
    Known("prompt_tokens_cached", Kind.COUNTER, "tok/s", ("llamacpp:prompt_tokens_cached",)),
    Known("decode_calls", Kind.COUNTER, "1/s", ("llamacpp:n_decode",)),
    Known("busy_slots_per_decode", Kind.GAUGE, "slots", ("llamacpp:n_busy_slots_per_decode",)),
    Known(
        "server_ttft",
        Kind.HISTOGRAM,
        "s",
        ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"),
    ),
    Known(
        "server_itl",
        Kind.HISTOGRAM,
        "s",
        (
            "vllm:inter_token_latency_seconds",
            "vllm:time_per_output_token_seconds",
            "sglang:inter_token_latency_seconds",
            "sglang:time_per_output_token_seconds",
            "tgi_request_mean_time_per_token_duration",
        ),
    ),
    Known(
        "server_e2e",
        Kind.HISTOGRAM,
        "s",
        (
            "vllm:e2e_request_latency_seconds",
            "sglang:e2e_request_latency_seconds",
            "tgi_request_duration",
        ),
    ),
    Known(
        "server_queue",
        Kind.HISTOGRAM,
        "s",
        (
            "vllm:request_queue_time_seconds",
            "sglang:queue_time_seconds",
            "tgi_request_queue_duration",
        ),
    ),
)

BY_KEY: dict[str, Known] = {k.key: k for k in KNOWN}
_WANTED: frozenset[str] = frozenset(name for k in KNOWN for name in k.names)
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")
#: labels that name the model a series is about (vLLM, SGLang)
MODEL_LABELS = ("model_name", "model")


class MalformedMetrics(ValueError):
    """The text is not Prometheus exposition format."""


@dataclass(slots=True)
class Histogram:
    """Cumulative buckets (upper bound -> count), with the sum and the count."""

    buckets: dict[float, float] = field(default_factory=dict)
    sum: float = 0.0
    count: float = 0.0

    def add(self, other: Histogram) -> None:
        for le, n in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + n
        self.sum += other.sum
        self.count += other.count

    def minus(self, earlier: Histogram | None) -> Histogram:
        """What was observed since ``earlier`` (the whole of it after a counter reset)."""
        if earlier is None or self.count < earlier.count:
            return Histogram(dict(self.buckets), self.sum, self.count)
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.sum - earlier.sum,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float | None:
        """Prometheus' ``histogram_quantile``: linear within the bucket holding rank q."""
        if self.count <= 0 or not self.buckets:
            return None
        bounds = sorted(self.buckets)
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le in bounds:
            n = self.buckets[le]
            if n >= rank:
                if math.isinf(le):
                    return lower
                if n == below:
                    return le
                return lower + (le - lower) * (rank - below) / (n - below)
            lower, below = le, n
        return lower


@dataclass(slots=True)
class Scrape:
    """The known values of one ``/metrics`` page, labels folded.

    ``names`` maps each key found to the server's own name for it.
    ``histograms`` are keyed by (key, model label or "").
    """

    gauges: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    #: known families declared on the page, with or without samples yet (a fresh vLLM
    #: or the demo lists its histograms before the first request labels them)
    declared: set[str] = field(default_factory=set)


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _line_name(line: str) -> str:
    if line.startswith("#"):
        parts = line.split(None, 3)
        return parts[2] if len(parts) > 2 else ""
    end = len(line)
    for stop in ("{", " ", "\t"):
        i = line.find(stop)
        if i != -1:
            end = min(end, i)
    return line[:end]


def known_lines(text: str) -> str:
    """Only the lines (samples, HELP, TYPE) of metrics in :data:`KNOWN`."""
    kept = []
    for line in text.splitlines():
        name = _line_name(line)
        # ``_created`` (prometheus_client's creation times) would pass for the metric
        if line and not name.endswith("_created") and (_base(name) in _WANTED or name in _WANTED):
            kept.append(line)
    return "\n".join(kept) + "\n" if kept else ""


def parse(text: str) -> Scrape:
    """The known metrics of a Prometheus text page; raises :class:`MalformedMetrics`."""
    families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]] = {}
    try:
        for family in text_string_to_metric_families(known_lines(text)):
            base = _base(family.name)
            samples = [(s.name, dict(s.labels), float(s.value)) for s in family.samples]
            families[base] = (family.type, samples)
    except (ValueError, TypeError, IndexError) as exc:
        raise MalformedMetrics(f"not Prometheus text ({str(exc)[:80]})") from None
    out = Scrape(declared=set(families))
    for known in KNOWN:
        found = next((n for n in known.names if n in families), None)
        if found is None:
            continue
        _, samples = families[found]
        out.names[known.key] = found
        if known.kind is Kind.HISTOGRAM:
            _fold_histogram(known.key, samples, out)
            continue
        values = [v for name, _, v in samples if not name.endswith("_created")]
        if not values:
            continue
        if known.kind is Kind.COUNTER:
            out.counters[known.key] = sum(values) * known.scale
        elif known.unit == "%":
            out.gauges[known.key] = max(values) * known.scale  # several engines: the fullest
        else:
            out.gauges[known.key] = sum(values) * known.scale
    return out


def _fold_histogram(
    key: str, samples: list[tuple[str, dict[str, str], float]], out: Scrape
) -> None:
    for name, labels, value in samples:
        model = next((labels[k] for k in MODEL_LABELS if k in labels), "")
        h = out.histograms.setdefault((key, model), Histogram())
        if name.endswith("_bucket"):
            le = float(labels.get("le", "+Inf"))
            h.buckets[le] = h.buckets.get(le, 0.0) + value
        elif name.endswith("_sum"):
            h.sum += value
        elif name.endswith("_count"):
            h.count += value
