"""Parameter sanitization (which parameter a 400/422 rejects; the retry without it) and
context fit (refuse or truncate a prompt longer than the window), over a fake client."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ometer_tui.core.api.base import (
    ErrorKind,
    GenerationObservation,
    GenerationRequest,
    RequestError,
)
from ometer_tui.core.api.guard import GuardedClient, fits, truncate_text
from ometer_tui.core.api.sanitize import rejected_parameter, sent_parameters, without
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo, ResponseFormat

NAMES = ["temperature", "top_k", "seed", "response_format", "max_tokens", "stream_options"]


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (422, "body.top_k: Extra inputs are not permitted", "top_k"),
        (400, "Unrecognized request argument supplied: seed", "seed"),
        (400, "response_format is not supported by this model", "response_format"),
        (
            400,
            "'stream_options' is only allowed when 'stream' is true: unexpected",
            "stream_options",
        ),
        (422, "Input validation error: `temperature` must be strictly positive", "temperature"),
        (400, "Unknown parameter: top_k; seed is fine", "top_k"),
        # not a parameter problem, or a parameter the request did not send
        (400, "This model's maximum context length is 2048 tokens", None),
        (400, "Invalid value for top_p", None),
        (500, "top_k is not supported", None),
        (404, "model seed-7b not found", None),
        (400, "the seed was used", None),  # names seed but says nothing is wrong with it
        (400, "Invalid top_kx", None),  # a different word
        (400, "", None),
    ],
)
def test_rejected_parameter(status: int, message: str, expected: str | None) -> None:
    assert rejected_parameter(status, message, NAMES) == expected


def test_sent_parameters_and_without() -> None:
    params = GenerationParams(
        max_tokens=8, top_k=5, seed=1, stop=("x",), response_format=ResponseFormat.JSON
    )
    assert sent_parameters(params) == ["max_tokens", "response_format", "seed", "stop", "top_k"]
    dropped = without(params, ["top_k", "stop", "response_format"])
    assert dropped.top_k is None and dropped.stop == ()
    assert dropped.response_format is ResponseFormat.TEXT
    assert dropped.seed == 1 and dropped.max_tokens == 8


class FakeClient:
    """Rejects ``rejects`` parameters with a 400; counts tokens as 1 per 4 characters."""

    flavour = ApiFlavour.OPENAI

    def __init__(self, rejects: set[str], window: int | None = None) -> None:
        self.rejects = rejects
        self.window = window
        self.sent: list[GenerationRequest] = []

    async def request_json(self, method: str, path: str, payload: Any = None, **_: Any) -> Any:
        if path == "/tokenize":
            return {"tokens": list(range(len(payload["content"]) // 4))}, {}, 200
        if path == "/props":
            return {"default_generation_settings": {"n_ctx": self.window}}, {}, 200
        return {"data": [{"id": "m"}]}, {}, 200

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        self.sent.append(request)
        obs = GenerationObservation(sent_ns=1, first_token_ns=2, last_token_ns=3)
        for name in self.rejects:
            if name in sent_parameters(request.params):
                obs.error = RequestError(
                    ErrorKind.HTTP, f"Unsupported parameter: {name}", status=400
                )
        return obs

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        return [ModelInfo("m")]

    async def aclose(self) -> None:
        return None


def _guard(fake: FakeClient, **kw: Any) -> GuardedClient:
    endpoint = Endpoint(name="e", url="http://127.0.0.1:1", api=ApiFlavour.OPENAI, **kw)
    return GuardedClient(fake, endpoint)  # type: ignore[arg-type]


def _req(prompt: str = "hi", **params: Any) -> GenerationRequest:
    return GenerationRequest("m", prompt, GenerationParams(**params))


async def test_without_drop_the_error_names_the_parameter() -> None:
    fake = FakeClient({"top_k"})
    obs = await _guard(fake).generate(_req(top_k=5))
    assert obs.error is not None
    assert "rejected the parameter 'top_k'" in obs.error.message
    assert "--drop-unsupported" in obs.error.message
    assert len(fake.sent) == 1 and obs.dropped_params == ()


async def test_drop_sends_once_more_without_and_records_it() -> None:
    fake = FakeClient({"top_k", "seed"})
    guard = _guard(fake, drop_unsupported=True)
    obs = await guard.generate(_req(top_k=5, seed=3, temperature=0.2))
    assert obs.error is None
    assert set(obs.dropped_params) == {"top_k", "seed"}
    assert len(fake.sent) == 3
    assert fake.sent[-1].params.temperature == 0.2
    later = await guard.generate(_req(top_k=5, seed=3))
    assert len(fake.sent) == 4  # sent without them from the start
    assert set(later.dropped_params) == {"top_k", "seed"}
    plain = await guard.generate(_req())
    assert plain.dropped_params == ()  # it did not ask for them


def test_fits_and_truncate_text() -> None:
    assert fits(100, 200, 50)
    assert not fits(190, 200, 50)
    text = "A" * 50 + "B" * 50
    assert truncate_text(text, 10, "start") == "B" * 10
    cut = truncate_text(text, 10, "middle")
    assert cut.startswith("A" * 5) and cut.endswith("B" * 5) and "…" in cut
    assert truncate_text(text, 500, "start") == text


async def test_too_long_prompt_is_refused_naming_prompt_length_and_window() -> None:
    fake = FakeClient(set(), window=100)
    prompt = "Summarise this: " + "word " * 200
    obs = await _guard(fake).generate(_req(prompt, max_tokens=16))
    assert obs.error is not None and obs.error.kind is ErrorKind.CONTEXT
    assert "'Summarise this: word word" in obs.error.message
    assert "254 tokens" in obs.error.message
    assert "100 tokens" in obs.error.message
    assert not fake.sent  # caught before it is sent
    ok = await _guard(fake).generate(_req("short", max_tokens=16))
    assert ok.error is None and ok.prompt_fit is None


@pytest.mark.parametrize("mode", ["start", "middle"])
async def test_too_long_prompt_is_truncated_when_asked(mode: str) -> None:
    fake = FakeClient(set(), window=100)
    prompt = "Summarise this: " + "word " * 200 + "END?"
    obs = await _guard(fake, truncate=mode).generate(_req(prompt, max_tokens=16))
    assert obs.error is None
    sent = fake.sent[0].prompt
    assert len(sent) // 4 + 16 + 8 <= 100
    assert sent.endswith("END?")
    assert sent.startswith("Summarise") is (mode == "middle")
    assert obs.prompt_fit is not None and f"truncated ({mode})" in obs.prompt_fit


async def test_calibration_from_usage_when_there_is_no_tokenizer() -> None:
    class NoTokenizer(FakeClient):
        flavour = ApiFlavour.OLLAMA

        async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
            return [ModelInfo("m", context_length=100)]

        async def generate(self, request: GenerationRequest) -> GenerationObservation:
            obs = await super().generate(request)
            obs.prompt_tokens = len(request.prompt) // 2  # 2 characters per token
            return obs

    fake = NoTokenizer(set())
    guard = _guard(fake)
    first = await guard.generate(_req("x" * 100, max_tokens=8))  # nothing known yet: sent
    assert first.error is None
    refused = await guard.generate(_req("y" * 180, max_tokens=8))  # 90 tokens + 8 + 8 > 100
    assert refused.error is not None and refused.error.kind is ErrorKind.CONTEXT
    assert "calibrated" in refused.error.message
    fine = await guard.generate(replace(_req("z" * 100, max_tokens=8)))
    assert fine.error is None and len(fake.sent) == 2


def test_dropped_parameters_and_fit_survive_the_json_export() -> None:
    from ometer_tui.core.export import to_dict
    from ometer_tui.core.export_read import result_from_dict
    from tests.unit.test_export import _result

    result = _result()
    records = next(iter(result.models.values())).records
    records[0].dropped_params = ("top_k", "seed")
    records[0].prompt_fit = "truncated (middle): 5,000 -> 900 tokens"
    records[0].not_streamed = True
    doc = to_dict(result)
    run = doc["models"][0]["runs"][0]
    assert run["dropped_params"] == ["top_k", "seed"] and run["not_streamed"] is True
    again = next(iter(result_from_dict(doc).models.values())).records[0]
    assert again.dropped_params == ("top_k", "seed")
    assert again.prompt_fit == records[0].prompt_fit and again.not_streamed


async def test_windows_known_from_discovery_are_not_asked_again() -> None:
    class Counting(FakeClient):
        flavour = ApiFlavour.OLLAMA
        lists = 0

        async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
            self.lists += 1
            return [ModelInfo("m", context_length=64), ModelInfo("other", context_length=4096)]

    seeded = Counting(set())
    guard = GuardedClient(
        seeded,  # type: ignore[arg-type]
        Endpoint(name="e", url="http://127.0.0.1:1", api=ApiFlavour.OLLAMA),
        [ModelInfo("m", context_length=64)],
    )
    assert await guard.window("m") == 64 and seeded.lists == 0
    assert await guard.window("other") == 4096 and seeded.lists == 1
    assert await guard.window("third") is None and seeded.lists == 2
    assert await guard.window("third") is None and seeded.lists == 2  # asked once
