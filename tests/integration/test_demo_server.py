"""The demo endpoint over real HTTP on loopback: shapes, timing, faults, counters."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from ometer_tui import __version__
from ometer_tui.demo.catalogue import BY_NAME, CATALOGUE, WORDS
from ometer_tui.demo.server import DemoServer, DemoServerThread, run_in_thread, serve

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(60))  # 68 bytes
IMAGE_B64 = base64.b64encode(IMAGE).decode()
PROMPT = "Tell me about the sea"  # 5 words -> prompt_eval_count 9


@pytest.fixture(autouse=True)
def no_server_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Clients leaving, resets and stalls must never make the server log or print."""
    caplog.set_level(logging.WARNING)
    yield
    noisy = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("asyncio", "ometer_tui"))
    ]
    assert noisy == []


@pytest.fixture
async def client(demo: DemoServerThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=demo.url, timeout=10) as http:
        await http.get("/api/version")  # warm the pool: connect cost stays out of timings
        demo.reset()
        yield http


def chat(model: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra}


async def stream_lines(
    client: httpx.AsyncClient, path: str, payload: dict[str, object]
) -> tuple[httpx.Response, list[tuple[float, str]]]:
    """Non-empty lines with their arrival time (seconds after the request was sent)."""
    sent = time.perf_counter()
    async with client.stream("POST", path, json=payload) as response:
        lines = [
            (time.perf_counter() - sent, line) async for line in response.aiter_lines() if line
        ]
    return response, lines


def sse_payloads(lines: list[tuple[float, str]]) -> list[tuple[float, str]]:
    assert all(line.startswith("data: ") for _, line in lines)
    return [(t, line.removeprefix("data: ")) for t, line in lines]


#: Allowance for scheduling noise on a busy machine (an idle one shows under 3 ms).
TTFT_SLACK_S = 0.025
GAP_SLACK_S = 0.015


def assert_schedule(arrivals: list[float], ttft_s: float, interval_s: float) -> None:
    """First token near ``ttft_s``; token i near ``first + i * interval_s`` (no drift)."""
    assert ttft_s - 0.003 <= arrivals[0] <= ttft_s * 1.25 + TTFT_SLACK_S, arrivals[0]
    for i, arrived in enumerate(arrivals):
        drift = (arrived - arrivals[0]) - i * interval_s
        assert abs(drift) <= 0.25 * interval_s + GAP_SLACK_S, (i, drift)
    mean = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
    assert abs(mean - interval_s) <= 0.25 * interval_s + 0.005, mean


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# -- discovery ------------------------------------------------------------------------------


async def test_ollama_discovery_shapes(client: httpx.AsyncClient) -> None:
    version = await client.get("/api/version")
    assert version.json() == {"version": "0.12.0-demo"}
    assert version.headers["server"] == f"ometer-demo/{__version__}"
    assert version.headers["x-backend"] == "ometer-demo (simulated)"

    tags = (await client.get("/api/tags")).json()["models"]
    assert [m["name"] for m in tags] == [m.name for m in CATALOGUE]
    fast = tags[0]
    assert fast["model"] == "demo-fast:1b" and fast["size"] == 807_000_000
    assert fast["modified_at"] == "2026-11-20T10:00:00Z" and len(fast["digest"]) == 64
    assert fast["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "demo",
        "families": ["demo"],
        "parameter_size": "1.2B",
        "quantization_level": "Q4_K_M",
    }

    show = (await client.post("/api/show", json={"model": "demo-think:7b"})).json()
    assert show["capabilities"] == ["completion", "thinking"]
    assert show["model_info"] == {
        "general.architecture": "demo",
        "general.parameter_count": 7_600_000_000,
        "demo.context_length": 131072,
    }
    assert {"modelfile", "parameters", "template", "details", "modified_at"} <= set(show)
    by_name = (await client.post("/api/show", json={"name": "demo-embed:335m"})).json()
    assert by_name["capabilities"] == ["embedding"]
    assert by_name["model_info"]["bert.context_length"] == 512

    assert (await client.get("/api/ps")).json() == {"models": []}
    await client.post(
        "/api/chat", json=chat("demo-fast:1b", stream=False, options={"num_predict": 1})
    )
    loaded = (await client.get("/api/ps")).json()["models"]
    assert [m["name"] for m in loaded] == ["demo-fast:1b"]
    assert loaded[0]["size_vram"] == 0 and loaded[0]["expires_at"].endswith("Z")


async def test_openai_models_shape(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [m.name for m in CATALOGUE]
    first = listing["data"][0]
    assert first["object"] == "model" and first["owned_by"] == "ometer-demo"
    assert isinstance(first["created"], int) and first["created"] > 1_700_000_000


# -- streams and their schedule -------------------------------------------------------------


async def test_ollama_chat_stream_keeps_schedule_and_reports_cold_load(
    client: httpx.AsyncClient,
) -> None:
    model = BY_NAME["demo-medium:8b"]  # load_s 0.4, ttft 0.08, interval 0.02
    response, lines = await stream_lines(
        client, "/api/chat", chat(model.name, options={"num_predict": 12})
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    objects = [json.loads(line) for _, line in lines]
    tokens, final = objects[:-1], objects[-1]
    assert [o["message"]["content"] for o in tokens] == [w + " " for w in WORDS[:12]]
    assert all(o["done"] is False and o["model"] == model.name for o in tokens)
    assert_schedule([t for t, _ in lines[:-1]], model.load_s + model.ttft_s, model.interval_s)
    assert final["done"] is True and final["done_reason"] == "length"
    assert final["eval_count"] == 12
    assert final["eval_duration"] == 12 * 20_000_000
    assert final["prompt_eval_count"] == 9
    assert final["prompt_eval_duration"] == round(9 / 2000 * 1e9)
    assert final["load_duration"] == 400_000_000
    assert 0.6e9 <= final["total_duration"] <= 1.0e9

    _, warm = await stream_lines(client, "/api/chat", chat(model.name, options={"num_predict": 4}))
    assert json.loads(warm[-1][1])["load_duration"] == 2_000_000
    assert_schedule([t for t, _ in warm[:-1]], model.ttft_s, model.interval_s)


async def test_openai_sse_stream_with_reasoning_and_usage(client: httpx.AsyncClient) -> None:
    model = BY_NAME["demo-think:7b"]  # 16 reasoning + 24 visible, ttft 0.05, interval 0.01
    response, lines = await stream_lines(
        client,
        "/v1/chat/completions",
        chat(model.name, stream=True, stream_options={"include_usage": True}),
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_payloads(lines)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(p) for _, p in events[:-1]]
    role, tokens, finish, usage = chunks[0], chunks[1:-2], chunks[-2], chunks[-1]
    assert role["object"] == "chat.completion.chunk"
    assert role["system_fingerprint"] == "fp_demo"
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in tokens]
    assert len(deltas) == 40
    assert all(set(d) == {"reasoning_content"} for d in deltas[:16])
    assert all(set(d) == {"content"} for d in deltas[16:])
    assert_schedule([t for t, _ in events[1:41]], model.ttft_s, model.interval_s)
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 40
    assert usage["usage"]["prompt_tokens"] == 9 and usage["usage"]["total_tokens"] == 49


async def test_openai_stream_without_include_usage_has_no_usage_chunk(
    client: httpx.AsyncClient,
) -> None:
    _, lines = await stream_lines(
        client, "/v1/chat/completions", chat("demo-fast:1b", stream=True, max_tokens=5)
    )
    chunks = [json.loads(p) for _, p in sse_payloads(lines)[:-1]]
    assert len(chunks) == 1 + 5 + 1
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_sse_framing_is_one_http_chunk_per_event_and_keep_alive_holds(
    demo: DemoServerThread,
) -> None:
    url = httpx.URL(demo.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        for path, payload in (
            ("/api/chat", chat("demo-fast:1b", options={"num_predict": 3})),
            ("/v1/chat/completions", chat("demo-fast:1b", stream=True, max_tokens=3)),
        ):
            body = json.dumps(payload).encode()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Transfer-Encoding: chunked" in head
            chunks = await read_chunks(reader)
            if path == "/api/chat":
                assert len(chunks) == 4
                assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in chunks)
            else:
                assert len(chunks) == 1 + 3 + 1 + 1
                assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") for c in chunks)
                assert chunks[-1] == b"data: [DONE]\n\n"
        writer.write(b"GET /api/version HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(), timeout=2)  # EOF: the server closed
        assert reply.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in reply
    finally:
        writer.close()


async def read_chunks(reader: asyncio.StreamReader) -> list[bytes]:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        data = await reader.readexactly(size + 2)
        if size == 0:
            return chunks
        chunks.append(data[:-2])


async def test_ollama_generate_thinking_then_response(client: httpx.AsyncClient) -> None:
    _, lines = await stream_lines(
        client,
        "/api/generate",
        {"model": "demo-think:7b", "prompt": PROMPT, "options": {"num_predict": 20}},
    )
    objects = [json.loads(line) for _, line in lines]
    assert [o["thinking"] for o in objects[:16]] == [w + " " for w in WORDS[:16]]
    assert all(o["response"] == "" for o in objects[:16])
    assert all("thinking" not in o and o["response"] for o in objects[16:20])
    assert objects[-1]["eval_count"] == 20 and objects[-1]["done_reason"] == "length"

    no_think = (
        await client.post(
            "/api/generate",
            json={
                "model": "demo-think:7b",
                "prompt": PROMPT,
                "think": False,
                "stream": False,
                "options": {"num_predict": 3},
            },
        )
    ).json()
    assert "thinking" not in no_think and no_think["response"] == "The sea keeps "


async def test_non_streamed_answers(client: httpx.AsyncClient) -> None:
    ollama = (await client.post("/api/chat", json=chat("demo-think:7b", stream=False))).json()
    assert ollama["done"] is True and ollama["done_reason"] == "stop"
    assert ollama["message"]["thinking"].split() == list(WORDS[:16])
    assert len(ollama["message"]["content"].split()) == 24 and ollama["eval_count"] == 40

    openai = await client.post("/v1/chat/completions", json=chat("demo-fast:1b", max_tokens=7))
    body = openai.json()
    assert openai.headers["content-length"] == str(len(openai.content))
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "".join(w + " " for w in WORDS[:7]),
    }
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}

    completion = (
        await client.post(
            "/v1/completions",
            json={
                "model": "demo-fast:1b",
                "prompt": "Once upon",
                "max_tokens": 2,
            },
        )
    ).json()
    assert completion["object"] == "text_completion"
    assert completion["choices"][0]["text"] == "The sea "
    assert completion["usage"]["prompt_tokens"] == 6


async def test_openai_completions_stream(client: httpx.AsyncClient) -> None:
    _, lines = await stream_lines(
        client,
        "/v1/completions",
        {
            "model": "demo-fast:1b",
            "prompt": "Once upon",
            "max_tokens": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events = sse_payloads(lines)
    chunks = [json.loads(p) for _, p in events[:-1]]
    assert [c["choices"][0]["text"] for c in chunks[:3]] == ["The ", "sea ", "keeps "]
    assert chunks[3]["choices"][0]["finish_reason"] == "length"
    assert chunks[4]["usage"]["completion_tokens"] == 3 and events[-1][1] == "[DONE]"


# -- vision and embeddings ------------------------------------------------------------------


async def test_vision_reports_images_received(client: httpx.AsyncClient) -> None:
    ollama = (
        await client.post(
            "/api/chat",
            json={
                "model": "demo-vision:4b",
                "stream": False,
                "options": {"num_predict": 8},
                "messages": [{"role": "user", "content": "What is this?", "images": [IMAGE_B64]}],
            },
        )
    ).json()
    assert ollama["message"]["content"].startswith("I see 1 image (68 bytes). ")
    assert ollama["eval_count"] == 8

    _, lines = await stream_lines(
        client,
        "/v1/chat/completions",
        {
            "model": "demo-vision:4b",
            "stream": True,
            "max_tokens": 8,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What are these?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}"},
                        },
                    ],
                }
            ],
        },
    )
    chunks = [json.loads(p) for _, p in sse_payloads(lines)[1:-2]]
    words = [c["choices"][0]["delta"]["content"] for c in chunks]
    assert words[:6] == ["I ", "see ", "2 ", "images ", "(136 ", "bytes). "]


async def test_bad_images_are_refused(client: httpx.AsyncClient) -> None:
    not_base64 = await client.post(
        "/api/chat",
        json={
            "model": "demo-vision:4b",
            "messages": [{"role": "user", "content": "x", "images": ["not base64!!"]}],
        },
    )
    assert not_base64.status_code == 400 and "base64" in not_base64.json()["error"]
    not_vision = await client.post(
        "/api/chat",
        json={
            "model": "demo-fast:1b",
            "messages": [{"role": "user", "content": "x", "images": [IMAGE_B64]}],
        },
    )
    assert not_vision.status_code == 400
    assert not_vision.json() == {"error": '"demo-fast:1b" does not support images'}


async def test_embeddings_both_flavours(client: httpx.AsyncClient) -> None:
    ollama = (
        await client.post(
            "/api/embed",
            json={
                "model": "demo-embed:335m",
                "input": ["the sea", "keeps its own time"],
            },
        )
    ).json()
    assert ollama["model"] == "demo-embed:335m"
    assert [len(v) for v in ollama["embeddings"]] == [1024, 1024]
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-5) for v in ollama["embeddings"])
    assert ollama["prompt_eval_count"] == (2 + 1) + (4 + 1)
    assert ollama["total_duration"] >= 20_000_000 and ollama["load_duration"] == 2_000_000

    openai = (
        await client.post(
            "/v1/embeddings",
            json={
                "model": "demo-embed:335m",
                "input": "the sea",
            },
        )
    ).json()
    assert openai["object"] == "list" and openai["model"] == "demo-embed:335m"
    assert openai["data"][0]["object"] == "embedding" and openai["data"][0]["index"] == 0
    assert openai["data"][0]["embedding"] == ollama["embeddings"][0]  # deterministic
    assert openai["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


async def test_capability_mismatches_are_400(client: httpx.AsyncClient) -> None:
    embed_chat = await client.post("/api/chat", json=chat("demo-embed:335m"))
    assert embed_chat.status_code == 400
    assert embed_chat.json() == {"error": '"demo-embed:335m" does not support chat'}
    embed_generate = await client.post(
        "/api/generate", json={"model": "demo-embed:335m", "prompt": "x"}
    )
    assert embed_generate.json() == {"error": '"demo-embed:335m" does not support generate'}
    chat_embed = await client.post("/v1/embeddings", json={"model": "demo-fast:1b", "input": "x"})
    assert chat_embed.status_code == 400
    assert chat_embed.json()["error"]["type"] == "invalid_request_error"
    assert (
        await client.post("/api/embed", json={"model": "demo-fast:1b", "input": "x"})
    ).status_code == 400


# -- errors ----------------------------------------------------------------------------------


async def test_unknown_model_bodies(client: httpx.AsyncClient) -> None:
    ollama = await client.post("/api/chat", json=chat("nope:1b"))
    assert ollama.status_code == 404
    assert ollama.json() == {"error": 'model "nope:1b" not found, try pulling it first'}
    openai = await client.post("/v1/chat/completions", json=chat("nope:1b"))
    assert openai.status_code == 404
    error = openai.json()["error"]
    assert error["message"] == "The model `nope:1b` does not exist"
    assert error["type"] == "invalid_request_error" and error["code"] == "model_not_found"


async def test_bad_requests_routes_and_methods(client: httpx.AsyncClient) -> None:
    bad_json = await client.post(
        "/api/chat", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "invalid JSON" in bad_json.json()["error"]
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404 and unknown.text == "404 page not found\n"
    assert unknown.headers["server"].startswith("ometer-demo/")
    wrong_method = await client.get("/api/chat")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


async def test_require_token() -> None:
    async with (
        DemoServer(require_token="s3cret-token") as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        wrong = "Bearer wrong-token-value"
        ollama = await http.get("/api/tags", headers={"Authorization": wrong})
        assert ollama.status_code == 401 and ollama.json() == {"error": "unauthorized"}
        openai = await http.get("/v1/models")
        assert openai.status_code == 401
        assert openai.json()["error"]["code"] == "invalid_api_key"
        assert "wrong-token-value" not in ollama.text + openai.text
        ok = await http.get("/v1/models", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        stats = (await http.get("/demo/stats")).json()  # never behind the token...
        assert stats["requests"] == 3
        assert stats["last_headers"]["authorization"] == "***"  # ...and never shows it
        assert server.stats.last_headers["authorization"] == "Bearer s3cret-token"


async def test_reject_stream_options() -> None:
    async with (
        DemoServer(reject_stream_options=True) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        refused = await http.post(
            "/v1/chat/completions",
            json=chat("demo-fast:1b", stream=True, stream_options={"include_usage": True}),
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "error": {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        fine = await http.post("/v1/chat/completions", json=chat("demo-fast:1b", max_tokens=2))
        assert fine.status_code == 200


async def test_single_flavour_servers_answer_like_the_other_kind() -> None:
    async with (
        DemoServer(flavours=frozenset({"ollama"})) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        missing = await http.get("/v1/models")
        assert missing.status_code == 404 and missing.text == "404 page not found\n"
        assert missing.headers["content-type"].startswith("text/plain")
        assert (await http.get("/api/tags")).status_code == 200
    async with (
        DemoServer(flavours=frozenset({"openai"})) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        missing = await http.post("/api/chat", json=chat("demo-fast:1b"))
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "Invalid URL (POST /api/chat)"
        assert (await http.get("/v1/models")).status_code == 200


# -- faults -----------------------------------------------------------------------------------


async def test_status_faults(client: httpx.AsyncClient) -> None:
    forbidden = await client.post("/api/chat", json=chat("fault-forbidden"))
    assert forbidden.status_code == 403 and "forbidden" in forbidden.json()["error"]
    openai_forbidden = await client.post("/v1/chat/completions", json=chat("fault-forbidden"))
    assert openai_forbidden.status_code == 403 and openai_forbidden.json()["error"]["message"]

    for _ in range(2):
        limited = await client.post("/api/chat", json=chat("fault-rate-limited"))
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert limited.json()["error"]

    server_error = await client.post("/v1/chat/completions", json=chat("fault-server-error"))
    assert server_error.status_code == 500 and server_error.json()["error"]["message"]


async def test_rate_limited_once_alternates(client: httpx.AsyncClient) -> None:
    statuses = []
    for _ in range(4):
        response = await client.post(
            "/api/chat",
            json=chat("fault-rate-limited-once", stream=False, options={"num_predict": 1}),
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "0"
            assert response.headers["retry-after-ms"] == "50"
    assert statuses == [429, 200, 429, 200]


@pytest.mark.parametrize(
    ("model", "status", "content_type", "header"),
    [
        ("fault-http-502-json", 502, "application/json", None),
        ("fault-http-503-text-retry-after-s", 503, "text/plain", ("retry-after", "1")),
        ("fault-http-504-html-retry-after-ms", 504, "text/html", ("retry-after-ms", "200")),
        ("fault-http-429-empty-retry-after-date", 429, None, ("retry-after", None)),
        ("fault-http-429-json-retry-after-3600", 429, "application/json", ("retry-after", "3600")),
    ],
)
async def test_generic_http_faults(
    client: httpx.AsyncClient,
    model: str,
    status: int,
    content_type: str | None,
    header: tuple[str, str | None] | None,
) -> None:
    response = await client.post("/v1/chat/completions", json=chat(model))
    assert response.status_code == status
    if content_type is None:
        assert response.content == b"" and "content-type" not in response.headers
    else:
        assert response.headers["content-type"].startswith(content_type)
    if model.endswith("-json"):
        assert response.json()["error"]["message"].startswith(f"simulated HTTP {status}")
    if header is not None:
        name, value = header
        assert response.headers[name] == value if value else response.headers[name].endswith("GMT")
    ollama = await client.post("/api/chat", json=chat("fault-http-502-json"))
    assert ollama.json() == {"error": "simulated HTTP 502 Bad Gateway"}


async def test_error_mid_stream(client: httpx.AsyncClient) -> None:
    _, lines = await stream_lines(client, "/api/chat", chat("fault-error-mid-stream"))
    assert len(lines) == 4
    assert json.loads(lines[3][1]) == {"error": "simulated failure mid-stream"}
    _, lines = await stream_lines(
        client, "/v1/chat/completions", chat("fault-error-mid-stream", stream=True)
    )
    events = sse_payloads(lines)
    assert len(events) == 1 + 3 + 1
    assert json.loads(events[-1][1]) == {
        "error": {"message": "simulated failure mid-stream", "type": "server_error"}
    }


async def test_malformed_line_then_normal_end(client: httpx.AsyncClient) -> None:
    _, lines = await stream_lines(client, "/api/chat", chat("fault-malformed-line"))
    assert lines[3][1] == '{"this is not json'
    assert len(lines) == 16 + 1 + 1 and json.loads(lines[-1][1])["done"] is True


async def test_truncated_stream_ends_without_done(client: httpx.AsyncClient) -> None:
    _, lines = await stream_lines(client, "/api/chat", chat("fault-truncated"))
    assert len(lines) == 3 and all(json.loads(line)["done"] is False for _, line in lines)
    _, lines = await stream_lines(
        client, "/v1/chat/completions", chat("fault-truncated", stream=True)
    )
    assert len(lines) == 1 + 3 and lines[-1][1] != "data: [DONE]"
    with pytest.raises(httpx.RemoteProtocolError):  # non-streamed: body cut short
        await client.post("/api/chat", json=chat("fault-truncated", stream=False))


async def test_reset_after_three_tokens(client: httpx.AsyncClient, demo: DemoServerThread) -> None:
    received: list[str] = []
    with pytest.raises(httpx.TransportError):
        async with client.stream("POST", "/api/chat", json=chat("fault-reset")) as response:
            async for line in response.aiter_lines():
                received.append(line)
    assert len(received) == 3
    await wait_for(lambda: demo.stats().in_flight == 0)


async def test_stall_holds_until_client_leaves(demo: DemoServerThread) -> None:
    received: list[str] = []
    timeout = httpx.Timeout(5.0, read=0.3)
    async with httpx.AsyncClient(base_url=demo.url, timeout=timeout) as http:
        with pytest.raises(httpx.ReadTimeout):
            async with http.stream("POST", "/api/chat", json=chat("fault-stall")) as response:
                async for line in response.aiter_lines():
                    received.append(line)
        assert len(received) == 3
    await wait_for(lambda: demo.stats().in_flight == 0)


async def test_stop_with_a_stalled_stream_open_is_prompt() -> None:
    with run_in_thread() as server:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=5) as http,
            http.stream(
                "POST", "/v1/chat/completions", json=chat("fault-stall", stream=True)
            ) as response,
        ):
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("data: ")  # the role chunk
            await wait_for(lambda: server.stats().in_flight == 1)
            started = time.perf_counter()
            await asyncio.to_thread(server.stop)
            assert time.perf_counter() - started < 1.0
            with pytest.raises(httpx.TransportError):
                async for _ in lines:
                    pass


# -- counters -------------------------------------------------------------------------------


async def test_max_in_flight_counts_concurrent_requests(
    client: httpx.AsyncClient, demo: DemoServerThread
) -> None:
    requests = [
        client.post("/api/chat", json=chat("demo-fast:1b", options={"num_predict": 10}))
        for _ in range(5)
    ] + [client.post("/v1/embeddings", json={"model": "demo-embed:335m", "input": "x"})]
    responses = await asyncio.gather(*requests)
    assert all(r.status_code == 200 for r in responses)
    stats = demo.stats()
    assert stats.max_in_flight == 6 and stats.in_flight == 0
    assert stats.by_path["/api/chat"] == 5 and stats.by_path["/v1/embeddings"] == 1


async def test_client_leaving_mid_stream_is_quietly_counted_down(
    client: httpx.AsyncClient, demo: DemoServerThread
) -> None:
    async with client.stream("POST", "/api/chat", json=chat("demo-slow:70b")) as response:
        lines = response.aiter_lines()
        await anext(lines)
        assert demo.stats().in_flight == 1
    await wait_for(lambda: demo.stats().in_flight == 0)
    assert (await client.get("/api/version")).status_code == 200


async def test_reset_during_a_request_still_counts_it_down(
    client: httpx.AsyncClient, demo: DemoServerThread
) -> None:
    async with client.stream(
        "POST", "/api/chat", json=chat("demo-fast:1b", options={"num_predict": 20})
    ) as response:
        lines = response.aiter_lines()
        await anext(lines)
        demo.reset()
        stats = demo.stats()
        assert (stats.in_flight, stats.max_in_flight, stats.requests) == (1, 1, 0)
        assert len([line async for line in lines]) == 20
    await wait_for(lambda: demo.stats().in_flight == 0)


async def test_stats_and_reset_over_http(client: httpx.AsyncClient) -> None:
    await client.post(
        "/api/chat", json=chat("demo-medium:8b", options={"num_predict": 1}, stream=False)
    )
    await client.get("/api/tags", headers={"X-Probe": "yes"})
    stats = (await client.get("/demo/stats")).json()
    assert stats["requests"] == 2 and stats["max_in_flight"] == 1 and stats["in_flight"] == 0
    assert stats["by_path"] == {"/api/chat": 1, "/api/tags": 1}
    assert stats["last_headers"]["x-probe"] == "yes"

    reset = await client.post("/demo/reset")
    assert reset.status_code == 200 and reset.json()["requests"] == 0
    assert (await client.get("/api/ps")).json() == {"models": []}
    cold_again = (
        await client.post(
            "/api/chat", json=chat("demo-medium:8b", options={"num_predict": 1}, stream=False)
        )
    ).json()
    assert cold_again["load_duration"] == 400_000_000


async def test_serve_reports_its_url_and_stops_when_cancelled() -> None:
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(serve("127.0.0.1", 0, on_ready=ready.put_nowait))
    url = await asyncio.wait_for(ready.get(), timeout=5)
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/api/version")).status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/api/version")
