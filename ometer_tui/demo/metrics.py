"""The demo endpoint's Prometheus ``/metrics``, vLLM-style, from its real requests.

Names, types and bucket bounds follow vLLM's metrics documentation (V1 engine):
``vllm:num_requests_running`` / ``_waiting`` (gauges), ``vllm:kv_cache_usage_perc``
(gauge, 0-1), ``vllm:prompt_tokens_total`` / ``vllm:generation_tokens_total`` /
``vllm:request_success_total`` (counters), ``vllm:time_to_first_token_seconds``,
``vllm:inter_token_latency_seconds`` and ``vllm:e2e_request_latency_seconds``
(histograms), all labelled ``model_name``, and ``process_start_time_seconds`` (when
the demo started, as vLLM's process collector gives it). Values are what the demo
really did: tokens as they were written, the in-flight count, times on the server's
loop from the moment a request's body was read. KV cache usage is simulated: the
tokens held by in-flight requests over a notional 64k-token cache.
"""

from __future__ import annotations

import time
import weakref
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ometer_tui.demo.http import Responder

#: vLLM's bucket bounds (vllm/v1/metrics/loggers.py)
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
    60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
#: the notional KV cache the usage gauge is a share of
KV_CACHE_TOKENS = 65536


class RequestTrack:
    """One generation request as the metrics see it (lives as long as its handler)."""

    __slots__ = ("__weakref__", "_last", "metrics", "model", "start", "tokens")

    def __init__(self, metrics: DemoMetrics, model: str, start: float, prompt_tokens: int):
        self.metrics = metrics
        self.model = model
        self.start = start
        self.tokens = prompt_tokens  # held in the (notional) KV cache
        self._last: float | None = None
        metrics.prompt_tokens.labels(model).inc(prompt_tokens)

    def token(self, now: float) -> None:
        """A token was written at loop time ``now``."""
        m = self.metrics
        m.generation_tokens.labels(self.model).inc()
        if self._last is None:
            m.ttft.labels(self.model).observe(now - self.start)
        else:
            m.itl.labels(self.model).observe(now - self._last)
        self._last = now
        self.tokens += 1

    def tokens_at_once(self, count: int, now: float) -> None:
        """A whole (non-streamed) answer of ``count`` tokens, all at ``now``."""
        m = self.metrics
        m.generation_tokens.labels(self.model).inc(count)
        m.ttft.labels(self.model).observe(now - self.start)
        self.tokens += count

    def done(self, now: float) -> None:
        m = self.metrics
        m.e2e.labels(self.model).observe(now - self.start)
        m.success.labels(self.model, "stop").inc()
        m.live.discard(self)


class DemoMetrics:
    """The counters and histograms of one demo server (its own registry)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.running = Gauge(
            "vllm:num_requests_running", "Number of requests in model execution batches.",
            ["model_name"], registry=r,
        )  # fmt: skip
        self.waiting = Gauge(
            "vllm:num_requests_waiting", "Number of requests waiting to be processed.",
            ["model_name"], registry=r,
        )  # fmt: skip
        self.kv_usage = Gauge(
            "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
            ["model_name"], registry=r,
        )  # fmt: skip
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", ["model_name"],
            registry=r,
        )  # fmt: skip
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.",
            ["model_name"], registry=r,
        )  # fmt: skip
        self.success = Counter(
            "vllm:request_success", "Count of successfully processed requests.",
            ["model_name", "finished_reason"], registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
            ["model_name"], buckets=TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.itl = Histogram(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
            ["model_name"], buckets=ITL_BUCKETS, registry=r,
        )  # fmt: skip
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            ["model_name"], buckets=E2E_BUCKETS, registry=r,
        )  # fmt: skip
        # as prometheus_client's process collector publishes it (a server's uptime)
        Gauge(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
            registry=r,
        ).set(time.time())  # fmt: skip
        #: requests in flight (a handler that ends early drops its track by itself)
        self.live: weakref.WeakSet[RequestTrack] = weakref.WeakSet()

    def request(self, model: str, start: float, prompt_tokens: int) -> RequestTrack:
        track = RequestTrack(self, model, start, prompt_tokens)
        self.live.add(track)
        return track

    def render(self) -> bytes:
        """The exposition text: gauges from what is in flight now."""
        per_model: dict[str, tuple[int, int]] = {}
        for track in list(self.live):
            n, tokens = per_model.get(track.model, (0, 0))
            per_model[track.model] = (n + 1, tokens + track.tokens)
        for model in set(per_model) | set(self._known_models()):
            n, tokens = per_model.get(model, (0, 0))
            self.running.labels(model).set(n)
            self.waiting.labels(model).set(0)
            self.kv_usage.labels(model).set(min(1.0, tokens / KV_CACHE_TOKENS))
        return generate_latest(self.registry)

    def _known_models(self) -> list[str]:
        return [labels[0] for labels in self.generation_tokens._metrics]


class _State(Protocol):
    @property
    def metrics(self) -> DemoMetrics: ...


class _Exchange(Protocol):
    """What the route needs of ``state.Exchange`` (state imports this module)."""

    @property
    def state(self) -> _State: ...

    @property
    def responder(self) -> Responder: ...


async def serve(ex: _Exchange) -> None:
    """``GET /metrics``."""
    body = ex.state.metrics.render()
    await ex.responder.send(200, body, CONTENT_TYPE_LATEST)
