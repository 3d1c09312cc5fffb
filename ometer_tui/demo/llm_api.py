"""The FastAPI "LLM API" shape (issue #14) and a TGI-style stream, simulated.

``/text_model/chat/completion`` and ``/text_model/chat/stream`` take a JSON body
(``messages``, ``temperature``, ``max_tokens``, ``top_p``, ``frequency_penalty``,
``presence_penalty``, ``seed``, ``response_format``); ``/image_model/chat/...`` take a
multipart form (``image`` file, ``prompt``, ``temperature``). The completion routes
answer ``{"response": "..."}``; the stream routes write the answer as raw text chunks,
one word per chunk. Every request needs ``X-API-Key: DEMO_API_KEY``: without it a 401
``{"detail": "Missing API Key"}``, with another key a 403 ``{"detail": "Invalid API
Key"}``. A body key the API does not know is a FastAPI 422 (``extra_forbidden``); a
prompt containing ``FAIL500`` is a 500 with the cause in ``detail``.

TGI: ``POST /generate_stream`` (SSE with ``token.text``, the last event with
``generated_text`` and ``details``) and ``GET /info``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from ometer_tui.demo.http import Request
from ometer_tui.demo.state import Exchange

DEMO_API_KEY = "demo-llm-api-key"
TGI_MODEL = "demo/tgi-simulated"
FIRST_TOKEN_S = 0.03
TOKEN_INTERVAL_S = 0.005
DEFAULT_MAX_TOKENS = 24

_TEXT_KEYS = frozenset(
    {
        "messages",
        "temperature",
        "max_tokens",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "response_format",
    }
)
_TEXT = (
    "The sea is wide and patient, and its grey light moves over stones that "
    "remember every tide; gulls ride the wind above the harbour while boats rest."
)
_WORDS = _TEXT.split()


class _Fail(Exception):
    def __init__(self, status: int, detail: object) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def answer_words(prompt: str, max_tokens: int) -> list[str]:
    """A deterministic answer: ``max_tokens`` words (the first one names the prompt)."""
    first = (prompt.split() or ["nothing"])[0]
    words = [f"About {first}:"]
    i = 0
    while len(words) < max_tokens:
        words.append(" " + _WORDS[i % len(_WORDS)])
        i += 1
    return words[:max_tokens]


def handles(path: str) -> bool:
    return path.startswith(("/text_model/", "/image_model/")) or path in (
        "/generate_stream",
        "/info",
    )


async def _send_detail(ex: Exchange, status: int, detail: object) -> None:
    await ex.responder.send_json(status, {"detail": detail})


def _check_key(request: Request) -> None:
    key = request.headers.get("x-api-key")
    if not key:
        raise _Fail(401, "Missing API Key")
    if key != DEMO_API_KEY:
        raise _Fail(403, "Invalid API Key")


def _json_body(request: Request) -> dict[str, object]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]
        raise _Fail(422, detail) from None
    if not isinstance(body, dict):
        raise _Fail(
            422, [{"type": "model_type", "loc": ["body"], "msg": "Input should be an object"}]
        )
    return body


def _text_request(body: dict[str, object]) -> tuple[str, int]:
    extra = sorted(set(body) - _TEXT_KEYS)
    if extra:
        raise _Fail(
            422,
            [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", k],
                    "msg": "Extra inputs are not permitted",
                }
                for k in extra
            ],
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Fail(
            422, [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required"}]
        )
    last = messages[-1]
    prompt = last.get("content") if isinstance(last, dict) else None
    if not isinstance(prompt, str):
        raise _Fail(
            422,
            [
                {
                    "type": "string_type",
                    "loc": ["body", "messages", len(messages) - 1, "content"],
                    "msg": "Input should be a valid string",
                }
            ],
        )
    max_tokens = body.get("max_tokens")
    return prompt, max_tokens if isinstance(
        max_tokens, int
    ) and max_tokens > 0 else DEFAULT_MAX_TOKENS


def parse_multipart(request: Request) -> dict[str, bytes]:
    """name -> value of a multipart/form-data body (files as their bytes)."""
    ctype = request.headers.get("content-type", "")
    marker = "boundary="
    if "multipart/form-data" not in ctype or marker not in ctype:
        raise _Fail(422, [{"type": "missing", "loc": ["body", "prompt"], "msg": "Field required"}])
    boundary = ctype.split(marker, 1)[1].split(";")[0].strip().strip('"').encode()
    out: dict[str, bytes] = {}
    for part in request.body.split(b"--" + boundary):
        if not part.strip() or part.strip() == b"--":
            continue
        head, _, value = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        name = None
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-disposition"):
                for item in line.split(b";"):
                    item = item.strip()
                    if item.startswith(b"name="):
                        name = item[5:].strip(b'"').decode()
        if name is not None:
            out[name] = value[:-2] if value.endswith(b"\r\n") else value
    return out


def _image_request(request: Request) -> tuple[str, int]:
    form = parse_multipart(request)
    missing = [k for k in ("image", "prompt") if k not in form]
    if missing:
        raise _Fail(
            422, [{"type": "missing", "loc": ["body", k], "msg": "Field required"} for k in missing]
        )
    if not form["image"]:
        raise _Fail(400, "the image is empty")
    return form["prompt"].decode("utf-8", "replace"), DEFAULT_MAX_TOKENS


async def _stream_text(ex: Exchange, words: list[str]) -> None:
    await ex.responder.start_stream(200, "text/plain; charset=utf-8")
    await asyncio.sleep(FIRST_TOKEN_S)
    for i, word in enumerate(words):
        if i:
            await asyncio.sleep(TOKEN_INTERVAL_S)
        await ex.responder.write_chunk(word.encode())
    await ex.responder.end_stream()


async def _llm_api(ex: Exchange) -> None:
    request = ex.request
    _check_key(request)
    path = request.path
    if request.method != "POST":
        raise _Fail(405, "Method Not Allowed")
    if path.startswith("/text_model/chat/"):
        prompt, max_tokens = _text_request(_json_body(request))
    elif path.startswith("/image_model/chat/"):
        prompt, max_tokens = _image_request(request)
    else:
        raise _Fail(404, "Not Found")
    if "FAIL500" in prompt:
        raise _Fail(500, "model error: CUDA out of memory (simulated)")
    words = answer_words(prompt, max_tokens)
    if path.endswith("/completion"):
        await asyncio.sleep(FIRST_TOKEN_S + TOKEN_INTERVAL_S * (len(words) - 1))
        await ex.responder.send_json(200, {"response": "".join(words)})
    elif path.endswith("/stream"):
        await _stream_text(ex, words)
    else:
        raise _Fail(404, "Not Found")


async def _tgi(ex: Exchange) -> None:
    request = ex.request
    if request.path == "/info":
        await ex.responder.send_json(
            200, {"model_id": TGI_MODEL, "max_input_tokens": 4095, "max_total_tokens": 4096}
        )
        return
    body = _json_body(request)
    inputs = body.get("inputs")
    if not isinstance(inputs, str):
        await ex.responder.send_json(
            422, {"error": "Input validation error: `inputs` required", "error_type": "validation"}
        )
        return
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    assert isinstance(params, dict)
    temperature = params.get("temperature")
    if isinstance(temperature, int | float) and temperature <= 0:
        await ex.responder.send_json(
            422,
            {
                "error": "Input validation error: `temperature` must be strictly positive",
                "error_type": "validation",
            },
        )
        return
    n = params.get("max_new_tokens")
    words = answer_words(inputs, n if isinstance(n, int) and n > 0 else 20)
    responder = ex.responder
    await responder.start_stream(200, "text/event-stream")
    await asyncio.sleep(FIRST_TOKEN_S)
    for i, word in enumerate(words):
        if i:
            await asyncio.sleep(TOKEN_INTERVAL_S)
        last = i == len(words) - 1
        event = {
            "index": i + 1,
            "token": {"id": i, "text": word, "logprob": -0.1, "special": False},
            "generated_text": "".join(words) if last else None,
            "details": (
                {"finish_reason": "length", "generated_tokens": len(words), "seed": None}
                if last
                else None
            ),
        }
        await responder.write_chunk(b"data:" + json.dumps(event).encode() + b"\n\n")
    await responder.end_stream()


async def dispatch(ex: Exchange) -> None:
    """Answer one request on the paths :func:`handles` accepts."""
    handler: Callable[[Exchange], Awaitable[None]] = (
        _llm_api if ex.request.path.startswith(("/text_model/", "/image_model/")) else _tgi
    )
    try:
        with ex.state.in_flight():
            await handler(ex)
    except _Fail as fail:
        if not ex.responder.started:
            await _send_detail(ex, fail.status, fail.detail)
