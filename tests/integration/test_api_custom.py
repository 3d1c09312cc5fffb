"""The custom flavour over real loopback HTTP against the demo's LLM API and TGI shapes:
each response mode (raw text, one JSON body, SSE; NDJSON on a small server here), the
X-API-Key header, FastAPI errors as the user sees them, and honest timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from ometer_tui.core.api import CustomClient, GuardedClient, open_client
from ometer_tui.core.api.base import ErrorKind, GenerationRequest, ImageInput
from ometer_tui.core.api.custom_profile import builtin_profile, profile_from_table
from ometer_tui.core.bench.metrics import RunContext, generation_record
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, Workload
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.llm_api import DEMO_API_KEY, TGI_MODEL, answer_words
from ometer_tui.demo.server import DemoServerThread

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _endpoint(url: str, profile: str = "llm-api", key: str | None = DEMO_API_KEY, **kw: Any):
    custom = builtin_profile(profile)
    assert custom is not None
    token = TokenRef(value=Secret(key)) if key is not None else None
    return Endpoint(name="llm", url=url, api=ApiFlavour.CUSTOM, custom=custom, token=token, **kw)


def _client(endpoint: Endpoint) -> CustomClient:
    client = open_client(endpoint)
    assert isinstance(client, CustomClient)
    return client


def _req(model: str = "text_model", max_tokens: int = 12, **kw: Any) -> GenerationRequest:
    params = kw.pop("params", None) or GenerationParams(max_tokens=max_tokens)
    return GenerationRequest(model, "Tell me about the sea.", params, **kw)


def _record(obs: Any) -> Any:
    ctx = RunContext("m", 1, 0, False, 1, 0.0, obs.sent_ns)
    return generation_record(obs, ctx)


async def test_llm_api_text_stream_counts_chunks_and_has_ttft(demo: DemoServerThread) -> None:
    async with _client(_endpoint(demo.url)) as client:
        models = await client.list_models()
        obs = await client.generate(_req(keep_text_chars=1000))
    assert [(m.name, m.workload) for m in models] == [
        ("text_model", Workload.CHAT),
        ("image_model", Workload.VISION),
    ]
    assert obs.error is None, obs.error
    assert obs.text == "".join(answer_words("Tell me about the sea.", 12))
    assert obs.first_token_ns is not None and obs.first_token_ns > obs.sent_ns
    assert not obs.not_streamed
    record = _record(obs)
    assert record.ok
    # the demo writes one word per chunk 5 ms apart: reads are the chunks, an estimate
    assert record.tokens_source == "chunks"
    assert 2 <= record.output_tokens <= 12
    assert record.ttft_s is not None and record.ttft_s < record.e2e_s


async def test_llm_api_json_body_is_not_streamed(demo: DemoServerThread) -> None:
    async with _client(_endpoint(demo.url, "llm-api-json")) as client:
        obs = await client.generate(_req(keep_text_chars=1000))
    assert obs.error is None, obs.error
    assert obs.not_streamed
    assert obs.text == "".join(answer_words("Tell me about the sea.", 12))
    record = _record(obs)
    assert record.ok
    assert record.not_streamed
    assert record.ttft_s is None  # never silently equal to e2e
    assert record.e2e_s is not None and record.e2e_s > 0
    assert record.output_tokens is None and record.tokens_source == "none"


@pytest.mark.parametrize("profile", ["llm-api", "llm-api-json"])
async def test_llm_api_vision_sends_the_image_as_multipart(
    demo: DemoServerThread, profile: str
) -> None:
    request = _req(
        "image_model",
        workload=Workload.VISION,
        images=(ImageInput(PNG, "image/png"),),
        keep_text_chars=1000,
    )
    async with _client(_endpoint(demo.url, profile)) as client:
        obs = await client.generate(request)
        missing = await client.generate(replace(request, images=()))
    assert obs.error is None, obs.error
    assert obs.text.startswith("About Tell: The sea")
    assert missing.error is not None and missing.error.status == 422
    assert "body.image: Field required" in missing.error.message


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [(None, 401, "Missing API Key"), ("wrong-key", 403, "Invalid API Key")],
)
async def test_llm_api_key_errors_read_as_fastapi_detail(
    demo: DemoServerThread, key: str | None, status: int, message: str
) -> None:
    async with _client(_endpoint(demo.url, key=key)) as client:
        obs = await client.generate(_req())
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.HTTP
    assert obs.error.status == status
    assert message in str(obs.error)
    assert demo.stats().last_headers.get("x-api-key", "") == (key or "")


async def test_llm_api_key_goes_in_x_api_key_not_bearer(demo: DemoServerThread) -> None:
    async with _client(_endpoint(demo.url)) as client:
        obs = await client.generate(_req())
    assert obs.error is None
    headers = demo.stats().last_headers
    assert headers["x-api-key"] == DEMO_API_KEY
    assert "authorization" not in headers


async def test_llm_api_server_error_500_detail(demo: DemoServerThread) -> None:
    async with _client(_endpoint(demo.url)) as client:
        obs = await client.generate(replace(_req(), prompt="FAIL500 please"))
    assert obs.error is not None and obs.error.status == 500
    assert "CUDA out of memory" in str(obs.error)


async def test_tgi_sse_stream_reads_token_text_and_usage(demo: DemoServerThread) -> None:
    async with _client(_endpoint(demo.url, "tgi", key=None)) as client:
        models = await client.list_models()
        obs = await client.generate(_req(TGI_MODEL, 10, keep_text_chars=1000))
        refused = await client.generate(
            _req(TGI_MODEL, params=GenerationParams(max_tokens=5, temperature=0.0))
        )
    assert [m.name for m in models] == [TGI_MODEL]
    assert obs.error is None, obs.error
    assert obs.done
    assert obs.output_tokens == 10  # details.generated_tokens
    assert obs.token_chunks == 10
    assert obs.text == "".join(answer_words("Tell me about the sea.", 10))
    assert _record(obs).tokens_source == "usage"
    assert refused.error is not None and refused.error.status == 422
    assert "temperature" in refused.error.message


# -- a tiny server for the NDJSON mode and the stream end flag -------------------------


async def _ndjson_server(lines: list[bytes]) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        for line in lines:
            writer.write(b"%x\r\n%b\r\n" % (len(line), line))
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
async def ndjson_profile() -> AsyncIterator[Any]:
    profile, problems = profile_from_table(
        {
            "models": ["m"],
            "chat": {
                "path": "/gen",
                "body": '{"model": "{model}", "q": "{prompt}", "n": "{max_tokens}"}',
                "mode": "ndjson",
                "text": "/out/text",
                "reasoning": "/out/thinking",
                "output_tokens": "/usage/out",
                "done": "/finished",
                "error": "/err",
            },
        },
        "endpoints[0].custom",
    )
    assert problems == []
    yield profile


def _line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


async def test_ndjson_mode_reads_pointers(ndjson_profile: Any) -> None:
    lines = [
        _line({"out": {"thinking": "hmm"}, "finished": False}),
        _line({"out": {"text": "Hello"}, "finished": False}),
        _line({"out": {"text": " world"}, "finished": False}),
        _line({"out": {"text": ""}, "finished": True, "usage": {"out": 3}}),
    ]
    server, url = await _ndjson_server(lines)
    try:
        endpoint = Endpoint(name="n", url=url, api=ApiFlavour.CUSTOM, custom=ndjson_profile)
        async with _client(endpoint) as client:
            obs = await client.generate(_req("m", keep_text_chars=100))
    finally:
        server.close()
    assert obs.error is None, obs.error
    assert obs.done and obs.text == "Hello world"
    assert obs.token_chunks == 3 and obs.reasoning_chars == 3
    assert obs.first_visible_ns is not None and obs.first_token_ns is not None
    assert obs.first_token_ns <= obs.first_visible_ns
    assert obs.output_tokens == 3


async def test_ndjson_without_end_flag_is_incomplete_and_error_pointer_stops(
    ndjson_profile: Any,
) -> None:
    server, url = await _ndjson_server([_line({"out": {"text": "a"}, "finished": False})])
    server2, url2 = await _ndjson_server(
        [_line({"out": {"text": "a"}}), _line({"err": "model overloaded"})]
    )
    try:
        cut = await _client(
            Endpoint(name="n", url=url, api=ApiFlavour.CUSTOM, custom=ndjson_profile)
        ).generate(_req("m"))
        failed = await _client(
            Endpoint(name="n", url=url2, api=ApiFlavour.CUSTOM, custom=ndjson_profile)
        ).generate(_req("m"))
    finally:
        server.close()
        server2.close()
    assert cut.error is not None and cut.error.kind is ErrorKind.INCOMPLETE
    assert failed.error is not None and failed.error.kind is ErrorKind.STREAM
    assert failed.error.message == "model overloaded"
    assert failed.token_chunks == 1


async def test_drop_unsupported_against_the_llm_api(demo: DemoServerThread) -> None:
    """A profile that sends top_k to the LLM API (which forbids extra keys): the run's
    error names top_k; with drop_unsupported it is sent again without and recorded."""
    base = builtin_profile("llm-api")
    assert base is not None
    profile, problems = profile_from_table(
        {
            "base": "llm-api",
            "chat": {"body": '{"messages": "{messages}", "top_k": "{top_k}"}'},
        },
        "endpoints[0].custom",
    )
    assert problems == [] and profile is not None
    params = GenerationParams(max_tokens=6, top_k=20)
    ep = replace(_endpoint(demo.url), custom=profile)
    async with GuardedClient(_client(ep), ep) as plain:
        named = await plain.generate(_req(params=params))
    dropping = replace(ep, drop_unsupported=True)
    async with GuardedClient(_client(dropping), dropping) as client:
        first = await client.generate(_req(params=params))
        later = await client.generate(_req(params=params))
    assert named.error is not None and named.error.status == 422
    assert "rejected the parameter 'top_k'" in named.error.message
    assert first.error is None and first.dropped_params == ("top_k",)
    assert later.error is None and later.dropped_params == ("top_k",)
    assert _record(first).dropped_params == ("top_k",)
    assert demo.stats().by_path["/text_model/chat/stream"] == 4  # 1 + (2 for the first) + 1


async def _raw_server(head: bytes, body: bytes) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize(
    ("ctype", "body", "kind", "message"),
    [
        # an error object in a 200 where events were expected: the server's own words
        (
            b"application/json",
            b'{"error": "model is loading"}',
            ErrorKind.STREAM,
            "model is loading",
        ),
        # a 200 that is no stream at all
        (b"text/html", b"<html>hello</html>", ErrorKind.PROTOCOL, "expected an SSE stream"),
    ],
)
async def test_sse_route_answered_without_events(
    ctype: bytes, body: bytes, kind: ErrorKind, message: str
) -> None:
    profile = builtin_profile("tgi")
    server, url = await _raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\n", body)
    try:
        endpoint = Endpoint(name="t", url=url, api=ApiFlavour.CUSTOM, custom=profile)
        async with _client(endpoint) as client:
            obs = await client.generate(_req("m"))
    finally:
        server.close()
    assert obs.error is not None and obs.error.kind is kind
    assert message in obs.error.message


async def test_sse_without_end_flag_ends_cleanly_and_done_marker_is_taken() -> None:
    profile, problems = profile_from_table(
        {"models": ["m"], "chat": {"path": "/g", "body": "{}", "text": "/t"}}, ""
    )
    assert problems == [] and profile is not None
    body = b'data: {"t": "a"}\n\ndata: {"t": "b"}\n\ndata: [DONE]\n\n'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    server, url = await _raw_server(head, body)
    server2, url2 = await _raw_server(head, body.replace(b"data: [DONE]\n\n", b""))
    try:
        with_marker = await _client(
            Endpoint(name="t", url=url, api=ApiFlavour.CUSTOM, custom=profile)
        ).generate(_req("m", keep_text_chars=10))
        without = await _client(
            Endpoint(name="t", url=url2, api=ApiFlavour.CUSTOM, custom=profile)
        ).generate(_req("m", keep_text_chars=10))
    finally:
        server.close()
        server2.close()
    for obs in (with_marker, without):
        assert obs.error is None, obs.error
        assert obs.done and obs.text == "ab" and obs.malformed_lines == 0


async def test_embedding_route_reads_the_vector_and_input_tokens() -> None:
    profile, problems = profile_from_table(
        {
            "models": {"embedder": "embedding"},
            "embedding": {
                "path": "/embed",
                "body": '{"model": "{model}", "texts": "{input}"}',
                "mode": "json",
                "embedding": "/vectors",
                "input_tokens": "/meta/tokens",
            },
        },
        "",
    )
    assert problems == [] and profile is not None
    body = b'{"vectors": [[0.1, 0.2, 0.3]], "meta": {"tokens": 4}}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    server, url = await _raw_server(head, body)
    try:
        client = _client(Endpoint(name="e", url=url, api=ApiFlavour.CUSTOM, custom=profile))
        models = await client.list_models()
        obs = await client.embed("embedder", ["hello there"])
        await client.aclose()
    finally:
        server.close()
    assert [(m.name, m.workload) for m in models] == [("embedder", Workload.EMBEDDING)]
    assert obs.error is None, obs.error
    assert obs.vectors == 1 and obs.dimensions == 3 and obs.input_tokens == 4


async def test_route_with_its_own_marker_also_ends_at_done() -> None:
    """A done_marker does not take away the OpenAI-style [DONE]: either ends the stream."""
    table = {"models": ["m"], "chat": {"path": "/g", "body": "{}", "text": "/t"}}
    table["chat"]["done_marker"] = "[END]"  # type: ignore[index]
    profile, problems = profile_from_table(table, "")
    assert problems == [] and profile is not None
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    outcomes = []
    for end in (b"[END]", b"[DONE]"):
        server, url = await _raw_server(head, b'data: {"t": "a"}\n\ndata: ' + end + b"\n\n")
        try:
            endpoint = Endpoint(name="t", url=url, api=ApiFlavour.CUSTOM, custom=profile)
            outcomes.append(await _client(endpoint).generate(_req("m", keep_text_chars=10)))
        finally:
            server.close()
    for obs in outcomes:
        assert obs.error is None, obs.error
        assert obs.done and obs.text == "a" and obs.malformed_lines == 0


def _error_pointer_profile(body: str) -> Any:
    profile, problems = profile_from_table(
        {"models": ["m"], "error_pointer": "/err/text", "chat": {"path": "/g", "body": body}},
        "",
    )
    assert problems == [] and profile is not None
    return profile


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        # the profile's error pointer finds the message in an HTTP error body
        (400, b'{"err": {"text": "bad prompt"}}', "bad prompt"),
        (503, b'{"err": {"text": "overloaded, try later"}}', "overloaded, try later"),
        # an object there: its message read the common way
        (400, b'{"err": {"text": {"message": "inner words"}}}', "inner words"),
        # the pointer finds nothing: the common reading (detail, error, message)
        (400, b'{"detail": "fastapi words"}', "fastapi words"),
        (500, b'{"error": {"message": "openai words"}}', "openai words"),
        (400, b"plain text cause", "plain text cause"),
    ],
)
async def test_error_pointer_reads_http_error_bodies(
    status: int, body: bytes, message: str
) -> None:
    profile = _error_pointer_profile('{"q": "{prompt}"}')
    head = b"HTTP/1.1 %d Oops\r\nContent-Type: application/json\r\n" % status
    server, url = await _raw_server(head, body)
    try:
        endpoint = Endpoint(name="t", url=url, api=ApiFlavour.CUSTOM, custom=profile)
        async with _client(endpoint) as client:
            obs = await client.generate(_req("m"))
    finally:
        server.close()
    assert obs.error is not None and obs.error.kind is ErrorKind.HTTP
    assert obs.error.status == status and obs.error.message == message
    record = _record(obs)
    assert record.error == f"{status} {message}"


async def test_error_pointer_message_names_a_rejected_parameter() -> None:
    """The sanitizer reads the message the pointer found: the run names top_k."""
    profile = _error_pointer_profile('{"q": "{prompt}", "k": "{top_k}"}')
    head = b"HTTP/1.1 422 Unprocessable\r\nContent-Type: application/json\r\n"
    server, url = await _raw_server(head, b'{"err": {"text": "unsupported parameter: k"}}')
    try:
        ep = Endpoint(name="t", url=url, api=ApiFlavour.CUSTOM, custom=profile)
        async with GuardedClient(_client(ep), ep) as client:
            obs = await client.generate(_req("m", params=GenerationParams(top_k=5)))
    finally:
        server.close()
    assert obs.error is not None and obs.error.status == 422
    assert "rejected the parameter 'top_k'" in obs.error.message
    assert "unsupported parameter: k" in obs.error.message


def _readme_worked_example() -> dict[str, Any]:
    """The README's worked example of the custom flavour, as the user would copy it."""
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```toml", readme.index("**A worked example.**")) + len("```toml")
    return tomllib.loads(readme[start : readme.index("```", start)])


async def test_the_readme_worked_example_benchmarks_its_gateway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The worked example loads from the settings as written in the README and speaks to a
    gateway of the shape it describes: discovery, NDJSON pointers, usage, the token, and
    its error messages (HTTP errors too)."""
    from ometer_tui.core.settings import settings_from_dict

    seen: list[tuple[bytes, bytes, dict[str, Any] | None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = json.loads(await reader.readexactly(length)) if length else None
        seen.append((head.split(b" ")[1], head, body))
        if head.startswith(b"GET /v2/models"):
            data = json.dumps({"items": [{"slug": "gw-small"}, {"slug": "gw-large"}]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        elif body is not None and body.get("input", [{}])[-1].get("content") == "too long":
            data = b'{"error": {"msg": "input exceeds 8192 tokens"}}'
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n")
        else:
            data = b"".join(
                _line(event)
                for event in (
                    {"delta": {"thinking": "hm"}, "done": False},
                    {"delta": {"text": "Hello"}, "done": False},
                    {"delta": {"text": " there"}, "done": False},
                    {"done": True, "usage": {"out": 42, "in": 17}},
                )
            )
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(data), data))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    monkeypatch.setenv("GW_TOKEN", "gw-secret-token-0123")
    settings = settings_from_dict(_readme_worked_example(), tmp_path / "config.toml")
    (endpoint,) = settings.endpoints
    assert endpoint.drop_unsupported and endpoint.truncate == "middle"
    endpoint = replace(endpoint, url=url)
    try:
        async with _client(endpoint) as client:
            models = await client.list_models()
            obs = await client.generate(_req("gw-small", max_tokens=64, keep_text_chars=100))
            refused = await client.generate(
                GenerationRequest("gw-small", "too long", GenerationParams(max_tokens=8))
            )
    finally:
        server.close()
    assert [m.name for m in models] == ["gw-small", "gw-large"]
    assert obs.error is None, obs.error
    assert obs.done and obs.text == "Hello there" and obs.reasoning_chars == 2
    assert obs.output_tokens == 42 and obs.prompt_tokens == 17
    assert obs.first_token_ns is not None and obs.first_token_ns <= (obs.first_visible_ns or 0)
    path, head, body = seen[1]
    assert path == b"/v2/generate"
    assert b"authorization: bearer gw-secret-token-0123" in head.lower()
    assert body == {
        "model": "gw-small",
        "input": [{"role": "user", "content": "Tell me about the sea."}],
        "limits": {"max": 64},
    }  # seed not set: left out
    assert refused.error is not None and refused.error.status == 400
    assert refused.error.message == "input exceeds 8192 tokens"
