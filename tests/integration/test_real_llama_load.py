"""Loads against a real llama.cpp server (``xllamacpp`` + SmolLM2-135M, see
tests/support/llama_server.py): open-loop Poisson arrivals, synthetic input lengths
measured with the server's own ``/tokenize``, output lengths held with ``ignore_eos``,
and a shared prefix that the server's prompt cache serves (``timings.cache_n``).

Skipped, with the reason in the summary, where xllamacpp or the model is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest

from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    TimeoutPolicy,
)
from tests.support.llama_server import MODEL_ALIAS, LlamaUnavailable, llama_server

pytestmark = pytest.mark.real_server


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    try:
        with llama_server(
            tmp_path_factory.mktemp("llama-load"), n_parallel=2, n_ctx_per_slot=2048
        ) as server:
            # generous timeouts: on a shared 2-core machine the server may be slow
            yield Endpoint(
                name="llama.cpp",
                url=server.url,
                api=ApiFlavour.OPENAI,
                timeouts=TimeoutPolicy(read_s=300.0, total_s=600.0),
            )
    except LlamaUnavailable as exc:
        pytest.skip(f"REAL-SERVER TEST NOT RUN: {exc}")


async def run_load(llama: Endpoint, load: LoadSpec) -> tuple[BenchmarkResult, list[RunRecord]]:
    plan = BenchmarkPlan(
        endpoint=llama,
        models=(ModelInfo(MODEL_ALIAS),),
        warmup=0,
        params=GenerationParams(max_tokens=16, temperature=0.0, seed=1),
        load=load,
    )
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, [r for r in result.models[MODEL_ALIAS].records if not r.warmup]


@pytest.mark.timeout(900)
async def test_open_loop_poisson_with_synthetic_lengths(llama: Endpoint) -> None:
    """Poisson arrivals at 2/s; prompts of 200 tokens as the server counts them (within
    5%); answers of exactly 16 tokens (ignore_eos stops the model ending early)."""
    load = LoadSpec(
        arrival=ArrivalSpec(2.0, ArrivalKind.POISSON),
        stop=StopConditions(max_requests=8),
        input_tokens=Fixed(200),
        output_tokens=Fixed(16),
        seed=2,
    )
    result, records = await run_load(llama, load)
    assert len(records) == 8 and all(r.ok for r in records), [r.error for r in records]
    for r in records:
        assert r.prompt_tokens is not None and abs(r.prompt_tokens - 200) <= 0.05 * 200
        assert r.output_tokens == 16
        assert r.load is not None and r.load.schedule_lag_s is not None
        assert r.load.schedule_lag_s >= 0
    summary = result.models[MODEL_ALIAS].summary
    assert summary is not None and summary.load is not None
    assert summary.load.token_source == "tokenize"
    assert summary.load.mode == "open" and summary.load.achieved_rate is not None


@pytest.mark.timeout(900)
async def test_shared_prefix_is_served_from_the_prompt_cache(llama: Endpoint) -> None:
    """A 300-token shared prefix before 40-token prompts, one at a time: after the first
    requests (one per slot), the server reports the prefix as cached (cache_n)."""
    load = LoadSpec(
        stop=StopConditions(max_requests=5),
        input_tokens=Fixed(340),
        output_tokens=Fixed(2),
        shared_prefix_tokens=300,
        seed=3,
    )
    result, records = await run_load(llama, load)
    assert all(r.ok for r in records), [r.error for r in records]
    ordered = sorted(records, key=lambda r: r.started_at_s)
    cached = [r.load.cached_tokens if r.load else None for r in ordered]
    assert all(c is not None for c in cached), cached
    assert all(c is not None and c >= 280 for c in cached[2:]), cached
    assert cached[0] is not None and cached[0] < 100  # the first found no prefix cached
    summary = result.models[MODEL_ALIAS].summary
    assert summary is not None and summary.load is not None
    assert summary.load.cached_tokens_total is not None
    assert summary.load.runs_with_cache_hits >= 3


@pytest.mark.timeout(900)
async def test_multi_turn_chat_sends_the_turns_and_input_tokens_grow(llama: Endpoint) -> None:
    """Conversations of 3 turns on /v1/chat/completions: each turn carries the earlier
    ones as messages (the previous answers as assistant messages), so the server's own
    prompt token count grows turn after turn, by more than the answer that came back."""
    load = LoadSpec(
        stop=StopConditions(max_requests=6),
        input_tokens=Fixed(60),
        output_tokens=Fixed(12),
        turns=3,
        seed=5,
    )
    result, records = await run_load(llama, load)
    assert len(records) == 6 and all(r.ok for r in records), [r.error for r in records]
    by_conversation: dict[int, list[RunRecord]] = {}
    for r in records:
        assert r.load is not None
        by_conversation.setdefault(r.load.conversation, []).append(r)
    assert len(by_conversation) == 2
    for turns in by_conversation.values():
        ordered = sorted(turns, key=lambda r: r.load.turn if r.load else 0)
        tokens = [r.prompt_tokens or 0 for r in ordered]
        assert [r.load.turn for r in ordered if r.load] == [1, 2, 3]
        # each turn adds the 12-token answer, the follow-up and the template's tokens
        assert tokens[0] > 0 and all(b > a + 12 for a, b in pairwise(tokens)), tokens
    summary = result.models[MODEL_ALIAS].summary
    assert summary is not None and summary.load is not None
    means = [t.prompt_tokens_mean or 0 for t in summary.load.turns]
    assert means == sorted(means) and len(means) == 3
