"""How a plan runs: the engine.

The runner owns nothing but asyncio and the core client. It emits typed events through a
plain callback, so the headless command and the TUI consume exactly the same stream.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ometer_tui.core.api import GuardedClient, detect_flavour, open_client
from ometer_tui.core.api.base import (
    ApiClient,
    ChatTurn,
    ClientError,
    ErrorKind,
    GenerationRequest,
    RequestError,
    conversation_text,
)
from ometer_tui.core.api.send_at import send_at, wait_until
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    ModelPhase,
    ModelPhaseChanged,
    RunFinished,
    RunRetrying,
)
from ometer_tui.core.bench.fold import planned_rows
from ometer_tui.core.bench.gc_policy import engine_gc
from ometer_tui.core.bench.metrics import (
    RunContext,
    embedding_record,
    generation_record,
    summarise,
)
from ometer_tui.core.bench.open_loop_policy import TimetableCollector, open_loop_policy
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.ratelimit import RateLimiter
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult, row_key
from ometer_tui.core.bench.workloads.arrivals import arrival_times, worker_start_times
from ometer_tui.core.bench.workloads.record import LoadStamp
from ometer_tui.core.bench.workloads.source import (
    PreparedLoad,
    followup_text,
    prepare_load,
)
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopTracker
from ometer_tui.core.bench.workloads.summary import LoadSummary, summarise_load
from ometer_tui.core.load_counters import COUNTERS
from ometer_tui.core.models import GenerationParams, ModelInfo, Workload

EventSink = Callable[[BenchmarkEvent], None]

#: Response headers that say what is serving (kept with the results).
BACKEND_KEYS_KEPT = ("server", "x-backend", "via", "x-powered-by", "openai-model")
#: Open loop: each request starts this long before its send time (its payload, httpx,
#: the pool, the connection), and the transport holds its bytes until that time
#: (core/api/send_at.py): at the deadline only the socket write is left. 20 ms: with 8,
#: 39 of 11,976 requests at 200/s had their bytes ready only after their time (11 with 20).
SEND_LEAD_NS = 20_000_000
#: A multi-turn load keeps up to this much of each answer to send it back.
MULTI_TURN_ANSWER_CHARS = 200_000
#: Connections an open-loop load may hold per model when no --max-concurrency caps it.
OPEN_LOOP_CONNECTIONS = 1024


class _InFlight:
    """One request in a load's in-flight count, from its send time (an open-loop request
    is started ``SEND_LEAD_NS`` ahead of it) until it ends."""

    __slots__ = ("_handle", "_load", "_on")

    def __init__(self, load: _LoadRun, due_ns: int | None) -> None:
        self._load = load
        self._on = False
        self._handle: asyncio.TimerHandle | None = None
        ahead = 0 if due_ns is None else due_ns - time.perf_counter_ns()
        if ahead > 0:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_at(loop.time() + ahead / 1e9, self._enter)
        else:
            self._enter()

    def _enter(self) -> None:
        load = self._load
        self._on = True
        load.in_flight += 1
        load.max_in_flight = max(load.max_in_flight, load.in_flight)

    def leave(self) -> None:
        if self._on:
            self._load.in_flight -= 1
            self._on = False
        elif self._handle is not None:
            self._handle.cancel()


class EndpointUnreachable(ClientError):
    """The endpoint could not be reached at all before the benchmark started."""

    #: a benchmark of several endpoints: the name of the one that could not be reached
    endpoint: str | None = None


def estimate_prompt_tokens(prompt: str) -> int:
    """A rough token estimate for rate limiting only (never reported as a metric)."""
    return max(1, len(prompt) // 4)


class BenchmarkRunner:
    """Runs one plan on the current event loop and reports through ``on_event``.

    ``on_event`` is called on the runner's loop, synchronously, for every event; it must
    be cheap (post a message, append to a list). ``cancel()`` may be called from any
    thread; finished runs are kept and the result is marked cancelled.

    A plan on several endpoints (``plan.multi_endpoint``) runs one runner per endpoint,
    each with its own client (auth, flavour), rate limiter and plan, into one result
    whose rows are keyed by (endpoint, model) (:func:`result.row_key`); its events name
    their endpoint. Every endpoint is probed before any run: one that cannot be reached
    stops the benchmark before it starts (:class:`EndpointUnreachable` names it). The
    endpoints run one after the other unless ``plan.endpoints_parallel``.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        client: ApiClient | None = None,
        log_exchanges: bool = False,
        rng: random.Random | None = None,
        _part_of: BenchmarkResult | None = None,
    ) -> None:
        self.plan = plan
        self._client = client
        self._log_exchanges = log_exchanges
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(plan.rate_limit)
        #: one endpoint's runner within a benchmark of several: its endpoint's name
        self._tag = None if _part_of is None else plan.endpoint.name
        self._emit = on_event if self._tag is None else _tagged(on_event, self._tag)
        self._result = _part_of or BenchmarkResult(
            plan=plan,
            started_at=datetime.now(UTC),
            warmup_requests=sum(p.warmup * len(p.models) for p in plan.parts),
            models=planned_rows(plan),
        )
        self._parts: list[BenchmarkRunner] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Future[None] | None = None
        self._cancel_requested = False
        self._bench_start_ns = time.perf_counter_ns()
        #: per model, how to summarise its load so far (kept for a cancelled run)
        self._load_summaries: dict[str, Callable[[], LoadSummary | None]] = {}

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
        for part in self._parts:
            part._cancel_requested = True
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
        with engine_gc():
            return await self._run()

    async def _run(self) -> BenchmarkResult:
        if self.plan.multi_endpoint:
            return await self._run_endpoints()
        client = self._client or await self._open_client()
        owns_client = self._client is None
        try:
            await self._probe(client)
            await self._warm(client)
            plan = self.plan
            self._started(
                BenchmarkStarted(
                    models=plan.models,
                    total_runs=self._total_runs(),
                    warmup_requests=self._result.warmup_requests,
                )
            )
            return await self._drive(self._run_models(client))
        finally:
            if owns_client:
                await asyncio.shield(client.aclose())

    def _started(self, event: BenchmarkStarted) -> None:
        shard = self.plan.shard  # a worker of several: their shared time origin
        origin = None if shard is None else shard.origin_ns
        self._bench_start_ns = time.perf_counter_ns() if origin is None else origin
        self._result.started_at = datetime.now(UTC)
        for part in self._parts:  # one clock for every endpoint's records
            part._bench_start_ns = self._bench_start_ns
        self._emit(event)

    def _total_runs(self) -> int:
        return (self._runs_per_model() + self.plan.warmup) * len(self.plan.models)

    async def _drive(self, work: Coroutine[Any, Any, None]) -> BenchmarkResult:
        """Run ``work`` as the benchmark's task, to its end or to cancellation."""
        self._task = asyncio.ensure_future(work)
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

    # -- several endpoints ----------------------------------------------------------------

    async def _run_endpoints(self) -> BenchmarkResult:
        """Every endpoint's part: all probed first, then run one after the other (or at
        the same time with ``plan.endpoints_parallel``)."""
        result = self._result
        parts = self._make_parts()
        clients: list[ApiClient] = []
        try:
            await self._open_parts(parts, clients)
            rows = list(result.models.values())
            self._started(
                BenchmarkStarted(
                    models=tuple(mr.info for mr in rows),
                    total_runs=sum(part._total_runs() for part in parts),
                    warmup_requests=result.warmup_requests,
                    endpoints=tuple(mr.endpoint or "" for mr in rows),
                )
            )
            return await self._drive(self._run_parts(list(zip(parts, clients, strict=True))))
        finally:
            for client in clients:
                await asyncio.shield(client.aclose())

    def _make_parts(self) -> list[BenchmarkRunner]:
        """One runner per endpoint, filling this runner's result."""
        self._parts = [
            BenchmarkRunner(
                part,
                self._emit,
                log_exchanges=self._log_exchanges,
                rng=self._rng,
                _part_of=self._result,
            )
            for part in self.plan.parts
        ]
        for part in self._parts:
            part._cancel_requested = self._cancel_requested
        return self._parts

    async def _open_parts(self, parts: list[BenchmarkRunner], clients: list[ApiClient]) -> None:
        """Open every endpoint's client (into ``clients``, for the caller to close) and
        probe it: its server lands in ``result.servers``, the first's in ``result.server``;
        one that cannot be reached raises :class:`EndpointUnreachable` naming it."""
        for part in parts:
            try:
                clients.append(await part._open_client())
                await part._probe(clients[-1])
            except EndpointUnreachable as exc:
                exc.endpoint = part.plan.endpoint.name
                raise
        self._result.server = self._result.servers.get(parts[0].plan.endpoint.name)

    async def probe(self) -> BenchmarkResult:
        """Every endpoint of a plan on several opened and probed as :meth:`run` does
        before its start, then closed; nothing is run. ``result.servers`` (and
        ``result.server``) hold what they said; one that cannot be reached raises
        :class:`EndpointUnreachable` naming it. For a runner that runs the plan
        elsewhere (``shards.MergedRunner``: once in the parent, not per worker)."""
        parts = self._make_parts()
        clients: list[ApiClient] = []
        try:
            await self._open_parts(parts, clients)
        finally:
            for client in clients:
                await asyncio.shield(client.aclose())
        return self._result

    async def _run_parts(self, parts: list[tuple[BenchmarkRunner, ApiClient]]) -> None:
        async def one(part: BenchmarkRunner, client: ApiClient) -> None:
            if part._cancel_requested:
                return
            await part._warm(client)  # just before its turn: idle connections may close
            await part._run_models(client)

        if self.plan.endpoints_parallel:
            await asyncio.gather(*(one(part, client) for part, client in parts))
        else:
            for part, client in parts:
                await one(part, client)

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
            max_connections=self._streams_per_model() * self.plan.parallel_models,
            on_exchange=self._emit if self._log_exchanges else None,
        )
        return GuardedClient(client, endpoint, self.plan.models)  # context fit, sanitization

    def _runs_per_model(self) -> int:
        """Measured runs per model: the plan's, or what the load expects (0: unknown);
        a worker of several: its share of them."""
        whole = planned_runs_per_model(self.plan)
        shard = self.plan.shard
        return whole if shard is None else shard.share(whole)

    def _streams_per_model(self) -> int:
        """Requests one model may have in flight at once."""
        load = self.plan.load
        if load is None or load.arrival is None:
            return self.plan.concurrency
        return load.max_concurrency or OPEN_LOOP_CONNECTIONS

    async def _probe(self, client: ApiClient) -> None:
        """Server version for the record, and an early, clear failure if unreachable."""
        try:
            server = await client.server_info()
            if self._tag is None:
                self._result.server = server
            else:
                self._result.servers[self._tag] = server
        except ClientError as exc:
            if exc.error.kind in (ErrorKind.CONNECT, ErrorKind.CONFIG):
                raise EndpointUnreachable(exc.error) from None
            if exc.error.kind is ErrorKind.PROTOCOL and exc.error.status == 404:
                # the other API flavour answers here (see HttpClient.wrong_flavour): every
                # run would fail with the same 404, so say which flavour to set instead
                raise EndpointUnreachable(exc.error) from None
            # Reachable but the info call failed (a proxy without /api/version...):
            # the runs themselves will say what is wrong.

    async def _warm(self, client: ApiClient) -> None:
        """Open the connections the first runs will use."""
        plan = self.plan
        if plan.load is None:
            per_model = min(plan.concurrency, plan.runs_per_model)
        else:  # an open loop's later connections open as the load needs them
            per_model = min(self._streams_per_model(), 32)
        await client.warm_pool(per_model * min(plan.parallel_models, len(plan.models)))

    # -- scheduling -----------------------------------------------------------------------

    async def _run_models(self, client: ApiClient) -> None:
        gate = asyncio.Semaphore(self.plan.parallel_models)

        async def one(model: ModelInfo) -> None:
            async with gate:
                await self._run_model(client, model)

        await asyncio.gather(*(one(m) for m in self.plan.models))

    async def _run_model(self, client: ApiClient, model: ModelInfo) -> None:
        if self.plan.load is not None:
            await _LoadRun(self, client, model, self.plan.load).run()
            return
        plan = self.plan
        entry = self._result.models[self._key(model.name)]
        total = self._runs_per_model()
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
                record, _ = await self._request(client, model, 0, i % n_prompts, warmup=True)
                entry.records.append(record)
                self._emit(RunFinished(record=record, model_done=0, model_total=total))
        self._set_phase(entry, ModelPhase.RUNNING)
        shard = plan.shard  # a worker of several sends its share of the jobs
        every = ((p, q) for p in range(1, plan.passes + 1) for q in range(n_prompts))
        jobs = deque(job for j, job in enumerate(every) if shard is None or shard.owns(j))
        total = len(jobs)
        done = 0

        async def worker() -> None:
            nonlocal done
            while jobs and not self._cancel_requested:
                pass_index, prompt_index = jobs.popleft()
                record, _ = await self._request(client, model, pass_index, prompt_index, False)
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

    def _key(self, model: str) -> str:
        """The row of ``model`` in the result (keyed by endpoint and model)."""
        return row_key(self._tag, model)

    def _set_phase(self, entry: ModelResult, phase: ModelPhase) -> None:
        entry.phase = phase
        self._emit(ModelPhaseChanged(model=entry.info.name, phase=phase))

    def _finish(self, *, cancelled: bool) -> None:
        self._result.finished_at = datetime.now(UTC)
        self._result.cancelled = cancelled
        for part in self._parts or [self]:
            part._finish_rows()
        self._emit(BenchmarkFinished(cancelled=cancelled))

    def _finish_rows(self) -> None:
        """Settle this runner's unfinished rows as cancelled, with what they measured."""
        for entry in self._result.models.values():
            if entry.endpoint != self._tag:
                continue  # another endpoint's row
            if entry.phase in (ModelPhase.DONE, ModelPhase.FAILED):
                continue
            entry.summary = summarise(entry.info.name, entry.records, self.plan.prices)
            if self.plan.load is not None:
                entry.summary.load = self._load_summaries.get(entry.info.name, _no_load)()
            entry.phase = ModelPhase.CANCELLED
            self._emit(
                ModelFinished(model=entry.info.name, summary=entry.summary, phase=entry.phase)
            )

    # -- one run ------------------------------------------------------------------------

    async def _request(
        self,
        client: ApiClient,
        model: ModelInfo,
        pass_index: int,
        prompt_index: int,
        warmup: bool,
        *,
        prompt: str | None = None,
        params: GenerationParams | None = None,
        history: tuple[ChatTurn, ...] = (),
    ) -> tuple[RunRecord, str]:
        """One run: rate-limit wait, attempts with retries before the first byte.

        Returns the record and the answer's text (up to ``keep_text_chars``; a load's
        next turn needs it). ``prompt``/``params`` replace the plan's for a load;
        ``history`` is a conversation's earlier turns (sent before the prompt)."""
        plan = self.plan
        if prompt is None:
            prompt = plan.prompts[prompt_index]
        params = params or plan.params
        workload = model.workload
        request = self._generation_request(model, prompt, params, history)
        estimate = estimate_prompt_tokens(conversation_text(request)) + (params.max_tokens or 256)
        attempts = 0
        queue_s = 0.0
        deadline = 0.0  # the run's whole-request budget, from its first send
        while True:
            attempts += 1
            queue_s += await self._limiter.acquire(estimate)
            if attempts == 1:
                deadline = time.monotonic() + plan.endpoint.timeouts.total_s
            COUNTERS.in_flight += 1
            try:
                if workload is Workload.EMBEDDING:
                    emb = await client.embed(model.name, [prompt])
                    error: RequestError | None = emb.error
                else:
                    gen = await client.generate(request)
                    error = gen.error
            finally:
                COUNTERS.in_flight -= 1
            if workload is not Workload.EMBEDDING:
                self._note_backend(model.name, gen.response_headers, gen.system_fingerprint)
            if error is not None and error.retryable and attempts <= plan.retry.max_retries:
                wait, refusal = self._retry_wait(error, attempts, deadline - time.monotonic())
                if refusal is None:
                    self._emit(
                        RunRetrying(
                            model=model.name,
                            attempt=attempts,
                            max_attempts=plan.retry.max_retries + 1,
                            wait_s=wait,
                            reason=str(error),
                            server_asked=error.retry_after_s is not None,
                        )
                    )
                    await asyncio.sleep(wait)
                    continue
                # not retried: the run ends now with the server's error and why
                if workload is Workload.EMBEDDING:
                    emb.error = refusal
                else:
                    gen.error = refusal
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
            return embedding_record(emb, ctx), ""
        record = generation_record(gen, ctx)
        self._limiter.settle(estimate, (record.prompt_tokens or 0) + (record.output_tokens or 0))
        return record, gen.text

    def _generation_request(
        self,
        model: ModelInfo,
        prompt: str,
        params: GenerationParams,
        history: tuple[ChatTurn, ...] = (),
    ) -> GenerationRequest:
        plan = self.plan
        vision = model.workload is Workload.VISION
        if plan.completion_api and not vision:
            workload = Workload.COMPLETION
        else:
            workload = Workload.VISION if vision else Workload.CHAT
        return GenerationRequest(
            model=model.name,
            prompt=prompt,
            params=params,
            workload=workload,
            images=plan.images if vision else (),
            keep_text_chars=(
                max(plan.keep_text_chars, MULTI_TURN_ANSWER_CHARS)
                if plan.load is not None and plan.load.turns > 1
                else plan.keep_text_chars
            ),
            history=history,
        )

    def _retry_wait(
        self, error: RequestError, attempt: int, budget_s: float
    ) -> tuple[float, RequestError | None]:
        """(seconds to wait before the next attempt, None), or (0, the error that ends
        the run now) when the wait is not granted.

        The server's ``Retry-After`` is honoured up to the plan's cap; a longer one ends
        the run at once with the server's figure (waiting the cap and asking again would
        only be refused again). Our own backoff is exponential with jitter, capped. No
        wait may run past the run's whole-request timeout (``budget_s`` is what is left
        of it).
        """
        policy = self.plan.retry
        asked = error.retry_after_s
        if asked is not None:
            if asked > policy.max_delay_s:
                why = (
                    f"server asks to wait {_seconds(asked)} s, "
                    f"above the {_seconds(policy.max_delay_s)} s cap; not retried"
                )
                return 0.0, _with_reason(error, why)
            wait = max(0.0, asked)
        else:
            backoff: float = policy.base_delay_s * 2.0 ** (attempt - 1)
            wait = min(policy.max_delay_s, backoff) * self._rng.uniform(0.5, 1.0)
        if wait > budget_s:
            who = "server asks to wait" if asked is not None else "retry would wait"
            total = self.plan.endpoint.timeouts.total_s
            why = (
                f"{who} {_seconds(wait)} s, past the {_seconds(total)} s request timeout; "
                "not retried"
            )
            return 0.0, _with_reason(error, why)
        return wait, None

    def _note_backend(self, model: str, headers: dict[str, str], fingerprint: str | None) -> None:
        backend = self._result.models[self._key(model)].backend
        for key in BACKEND_KEYS_KEPT:
            if key not in backend and key in headers:
                backend[key] = headers[key]
        if fingerprint and "system_fingerprint" not in backend:
            backend["system_fingerprint"] = fingerprint


def planned_runs_per_model(plan: BenchmarkPlan) -> int:
    """Measured runs per model of the whole plan: passes x prompts, or what its load
    expects (0: unknown, e.g. a closed loop for a duration)."""
    if plan.load is None:
        return plan.runs_per_model
    return plan.load.expected_requests() or 0


def _seconds(value: float) -> str:
    """A wait for a message: whole seconds from 10 s, one decimal below."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _with_reason(error: RequestError, why: str) -> RequestError:
    """``error`` with ``why`` added to its message."""
    return replace(error, message=f"{error.message} ({why})")


def _no_load() -> LoadSummary | None:
    return None


def _tagged(emit: EventSink, endpoint: str) -> EventSink:
    """``emit`` with the endpoint named on the events that concern one row."""

    def tag(event: BenchmarkEvent) -> None:
        if isinstance(event, ModelPhaseChanged | RunFinished | RunRetrying | ModelFinished):
            event = replace(event, endpoint=endpoint)
        emit(event)

    return tag


def cached_tokens(record: RunRecord) -> int | None:
    """Prompt tokens the server said it served from its cache, if it said."""
    timings = record.server_timings
    if timings is None:
        return None
    if timings.cache_n is not None:  # llama.cpp
        return int(timings.cache_n)
    for name, value in timings.extra:  # OpenAI usage.prompt_tokens_details.cached_tokens
        if name == "cached_tokens":
            return int(value)
    return None


class _LoadRun:
    """One model's load (``plan.load``): open loop on a timetable, or closed loop with
    ramp-up; stop conditions; conversations of one or more turns."""

    def __init__(
        self, runner: BenchmarkRunner, client: ApiClient, model: ModelInfo, spec: LoadSpec
    ) -> None:
        self.runner = runner
        self.client = client
        self.model = model
        self.spec = spec
        self.entry = runner.result.models[runner._key(model.name)]
        self.shard = shard = runner.plan.shard
        stop = spec.stop  # a worker of several stops after its share of --requests
        if shard is not None and stop.max_requests is not None:
            stop = replace(stop, max_requests=shard.share(stop.max_requests))
        self.tracker = StopTracker(stop)
        self.prepared: PreparedLoad | None = None
        self.start_ns = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.done = 0
        self.conversations = 0
        self.total = runner._runs_per_model()
        #: why sending stopped, said when it stopped (not re-judged at summary time)
        self.stop_reason: str | None = None
        self.slots = (
            asyncio.Semaphore(spec.max_concurrency)
            if spec.arrival is not None and spec.max_concurrency
            else None
        )
        runner._load_summaries[model.name] = self.summary

    def summary(self) -> LoadSummary:
        spec = self.spec
        prepared = self.prepared
        return summarise_load(
            self.entry.records,
            mode="open" if spec.arrival is not None else "closed",
            offered_rate=spec.arrival.rate if spec.arrival is not None else None,
            max_in_flight=self.max_in_flight,
            stop_reason=self.stop_reason,
            token_source=(
                prepared.token_model.source
                if prepared is not None and prepared.token_model is not None
                else None
            ),
        )

    def _elapsed(self) -> float:
        return (time.perf_counter_ns() - self.start_ns) / 1e9

    def _stopped(self, elapsed_s: float | None = None) -> bool:
        """True once no request may be sent (at ``elapsed_s``, default now); notes why."""
        if self.runner.cancel_requested:
            self.stop_reason = self.stop_reason or "cancelled"
            return True
        reason = self.tracker.reason(self._elapsed() if elapsed_s is None else elapsed_s)
        if reason is not None:
            self.stop_reason = self.stop_reason or reason
            return True
        return False

    async def run(self) -> None:
        runner, plan, entry = self.runner, self.runner.plan, self.entry
        if runner.cancel_requested:
            return
        self.prepared = prepared = await prepare_load(
            self.spec, plan.prompts, self.client, self.model.name, plan.params
        )
        if plan.warmup:
            runner._set_phase(entry, ModelPhase.WARMING)
            for i in range(plan.warmup):
                if runner.cancel_requested:
                    return
                planned = prepared.request(i)
                record, _ = await runner._request(
                    self.client,
                    self.model,
                    0,
                    planned.prompt_index,
                    True,
                    prompt=planned.prompt,
                )
                entry.records.append(record)
                runner._emit(RunFinished(record=record, model_done=0, model_total=self.total))
        runner._set_phase(entry, ModelPhase.RUNNING)
        self.start_ns = time.perf_counter_ns()
        start_at = None if self.shard is None else self.shard.start_ns
        if start_at is not None:  # the workers' shared start (ShardSpec.start_ns)
            if start_at > self.start_ns:
                await asyncio.sleep((start_at - self.start_ns) / 1e9)
            self.start_ns = start_at
        open_loop = self.spec.arrival is not None
        # an open loop's process policy lasts until its last request is done
        with open_loop_policy(active=open_loop) as collector:
            async with asyncio.TaskGroup() as group:
                if open_loop:
                    await self._open_loop(group, collector)
                else:
                    ramp = self.spec.ramp_up_s
                    starts = (
                        worker_start_times(plan.concurrency, ramp)
                        if self.shard is None
                        else self.shard.stream_starts(ramp)
                    )
                    for start_s in starts:
                        group.create_task(self._closed_worker(start_s))
        if runner.cancel_requested:
            return
        summary = summarise(self.model.name, entry.records, plan.prices)
        summary.load = self.summary()
        entry.summary = summary
        entry.phase = ModelPhase.FAILED if summary.runs and not summary.ok else ModelPhase.DONE
        runner._emit(ModelFinished(model=self.model.name, summary=summary, phase=entry.phase))

    async def _open_loop(self, group: asyncio.TaskGroup, collector: TimetableCollector) -> None:
        """Send on the timetable: each conversation runs in its own task, started
        ``SEND_LEAD_NS`` before its send time (see open_loop_policy for the collector)."""
        assert self.spec.arrival is not None
        times = arrival_times(self.spec.arrival, self.spec.seed, self.spec.ramp_up_s)
        start = self.start_ns
        perf = time.perf_counter_ns
        shard = self.shard
        upcoming: deque[int] = deque()  # send times of the requests started, not yet due
        for k, offset in enumerate(times):  # arrival k opens conversation k
            if shard is not None and not shard.owns(k):
                continue  # another worker's arrival
            due = start + round(offset * 1e9)
            if self._stopped(offset):
                return
            delay = due - perf()
            if delay > SEND_LEAD_NS:
                await asyncio.sleep((delay - SEND_LEAD_NS) / 1e9)
            if self.runner.cancel_requested:
                return
            self.conversations += 1
            self.tracker.on_sent()
            group.create_task(self._conversation(k, due))
            upcoming.append(due)
            now = perf()
            while upcoming and upcoming[0] <= now:
                upcoming.popleft()
            collector.idle(upcoming[0] - now if upcoming else None)

    async def _closed_worker(self, start_s: float) -> None:
        if start_s > 0:
            await asyncio.sleep(start_s)
        while not self._stopped():
            j = self.conversations
            n = j if self.shard is None else self.shard.global_index(j)
            self.conversations += 1
            self.tracker.on_sent()
            await self._conversation(n, None)

    async def _conversation(self, n: int, intended_ns: int | None) -> None:
        """Conversation ``n``: its first request (sent as counted by the caller), then
        each later turn with the transcript and the answer so far."""
        assert self.prepared is not None
        runner, plan, spec = self.runner, self.runner.plan, self.spec
        planned = self.prepared.request(n)
        prompt = planned.prompt
        out = planned.output_tokens_asked
        params = plan.params
        answer = ""
        history: tuple[ChatTurn, ...] = ()  # the earlier turns, sent before the prompt
        if out is not None:
            # ask for exactly this many: llama.cpp and vLLM take ignore_eos (vLLM also
            # min_tokens); other servers ignore them or stop earlier, and the summary's
            # asked-against-actual shows it
            params = replace(params, max_tokens=out, min_tokens=out, ignore_eos=True)
        for turn in range(1, spec.turns + 1):
            if turn > 1:
                if self._stopped():
                    return
                self.tracker.on_sent()
                # chat APIs get the turns as messages (user, assistant...), a completion
                # API the transcript as one text (api.base.conversation_text)
                history += (ChatTurn("user", prompt), ChatTurn("assistant", answer))
                prompt = followup_text(planned, turn)
                intended_ns = None
            if self.slots is not None:
                if intended_ns is not None:
                    # --max-concurrency caps requests on the wire: a slot is taken at the
                    # send time, not ahead of it (the request is then built after it)
                    await wait_until(intended_ns)
                await self.slots.acquire()
            flight = _InFlight(self, intended_ns)  # counted from the send time on
            try:
                with send_at(intended_ns):  # the transport holds the bytes until then
                    record, answer = await runner._request(
                        self.client,
                        self.model,
                        1,
                        planned.prompt_index,
                        False,
                        prompt=prompt,
                        params=params,
                        history=history,
                    )
            finally:
                flight.leave()
                if self.slots is not None:
                    self.slots.release()
            intended_at = lag = None
            if intended_ns is not None:
                intended_at = (intended_ns - runner._bench_start_ns) / 1e9
                lag = record.started_at_s - intended_at
            record.load = LoadStamp(
                conversation=n,
                turn=turn,
                intended_at_s=intended_at,
                schedule_lag_s=lag,
                ttft_from_intended_s=(
                    None if lag is None or record.ttft_s is None else record.ttft_s + lag
                ),
                e2e_from_intended_s=(
                    None if lag is None or record.e2e_s is None else record.e2e_s + lag
                ),
                input_tokens_asked=planned.input_tokens_asked if turn == 1 else None,
                output_tokens_asked=out,
                cached_tokens=cached_tokens(record),
            )
            self.entry.records.append(record)
            self.done += 1
            self.tracker.on_finished(record.ok)
            runner._emit(
                RunFinished(
                    record=record, model_done=self.done, model_total=max(self.total, self.done)
                )
            )
            if not record.ok:
                return  # no answer to carry into the next turn
