"""A demo model where load matters: K slots, a queue, prefill, a shared decode rate and
a prefix cache (continuous batching as vLLM and llama.cpp do it, simplified).

The engine runs in steps, as a batching server does. A step is either

* a prefill step: requests admitted from the queue into free slots (at most ``slots``
  running) have their prompt read: ``uncached prompt tokens / prefill_tps`` seconds
  (summed over the requests admitted together); each gets its first token at the end;
* or a decode step: every running request gets one more token; the step takes
  ``max(1 / stream_tps, running / decode_tps)``: one stream alone is limited by
  ``stream_tps``, many share the aggregate ``decode_tps``.

A request that finds every slot taken waits in the queue (FIFO): its TTFT grows with the
queue. With prompts of ``I`` tokens and answers of ``O`` tokens, the most requests per
second the model can serve (the knee of latency against load) is, when saturated::

    knee = 1 / (I / prefill_tps + (O - 1) * max(1 / stream_tps, slots / decode_tps) / slots)

(:meth:`CapacityParams.knee_rate`). The prefix cache keeps prompts in blocks of
``block_tokens`` words (the demo counts a word as a token): a prompt whose leading blocks
are cached skips their prefill, as a real prefix cache does.

``simulate`` runs the same engine on virtual time (the tests check the knee with it);
``engine_for`` gives the live engine a demo route paces a ``cap-`` model's tokens with.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ometer_tui.demo.state import Exchange


@dataclass(frozen=True, slots=True)
class CapacityParams:
    slots: int = 4
    prefill_tps: float = 4000.0  # prompt tokens per second
    stream_tps: float = 50.0  # one stream's top decode rate
    decode_tps: float = 120.0  # decode tokens per second shared by the running requests
    block_tokens: int = 16  # prefix cache granularity
    cache_blocks: int = 8192  # prefix cache size (LRU)

    def decode_step_s(self, running: int) -> float:
        return max(1.0 / self.stream_tps, running / self.decode_tps)

    def knee_rate(self, input_tokens: float, output_tokens: float, cached: float = 0) -> float:
        """Requests per second served at saturation (see the module's docstring)."""
        prefill = max(0.0, input_tokens - cached) / self.prefill_tps
        decode = max(0.0, output_tokens - 1) * self.decode_step_s(self.slots) / self.slots
        return 1.0 / (prefill + decode)


#: The demo's capacity models (listed in the catalogue as ``cap-*``) and their figures.
CAPACITY_MODELS: dict[str, CapacityParams] = {
    "cap-4slot:1b": CapacityParams(),
}


@dataclass(slots=True)
class Job:
    """One request inside the engine."""

    prompt_tokens: int
    output_tokens: int
    blocks: tuple[bytes, ...] = ()  # hashes of the prompt's leading blocks
    arrival: float = 0.0
    admitted: float | None = None
    cached_tokens: int = 0
    emitted: int = 0
    token_times: list[float] = field(default_factory=list)
    event: asyncio.Event | None = None  # live engine: set at each token

    @property
    def done(self) -> bool:
        return self.emitted >= self.output_tokens


def prompt_blocks(words: Sequence[str], block: int) -> tuple[bytes, ...]:
    """Hashes of the cumulative prefixes at each whole block of words."""
    out: list[bytes] = []
    digest = hashlib.blake2b(digest_size=16)
    for start in range(0, len(words) - len(words) % block, block):
        digest.update("\0".join(words[start : start + block]).encode())
        digest.update(b"\1")
        out.append(digest.copy().digest())
    return tuple(out)


class BatchEngine:
    """The stepping engine on any clock: ``step`` says how long the next step takes and
    applies it; the caller advances time (virtually or by sleeping)."""

    def __init__(self, params: CapacityParams) -> None:
        self.params = params
        self.queue: deque[Job] = deque()
        self.running: list[Job] = []
        self.cache: OrderedDict[bytes, None] = OrderedDict()

    @property
    def busy(self) -> bool:
        return bool(self.queue or self.running)

    def submit(self, job: Job) -> None:
        self.queue.append(job)

    def _cached_tokens(self, job: Job) -> int:
        hits = 0
        for block in job.blocks:
            if block not in self.cache:
                break
            self.cache.move_to_end(block)
            hits += 1
        return min(hits * self.params.block_tokens, job.prompt_tokens)

    def _remember(self, job: Job) -> None:
        for block in job.blocks:
            self.cache[block] = None
            self.cache.move_to_end(block)
        while len(self.cache) > self.params.cache_blocks:
            self.cache.popitem(last=False)

    def plan_step(self, now: float) -> tuple[float, list[Job], bool]:
        """(duration, the jobs it concerns, is-prefill) of the next step; admits queued
        jobs into free slots (their prefill comes first)."""
        admitted: list[Job] = []
        while self.queue and len(self.running) + len(admitted) < self.params.slots:
            job = self.queue.popleft()
            job.admitted = now
            job.cached_tokens = self._cached_tokens(job)
            admitted.append(job)
        if admitted:
            self.running.extend(admitted)
            work = sum(j.prompt_tokens - j.cached_tokens for j in admitted)
            return work / self.params.prefill_tps, admitted, True
        if self.running:
            return self.params.decode_step_s(len(self.running)), list(self.running), False
        return 0.0, [], False

    def finish_step(self, end: float, jobs: list[Job], prefill: bool) -> None:
        for job in jobs:
            if prefill:
                self._remember(job)
            if job.output_tokens > job.emitted:
                job.emitted += 1
                job.token_times.append(end)
            if job.event is not None:
                job.event.set()
        self.running = [j for j in self.running if not j.done]


@dataclass(frozen=True, slots=True)
class SimResult:
    arrival: float
    queue_s: float  # arrival -> admitted into a slot
    ttft_s: float
    e2e_s: float
    cached_tokens: int


def simulate(params: CapacityParams, arrivals: Sequence[tuple[float, int, int]]) -> list[SimResult]:
    """Run the engine on virtual time for (arrival time, prompt tokens, output tokens)
    requests, in arrival order; each request's figures, in the same order."""
    engine = BatchEngine(params)
    jobs = [Job(p, o, arrival=t) for t, p, o in arrivals]
    now = 0.0
    pending = deque(sorted(jobs, key=lambda j: j.arrival))
    while pending or engine.busy:
        while pending and pending[0].arrival <= now:
            engine.submit(pending.popleft())
        if not engine.busy:
            now = pending[0].arrival
            continue
        duration, stepped, prefill = engine.plan_step(now)
        now += duration
        engine.finish_step(now, stepped, prefill)
    return [
        SimResult(
            arrival=j.arrival,
            queue_s=(j.admitted or j.arrival) - j.arrival,
            ttft_s=(j.token_times[0] if j.token_times else now) - j.arrival,
            e2e_s=(j.token_times[-1] if j.token_times else now) - j.arrival,
            cached_tokens=j.cached_tokens,
        )
        for j in jobs
    ]


class LiveEngine:
    """The engine on the demo server's event loop: one task steps while there is work,
    sleeping each step on an absolute schedule; routes await their job's tokens."""

    def __init__(self, params: CapacityParams, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = BatchEngine(params)
        self.loop = loop
        self._task: asyncio.Task[None] | None = None

    def submit(self, prompt_words: Sequence[str], prompt_tokens: int, output_tokens: int) -> Job:
        job = Job(
            prompt_tokens,
            output_tokens,
            blocks=prompt_blocks(prompt_words, self.engine.params.block_tokens),
            arrival=self.loop.time(),
            event=asyncio.Event(),
        )
        self.engine.submit(job)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run())
        return job

    async def _run(self) -> None:
        engine, loop = self.engine, self.loop
        deadline = loop.time()
        while engine.busy:
            now = loop.time()
            deadline = max(deadline, now - 0.001)  # idle or late: do not catch up bursts
            duration, jobs, prefill = engine.plan_step(deadline)
            deadline += duration
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            engine.finish_step(deadline, jobs, prefill)

    async def wait_token(self, job: Job, index: int) -> None:
        """Until token ``index`` (0-based) of ``job`` has been produced."""
        assert job.event is not None
        while job.emitted <= index:
            job.event.clear()
            await job.event.wait()


_ENGINES: dict[tuple[int, str], LiveEngine] = {}


def engine_for(state: object, model: str, loop: asyncio.AbstractEventLoop) -> LiveEngine | None:
    """The live engine of ``model`` on this demo server (``state``), or None when the
    model has no capacity model."""
    params = CAPACITY_MODELS.get(model)
    if params is None:
        return None
    key = (id(state), model)
    engine = _ENGINES.get(key)
    if engine is None or engine.loop is not loop:
        engine = _ENGINES[key] = LiveEngine(params, loop)
    return engine


def prompt_words(body: object) -> list[str]:
    """The words of a chat or completion request's prompt (what the demo counts)."""
    if not isinstance(body, dict):
        return []
    texts: list[str] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p["text"] for p in content if isinstance(p, dict) and "text" in p]
    for key in ("prompt",):
        value = body.get(key)
        if isinstance(value, str):
            texts.append(value)
    return " ".join(texts).split()


def pacer(
    ex: Exchange, model: str, prompt_tokens: int, output_tokens: int
) -> Callable[[int], Awaitable[None]] | None:
    """For a ``cap-`` model: submit the request to its engine and return a wait for
    token ``i``; None for every other model (their tokens keep their fixed schedule)."""
    engine = engine_for(ex.state, model, ex.loop)
    if engine is None:
        return None
    job = engine.submit(prompt_words(ex.body()), prompt_tokens, output_tokens)

    def wait(index: int) -> Awaitable[None]:
        return engine.wait_token(job, index)

    return wait
