"""The OpenAI-compatible API of the demo endpoint (``/v1/*``)."""

from __future__ import annotations

import base64
import itertools
import struct
import time
from datetime import datetime

from ometer_tui.demo import metrics as demo_metrics
from ometer_tui.demo.catalogue import CATALOGUE, DemoModel
from ometer_tui.demo.errors import DemoError, bad_request
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
    plan_tokens,
    require_capability,
    require_vision,
    respond,
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

OWNER = "ometer-demo"
FINGERPRINT = "fp_demo"
DONE_EVENT = b"data: [DONE]\n\n"
_ids = itertools.count(1)


def _created(model: DemoModel) -> int:
    return int(datetime.fromisoformat(model.modified_at.replace("Z", "+00:00")).timestamp())


def _event(obj: JsonObject) -> bytes:
    return b"data: " + dump_json(obj) + b"\n\n"


# -- discovery --------------------------------------------------------------------------


async def models(ex: Exchange) -> None:
    data = [
        {"id": m.name, "object": "model", "created": _created(m), "owned_by": OWNER}
        for m in CATALOGUE
    ]
    await ex.responder.send_json(200, {"object": "list", "data": data})


#: what ``GET /version`` says (vLLM's route: ``{"version": ...}``)
VERSION = "0.11.0-demo"


async def version(ex: Exchange) -> None:
    await ex.responder.send_json(200, {"version": VERSION})


# -- generation -------------------------------------------------------------------------


class _OpenAIEncoder:
    """SSE events; subclasses say how a choice carries text."""

    content_type = "text/event-stream; charset=utf-8"
    object_name = ""  # of a whole answer
    chunk_object_name = ""  # of each streamed chunk
    id_prefix = ""

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = f"{self.id_prefix}-demo{next(_ids)}"
        self.created = int(time.time())

    def stream_choice(self, token: Token | None, finish_reason: str | None) -> JsonObject:
        raise NotImplementedError

    def whole_choice(self, outcome: Outcome) -> JsonObject:
        raise NotImplementedError

    def _envelope(self, obj_name: str, choices: list[JsonObject]) -> JsonObject:
        return {
            "id": self.id,
            "object": obj_name,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }

    def _chunk(self, choices: list[JsonObject]) -> bytes:
        chunk = self._envelope(self.chunk_object_name, choices)
        if self.include_usage:
            chunk["usage"] = None
        return _event(chunk)

    def opening(self) -> list[bytes]:
        return []

    def token(self, token: Token) -> bytes:
        return self._chunk([self.stream_choice(token, None)])

    def tool_call(self, token: Token, plan: TokenPlan) -> bytes:
        return self.token(token)  # no tool calls on this route: plain text

    def closing(self, outcome: Outcome) -> list[bytes]:
        events = [self._chunk([self.stream_choice(None, outcome.finish_reason)])]
        if self.include_usage:
            usage = self._envelope(self.chunk_object_name, [])
            usage["usage"] = outcome.openai_usage()
            events.append(_event(usage))
        events.append(DONE_EVENT)
        return events

    def error_event(self, message: str) -> bytes:
        return _event({"error": {"message": message, "type": "server_error"}})

    def malformed_event(self) -> bytes:
        return b"data: " + MALFORMED_JSON + b"\n\n"

    def whole(self, outcome: Outcome) -> JsonObject:
        answer = self._envelope(self.object_name, [self.whole_choice(outcome)])
        answer["usage"] = outcome.openai_usage()
        return answer


class ChatEncoder(_OpenAIEncoder):
    object_name = "chat.completion"
    chunk_object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    def opening(self) -> list[bytes]:
        role = {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        return [self._chunk([role])]

    def stream_choice(self, token: Token | None, finish_reason: str | None) -> JsonObject:
        delta: JsonObject = {}
        if token is not None:
            delta["reasoning_content" if token.thinking else "content"] = token.text
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def tool_call(self, token: Token, plan: TokenPlan) -> bytes:
        """One ``delta.tool_calls`` piece: the first names the function, each carries a
        piece of its JSON arguments."""
        function: JsonObject = {"arguments": plan.tool_arguments(token)}
        call: JsonObject = {"index": 0, "function": function}
        if token.index == 0:
            call = {
                "index": 0,
                "id": f"call_{self.id}",
                "type": "function",
                "function": {"name": TOOL_NAME, **function},
            }
        delta: JsonObject = {"tool_calls": [call]}
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def whole_choice(self, outcome: Outcome) -> JsonObject:
        plan = outcome.plan
        message: JsonObject = {"role": "assistant", "content": plan.visible_text}
        if plan.thinking_count:
            message["reasoning_content"] = plan.thinking_text
        return {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": outcome.finish_reason,
        }


class CompletionEncoder(_OpenAIEncoder):
    object_name = "text_completion"
    chunk_object_name = "text_completion"  # legacy completions stream these too
    id_prefix = "cmpl"

    def stream_choice(self, token: Token | None, finish_reason: str | None) -> JsonObject:
        text = token.text if token is not None else ""
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def whole_choice(self, outcome: Outcome) -> JsonObject:
        return {
            "index": 0,
            "text": outcome.plan.visible_text,
            "logprobs": None,
            "finish_reason": outcome.finish_reason,
        }


def _check_stream_options(ex: Exchange, body: JsonObject) -> bool:
    """Whether usage was asked for; 400 when this server rejects ``stream_options``."""
    if "stream_options" in body and ex.state.reject_stream_options:
        raise bad_request("Unrecognized request argument supplied: stream_options")
    return opt_bool(opt_object(body, "stream_options"), "include_usage") is True


def _max_tokens(body: JsonObject) -> int | None:
    limit = opt_int(body, "max_completion_tokens")
    if limit is None:
        limit = opt_int(body, "max_tokens")
    if limit is not None and limit < 1:
        raise bad_request("max_tokens must be at least 1")
    return limit


def _model_for(ex: Exchange, body: JsonObject, action: str) -> DemoModel:
    model = ex.state.lookup(require_str(body, "model"), ex.dialect)
    ex.state.check_status_fault(model)
    require_capability(model, "completion", action)
    return model


def _message_parts(message: JsonObject) -> tuple[list[str], list[bytes]]:
    """The texts and decoded images of one chat message (string or list of parts)."""
    content = message.get("content")
    if content is None or isinstance(content, str):
        return [content or ""], []
    if not isinstance(content, list):
        raise bad_request("message content must be a string or a list of parts")
    texts: list[str] = []
    images: list[bytes] = []
    for part in objects(content, "content parts"):
        kind = opt_str(part, "type")
        if kind == "text":
            texts.append(opt_str(part, "text") or "")
        elif kind == "image_url":
            images.append(decode_image(_image_url(part)))
        else:
            raise bad_request(f"unsupported content part type {kind!r}")
    return texts, images


def _image_url(part: JsonObject) -> str:
    value = part.get("image_url")
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return require_str(value, "url")
    raise bad_request("image_url must be an object with a url")


async def chat_completions(ex: Exchange) -> None:
    body = ex.body()
    include_usage = _check_stream_options(ex, body)
    model = _model_for(ex, body, "chat")
    messages = objects(opt_list(body, "messages"), "messages")
    if not messages:
        raise bad_request("messages must be a non-empty list")
    texts: list[str] = []
    images: list[bytes] = []
    for message in messages:
        message_texts, message_images = _message_parts(message)
        texts += message_texts
        images += message_images
    require_vision(model, images)
    max_tokens = _max_tokens(body)
    stream = opt_bool(body, "stream") is True
    plan = plan_tokens(  # only a valid request loads the model
        model,
        start=ex.start,
        load=ex.state.load(model, ex.start),
        prompt_tokens=count_words(texts) + PROMPT_OVERHEAD_TOKENS,
        max_tokens=max_tokens,
        lead_words=image_report(images) if "vision" in model.capabilities else (),
    )
    encoder = ChatEncoder(model.name, include_usage=include_usage)
    await respond(ex, plan, encoder, stream=stream)


async def completions(ex: Exchange) -> None:
    """Legacy completions have no reasoning channel: thinking models answer directly."""
    body = ex.body()
    include_usage = _check_stream_options(ex, body)
    model = _model_for(ex, body, "generate")
    prompt = body.get("prompt")
    texts = [] if prompt is None else strings(prompt, "prompt")
    max_tokens = _max_tokens(body)
    stream = opt_bool(body, "stream") is True
    plan = plan_tokens(
        model,
        start=ex.start,
        load=ex.state.load(model, ex.start),
        prompt_tokens=count_words(texts) + PROMPT_OVERHEAD_TOKENS,
        max_tokens=max_tokens,
        think=False,
    )
    encoder = CompletionEncoder(model.name, include_usage=include_usage)
    await respond(ex, plan, encoder, stream=stream)


def _encode_vector(vector: list[float], encoding_format: str) -> object:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


async def embeddings(ex: Exchange) -> None:
    body = ex.body()
    model = ex.state.lookup(require_str(body, "model"), ex.dialect)
    ex.state.check_status_fault(model)
    require_capability(model, "embedding", "embeddings")
    texts = strings(body.get("input"), "input")
    if not texts:
        raise bad_request("input must not be empty")
    encoding_format = opt_str(body, "encoding_format") or "float"
    if encoding_format not in ("float", "base64"):
        raise DemoError(400, "encoding_format must be 'float' or 'base64'")
    dims = embedding_dims(model, opt_int(body, "dimensions"))
    vectors, _ = await embed_texts(ex, model, texts, dims)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode_vector(v, encoding_format)}
        for i, v in enumerate(vectors)
    ]
    tokens = embedding_tokens(texts)
    await ex.responder.send_json(
        200,
        {
            "object": "list",
            "data": data,
            "model": model.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


ROUTES: dict[str, Route] = {
    "/v1/models": Route("GET", models),
    "/version": Route("GET", version),  # vLLM's
    "/v1/chat/completions": Route("POST", chat_completions, counts_in_flight=True),
    "/v1/completions": Route("POST", completions, counts_in_flight=True),
    "/v1/embeddings": Route("POST", embeddings, counts_in_flight=True),
    "/metrics": Route("GET", demo_metrics.serve),  # vLLM-style (demo/metrics.py)
}
