"""The Ollama client over real loopback HTTP against the demo endpoint."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ometer_tui.core.api import ClientError, detect_flavour, open_client, probe
from ometer_tui.core.api.base import (
    ErrorKind,
    ExchangeLogged,
    GenerationObservation,
    GenerationRequest,
    ImageInput,
)
from ometer_tui.core.api.ollama import OllamaClient
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    TimeoutPolicy,
    Workload,
)
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.catalogue import BY_NAME, CATALOGUE
from ometer_tui.demo.server import DemoServerThread, run_in_thread

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _endpoint(url: str, **kw: Any) -> Endpoint:
    return Endpoint(name="demo", url=url, api=ApiFlavour.OLLAMA, **kw)


def _client(url: str, **kw: Any) -> OllamaClient:
    client = open_client(_endpoint(url, **kw))
    assert isinstance(client, OllamaClient)
    return client


def _req(model: str, max_tokens: int | None = 8, **kw: Any) -> GenerationRequest:
    return GenerationRequest(model, "Tell me about the sea.", GenerationParams(max_tokens), **kw)


def _ms(obs: GenerationObservation, stamp: int | None) -> float:
    assert stamp is not None
    return (stamp - obs.sent_ns) / 1e6


async def test_discovery_metadata_and_sort(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        models = await client.list_models()
    expected = sorted(CATALOGUE, key=lambda m: m.modified_at, reverse=True)
    assert [m.name for m in models] == [m.name for m in expected]
    by_name = {m.name: m for m in models}
    for truth in CATALOGUE:
        got = by_name[truth.name]
        assert got.parameter_size == truth.parameter_size
        assert got.quantization == truth.quantization
        assert got.context_length == truth.context_length
        assert got.family == truth.family
        assert got.size_bytes == truth.size_bytes
        assert set(got.capabilities) == set(truth.capabilities)
    assert by_name["demo-embed:335m"].workload is Workload.EMBEDDING
    assert by_name["demo-vision:4b"].workload is Workload.VISION
    assert by_name["demo-think:7b"].thinks


async def test_list_without_details_infers_capabilities(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        models = await client.list_models(details=False)
    by_name = {m.name: m for m in models}
    assert by_name["demo-fast:1b"].context_length is None
    assert by_name["demo-fast:1b"].quantization == "Q4_K_M"
    assert by_name["demo-embed:335m"].capabilities == ("embedding",)  # family "bert"
    assert demo.stats().by_path.get("/api/show", 0) == 0


async def test_server_info_and_probe(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        info = await client.server_info()
        assert info.flavour is ApiFlavour.OLLAMA
        assert info.version and info.model_count == len(CATALOGUE)
        assert (await client.generate(_req("demo-fast:1b", 2))).error is None
        assert "demo-fast:1b" in (await client.server_info()).loaded_models
    auto = Endpoint(name="auto", url=demo.url)
    assert await detect_flavour(auto) is ApiFlavour.OLLAMA
    assert (await probe(auto)).flavour is ApiFlavour.OLLAMA


async def test_streamed_chat_timing_and_usage(demo: DemoServerThread) -> None:
    truth = BY_NAME["demo-medium:8b"]
    async with _client(demo.url) as client:
        await client.warm_pool(2)
        obs = await client.generate(_req(truth.name, 12))
    assert obs.error is None and obs.done and obs.status == 200
    assert obs.output_tokens == 12 and obs.prompt_tokens
    assert obs.token_chunks == len(obs.token_times_ns) == 12
    assert obs.sent_ns < obs.first_byte_ns <= obs.first_token_ns  # type: ignore[operator]
    assert obs.first_visible_ns == obs.first_token_ns
    ttft = _ms(obs, obs.first_token_ns)
    # cold load (0.4 s) + ttft on the server's schedule, plus loopback overhead
    assert truth.load_s * 1000 + truth.ttft_s * 1000 <= ttft + 2 < 1000
    e2e = _ms(obs, obs.last_token_ns)
    assert e2e - ttft == pytest.approx(11 * truth.interval_s * 1000, abs=30)
    assert obs.text.startswith("The sea keeps")
    assert obs.server_timings["load_s"] == pytest.approx(truth.load_s, abs=0.1)
    assert obs.server_timings["eval_count"] == 12.0
    assert {"prompt_eval_s", "eval_s", "total_s", "prompt_eval_count"} <= set(obs.server_timings)
    assert obs.response_headers["content-type"].startswith("application/x-ndjson")
    assert obs.finished_ns is not None and obs.finished_ns >= obs.last_token_ns  # type: ignore[operator]


async def test_completion_uses_generate(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(
            _req("demo-fast:1b", 5, workload=Workload.COMPLETION, system="Be brief.")
        )
    assert obs.error is None and obs.done and obs.output_tokens == 5
    assert demo.stats().by_path["/api/generate"] == 1


async def test_keep_text_chars(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req("demo-fast:1b", 10, keep_text_chars=6))
        none = await client.generate(_req("demo-fast:1b", 3, keep_text_chars=0))
    assert obs.text == "The se" and none.text == "" and none.token_chunks == 3


async def test_reasoning_tokens_first_token_vs_visible(demo: DemoServerThread) -> None:
    truth = BY_NAME["demo-think:7b"]
    async with _client(demo.url) as client:
        obs = await client.generate(_req(truth.name, truth.output_tokens))
    assert obs.error is None and obs.reasoning_chars > 0
    gap = _ms(obs, obs.first_visible_ns) - _ms(obs, obs.first_token_ns)
    assert gap == pytest.approx(truth.reasoning_tokens * truth.interval_s * 1000, abs=25)
    assert obs.token_chunks == truth.output_tokens
    async with _client(demo.url) as client:
        off = await client.generate(_req(truth.name, 4, think=False))
    assert off.error is None and off.reasoning_chars == 0
    assert off.first_visible_ns == off.first_token_ns


async def test_vision_image_reaches_the_server(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(
            _req("demo-vision:4b", 8, workload=Workload.VISION, images=(ImageInput(PNG),))
        )
    assert obs.error is None, obs.error
    assert obs.text.startswith(f"I see 1 image ({len(PNG)} bytes)")


async def test_embeddings(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.embed("demo-embed:335m", ["one", "two", "three"])
        bad = await client.embed("no-such-model", ["x"])
    assert obs.error is None and obs.vectors == 3 and obs.dimensions == 1024
    assert obs.input_tokens and obs.finished_ns and obs.finished_ns > obs.sent_ns
    assert bad.error is not None and bad.error.status == 404
    assert "not found" in bad.error.message


@pytest.mark.parametrize(
    ("model", "kind", "message", "tokens"),
    [
        ("fault-forbidden", ErrorKind.HTTP, "forbidden", 0),
        ("fault-rate-limited", ErrorKind.HTTP, "rate limit", 0),
        ("fault-server-error", ErrorKind.HTTP, "simulated internal server error", 0),
        ("fault-error-mid-stream", ErrorKind.STREAM, "mid-stream", 3),
        ("fault-malformed-line", ErrorKind.PROTOCOL, "malformed stream line", 16),
        ("fault-reset", ErrorKind.RESET, "connection closed mid-stream after 3 tokens", 3),
        ("fault-truncated", ErrorKind.INCOMPLETE, "without done:true after 3 tokens", 3),
        ("no-such-model", ErrorKind.HTTP, 'model "no-such-model" not found', 0),
    ],
)
async def test_named_faults(
    demo: DemoServerThread, model: str, kind: ErrorKind, message: str, tokens: int
) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req(model, 16))
    assert obs.error is not None
    assert obs.error.kind is kind
    assert message in obs.error.message
    assert obs.token_chunks == tokens
    assert obs.error.before_first_byte is (tokens == 0)
    if kind is ErrorKind.PROTOCOL:
        assert obs.malformed_lines == 1 and obs.done  # reading went on to the end
    if model == "fault-rate-limited":
        assert obs.error.status == 429 and obs.error.retry_after_s == 1.0
        assert obs.error.retryable


@pytest.mark.parametrize(
    ("model", "text"),
    [
        ("fault-http-503-empty", "503 Service Unavailable"),
        ("fault-http-502-html", "502 Bad Gateway: simulated HTTP 502 Bad Gateway ometer-demo"),
        ("fault-http-500-text", "500 simulated HTTP 500 Internal Server Error"),
        ("fault-http-400-json", "400 simulated HTTP 400 Bad Request"),
    ],
)
async def test_http_fault_matrix(demo: DemoServerThread, model: str, text: str) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req(model))
    assert obs.error is not None and obs.error.kind is ErrorKind.HTTP
    assert str(obs.error) == text


async def test_retry_after_ms_header(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req("fault-http-503-json-retry-after-ms"))
        dated = await client.generate(_req("fault-http-429-empty-retry-after-date"))
    assert obs.error is not None and obs.error.retry_after_s == pytest.approx(0.2)
    assert dated.error is not None and dated.error.retry_after_s is not None
    assert 0 <= dated.error.retry_after_s <= 2.5


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with _client(url) as client:
        obs = await client.generate(_req("demo-fast:1b"))
        with pytest.raises(ClientError) as raised:
            await client.list_models()
    assert obs.error is not None and obs.error.kind is ErrorKind.CONNECT
    assert obs.error.message == f"connection refused by 127.0.0.1:{port}"
    assert obs.error.retryable
    assert raised.value.error.kind is ErrorKind.CONNECT


async def test_read_timeout_on_stall(demo: DemoServerThread) -> None:
    policy = TimeoutPolicy(connect_s=2, read_s=0.3, total_s=10)
    async with _client(demo.url, timeouts=policy) as client:
        obs = await client.generate(_req("fault-stall", 16))
    assert obs.error is not None and obs.error.kind is ErrorKind.TIMEOUT
    assert obs.error.message == "no data for 0.3 s between chunks (after 3 tokens)"
    assert obs.token_chunks == 3 and not obs.error.before_first_byte


async def test_whole_request_timeout(demo: DemoServerThread) -> None:
    policy = TimeoutPolicy(connect_s=2, read_s=5, total_s=0.3)
    async with _client(demo.url, timeouts=policy) as client:
        obs = await client.generate(_req("fault-stall", 16))
    assert obs.error is not None and obs.error.kind is ErrorKind.TIMEOUT
    assert obs.error.message == "request exceeded 0.3 s"
    assert obs.token_chunks == 3


async def test_auth_headers_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "demo-token-0123456789abcdef"
    monkeypatch.setenv("OMETER_TEST_KEY", "key-abc")
    with run_in_thread(require_token=token) as server:
        async with _client(server.url) as anonymous:
            denied = await anonymous.generate(_req("demo-fast:1b"))
        assert denied.error is not None and str(denied.error) == "401 unauthorized"
        exchanges: list[ExchangeLogged] = []
        endpoint = _endpoint(
            server.url,
            token=TokenRef(value=Secret(token)),
            api_key=TokenRef(env="OMETER_TEST_KEY"),
            headers={"X-Extra": "yes"},
        )
        client = open_client(endpoint, on_exchange=exchanges.append)
        try:
            obs = await client.generate(_req("demo-fast:1b", 2))
            assert len(await client.list_models(details=False)) == len(CATALOGUE)
        finally:
            await client.aclose()
        headers = server.stats().last_headers
    assert obs.error is None
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["x-api-key"] == "key-abc"
    assert headers["x-extra"] == "yes"
    assert len(exchanges) == 2
    logged = exchanges[0]
    assert logged.method == "POST" and logged.url.endswith("/api/chat")
    assert logged.status == 200 and '"done":true' in logged.response_excerpt
    flat = repr(exchanges)
    assert token not in flat and "key-abc" not in flat
    assert logged.request_headers["authorization"].startswith("Bearer ••••")


async def test_exchange_log_elides_images(demo: DemoServerThread) -> None:
    exchanges: list[ExchangeLogged] = []
    client = open_client(_endpoint(demo.url), on_exchange=exchanges.append)
    try:
        obs = await client.generate(
            _req("demo-vision:4b", 2, workload=Workload.VISION, images=(ImageInput(PNG),))
        )
    finally:
        await client.aclose()
    assert obs.error is None
    assert "bytes base64>" in exchanges[0].request_body
    assert len(exchanges[0].request_body) < 1000


async def test_token_refused_over_plain_http_to_a_remote_host() -> None:
    endpoint = _endpoint("http://gpu-box.example:11434", token=TokenRef(value=Secret("t0k")))
    async with open_client(endpoint) as client:  # type: ignore[attr-defined]
        obs = await client.generate(_req("m"))
        with pytest.raises(ClientError) as raised:
            await client.list_models()
    assert obs.error is not None and obs.error.kind is ErrorKind.CONFIG
    assert "allow_insecure_http" in obs.error.message and "'demo'" in obs.error.message
    assert obs.sent_ns == 0  # nothing was sent
    assert raised.value.error.kind is ErrorKind.CONFIG


async def test_unset_token_variable_is_a_config_error(demo: DemoServerThread) -> None:
    endpoint = _endpoint(demo.url, token=TokenRef(env="OMETER_SURELY_UNSET_VAR"))
    async with _client(endpoint.url, token=endpoint.token) as client:
        obs = await client.generate(_req("demo-fast:1b"))
    assert obs.error is not None and obs.error.kind is ErrorKind.CONFIG
    assert "OMETER_SURELY_UNSET_VAR" in obs.error.message


async def test_wrong_flavour_message() -> None:
    with run_in_thread(flavours=frozenset({"openai"})) as server:
        async with _client(server.url) as client:
            with pytest.raises(ClientError) as raised:
                await client.list_models()
        auto = Endpoint(name="auto", url=server.url)
        assert await detect_flavour(auto) is ApiFlavour.OPENAI
    message = str(raised.value)
    assert "does not speak the Ollama API (404 on /api/tags)" in message
    assert 'answers /v1/models: set api = "openai"' in message


async def test_warm_pool_opens_connections(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        await client.warm_pool(4)
        transport = client._http._transport  # type: ignore[attr-defined]
        assert transport.open_connections == 4
        before = demo.stats().requests
        obs = await client.generate(_req("demo-fast:1b", 2))
        assert obs.error is None
        assert transport.open_connections == 4  # the measured request reused one
    assert demo.stats().requests == before + 1
