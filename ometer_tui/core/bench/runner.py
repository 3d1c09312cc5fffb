"""How a plan runs: the engine.

The runner owns nothing but asyncio and the core client. It emits typed events through a
plain callback, so the headless command and the TUI consume exactly the same stream.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from ometer_tui.core.api import GuardedClient, detect_flavour, open_client
from ometer_tui.core.api.base import (
    ApiClient,
    ClientError,
    ErrorKind,
    GenerationRequest,
    RequestError,
)
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
)
from ometer_tui.core.bench.metrics import (
    RunContext,
    embedding_record,
    generation_record,
    summarise,
)
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.ratelimit import RateLimiter
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.models import ModelInfo, Workload

EventSink = Callable[[BenchmarkEvent], None]

#: Response headers that say what is serving (kept with the results).
BACKEND_KEYS_KEPT = ("server", "x-backend", "via", "x-powered-by", "openai-model")


class EndpointUnreachable(ClientError):
    """The endpoint could not be reached at all before the benchmark started."""


def estimate_prompt_tokens(prompt: str) -> int:
    """A rough token estimate for rate limiting only (never reported as a metric)."""
    return max(1, len(prompt) // 4)


class BenchmarkRunner:
    """Runs one plan on the current event loop and reports through ``on_event``.

    ``on_event`` is called on the runner's loop, synchronously, for every event; it must
    be cheap (post a message, append to a list). ``cancel()`` may be called from any
    thread; finished runs are kept and the result is marked cancelled.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        client: ApiClient | None = None,
        log_exchanges: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.plan = plan
        self._emit = on_event
        self._client = client
        self._log_exchanges = log_exchanges
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(plan.rate_limit)
        self._result = BenchmarkResult(
            plan=plan,
            started_at=datetime.now(UTC),
            warmup_requests=plan.warmup * len(plan.models),
            models={m.name: ModelResult(info=m) for m in plan.models},
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[None] | None = None
        self._cancel_requested = False
        self._bench_start_ns = time.perf_counter_ns()

    @property
    def result(self) -> BenchmarkResult:
        """The live (possibly partial) result."""
        return self._result

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self) -> None:
        """Stop the benchmark, closing in-flight requests; callable from any thread."""
        self._cancel_requested = True
        loop, task = self._loop, self._task
        if loop is None or task is None or task.done():
            return
        try:
            on_own_loop = asyncio.get_running_loop() is loop
        except RuntimeError:  # called from a thread without a running loop
            on_own_loop = False
        if on_own_loop:
            task.cancel()  # at once: no worker may send another request after this returns
        else:
            loop.call_soon_threadsafe(task.cancel)

    async def run(self) -> BenchmarkResult:
        """Run the plan to the end (or to cancellation) and return the result.

        Raises :class:`EndpointUnreachable` when the endpoint cannot be reached at all.
        """
        problems = self.plan.validate()
        if problems:
            raise ValueError("; ".join(problems))
        self._loop = asyncio.get_running_loop()
        client = self._client or await self._open_client()
        owns_client = self._client is None
        try:
            await self._probe(client)
            plan = self.plan
            self._bench_start_ns = time.perf_counter_ns()
            self._result.started_at = datetime.now(UTC)
            self._emit(
                BenchmarkStarted(
                    models=plan.models,
                    total_runs=(plan.runs_per_model + plan.warmup) * len(plan.models),
                    warmup_requests=self._result.warmup_requests,
                )
            )
            self._task = asyncio.ensure_future(self._run_models(client))
            if self._cancel_requested:
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                self._finish(cancelled=True)
                if not self._cancel_requested:
                    raise  # cancelled from outside: the caller wants it to propagate
                return self._result
            # the task may end on its own after cancel was asked (its workers saw the
            # flag before the cancellation reached the task): still a cancelled run
            self._finish(cancelled=self._cancel_requested)
            return self._result
        finally:
            if owns_client:
                await asyncio.shield(client.aclose())

    # -- set-up -------------------------------------------------------------------------

    async def _open_client(self) -> ApiClient:
        endpoint = self.plan.endpoint
        try:
            flavour = endpoint.api or await detect_flavour(endpoint)
        except ClientError as exc:
            raise EndpointUnreachable(exc.error) from None
        client = open_client(
            endpoint,
            flavour=flavour,
            max_connections=self.plan.concurrency * self.plan.parallel_models,
            on_exchange=self._emit if self._log_exchanges else None,
        )
        return GuardedClient(client, endpoint, self.plan.models)  # context fit, sanitization

    async def _probe(self, client: ApiClient) -> None:
        """Server version for the record, and an early, clear failure if unreachable."""
        try:
            self._result.server = await client.server_info()
        except ClientError as exc:
            if exc.error.kind in (ErrorKind.CONNECT, ErrorKind.CONFIG):
                raise EndpointUnreachable(exc.error) from None
            if exc.error.kind is ErrorKind.PROTOCOL and exc.error.status == 404:
                # the other API flavour answers here (see HttpClient.wrong_flavour): every
                # run would fail with the same 404, so say which flavour to set instead
                raise EndpointUnreachable(exc.error) from None
            # Reachable but the info call failed (a proxy without /api/version...):
            # the runs themselves will say what is wrong.
        plan = self.plan
        per_model = min(plan.concurrency, plan.runs_per_model)
        await client.warm_pool(per_model * min(plan.parallel_models, len(plan.models)))

    # -- scheduling -----------------------------------------------------------------------

    async def _run_models(self, client: ApiClient) -> None:
        gate = asyncio.Semaphore(self.plan.parallel_models)

        async def one(model: ModelInfo) -> None:
            async with gate:
                await self._run_model(client, model)

        await asyncio.gather(*(one(m) for m in self.plan.models))

    async def _run_model(self, client: ApiClient, model: ModelInfo) -> None:
        plan = self.plan
        entry = self._result.models[model.name]
        total = plan.runs_per_model
        n_prompts = len(plan.prompts)
        # Cancel may be asked from another thread a moment before the task is cancelled:
        # from then on no request starts, and a model cut short is left for _finish to
        # mark CANCELLED rather than DONE.
        if self._cancel_requested:
            return
        if plan.warmup:
            self._set_phase(entry, ModelPhase.WARMING)
            for i in range(plan.warmup):
                if self._cancel_requested:
                    return
                record = await self._request(client, model, 0, i % n_prompts, warmup=True)
                entry.records.append(record)
                self._emit(RunFinished(record=record, model_done=0, model_total=total))
        self._set_phase(entry, ModelPhase.RUNNING)
        jobs = deque(
            (pass_index, prompt_index)
            for pass_index in range(1, plan.passes + 1)
            for prompt_index in range(n_prompts)
        )
        done = 0

        async def worker() -> None:
            nonlocal done
            while jobs and not self._cancel_requested:
                pass_index, prompt_index = jobs.popleft()
                record = await self._request(client, model, pass_index, prompt_index, False)
                entry.records.append(record)
                done += 1
                self._emit(RunFinished(record=record, model_done=done, model_total=total))

        await asyncio.gather(*(worker() for _ in range(min(plan.concurrency, total))))
        if self._cancel_requested:
            return
        summary = summarise(model.name, entry.records, plan.prices)
        entry.summary = summary
        entry.phase = ModelPhase.FAILED if summary.runs and not summary.ok else ModelPhase.DONE
        self._emit(ModelFinished(model=model.name, summary=summary, phase=entry.phase))

    def _set_phase(self, entry: ModelResult, phase: ModelPhase) -> None:
        entry.phase = phase
        self._emit(ModelPhaseChanged(model=entry.info.name, phase=phase))

    def _finish(self, *, cancelled: bool) -> None:
        self._result.finished_at = datetime.now(UTC)
        self._result.cancelled = cancelled
        for entry in self._result.models.values():
            if entry.phase in (ModelPhase.DONE, ModelPhase.FAILED):
                continue
            entry.summary = summarise(entry.info.name, entry.records, self.plan.prices)
            entry.phase = ModelPhase.CANCELLED
            self._emit(
                ModelFinished(model=entry.info.name, summary=entry.summary, phase=entry.phase)
            )
        self._emit(BenchmarkFinished(cancelled=cancelled))

    # -- one run ------------------------------------------------------------------------

    async def _request(
        self,
        client: ApiClient,
        model: ModelInfo,
        pass_index: int,
        prompt_index: int,
        warmup: bool,
    ) -> RunRecord:
        """One run: rate-limit wait, attempts with retries before the first byte."""
        plan = self.plan
        prompt = plan.prompts[prompt_index]
        workload = model.workload
        estimate = estimate_prompt_tokens(prompt) + (plan.params.max_tokens or 256)
        attempts = 0
        queue_s = 0.0
        while True:
            attempts += 1
            queue_s += await self._limiter.acquire(estimate)
            if workload is Workload.EMBEDDING:
                emb = await client.embed(model.name, [prompt])
                error: RequestError | None = emb.error
            else:
                gen = await client.generate(self._generation_request(model, prompt))
                error = gen.error
                self._note_backend(model.name, gen.response_headers, gen.system_fingerprint)
            if error is not None and error.retryable and attempts <= plan.retry.max_retries:
                await asyncio.sleep(self._retry_delay(error, attempts))
                continue
            break
        ctx = RunContext(
            model=model.name,
            pass_index=pass_index,
            prompt_index=prompt_index,
            warmup=warmup,
            attempts=attempts,
            queue_s=queue_s,
            bench_start_ns=self._bench_start_ns,
            prices=plan.prices,
            keep_text=plan.keep_text_chars > 0,
        )
        if workload is Workload.EMBEDDING:
            self._limiter.settle(estimate, emb.input_tokens)
            return embedding_record(emb, ctx)
        record = generation_record(gen, ctx)
        self._limiter.settle(estimate, (record.prompt_tokens or 0) + (record.output_tokens or 0))
        return record

    def _generation_request(self, model: ModelInfo, prompt: str) -> GenerationRequest:
        plan = self.plan
        vision = model.workload is Workload.VISION
        if plan.completion_api and not vision:
            workload = Workload.COMPLETION
        else:
            workload = Workload.VISION if vision else Workload.CHAT
        return GenerationRequest(
            model=model.name,
            prompt=prompt,
            params=plan.params,
            workload=workload,
            images=plan.images if vision else (),
            keep_text_chars=plan.keep_text_chars,
        )

    def _retry_delay(self, error: RequestError, attempt: int) -> float:
        policy = self.plan.retry
        if error.retry_after_s is not None:
            return max(0.0, min(error.retry_after_s, policy.max_delay_s))
        backoff: float = policy.base_delay_s * 2.0 ** (attempt - 1)
        return min(policy.max_delay_s, backoff) * self._rng.uniform(0.5, 1.0)

    def _note_backend(self, model: str, headers: dict[str, str], fingerprint: str | None) -> None:
        backend = self._result.models[model].backend
        for key in BACKEND_KEYS_KEPT:
            if key not in backend and key in headers:
                backend[key] = headers[key]
        if fingerprint and "system_fingerprint" not in backend:
            backend["system_fingerprint"] = fingerprint
