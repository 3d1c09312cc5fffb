"""The OpenAI-compatible client over real loopback HTTP against the demo endpoint."""

from __future__ import annotations

import asyncio
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
from ometer_tui.core.api.openai import OpenAIClient
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ResponseFormat,
    TimeoutPolicy,
    Workload,
)
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.catalogue import BY_NAME, CATALOGUE
from ometer_tui.demo.server import DemoServerThread, run_in_thread

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2


def _endpoint(url: str, **kw: Any) -> Endpoint:
    return Endpoint(name="demo", url=url, api=ApiFlavour.OPENAI, **kw)


def _client(url: str, **kw: Any) -> OpenAIClient:
    client = open_client(_endpoint(url, **kw))
    assert isinstance(client, OpenAIClient)
    return client


def _req(model: str, max_tokens: int | None = 8, **kw: Any) -> GenerationRequest:
    params = kw.pop("params", None) or GenerationParams(max_tokens)
    return GenerationRequest(model, "Tell me about the sea.", params, **kw)


def _ms(obs: GenerationObservation, stamp: int | None) -> float:
    assert stamp is not None
    return (stamp - obs.sent_ns) / 1e6


async def test_discovery_and_sort(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        models = await client.list_models()
        info = await client.server_info()
    expected = sorted(CATALOGUE, key=lambda m: m.modified_at, reverse=True)
    assert [m.name for m in models] == [m.name for m in expected]
    by_name = {m.name: m for m in models}
    assert by_name["demo-embed:335m"].capabilities == ("embedding",)
    assert by_name["demo-fast:1b"].capabilities == ("completion",)
    assert by_name["demo-fast:1b"].owned_by
    assert by_name["demo-fast:1b"].modified_at == "2026-11-20T10:00:00Z"
    assert info.flavour is ApiFlavour.OPENAI and info.model_count == len(CATALOGUE)
    assert info.backend


async def test_streamed_chat_with_usage(demo: DemoServerThread) -> None:
    truth = BY_NAME["demo-fast:1b"]
    async with _client(demo.url) as client:
        await client.warm_pool(2)
        obs = await client.generate(_req(truth.name, 20))
    assert obs.error is None and obs.done and obs.usage_requested
    assert obs.output_tokens == 20 and obs.prompt_tokens
    assert obs.token_chunks == len(obs.token_times_ns) == 20  # the role chunk is no token
    assert obs.first_visible_ns == obs.first_token_ns
    ttft = _ms(obs, obs.first_token_ns)
    assert truth.ttft_s * 1000 <= ttft + 2 < 500
    e2e = _ms(obs, obs.last_token_ns)
    assert e2e - ttft == pytest.approx(19 * truth.interval_s * 1000, abs=30)
    assert obs.text.startswith("The sea keeps")
    assert obs.response_headers["content-type"].startswith("text/event-stream")


async def test_sampling_params_and_json_format_are_accepted(demo: DemoServerThread) -> None:
    params = GenerationParams(
        max_tokens=4,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        seed=7,
        stop=("\n\n",),
        frequency_penalty=0.1,
        presence_penalty=0.1,
        response_format=ResponseFormat.JSON,
    )
    async with _client(demo.url) as client:
        obs = await client.generate(_req("demo-fast:1b", params=params, system="Be brief."))
    assert obs.error is None, obs.error


async def test_completions_endpoint(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req("demo-fast:1b", 6, workload=Workload.COMPLETION))
    assert obs.error is None and obs.done and obs.output_tokens == 6 and obs.token_chunks == 6
    assert demo.stats().by_path["/v1/completions"] == 1


async def test_reasoning_tokens_first_token_vs_visible(demo: DemoServerThread) -> None:
    truth = BY_NAME["demo-think:7b"]
    async with _client(demo.url) as client:
        obs = await client.generate(_req(truth.name, truth.output_tokens))
    assert obs.error is None and obs.reasoning_chars > 0
    gap = _ms(obs, obs.first_visible_ns) - _ms(obs, obs.first_token_ns)
    assert gap == pytest.approx(truth.reasoning_tokens * truth.interval_s * 1000, abs=25)


async def test_vision_image_reaches_the_server(demo: DemoServerThread) -> None:
    exchanges: list[ExchangeLogged] = []
    client = open_client(_endpoint(demo.url), on_exchange=exchanges.append)
    try:
        obs = await client.generate(
            _req("demo-vision:4b", 8, workload=Workload.VISION, images=(ImageInput(PNG),))
        )
    finally:
        await client.aclose()
    assert obs.error is None, obs.error
    assert obs.text.startswith(f"I see 1 image ({len(PNG)} bytes)")
    assert "data:image/png;base64,<" in exchanges[0].request_body


async def test_embeddings(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        obs = await client.embed("demo-embed:335m", ["one", "two"])
    assert obs.error is None and obs.vectors == 2 and obs.dimensions == 1024
    assert obs.input_tokens


async def test_stream_options_fallback() -> None:
    with run_in_thread(reject_stream_options=True) as server:
        async with _client(server.url) as client:
            first = await client.generate(_req("demo-fast:1b", 5))
            second = await client.generate(_req("demo-fast:1b", 5))
        paths = server.stats().by_path
    for obs in (first, second):
        assert obs.error is None, obs.error
        assert not obs.usage_requested and obs.output_tokens is None
        assert obs.token_chunks == 5 and obs.done
    # one rejected attempt, then two plain requests: the client remembered
    assert paths["/v1/chat/completions"] == 3


@pytest.mark.parametrize(
    ("model", "kind", "message", "tokens"),
    [
        ("fault-forbidden", ErrorKind.HTTP, "forbidden", 0),
        ("fault-rate-limited", ErrorKind.HTTP, "rate limit exceeded", 0),
        ("fault-server-error", ErrorKind.HTTP, "simulated internal server error", 0),
        ("fault-error-mid-stream", ErrorKind.STREAM, "mid-stream", 3),
        ("fault-malformed-line", ErrorKind.PROTOCOL, "malformed stream line", 16),
        ("fault-reset", ErrorKind.RESET, "connection closed mid-stream after 3 tokens", 3),
        ("fault-truncated", ErrorKind.INCOMPLETE, "without [DONE] after 3 tokens", 3),
        ("no-such-model", ErrorKind.HTTP, "does not exist", 0),
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
    if kind is ErrorKind.PROTOCOL:
        assert obs.malformed_lines == 1 and obs.done


async def test_rate_limited_once_then_ok(demo: DemoServerThread) -> None:
    async with _client(demo.url) as client:
        first = await client.generate(_req("fault-rate-limited-once", 4))
        second = await client.generate(_req("fault-rate-limited-once", 4))
    assert first.error is not None and first.error.retryable
    assert first.error.retry_after_s == pytest.approx(0.05)  # retry-after-ms wins
    assert second.error is None


@pytest.mark.parametrize(
    ("model", "text"),
    [
        ("fault-http-503-empty", "503 Service Unavailable"),
        ("fault-http-504-html", "504 Gateway Timeout: simulated HTTP 504 Gateway Timeout"),
        ("fault-http-429-json-retry-after-s", "429 simulated HTTP 429 Too Many Requests"),
        ("fault-http-401-text", "401 simulated HTTP 401 Unauthorized"),
    ],
)
async def test_http_fault_matrix(demo: DemoServerThread, model: str, text: str) -> None:
    async with _client(demo.url) as client:
        obs = await client.generate(_req(model))
        emb = await client.embed(model, ["x"])
    for error in (obs.error, emb.error):
        assert error is not None and error.kind is ErrorKind.HTTP
        assert str(error).startswith(text)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}") as client:
        obs = await client.generate(_req("demo-fast:1b"))
    assert obs.error is not None and obs.error.kind is ErrorKind.CONNECT
    assert obs.error.message == f"connection refused by 127.0.0.1:{port}"


async def test_read_timeout_on_stall(demo: DemoServerThread) -> None:
    policy = TimeoutPolicy(connect_s=2, read_s=0.3, total_s=10)
    async with _client(demo.url, timeouts=policy) as client:
        obs = await client.generate(_req("fault-stall", 16))
    assert obs.error is not None and obs.error.kind is ErrorKind.TIMEOUT
    assert "no data for 0.3 s between chunks" in obs.error.message
    assert obs.token_chunks == 3


async def test_bearer_token_reaches_the_server() -> None:
    token = "sk-demo-0123456789abcdefghij"
    with run_in_thread(require_token=token) as server:
        async with _client(server.url) as anonymous:
            denied = await anonymous.generate(_req("demo-fast:1b"))
        assert denied.error is not None and denied.error.status == 401
        assert "Incorrect API key" in denied.error.message
        endpoint_kw = {"token": TokenRef(value=Secret(token))}
        async with _client(server.url, **endpoint_kw) as client:
            obs = await client.generate(_req("demo-fast:1b", 2))
            models = await client.list_models()
        assert server.stats().last_headers["authorization"] == f"Bearer {token}"
    assert obs.error is None and len(models) == len(CATALOGUE)


async def test_wrong_flavour_message() -> None:
    with run_in_thread(flavours=frozenset({"ollama"})) as server:
        async with _client(server.url) as client:
            with pytest.raises(ClientError) as raised:
                await client.server_info()
        assert (await probe(Endpoint(name="x", url=server.url))).flavour is ApiFlavour.OLLAMA
    message = str(raised.value)
    assert "does not speak the OpenAI API (404 on /v1/models)" in message
    assert 'set api = "ollama"' in message


async def test_detect_flavour_fails_readably() -> None:
    async with _redirecting_server() as url:
        # Ollama paths are redirected away, /v1/models answers
        assert await detect_flavour(Endpoint(name="x", url=url)) is ApiFlavour.OPENAI
        with pytest.raises(ClientError) as raised:
            await detect_flavour(Endpoint(name="x", url=url + "/none"))
    message = str(raised.value)
    assert message.startswith(f"could not tell which API {url}/none speaks")
    assert "OpenAI (/v1/models): 404 page not found" in message


# -- redirects: a tiny real HTTP server on loopback ---------------------------------------


class _Redirector:
    """Answers every request with a redirect: same origin for /same, else elsewhere."""

    def __init__(self) -> None:
        self.port = 0
        self.paths: list[str] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                path = lines[0].split()[1]
                length = next(
                    (
                        int(v)
                        for k, _, v in (ln.partition(": ") for ln in lines)
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                if length:
                    await reader.readexactly(length)
                self.paths.append(path)
                if path.startswith("/none/"):
                    writer.write(
                        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n"
                        b"content-length: 19\r\n\r\n404 page not found\n"
                    )
                    await writer.drain()
                    continue
                if path.startswith("/same/"):
                    target = f"http://127.0.0.1:{self.port}/v1/models"
                    status = b"307 Temporary Redirect"
                elif path == "/v1/models":
                    body = b'{"object":"list","data":[{"id":"m","created":1}]}'
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                    )
                    await writer.drain()
                    continue
                else:
                    target = "https://elsewhere.example/v1" + path
                    status = b"302 Found"
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nlocation: "
                    + target.encode()
                    + b"\r\ncontent-length: 0\r\n\r\n"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _RedirectCtx:
    def __init__(self) -> None:
        self.redirector = _Redirector()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.redirector.handle, "127.0.0.1", 0)
        self.redirector.port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.redirector.port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.redirector.writers:
            writer.close()
        await asyncio.gather(*self.redirector.tasks, return_exceptions=True)


def _redirecting_server() -> _RedirectCtx:
    return _RedirectCtx()


async def test_cross_origin_redirect_is_not_followed() -> None:
    async with _redirecting_server() as url:
        token = TokenRef(value=Secret("sk-secret-0123456789abcdef"))
        async with _client(url, token=token) as client:
            obs = await client.generate(_req("m"))
    assert obs.error is not None and obs.error.kind is ErrorKind.PROTOCOL
    assert obs.error.message == (
        "redirected to another origin (https://elsewhere.example); "
        f"not followed so the token stays with {url}"
    )


async def test_same_origin_redirect_is_followed() -> None:
    async with _redirecting_server() as url, _client(url + "/same") as client:
        models = await client.list_models()
    assert [m.name for m in models] == ["m"]
