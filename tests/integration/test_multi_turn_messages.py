"""Multi-turn conversations reach the server as chat messages (user and assistant
alternating, the earlier answers sent back as assistant messages) on the chat APIs, and
as one transcript text on the completion APIs: a small recording server on loopback
sees each request's body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.bench.workloads.source import DEFAULT_FOLLOWUP
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo

FIRST = "What is the tide?"


class Recorder:
    """Answers Ollama and OpenAI-compatible generations with ``answer N`` (N: the
    request's number) and keeps every request body."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def _version(self, _: web.Request) -> web.Response:
        return web.json_response({"version": "0.0-recorder"})

    async def _tags(self, _: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": "m", "model": "m"}]})

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append((request.path, body))
        text = f"answer {len(self.bodies)}"
        ollama = request.path.startswith("/api/")
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson" if ollama else "text/event-stream"}
        )
        await response.prepare(request)
        if ollama:
            chat = request.path == "/api/chat"
            piece = (
                {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
            )
            end = {"done": True, "eval_count": 2, "prompt_eval_count": 10 * len(self.bodies)}
            for obj in ({"model": "m", **piece, "done": False}, {"model": "m", **end}):
                await response.write(json.dumps(obj).encode() + b"\n")
        else:
            chat = request.path == "/v1/chat/completions"
            delta = {"delta": {"content": text}} if chat else {"text": text}
            usage = {"prompt_tokens": 10 * len(self.bodies), "completion_tokens": 2}
            for obj in (
                {"choices": [{"index": 0, **delta}]},
                {"choices": [{"index": 0, "finish_reason": "stop", "delta": {}}], "usage": usage},
            ):
                await response.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/v1/models", self._models)
        for path in ("/api/chat", "/api/generate", "/v1/chat/completions", "/v1/completions"):
            app.router.add_post(path, self._generate)
        return app


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    runner = web.AppRunner(rec.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


async def run_three_turns(rec: Recorder, api: ApiFlavour, completion: bool) -> None:
    plan = BenchmarkPlan(
        endpoint=Endpoint("recorder", rec.url, api=api),
        models=(ModelInfo("m"),),
        prompts=(FIRST,),
        warmup=0,
        completion_api=completion,
        load=LoadSpec(turns=3, stop=StopConditions(max_requests=3)),
    )
    result = await BenchmarkRunner(plan, lambda _: None).run()
    records = result.models["m"].records
    assert [r.ok for r in records] == [True, True, True], [r.error for r in records]


@pytest.mark.parametrize(
    ("api", "path"),
    [(ApiFlavour.OLLAMA, "/api/chat"), (ApiFlavour.OPENAI, "/v1/chat/completions")],
)
async def test_chat_apis_get_the_turns_as_messages(
    recorder: Recorder, api: ApiFlavour, path: str
) -> None:
    await run_three_turns(recorder, api, completion=False)
    assert [p for p, _ in recorder.bodies] == [path] * 3
    messages = [body["messages"] for _, body in recorder.bodies]
    assert messages[0] == [{"role": "user", "content": FIRST}]
    assert messages[2] == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": DEFAULT_FOLLOWUP},
        {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": DEFAULT_FOLLOWUP},
    ]
    assert messages[1] == messages[2][:3]


@pytest.mark.parametrize(
    ("api", "path"), [(ApiFlavour.OLLAMA, "/api/generate"), (ApiFlavour.OPENAI, "/v1/completions")]
)
async def test_completion_apis_keep_the_transcript_text(
    recorder: Recorder, api: ApiFlavour, path: str
) -> None:
    await run_three_turns(recorder, api, completion=True)
    assert [p for p, _ in recorder.bodies] == [path] * 3
    prompts = [body["prompt"] for _, body in recorder.bodies]
    assert prompts[0] == FIRST
    assert prompts[2] == (
        f"{FIRST}\n\nAssistant: answer 1\n\nUser: {DEFAULT_FOLLOWUP}"
        f"\n\nAssistant: answer 2\n\nUser: {DEFAULT_FOLLOWUP}"
    )
    assert all("messages" not in body for _, body in recorder.bodies)


def test_a_custom_profile_gets_the_turns_in_messages_and_the_transcript_in_prompt() -> None:
    from ometer_tui.core.api.base import ChatTurn, GenerationRequest
    from ometer_tui.core.api.custom import request_values
    from ometer_tui.core.models import GenerationParams

    request = GenerationRequest(
        model="m",
        prompt="and then?",
        params=GenerationParams(),
        history=(ChatTurn("user", FIRST), ChatTurn("assistant", "low")),
    )
    values = request_values(request)
    assert values["messages"] == [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "low"},
        {"role": "user", "content": "and then?"},
    ]
    assert values["prompt"] == f"{FIRST}\n\nAssistant: low\n\nUser: and then?"
