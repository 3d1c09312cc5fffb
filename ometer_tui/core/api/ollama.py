"""The Ollama API: /api/version, /api/tags, /api/show, /api/ps, /api/chat,
/api/generate, /api/embed.

Streams are NDJSON. Malformed-line policy: a line that is not a JSON object is counted
(``malformed_lines``), the first one becomes a PROTOCOL error, and reading goes on, so
the timing of the rest of the stream is still measured; a later terminal fault (an error
object, a reset, a timeout, a missing ``done``) replaces that error.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, ClassVar

import httpx

from ometer_tui.core.api._consume import StreamFormat, consume
from ometer_tui.core.api._http import HttpClient, TokenSink, parse_time
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
from ometer_tui.core.api.errors import stream_error
from ometer_tui.core.api.stream import NdjsonSplitter
from ometer_tui.core.models import (
    ApiFlavour,
    GenerationParams,
    ModelInfo,
    ResponseFormat,
    ServerInfo,
    Workload,
)

#: /api/show requests in flight at once during discovery.
SHOW_CONCURRENCY = 8

_EMBEDDING_FAMILIES = ("bert", "nomic-bert", "xlm-roberta", "gte", "jina-bert")


def _options(params: GenerationParams) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if params.max_tokens is not None:
        options["num_predict"] = params.max_tokens
    for name, value in (
        ("temperature", params.temperature),
        ("top_p", params.top_p),
        ("top_k", params.top_k),
        ("seed", params.seed),
        ("frequency_penalty", params.frequency_penalty),
        ("presence_penalty", params.presence_penalty),
    ):
        if value is not None:
            options[name] = value
    if params.stop:
        options["stop"] = list(params.stop)
    return options


def build_generate_payload(request: GenerationRequest) -> tuple[str, dict[str, Any]]:
    """(path, JSON payload) for one streamed Ollama generation."""
    params = request.params
    images = [base64.b64encode(img.data).decode("ascii") for img in request.images]
    payload: dict[str, Any] = {"model": request.model}
    if request.workload is Workload.COMPLETION:
        path = "/api/generate"
        payload["prompt"] = conversation_text(request)
        if request.system:
            payload["system"] = request.system
        if images:
            payload["images"] = images
    else:
        path = "/api/chat"
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(history_messages(request))  # a multi-turn conversation's turns
        user: dict[str, Any] = {"role": "user", "content": request.prompt}
        if images:
            user["images"] = images
        messages.append(user)
        payload["messages"] = messages
    payload["stream"] = True
    options = _options(params)
    if options:
        payload["options"] = options
    if params.response_format is ResponseFormat.JSON:
        payload["format"] = "json"
    elif params.response_format is ResponseFormat.JSON_SCHEMA and params.json_schema:
        payload["format"] = params.json_schema
    if params.keep_alive is not None:
        payload["keep_alive"] = params.keep_alive
    if request.think is not None:
        payload["think"] = request.think
    return path, payload


def _seconds(value: object) -> float | None:
    return value / 1e9 if isinstance(value, (int, float)) else None


def apply_final(obj: dict[str, Any], obs: GenerationObservation) -> None:
    """The ``done: true`` line: server token counts and timings (ns -> seconds)."""
    obs.done = True
    eval_count = obj.get("eval_count")
    prompt_count = obj.get("prompt_eval_count")
    if isinstance(eval_count, int):
        obs.output_tokens = eval_count
        obs.server_timings["eval_count"] = float(eval_count)
    if isinstance(prompt_count, int):
        obs.prompt_tokens = prompt_count
        obs.server_timings["prompt_eval_count"] = float(prompt_count)
    for key, name in (
        ("load_duration", "load_s"),
        ("prompt_eval_duration", "prompt_eval_s"),
        ("eval_duration", "eval_s"),
        ("total_duration", "total_s"),
    ):
        seconds = _seconds(obj.get(key))
        if seconds is not None:
            obs.server_timings[name] = seconds


def infer_capabilities(name: str, details: dict[str, Any] | None) -> tuple[str, ...]:
    """Capabilities for servers whose /api/show has no ``capabilities`` list."""
    families: list[str] = []
    if details:
        fams = details.get("families")
        if isinstance(fams, list):
            families.extend(str(f).lower() for f in fams)
        family = details.get("family")
        if isinstance(family, str):
            families.append(family.lower())
    lowered = name.lower()
    if "embed" in lowered or any(f in _EMBEDDING_FAMILIES for f in families):
        return ("embedding",)
    if "clip" in families or "mllama" in families:
        return ("completion", "vision")
    return ("completion",)


def _context_length(model_info: object) -> int | None:
    if not isinstance(model_info, dict):
        return None
    for key, value in model_info.items():
        if isinstance(key, str) and key.endswith(".context_length") and isinstance(value, int):
            return value
    return None


def _decode(line: bytes, sink: TokenSink) -> dict[str, Any] | None:
    """One NDJSON line as a JSON object, or ``None`` after recording it as malformed."""
    try:
        obj = json.loads(line)
    except ValueError:
        sink.malformed(line)
        return None
    if type(obj) is not dict:
        sink.malformed(line, "not an object")
        return None
    return obj


class OllamaClient(HttpClient):
    """An Ollama server (``/api/*``)."""

    flavour = ApiFlavour.OLLAMA
    probe_path: ClassVar[str] = "/api/version"

    # -- discovery ----------------------------------------------------------------------

    async def _get(self, path: str) -> Any:
        try:
            decoded, _, _ = await self.request_json("GET", path)
        except ClientError as err:
            raise await self.wrong_flavour(err, path, "/v1/models", ApiFlavour.OPENAI) from None
        return decoded

    async def server_info(self) -> ServerInfo:
        async def loaded() -> tuple[str, ...]:
            try:
                decoded, _, _ = await self.request_json("GET", "/api/ps")
            except ClientError:
                return ()
            models = decoded.get("models") if isinstance(decoded, dict) else None
            if not isinstance(models, list):
                return ()
            return tuple(
                str(m.get("name") or m.get("model"))
                for m in models
                if isinstance(m, dict) and (m.get("name") or m.get("model"))
            )

        async def version() -> tuple[str | None, str | None]:
            try:
                decoded, headers, _ = await self.request_json("GET", "/api/version")
            except ClientError as err:
                raise await self.wrong_flavour(
                    err, "/api/version", "/v1/models", ApiFlavour.OPENAI
                ) from None
            value = decoded.get("version") if isinstance(decoded, dict) else None
            return (str(value) if value is not None else None), headers.get("server")

        results = await asyncio.gather(
            version(), self._get("/api/tags"), loaded(), return_exceptions=True
        )
        got_version, tags, running = results[0], results[1], results[2]
        if isinstance(got_version, BaseException):
            raise got_version
        if isinstance(tags, BaseException):
            raise tags
        if isinstance(running, BaseException):
            raise running
        ver, server = got_version
        models = tags.get("models") if isinstance(tags, dict) else None
        return ServerInfo(
            flavour=self.flavour,
            version=ver,
            model_count=len(models) if isinstance(models, list) else None,
            backend=server,
            loaded_models=running,
        )

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        decoded = await self._get("/api/tags")
        raw = decoded.get("models") if isinstance(decoded, dict) else None
        if not isinstance(raw, list):
            raise ClientError(
                RequestError(ErrorKind.PROTOCOL, "GET /api/tags: no 'models' list in the answer")
            )
        entries = [m for m in raw if isinstance(m, dict) and (m.get("name") or m.get("model"))]
        entries.sort(key=lambda m: -(parse_time(m.get("modified_at")) or float("-inf")))
        shows: list[dict[str, Any] | None]
        if details and entries:
            gate = asyncio.Semaphore(SHOW_CONCURRENCY)

            async def show(name: str) -> dict[str, Any] | None:
                async with gate:
                    try:
                        got, _, _ = await self.request_json(
                            "POST", "/api/show", {"model": name}, model=name
                        )
                    except ClientError:
                        return None
                    return got if isinstance(got, dict) else None

            shows = list(
                await asyncio.gather(*(show(str(m.get("name") or m.get("model"))) for m in entries))
            )
        else:
            shows = [None] * len(entries)
        return [self._model_info(entry, shown) for entry, shown in zip(entries, shows, strict=True)]

    @staticmethod
    def _model_info(entry: dict[str, Any], shown: dict[str, Any] | None) -> ModelInfo:
        name = str(entry.get("name") or entry.get("model"))
        tag_details = entry.get("details")
        show_details = shown.get("details") if shown else None
        merged: dict[str, Any] = dict(tag_details) if isinstance(tag_details, dict) else {}
        if isinstance(show_details, dict):
            merged.update((k, v) for k, v in show_details.items() if v)

        def text(key: str) -> str | None:
            value = merged.get(key)
            return str(value) if value not in (None, "") else None

        capabilities: tuple[str, ...]
        caps = shown.get("capabilities") if shown else None
        if isinstance(caps, list) and caps:
            capabilities = tuple(str(c) for c in caps)
        else:
            capabilities = infer_capabilities(name, merged)
        size = entry.get("size")
        modified = entry.get("modified_at")
        return ModelInfo(
            name=name,
            size_bytes=size if isinstance(size, int) else None,
            parameter_size=text("parameter_size"),
            quantization=text("quantization_level"),
            context_length=_context_length(shown.get("model_info")) if shown else None,
            family=text("family"),
            capabilities=capabilities,
            modified_at=modified if isinstance(modified, str) else None,
        )

    # -- generation ---------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        path, payload = build_generate_payload(request)
        chat = path == "/api/chat"

        async def read(response: httpx.Response, sink: TokenSink) -> None:
            await consume(self, response, sink, _NdjsonFormat(self, chat))

        return await self._stream(
            path, payload, GenerationObservation(), request.keep_text_chars, read, request.model
        )

    # -- embeddings ---------------------------------------------------------------------

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingObservation:
        def parse(decoded: Any, obs: EmbeddingObservation) -> None:
            vectors = decoded["embeddings"]
            obs.vectors = len(vectors)
            obs.dimensions = len(vectors[0]) if vectors else None
            count = decoded.get("prompt_eval_count")
            obs.input_tokens = count if isinstance(count, int) else None

        return await self._embed("/api/embed", {"model": model, "input": inputs}, model, parse)


def _output(obj: dict[str, Any], chat: bool) -> tuple[Any, Any, bool]:
    """(content, thinking, carries a tool call) of one chat or generate object."""
    if chat:
        message = obj.get("message")
        if type(message) is not dict:
            return None, None, False
        calls = message.get("tool_calls")
        return message.get("content"), message.get("thinking"), bool(calls)
    return obj.get("response"), obj.get("thinking"), False


class _NdjsonFormat(StreamFormat[bytes]):
    """Ollama NDJSON: one object per line, the last one ``done: true`` with the counts."""

    expected = "an NDJSON stream"
    end_marker = "done:true"

    def __init__(self, client: OllamaClient, chat: bool) -> None:
        self.client = client
        self.chat = chat
        self.valid = 0  # lines that were JSON objects

    def splitter(self) -> NdjsonSplitter:
        return NdjsonSplitter()

    def refuses(self, content_type: str) -> bool:
        return "html" in content_type or "event-stream" in content_type

    def item(self, item: bytes, now: int, sink: TokenSink) -> bool:
        obj = _decode(item, sink)
        if obj is None:
            return False
        self.valid += 1
        if "error" in obj:
            sink.obs.error = stream_error(obj, self.client._secrets)
            return True
        content, thinking, tool_call = _output(obj, self.chat)
        if content or thinking:
            sink.token(now, content, thinking)
        elif tool_call:
            sink.token(now, None, None)
        if obj.get("done"):
            apply_final(obj, sink.obs)
        return False

    def whole(self, obj: dict[str, Any], now: int, sink: TokenSink) -> bool:
        if "error" in obj:
            sink.obs.error = stream_error(obj, self.client._secrets)
            return True
        if not obj.get("done"):
            return False  # one line of a stream (labelled application/json)
        content, thinking, tool_call = _output(obj, self.chat)
        sink.whole(
            now,
            content if isinstance(content, str) else None,
            thinking if isinstance(thinking, str) else None,
            tool_call,
        )
        apply_final(obj, sink.obs)
        return True

    def not_this_stream(self, head: bytes, sink: TokenSink) -> str | None:
        if self.valid or not sink.obs.malformed_lines:
            return None
        assert sink.first_malformed is not None
        return "response is not an NDJSON stream; " + sink.first_malformed.message
