"""The Ollama native API of the demo endpoint (``/api/*``)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from ometer_tui.demo.catalogue import CATALOGUE, DemoModel
from ometer_tui.demo.errors import bad_request
from ometer_tui.demo.generation import (
    MALFORMED_JSON,
    PROMPT_OVERHEAD_TOKENS,
    TOOL_NAME,
    Outcome,
    Token,
    TokenPlan,
    count_words,
    decode_image,
    embed_texts,
    embedding_dims,
    embedding_tokens,
    image_report,
    nanoseconds,
    plan_tokens,
    require_capability,
    require_vision,
    respond,
    sleep_until,
)
from ometer_tui.demo.http import dump_json
from ometer_tui.demo.payload import (
    JsonObject,
    objects,
    opt_bool,
    opt_int,
    opt_list,
    opt_object,
    opt_str,
    require_str,
    strings,
)
from ometer_tui.demo.state import Exchange, Route

VERSION = "0.12.0-demo"
_UNITS = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
_ZERO_DURATION = re.compile(r"^0+(\.0*)?(ns|us|ms|s|m|h)?$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parameter_count(size: str) -> int:
    """``"1.2B"`` -> 1_200_000_000."""
    unit = _UNITS.get(size[-1:].upper())
    return round(float(size[:-1]) * unit) if unit else 0


def details(model: DemoModel) -> JsonObject:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization,
    }


def _listing(model: DemoModel) -> JsonObject:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": model.modified_at,
        "size": model.size_bytes,
        "digest": hashlib.sha256(model.name.encode()).hexdigest(),
        "details": details(model),
    }


def _unload_requested(keep_alive: object) -> bool:
    if isinstance(keep_alive, int | float) and not isinstance(keep_alive, bool):
        return keep_alive == 0
    return isinstance(keep_alive, str) and bool(_ZERO_DURATION.match(keep_alive.strip()))


# -- discovery --------------------------------------------------------------------------


async def root(ex: Exchange) -> None:
    await ex.responder.send(200, b"Ollama is running", "text/plain; charset=utf-8")


async def version(ex: Exchange) -> None:
    await ex.responder.send_json(200, {"version": VERSION})


async def tags(ex: Exchange) -> None:
    await ex.responder.send_json(200, {"models": [_listing(m) for m in CATALOGUE]})


async def show(ex: Exchange) -> None:
    body = ex.body()
    model = ex.state.lookup(require_str(body, "model", "name"), ex.dialect)
    info: JsonObject = {
        "general.architecture": model.family,
        "general.parameter_count": parameter_count(model.parameter_size),
        f"{model.family}.context_length": model.context_length,
    }
    if model.embedding_dims:
        info[f"{model.family}.embedding_length"] = model.embedding_dims
    await ex.responder.send_json(
        200,
        {
            "modelfile": "",
            "parameters": "",
            "template": "",
            "details": details(model),
            "model_info": info,
            "capabilities": list(model.capabilities),
            "modified_at": model.modified_at,
        },
    )


async def ps(ex: Exchange) -> None:
    models = [
        {
            **_listing(model),
            "expires_at": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
            "size_vram": 0,
            "context_length": model.context_length,
        }
        for model, expires in ex.state.loaded()
    ]
    await ex.responder.send_json(200, {"models": models})


# -- generation -------------------------------------------------------------------------


class _OllamaEncoder:
    """NDJSON lines; subclasses say where text and thinking go."""

    content_type = "application/x-ndjson"

    def __init__(self, model: str) -> None:
        self.model = model

    def text_fields(self, content: str, thinking: str | None) -> JsonObject:
        raise NotImplementedError

    def answer_object(self, content: str, thinking: str | None, *, done: bool) -> JsonObject:
        return {
            "model": self.model,
            "created_at": now_iso(),
            **self.text_fields(content, thinking),
            "done": done,
        }

    def opening(self) -> list[bytes]:
        return []

    def token(self, token: Token) -> bytes:
        if token.thinking:
            return _line(self.answer_object("", token.text, done=False))
        return _line(self.answer_object(token.text, None, done=False))

    def tool_call(self, token: Token, plan: TokenPlan) -> bytes:
        return self.token(token)  # no tool calls on this route: plain text

    def closing(self, outcome: Outcome) -> list[bytes]:
        final = self.answer_object("", None, done=True)
        final["done_reason"] = _done_reason(outcome)
        final.update(outcome.ollama_metrics())
        return [_line(final)]

    def error_event(self, message: str) -> bytes:
        return _line({"error": message})

    def malformed_event(self) -> bytes:
        return MALFORMED_JSON + b"\n"

    def whole(self, outcome: Outcome) -> JsonObject:
        plan = outcome.plan
        answer = self.answer_object(plan.visible_text, plan.thinking_text or None, done=True)
        answer["done_reason"] = _done_reason(outcome)
        answer.update(outcome.ollama_metrics())
        return answer


class ChatEncoder(_OllamaEncoder):
    def text_fields(self, content: str, thinking: str | None) -> JsonObject:
        message: JsonObject = {"role": "assistant", "content": content}
        if thinking is not None:
            message["thinking"] = thinking
        return {"message": message}

    def tool_call(self, token: Token, plan: TokenPlan) -> bytes:
        """Ollama sends a tool call whole, in one chunk, once the model has finished it."""
        if token.index < len(plan.tokens) - 1:
            return b""
        message: JsonObject = {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": TOOL_NAME, "arguments": {"text": plan.visible_text}}}
            ],
        }
        return _line(
            {"model": self.model, "created_at": now_iso(), "message": message, "done": False}
        )


class GenerateEncoder(_OllamaEncoder):
    def text_fields(self, content: str, thinking: str | None) -> JsonObject:
        fields: JsonObject = {"response": content}
        if thinking is not None:
            fields["thinking"] = thinking
        return fields


def _done_reason(outcome: Outcome) -> str:
    """Ollama ends a tool call with ``stop`` (OpenAI says ``tool_calls``)."""
    reason = outcome.finish_reason
    return "stop" if reason == "tool_calls" else reason


def _line(obj: JsonObject) -> bytes:
    return dump_json(obj) + b"\n"


def _images(value: object) -> list[bytes]:
    if value is None:
        return []
    return [decode_image(data) for data in strings(value, "images")]


def _max_tokens(options: JsonObject) -> int | None:
    """``num_predict``; negative values (-1 unlimited, -2 fill context) do not cap."""
    limit = opt_int(options, "num_predict")
    return None if limit is None or limit < 0 else limit


def _think(body: JsonObject, model: DemoModel) -> bool:
    """Thinking is on for a thinking model unless ``think`` is false."""
    think = body.get("think")
    if think is None:
        return True
    if not isinstance(think, bool | str):
        raise bad_request("think must be true, false or a level")
    if think is not False and "thinking" not in model.capabilities:
        raise bad_request(f'"{model.name}" does not support thinking')
    return think is not False


async def _generation(
    ex: Exchange,
    body: JsonObject,
    model: DemoModel,
    texts: list[str],
    images: list[bytes],
    encoder: _OllamaEncoder,
) -> None:
    require_vision(model, images)
    stream = opt_bool(body, "stream")
    think = _think(body, model)
    max_tokens = _max_tokens(opt_object(body, "options"))
    plan = plan_tokens(  # only a valid request loads the model
        model,
        start=ex.start,
        load=ex.state.load(model, ex.start),
        prompt_tokens=count_words(texts) + PROMPT_OVERHEAD_TOKENS,
        max_tokens=max_tokens,
        think=think,
        lead_words=image_report(images) if "vision" in model.capabilities else (),
    )
    try:
        await respond(ex, plan, encoder, stream=stream is not False)
    finally:
        if _unload_requested(body.get("keep_alive")):
            ex.state.unload(model.name)


async def _load_only(
    ex: Exchange, body: JsonObject, model: DemoModel, encoder: _OllamaEncoder
) -> None:
    """An empty prompt loads (or, with keep_alive 0, unloads) the model and says so."""
    unload = _unload_requested(body.get("keep_alive"))
    if unload:
        ex.state.unload(model.name)
    else:
        await sleep_until(ex.loop, ex.start + ex.state.load(model, ex.start).wait_s)
    answer = encoder.answer_object("", None, done=True)
    answer["done_reason"] = "unload" if unload else "load"
    await ex.responder.send_json(200, answer)


def _model_for(ex: Exchange, body: JsonObject, action: str) -> DemoModel:
    model = ex.state.lookup(require_str(body, "model"), ex.dialect)
    ex.state.check_status_fault(model)
    require_capability(model, "completion", action)
    return model


async def chat(ex: Exchange) -> None:
    body = ex.body()
    model = _model_for(ex, body, "chat")
    messages = objects(opt_list(body, "messages"), "messages")
    encoder = ChatEncoder(model.name)
    if not messages:
        await _load_only(ex, body, model, encoder)
        return
    texts = [opt_str(message, "content") or "" for message in messages]
    images = [image for message in messages for image in _images(message.get("images"))]
    await _generation(ex, body, model, texts, images, encoder)


async def generate(ex: Exchange) -> None:
    body = ex.body()
    model = _model_for(ex, body, "generate")
    prompt = opt_str(body, "prompt") or ""
    encoder = GenerateEncoder(model.name)
    if not prompt:
        await _load_only(ex, body, model, encoder)
        return
    texts = [prompt, opt_str(body, "system") or ""]
    await _generation(ex, body, model, texts, _images(body.get("images")), encoder)


def _embedding_model(ex: Exchange, body: JsonObject) -> DemoModel:
    model = ex.state.lookup(require_str(body, "model"), ex.dialect)
    ex.state.check_status_fault(model)
    require_capability(model, "embedding", "embeddings")
    return model


async def embed(ex: Exchange) -> None:
    body = ex.body()
    model = _embedding_model(ex, body)
    raw_input = body.get("input")
    texts = [] if raw_input is None else strings(raw_input, "input")
    dims = embedding_dims(model, opt_int(body, "dimensions"))
    vectors, load = await embed_texts(ex, model, texts, dims)
    await ex.responder.send_json(
        200,
        {
            "model": model.name,
            "embeddings": vectors,
            "total_duration": nanoseconds(ex.loop.time() - ex.start),
            "load_duration": nanoseconds(load.reported_s),
            "prompt_eval_count": embedding_tokens(texts),
        },
    )


async def embeddings_legacy(ex: Exchange) -> None:
    """The older ``/api/embeddings``: one ``prompt`` in, one ``embedding`` out."""
    body = ex.body()
    model = _embedding_model(ex, body)
    prompt = opt_str(body, "prompt") or ""
    vectors, _ = await embed_texts(ex, model, [prompt], model.embedding_dims)
    await ex.responder.send_json(200, {"embedding": vectors[0]})


ROUTES: dict[str, Route] = {
    "/": Route("GET", root),
    "/api/version": Route("GET", version),
    "/api/tags": Route("GET", tags),
    "/api/show": Route("POST", show),
    "/api/ps": Route("GET", ps),
    "/api/chat": Route("POST", chat, counts_in_flight=True),
    "/api/generate": Route("POST", generate, counts_in_flight=True),
    "/api/embed": Route("POST", embed, counts_in_flight=True),
    "/api/embeddings": Route("POST", embeddings_legacy, counts_in_flight=True),
}
