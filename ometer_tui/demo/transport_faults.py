"""Faults of the HTTP exchange itself, on any generation route of either flavour.

Named by the model a request asks for (none of them is in the catalogue or listed):

* ``fault-redirect-same``: ``307`` to the same path on the same origin (``?redirected=1``);
  the redirected request is answered as ``demo-fast:1b``.
* ``fault-redirect-port-<N>``: ``307`` to the same path on ``http://127.0.0.1:<N>``: another
  origin (a client must not follow it, and must never send its token there).
* ``fault-html-page``: ``200`` with a proxy's HTML welcome page.
* ``fault-not-a-stream``: ``200`` in the other flavour's format: ``/v1`` routes get an
  Ollama NDJSON stream (``application/x-ndjson``), ``/api`` routes an SSE stream. (One
  whole ``application/json`` answer is not a fault but a server that ignores
  ``stream: true``: see ``quirk-not-streamed``.)
* ``fault-not-json``: ``200`` in the flavour's stream content type, lines that are not JSON.
* ``fault-endless``: ``200`` stream of valid tokens, as fast as the client reads, never
  ending (until the client leaves or the server stops).
* ``fault-endless-line``: ``200`` stream of bytes that never end a line.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace

from ometer_tui.demo.errors import Dialect
from ometer_tui.demo.state import Exchange

#: Tokens (lines / events) written per chunk by ``fault-endless``.
ENDLESS_BATCH = 256
#: Bytes per chunk of ``fault-endless-line``.
ENDLESS_LINE_CHUNK = 64 * 1024
#: The model the same-origin redirect lands on.
REDIRECT_LANDS_ON = "demo-fast:1b"

_REDIRECT_PORT = re.compile(r"^fault-redirect-port-(?P<port>\d{1,5})$")
_NDJSON = "application/x-ndjson"
_SSE = "text/event-stream"

Answer = Callable[[Exchange, str], Awaitable[None]]


def _stream_type(ex: Exchange) -> str:
    return _NDJSON if ex.dialect is Dialect.OLLAMA else _SSE


async def _redirect(ex: Exchange, location: str) -> None:
    await ex.responder.send(
        307,
        b"",
        None,
        {"Location": location},
    )


async def _html_page(ex: Exchange, name: str) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>"
        b"<h1>Welcome to nginx!</h1><p>If you see this page, the nginx web server is "
        b"successfully installed and working.</p></body></html>\n"
    )
    await ex.responder.send(200, page, "text/html; charset=utf-8")


async def _not_a_stream(ex: Exchange, name: str) -> None:
    if ex.dialect is Dialect.OPENAI:
        lines = [
            {"model": name, "message": {"role": "assistant", "content": "The sea"}, "done": False},
            {"model": name, "message": {"role": "assistant", "content": ""}, "done": True},
        ]
        body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        await ex.responder.send(200, body, _NDJSON)
        return
    body = b'data: {"choices":[{"index":0,"delta":{"content":"The sea"}}]}\n\ndata: [DONE]\n\n'
    await ex.responder.send(200, body, _SSE)


async def _not_json(ex: Exchange, name: str) -> None:
    responder = ex.responder
    await responder.start_stream(200, _stream_type(ex))
    for word in (b"<b>The</b> sea", b"keeps its", b"own time"):
        line = word + b"\n" if ex.dialect is Dialect.OLLAMA else b"data: " + word + b"\n\n"
        await responder.write_chunk(line)
    await responder.end_stream()


def _token_line(ex: Exchange, name: str) -> bytes:
    if ex.dialect is Dialect.OLLAMA:
        obj: dict[str, object] = {
            "model": name,
            "message": {"role": "assistant", "content": "sea "},
            "done": False,
        }
        return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "sea "}}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


async def _endless(ex: Exchange, name: str) -> None:
    responder = ex.responder
    responder.keep_alive = False
    await responder.start_stream(200, _stream_type(ex))
    batch = _token_line(ex, name) * ENDLESS_BATCH
    while True:  # until the client leaves (a write fails) or the server stops
        await responder.write_chunk(batch)
        await asyncio.sleep(0)


async def _endless_line(ex: Exchange, name: str) -> None:
    responder = ex.responder
    responder.keep_alive = False
    await responder.start_stream(200, _stream_type(ex))
    prefix = b"" if ex.dialect is Dialect.OLLAMA else b"data: "
    await responder.write_chunk(prefix + b'{"padding":"')
    chunk = b"x" * ENDLESS_LINE_CHUNK
    while True:
        await responder.write_chunk(chunk)
        await asyncio.sleep(0)


ANSWERS: dict[str, Answer] = {
    "fault-html-page": _html_page,
    "fault-not-a-stream": _not_a_stream,
    "fault-not-json": _not_json,
    "fault-endless": _endless,
    "fault-endless-line": _endless_line,
}


def _model_of(body: bytes) -> str | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    model = decoded.get("model") if isinstance(decoded, dict) else None
    return model if isinstance(model, str) else None


async def answer_transport_fault(ex: Exchange) -> bool:
    """Answer ``ex`` if its model names a transport fault; True when answered.

    The same-origin redirect's second request is rewritten to ask for
    :data:`REDIRECT_LANDS_ON` and left to the normal route (False).
    """
    request = ex.request
    if b'"fault-' not in request.body:
        return False
    name = _model_of(request.body)
    if name is None:
        return False
    name = name.removesuffix(":latest")
    if name == "fault-redirect-same":
        if "redirected=1" in request.target:
            body = json.loads(request.body)
            body["model"] = REDIRECT_LANDS_ON
            ex.request = replace(request, body=json.dumps(body).encode())
            return False
        await _redirect(ex, f"{request.path}?redirected=1")
        return True
    match = _REDIRECT_PORT.match(name)
    if match is not None:
        await _redirect(ex, f"http://127.0.0.1:{int(match['port'])}{request.path}")
        return True
    answer = ANSWERS.get(name)
    if answer is None:
        return False
    await answer(ex, name)
    return True
