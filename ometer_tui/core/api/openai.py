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
import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from ometer_tui.core.api._http import HttpClient, TokenSink, arrival_clock
from ometer_tui.core.api.base import (
    ClientError,
    EmbeddingObservation,
    ErrorKind,
    GenerationObservation,
    GenerationRequest,
    RequestError,
)
from ometer_tui.core.api.errors import short, stream_error
from ometer_tui.core.api.stream import DONE, SseSplitter, StreamTooLarge
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
        payload["prompt"] = (
            f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
        )
    else:
        path = "/v1/chat/completions"
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
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

        async def consume(response: httpx.Response, sink: TokenSink) -> None:
            await self._consume(response, sink, completion)

        include_usage = self.include_usage
        path, payload = build_generate_payload(request, include_usage=include_usage)
        obs = GenerationObservation(usage_requested=include_usage)
        obs = await self._stream(
            path, payload, obs, request.keep_text_chars, consume, request.model
        )
        if include_usage and rejects_stream_options(obs.error):
            self.include_usage = False
            path, payload = build_generate_payload(request, include_usage=False)
            obs = await self._stream(
                path,
                payload,
                GenerationObservation(usage_requested=False),
                request.keep_text_chars,
                consume,
                request.model,
            )
        return obs

    async def _consume(self, response: httpx.Response, sink: TokenSink, completion: bool) -> None:
        obs = sink.obs
        ctype = response.headers.get("content-type", "").lower()
        if "json" in ctype or "html" in ctype:
            await self.not_a_stream(response, sink, "an SSE stream (text/event-stream)")
            return
        splitter = SseSplitter()
        loads = json.loads
        capture = sink.capture is not None
        now = 0
        stop = False
        received = 0
        events = 0
        head = b""
        max_bytes, max_tokens = self.max_stream_bytes, self.max_token_chunks
        arrived = arrival_clock(response)
        try:
            async for chunk in response.aiter_bytes():
                now = arrived()
                if obs.first_byte_ns is None:
                    obs.first_byte_ns = now
                    head = chunk[:200]
                received += len(chunk)
                if (received > max_bytes or obs.token_chunks > max_tokens) and self.over_cap(
                    obs, received
                ):
                    return
                if capture:
                    self.capture(sink, chunk)
                for event, data in splitter.feed(chunk):
                    events += 1
                    if self._event(event, data, now, sink, completion, loads):
                        stop = True
                        break
                if stop:
                    break
            if not stop:
                for event, data in splitter.close():
                    events += 1
                    if self._event(event, data, now, sink, completion, loads):
                        break
        except StreamTooLarge as exc:
            obs.error = RequestError(ErrorKind.TOO_LARGE, str(exc), before_first_byte=False)
            return
        if obs.error is not None and obs.error.kind is ErrorKind.STREAM:
            return
        if obs.first_byte_ns is not None and (events == 0 or events == obs.malformed_lines):
            # bytes arrived but not one JSON event: this is not an OpenAI-style stream
            excerpt = short(head.decode("utf-8", "replace"), 120)
            why = "no data: events" if events == 0 else "no event is JSON"
            obs.error = RequestError(
                ErrorKind.PROTOCOL,
                self.redact(f"response is not an SSE stream ({why}): {excerpt!r}"),
                before_first_byte=False,
            )
            return
        if not obs.done:
            self.incomplete(obs, "[DONE]")

    def _event(
        self,
        event: bytes | None,
        data: bytes,
        now: int,
        sink: TokenSink,
        completion: bool,
        loads: Any,
    ) -> bool:
        """Handle one SSE event; True stops reading."""
        if data == DONE:
            sink.obs.done = True
            return False
        try:
            obj = loads(data)
        except ValueError:
            if event == b"error":
                sink.obs.error = RequestError(
                    ErrorKind.STREAM,
                    self.redact(short(data.decode("utf-8", "replace"))),
                    before_first_byte=False,
                )
                return True
            sink.malformed(data)
            return False
        if type(obj) is not dict:
            sink.malformed(data, "not an object")
            return False
        if event == b"error" or obj.get("error") is not None:
            sink.obs.error = stream_error(obj, self._secrets)
            return True
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            if completion:
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
        usage = obj.get("usage")
        if usage:
            self._usage(usage, sink.obs)
        timings = obj.get("timings")
        if timings:
            self._timings(timings, sink.obs)
        fingerprint = obj.get("system_fingerprint")
        if fingerprint and sink.obs.system_fingerprint is None:
            sink.obs.system_fingerprint = str(fingerprint)
        return False

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
