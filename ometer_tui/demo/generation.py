"""What a simulated model says and exactly when: the token schedule and its faults.

Token ``i`` (0-based, thinking tokens first) is written at
``start + load wait + ttft_s + i * interval_s`` on an absolute schedule: each write
sleeps until its own deadline, so sleep overshoot never accumulates. Flavour modules
supply an :class:`Encoder` that turns tokens into NDJSON lines or SSE events; the
drivers here own the timing and the mid-stream faults, once for both flavours.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Protocol

from ometer_tui.demo import capacity
from ometer_tui.demo.catalogue import WORDS, DemoModel, Fault, Quirk
from ometer_tui.demo.errors import DemoError, bad_request, send_error
from ometer_tui.demo.http import dump_json
from ometer_tui.demo.metrics import RequestTrack
from ometer_tui.demo.payload import JsonObject
from ometer_tui.demo.state import Exchange, LoadState

#: Mid-stream faults strike where token index 3 would have been written.
FAULT_AFTER_TOKENS = 3
MID_STREAM_FAILURE = "simulated failure mid-stream"
MALFORMED_JSON = b'{"this is not json'
#: Extra prompt tokens a chat/generate request is charged (the template's own tokens).
PROMPT_OVERHEAD_TOKENS = 4
#: The function ``quirk-tool-calls`` calls; its arguments are ``{"text": "<the words>"}``.
TOOL_NAME = "record_words"


@dataclass(frozen=True, slots=True)
class Token:
    index: int
    text: str
    thinking: bool


@dataclass(frozen=True, slots=True)
class TokenPlan:
    """The tokens of one response and when each is due (event-loop time)."""

    model: DemoModel
    tokens: tuple[Token, ...]
    start: float  # the request body was fully read
    first_due: float
    capped: bool  # max_tokens / num_predict cut the response short
    prompt_tokens: int
    load: LoadState

    def due(self, index: int) -> float:
        return self.first_due + index * self.model.interval_s

    @property
    def last_due(self) -> float:
        return self.due(max(len(self.tokens) - 1, 0))

    @property
    def finish_reason(self) -> str:
        if self.capped:
            return "length"
        return "tool_calls" if self.model.quirk is Quirk.TOOL_CALLS else "stop"

    @property
    def thinking_text(self) -> str:
        return "".join(t.text for t in self.tokens if t.thinking)

    @property
    def visible_text(self) -> str:
        return "".join(t.text for t in self.tokens if not t.thinking)

    @property
    def thinking_count(self) -> int:
        return sum(1 for t in self.tokens if t.thinking)

    def tool_arguments(self, token: Token) -> str:
        """The piece of the tool call's JSON arguments that ``token`` writes."""
        piece = token.text
        if token.index == 0:
            piece = '{"text": "' + piece
        if token.index == len(self.tokens) - 1:
            piece += '"}'
        return piece

    @property
    def tool_arguments_text(self) -> str:
        return "".join(self.tool_arguments(t) for t in self.tokens)


def plan_tokens(
    model: DemoModel,
    *,
    start: float,
    load: LoadState,
    prompt_tokens: int,
    max_tokens: int | None = None,
    think: bool = True,
    lead_words: tuple[str, ...] = (),
) -> TokenPlan:
    """``lead_words`` replace the first visible words (the vision model's image report)."""
    thinking = model.reasoning_tokens if think else 0
    natural = thinking + model.output_tokens
    count = natural if max_tokens is None else max(0, min(natural, max_tokens))
    tokens = tuple(_token(i, thinking, lead_words) for i in range(count))
    return TokenPlan(
        model=model,
        tokens=tokens,
        start=start,
        first_due=start + load.wait_s + model.ttft_s,
        capped=count < natural,
        prompt_tokens=prompt_tokens,
        load=load,
    )


def _token(index: int, thinking: int, lead_words: tuple[str, ...]) -> Token:
    if index < thinking:
        return Token(index, WORDS[index % len(WORDS)] + " ", thinking=True)
    visible_index = index - thinking
    word = (
        lead_words[visible_index] if visible_index < len(lead_words) else WORDS[index % len(WORDS)]
    )
    return Token(index, word + " ", thinking=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was sent, as the server reports it (Ollama's counters, OpenAI's usage)."""

    plan: TokenPlan
    sent: int
    finished: float

    @property
    def finish_reason(self) -> str:
        return self.plan.finish_reason

    def ollama_metrics(self) -> JsonObject:
        plan = self.plan
        return {
            "total_duration": _ns(self.finished - plan.start),
            "load_duration": _ns(plan.load.reported_s),
            "prompt_eval_count": plan.prompt_tokens,
            "prompt_eval_duration": _ns(plan.prompt_tokens / plan.model.prompt_eval_tps),
            "eval_count": self.sent,
            "eval_duration": _ns(self.sent * plan.model.interval_s),
        }

    def openai_usage(self) -> JsonObject:
        usage: JsonObject = {
            "prompt_tokens": self.plan.prompt_tokens,
            "completion_tokens": self.sent,
            "total_tokens": self.plan.prompt_tokens + self.sent,
        }
        if self.plan.thinking_count:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.plan.thinking_count}
        return usage


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class Encoder(Protocol):
    """How one flavour's route writes a response: one bytes object per stream event."""

    content_type: str

    def opening(self) -> list[bytes]: ...

    def token(self, token: Token) -> bytes: ...

    def tool_call(self, token: Token, plan: TokenPlan) -> bytes:
        """``token`` as part of a tool call (may be empty: written with a later one)."""
        ...

    def closing(self, outcome: Outcome) -> list[bytes]: ...

    def error_event(self, message: str) -> bytes: ...

    def malformed_event(self) -> bytes: ...

    def whole(self, outcome: Outcome) -> JsonObject: ...


async def sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def hold_until_client_leaves(ex: Exchange) -> None:
    """A stall: keeps the connection open until the client goes (or the server stops)."""
    ex.responder.keep_alive = False
    await ex.client_gone()


# -- streamed answers -------------------------------------------------------------------


class Then(Enum):
    CONTINUE = auto()
    END = auto()


StreamFault = Callable[[Exchange, Encoder], Awaitable[Then]]


async def _error_event_then_end(ex: Exchange, encoder: Encoder) -> Then:
    await ex.responder.write_chunk(encoder.error_event(MID_STREAM_FAILURE))
    await ex.responder.end_stream()
    return Then.END


async def _malformed_event_then_go_on(ex: Exchange, encoder: Encoder) -> Then:
    await ex.responder.write_chunk(encoder.malformed_event())
    return Then.CONTINUE


async def _reset_connection(ex: Exchange, encoder: Encoder) -> Then:
    ex.responder.abort()
    return Then.END


async def _stall(ex: Exchange, encoder: Encoder) -> Then:
    await hold_until_client_leaves(ex)
    return Then.END


async def _end_without_done(ex: Exchange, encoder: Encoder) -> Then:
    await ex.responder.end_stream()
    return Then.END


STREAM_FAULTS: dict[Fault, StreamFault] = {
    Fault.ERROR_MID_STREAM: _error_event_then_end,
    Fault.MALFORMED_LINE: _malformed_event_then_go_on,
    Fault.RESET: _reset_connection,
    Fault.STALL: _stall,
    Fault.TRUNCATED: _end_without_done,
}


def _token_bytes(encoder: Encoder, plan: TokenPlan, token: Token) -> bytes:
    if plan.model.quirk is Quirk.TOOL_CALLS:
        return encoder.tool_call(token, plan)
    return encoder.token(token)


async def stream_response(ex: Exchange, plan: TokenPlan, encoder: Encoder) -> None:
    """A 200 stream: opening events now, each token at its deadline, then the closing."""
    responder = ex.responder
    fault = STREAM_FAULTS.get(plan.model.fault)
    track = ex.state.metrics.request(plan.model.name, ex.start, plan.prompt_tokens)
    await responder.start_stream(200, encoder.content_type)
    if plan.model.burst > 1:
        await _stream_bursts(ex, plan, encoder, track)
        return
    for event in encoder.opening():
        await responder.write_chunk(event)
    # a cap- model: its capacity engine says when each token is due
    pace = capacity.pacer(ex, plan.model.name, plan.prompt_tokens, len(plan.tokens))
    for token in plan.tokens:
        await (pace(token.index) if pace else sleep_until(ex.loop, plan.due(token.index)))
        if fault is not None and token.index == FAULT_AFTER_TOKENS:
            then = await fault(ex, encoder)
            if then is Then.END:
                return
        data = _token_bytes(encoder, plan, token)
        if data:
            await responder.write_chunk(data)
        track.token(ex.loop.time())
    outcome = Outcome(plan, len(plan.tokens), ex.loop.time())
    track.done(outcome.finished)
    for event in encoder.closing(outcome):
        await responder.write_chunk(event)
    await responder.end_stream()


async def _stream_bursts(
    ex: Exchange, plan: TokenPlan, encoder: Encoder, track: RequestTrack
) -> None:
    """Groups of ``burst`` tokens in one write each, when the group's last token is due;
    the opening goes with the first group and the closing with the last (a group that
    holds the whole answer is the whole stream in one write, as a buffering proxy sends
    it)."""
    responder = ex.responder
    burst = plan.model.burst
    tokens = plan.tokens
    pending = b"".join(encoder.opening())
    for start in range(0, len(tokens), burst):
        group = tokens[start : start + burst]
        await sleep_until(ex.loop, plan.due(group[-1].index))
        pending += b"".join(_token_bytes(encoder, plan, token) for token in group)
        if start + burst < len(tokens):
            await responder.write_chunk(pending)
            pending = b""
        now = ex.loop.time()
        if start == 0:
            track.tokens_at_once(len(group), now)  # the first write: its TTFT observation
        else:
            for _ in group:
                track.token(now)
    outcome = Outcome(plan, len(tokens), ex.loop.time())
    track.done(outcome.finished)
    pending += b"".join(encoder.closing(outcome))
    await responder.write_chunk(pending)
    await responder.end_stream()


# -- whole (non-streamed) answers -------------------------------------------------------

WholeFault = Callable[[Exchange, Encoder, TokenPlan], Awaitable[None]]


async def _whole_server_error(ex: Exchange, encoder: Encoder, plan: TokenPlan) -> None:
    error = DemoError(500, MID_STREAM_FAILURE, openai_type="server_error")
    await send_error(ex.responder, error, ex.dialect)


async def _whole_malformed(ex: Exchange, encoder: Encoder, plan: TokenPlan) -> None:
    await ex.responder.send(200, MALFORMED_JSON, "application/json; charset=utf-8")


async def _whole_reset(ex: Exchange, encoder: Encoder, plan: TokenPlan) -> None:
    ex.responder.abort()


async def _whole_stall(ex: Exchange, encoder: Encoder, plan: TokenPlan) -> None:
    await hold_until_client_leaves(ex)


async def _whole_cut_short(ex: Exchange, encoder: Encoder, plan: TokenPlan) -> None:
    """Promises the whole body in Content-Length, sends half, closes the connection."""
    body = dump_json(encoder.whole(Outcome(plan, len(plan.tokens), ex.loop.time())))
    ex.responder.keep_alive = False
    await ex.responder.send(
        200,
        body[: len(body) // 2],
        "application/json; charset=utf-8",
        content_length=len(body),
    )


WHOLE_FAULTS: dict[Fault, WholeFault] = {
    Fault.ERROR_MID_STREAM: _whole_server_error,
    Fault.MALFORMED_LINE: _whole_malformed,
    Fault.RESET: _whole_reset,
    Fault.STALL: _whole_stall,
    Fault.TRUNCATED: _whole_cut_short,
}


async def whole_response(ex: Exchange, plan: TokenPlan, encoder: Encoder) -> None:
    """One JSON object once the last token is due (a fault strikes at token 3's time)."""
    pace = capacity.pacer(ex, plan.model.name, plan.prompt_tokens, len(plan.tokens))
    if pace is not None and plan.tokens:
        # a cap- model: its engine's last token; the fixed schedule below is then past
        # (its interval_s is the engine's fastest, 1 / stream_tps)
        await pace(len(plan.tokens) - 1)
    fault = WHOLE_FAULTS.get(plan.model.fault)
    if fault is not None and len(plan.tokens) > FAULT_AFTER_TOKENS:
        await sleep_until(ex.loop, plan.due(FAULT_AFTER_TOKENS))
        await fault(ex, encoder, plan)
        return
    track = ex.state.metrics.request(plan.model.name, ex.start, plan.prompt_tokens)
    await sleep_until(ex.loop, plan.last_due)
    outcome = Outcome(plan, len(plan.tokens), ex.loop.time())
    track.tokens_at_once(outcome.sent, outcome.finished)
    await ex.responder.send_json(200, encoder.whole(outcome))
    track.done(ex.loop.time())


async def respond(ex: Exchange, plan: TokenPlan, encoder: Encoder, *, stream: bool) -> None:
    if plan.model.quirk is Quirk.NOT_STREAMED:
        stream = False  # a server that ignores ``stream: true``
    await (stream_response if stream else whole_response)(ex, plan, encoder)


# -- prompts, images, embeddings -------------------------------------------------------


def count_words(texts: Iterable[str]) -> int:
    return sum(len(text.split()) for text in texts)


def decode_image(data: str) -> bytes:
    """Base64 (optionally a ``data:`` URL) to bytes; 400 when it is not base64."""
    if data.startswith("data:"):
        header, sep, data = data.partition(",")
        if not sep or not header.endswith(";base64"):
            raise bad_request("image data URLs must be base64 encoded")
    elif "://" in data:
        raise bad_request("the demo endpoint cannot fetch remote images; send base64 data")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request("invalid image data: not valid base64") from exc


def image_report(images: list[bytes]) -> tuple[str, ...]:
    """The vision model's first words: how many images and bytes it received."""
    count = len(images)
    noun = "image" if count == 1 else "images"
    return tuple(f"I see {count} {noun} ({sum(map(len, images))} bytes).".split())


def require_vision(model: DemoModel, images: list[bytes]) -> None:
    if images and "vision" not in model.capabilities:
        raise bad_request(f'"{model.name}" does not support images')


def require_capability(model: DemoModel, capability: str, action: str) -> None:
    if capability not in model.capabilities:
        raise bad_request(f'"{model.name}" does not support {action}')


def embedding(model: DemoModel, text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text`` (the same text gives the same vector)."""
    seed = int.from_bytes(hashlib.sha256(f"{model.name}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 7) for x in raw]


def embedding_dims(model: DemoModel, requested: int | None) -> int:
    if requested is None:
        return model.embedding_dims
    if not 0 < requested <= model.embedding_dims:
        raise bad_request(f"dimensions must be between 1 and {model.embedding_dims}")
    return requested


def embedding_tokens(texts: list[str]) -> int:
    return sum(len(text.split()) + 1 for text in texts)


async def embed_texts(
    ex: Exchange, model: DemoModel, texts: list[str], dims: int
) -> tuple[list[list[float]], LoadState]:
    """The vectors, answered ``ttft_s`` after the request (plus any cold load)."""
    load = ex.state.load(model, ex.start)
    await sleep_until(ex.loop, ex.start + load.wait_s + model.ttft_s)
    return [embedding(model, text, dims) for text in texts], load


def nanoseconds(seconds: float) -> int:
    return _ns(seconds)
