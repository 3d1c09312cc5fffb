"""Generation parameters reach the server in each flavour's own field names."""

from __future__ import annotations

import json

import pytest

from ometer_tui.core.api import open_client
from ometer_tui.core.api.base import ExchangeLogged, GenerationRequest, Workload
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ResponseFormat
from ometer_tui.demo.server import DemoServerThread

PARAMS = GenerationParams(
    max_tokens=6,
    temperature=0.3,
    top_p=0.9,
    top_k=40,
    seed=7,
    stop=("\n\n",),
    frequency_penalty=0.1,
    presence_penalty=0.2,
    response_format=ResponseFormat.JSON,
    keep_alive="5m",
)
SCHEMA: dict[str, object] = {"type": "object", "properties": {"a": {"type": "string"}}}


async def sent_body(
    demo: DemoServerThread,
    flavour: ApiFlavour,
    params: GenerationParams,
    workload: Workload = Workload.CHAT,
) -> dict[str, object]:
    logged: list[ExchangeLogged] = []
    endpoint = Endpoint(name="demo", url=demo.url, api=flavour)
    client = open_client(endpoint, on_exchange=logged.append)
    try:
        obs = await client.generate(
            GenerationRequest("demo-fast:1b", "Tell me about the sea.", params, workload)
        )
    finally:
        await client.aclose()
    assert obs.error is None, obs.error
    (exchange,) = [e for e in logged if e.method == "POST"]
    body = json.loads(exchange.request_body)
    assert isinstance(body, dict)
    return body


async def test_ollama_options(demo: DemoServerThread) -> None:
    body = await sent_body(demo, ApiFlavour.OLLAMA, PARAMS)
    assert body["stream"] is True
    assert body["options"] == {
        "num_predict": 6,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 7,
        "stop": ["\n\n"],
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
    }
    assert body["format"] == "json"
    assert body["keep_alive"] == "5m"


async def test_openai_fields(demo: DemoServerThread) -> None:
    body = await sent_body(demo, ApiFlavour.OPENAI, PARAMS)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    for key, value in {
        "max_tokens": 6,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 7,
        "stop": ["\n\n"],
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
    }.items():
        assert body[key] == value, key
    assert body["response_format"] == {"type": "json_object"}
    assert "keep_alive" not in body  # Ollama only


@pytest.mark.parametrize("flavour", [ApiFlavour.OLLAMA, ApiFlavour.OPENAI])
async def test_json_schema_response_format(demo: DemoServerThread, flavour: ApiFlavour) -> None:
    params = GenerationParams(
        max_tokens=4, response_format=ResponseFormat.JSON_SCHEMA, json_schema=SCHEMA
    )
    body = await sent_body(demo, flavour, params)
    if flavour is ApiFlavour.OLLAMA:
        assert body["format"] == SCHEMA
    else:
        rf = body["response_format"]
        assert isinstance(rf, dict) and rf["type"] == "json_schema"
        assert rf["json_schema"]["schema"] == SCHEMA  # type: ignore[index]


@pytest.mark.parametrize("flavour", [ApiFlavour.OLLAMA, ApiFlavour.OPENAI])
async def test_unset_parameters_are_left_to_the_server(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    body = await sent_body(demo, flavour, GenerationParams(max_tokens=None), Workload.COMPLETION)
    text = json.dumps(body)
    for name in (
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "penalty",
        "num_predict",
        "max_tokens",
        "format",
    ):
        assert name not in text, name
