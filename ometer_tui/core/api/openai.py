"""The OpenAI-compatible API: /v1/models, /v1/chat/completions, /v1/completions,
/v1/embeddings (vLLM, llama.cpp, LM Studio, SGLang, TGI, proxies...).

Streams are SSE. ``stream_options: {"include_usage": true}`` is sent so the server
reports exact token counts; a server that rejects it with a 400 naming it is retried once
at once without it, and the client remembers not to send it again
(``usage_requested`` then says False and the engine counts chunks instead).

Malformed-event policy as for Ollama: a ``data:`` payload that is not a JSON object is
counted, the first one becomes a PROTOCOL error, and reading goes on to ``[DONE]``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from ometer_tui.core.api._consume import StreamFormat, consume, event_json
from ometer_tui.core.api._http import HttpClient, TokenSink
from ometer_tui.core.api.base import (
    ClientError,
    EmbeddingObservation,
    ErrorKind,
    GenerationObservation,
    GenerationRequest,
    RequestError,
    conversation_text,
    history_messages,
)
from ometer_tui.core.api.errors import short, stream_error
from ometer_tui.core.api.stream import SseEvent, SseSplitter
from ometer_tui.core.models import (
    ApiFlavour,
    ModelInfo,
    ResponseFormat,
    ServerInfo,
    Workload,
)

_STREAM_OPTIONS_HINTS = ("stream_options", "include_usage", "unrecognized", "extra inputs")
_VERSION_HEADERS = ("x-server-version", "x-version", "x-api-version")


def build_generate_payload(
    request: GenerationRequest, *, include_usage: bool = True
) -> tuple[str, dict[str, Any]]:
    """(path, JSON payload) for one streamed OpenAI-compatible generation."""
    params = request.params
    payload: dict[str, Any] = {"model": request.model}
    if request.workload is Workload.COMPLETION:
        path = "/v1/completions"
        text = conversation_text(request)
        payload["prompt"] = f"{request.system}\n\n{text}" if request.system else text
    else:
        path = "/v1/chat/completions"
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(history_messages(request))  # a multi-turn conversation's turns
        if request.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
            for image in request.images:
                data = base64.b64encode(image.data).decode("ascii")
                parts.append(
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:{image.mime_type};base64,{data}"},
                    }
                )
            messages.append({"role": "user", "content": parts})
        else:
            messages.append({"role": "user", "content": request.prompt})
        payload["messages"] = messages
    payload["stream"] = True
    if include_usage:
        payload["stream_options"] = {"include_usage": True}
    for name, value in (
        ("max_tokens", params.max_tokens),
        ("temperature", params.temperature),
        ("top_p", params.top_p),
        ("seed", params.seed),
        ("frequency_penalty", params.frequency_penalty),
        ("presence_penalty", params.presence_penalty),
        ("top_k", params.top_k),  # not standard; vLLM and llama.cpp take it
        ("min_tokens", params.min_tokens),  # vLLM; llama.cpp ignores it
        ("ignore_eos", params.ignore_eos),  # vLLM and llama.cpp
    ):
        if value is not None:
            payload[name] = value
    if params.stop:
        payload["stop"] = list(params.stop)
    if params.response_format is ResponseFormat.JSON:
        payload["response_format"] = {"type": "json_object"}
    elif params.response_format is ResponseFormat.JSON_SCHEMA and params.json_schema:
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": params.json_schema},
        }
    return path, payload


def rejects_stream_options(error: RequestError | None) -> bool:
    """A 400 whose message says the server does not know ``stream_options``."""
    if error is None or error.kind is not ErrorKind.HTTP or error.status not in (400, 422):
        return False
    text = error.message.lower()
    return any(hint in text for hint in _STREAM_OPTIONS_HINTS)


def guess_capabilities(model_id: str) -> tuple[str, ...]:
    return ("embedding",) if "embed" in model_id.lower() else ("completion",)


class OpenAIClient(HttpClient):
    """An OpenAI-compatible server (``/v1/*``)."""

    flavour = ApiFlavour.OPENAI
    probe_path: ClassVar[str] = "/v1/models"

    #: False once the server refused ``stream_options`` (per client).
    include_usage: bool = True

    # -- discovery ----------------------------------------------------------------------

    async def _models(self) -> tuple[list[dict[str, Any]], httpx.Headers]:
        try:
            decoded, headers, _ = await self.request_json("GET", "/v1/models")
        except ClientError as err:
            raise await self.wrong_flavour(
                err, "/v1/models", "/api/version", ApiFlavour.OLLAMA
            ) from None
        data = decoded.get("data") if isinstance(decoded, dict) else None
        if data is None and isinstance(decoded, dict) and isinstance(decoded.get("models"), list):
            data = decoded["models"]
        if not isinstance(data, list):
            raise ClientError(
                RequestError(ErrorKind.PROTOCOL, "GET /v1/models: no 'data' list in the answer")
            )
        return [m for m in data if isinstance(m, dict) and (m.get("id") or m.get("name"))], headers

    async def server_info(self) -> ServerInfo:
        models, headers = await self._models()
        server = headers.get("server")
        version = next((headers[h] for h in _VERSION_HEADERS if headers.get(h)), None)
        return ServerInfo(
            flavour=self.flavour, version=version, model_count=len(models), backend=server
        )

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        models, _ = await self._models()

        def created(m: dict[str, Any]) -> float | None:
            value = m.get("created")
            return float(value) if isinstance(value, (int, float)) and value > 0 else None

        # newest first where the server says when; the others keep their order, after
        models.sort(key=lambda m: (created(m) is None, -(created(m) or 0.0)))
        out: list[ModelInfo] = []
        for m in models:
            model_id = str(m.get("id") or m.get("name"))
            stamp = created(m)
            owned = m.get("owned_by")
            out.append(
                ModelInfo(
                    name=model_id,
                    capabilities=guess_capabilities(model_id),
                    modified_at=(
                        datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")
                        if stamp is not None
                        else None
                    ),
                    owned_by=str(owned) if owned else None,
                )
            )
        return out

    # -- generation ---------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        completion = request.workload is Workload.COMPLETION

        async def read(response: httpx.Response, sink: TokenSink) -> None:
            await consume(self, response, sink, _SseFormat(self, completion))

        include_usage = self.include_usage
        path, payload = build_generate_payload(request, include_usage=include_usage)
        obs = GenerationObservation(usage_requested=include_usage)
        obs = await self._stream(path, payload, obs, request.keep_text_chars, read, request.model)
        if include_usage and rejects_stream_options(obs.error):
            self.include_usage = False
            path, payload = build_generate_payload(request, include_usage=False)
            obs = await self._stream(
                path,
                payload,
                GenerationObservation(usage_requested=False),
                request.keep_text_chars,
                read,
                request.model,
            )
        return obs

    @staticmethod
    def _usage(usage: Any, obs: GenerationObservation) -> None:
        if not isinstance(usage, dict):
            return
        completion_tokens = usage.get("completion_tokens")
        prompt_tokens = usage.get("prompt_tokens")
        if isinstance(completion_tokens, int):
            obs.output_tokens = completion_tokens
        if isinstance(prompt_tokens, int):
            obs.prompt_tokens = prompt_tokens
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            obs.server_timings["cached_tokens"] = float(details["cached_tokens"])

    @staticmethod
    def _timings(timings: Any, obs: GenerationObservation) -> None:
        if not isinstance(timings, dict):
            return
        for key, value in timings.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                obs.server_timings[str(key)] = float(value)

    # -- embeddings ---------------------------------------------------------------------

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingObservation:
        def parse(decoded: Any, obs: EmbeddingObservation) -> None:
            data = decoded["data"]
            obs.vectors = len(data)
            first = data[0]["embedding"] if data else None
            obs.dimensions = len(first) if isinstance(first, list) else None
            usage = decoded.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
                obs.input_tokens = usage["prompt_tokens"]

        return await self._embed("/v1/embeddings", {"model": model, "input": inputs}, model, parse)


def tool_call_output(message: dict[str, Any]) -> bool:
    """A delta or message carrying tool-call output: a function name or arguments text
    in ``tool_calls`` (or the legacy ``function_call``)."""
    calls = message.get("tool_calls")
    if type(calls) is list:
        for call in calls:
            function = call.get("function") if type(call) is dict else None
            if type(function) is dict and (function.get("arguments") or function.get("name")):
                return True
    function = message.get("function_call")
    return type(function) is dict and bool(function.get("arguments") or function.get("name"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class _SseFormat(StreamFormat[SseEvent]):
    """OpenAI-style SSE: ``data:`` events of chunk objects, ending with ``[DONE]``."""

    expected = "an SSE stream (text/event-stream)"
    end_marker = "[DONE]"

    def __init__(self, client: OpenAIClient, completion: bool) -> None:
        self.client = client
        self.completion = completion
        self.events = 0  # SSE events dispatched

    def splitter(self) -> SseSplitter:
        return SseSplitter()

    def refuses(self, content_type: str) -> bool:
        return "html" in content_type or "ndjson" in content_type

    def item(self, item: SseEvent, now: int, sink: TokenSink) -> bool:
        self.events += 1
        event, data = item
        obj, stop = event_json(self.client, sink, event, data)
        if stop is not None:
            return stop
        if type(obj) is not dict:
            sink.malformed(data, "not an object")
            return False
        if event == b"error" or obj.get("error") is not None:
            sink.obs.error = stream_error(obj, self.client._secrets)
            return True
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            if self.completion:
                text = choice.get("text")
                if text:
                    sink.token(now, text, None)
            else:
                delta = choice.get("delta")
                if delta:
                    content = delta.get("content")
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    if content or reasoning:
                        sink.token(now, content, reasoning)
                    elif tool_call_output(delta):
                        sink.token(now, None, None)
        self._extras(obj, sink.obs)
        return False

    def whole(self, obj: dict[str, Any], now: int, sink: TokenSink) -> bool:
        if obj.get("error") is not None:
            sink.obs.error = stream_error(obj, self.client._secrets)
            return True
        choices = obj.get("choices")
        if type(choices) is not list or not choices or type(choices[0]) is not dict:
            return False
        choice = choices[0]
        message = choice.get("message")
        if type(message) is dict:
            reasoning = _text(message.get("reasoning_content")) or _text(message.get("reasoning"))
            sink.whole(now, _text(message.get("content")), reasoning, tool_call_output(message))
        elif isinstance(choice.get("text"), str):
            sink.whole(now, _text(choice.get("text")), None, False)
        else:
            return False
        sink.obs.done = True
        self._extras(obj, sink.obs)
        return True

    @staticmethod
    def _extras(obj: dict[str, Any], obs: GenerationObservation) -> None:
        usage = obj.get("usage")
        if usage:
            OpenAIClient._usage(usage, obs)
        timings = obj.get("timings")
        if timings:
            OpenAIClient._timings(timings, obs)
        fingerprint = obj.get("system_fingerprint")
        if fingerprint and obs.system_fingerprint is None:
            obs.system_fingerprint = str(fingerprint)

    def not_this_stream(self, head: bytes, sink: TokenSink) -> str | None:
        if self.events and self.events != sink.obs.malformed_lines:
            return None
        excerpt = short(head.decode("utf-8", "replace"), 120)
        why = "no data: events" if self.events == 0 else "no event is JSON"
        return f"response is not an SSE stream ({why}): {excerpt!r}"
