"""The small interface both API flavours implement, and what a request observes.

The client does one attempt per call and never raises for a server or network fault
during ``generate``/``embed``: it returns an observation whose ``error`` says what went
wrong, with whatever arrived before it. Retry decisions belong to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from ometer_tui.core.models import (
    ApiFlavour,
    GenerationParams,
    ModelInfo,
    ServerInfo,
    Workload,
)

#: The kinds of generated output a chunk can carry.
OutputKind = Literal["content", "reasoning", "tool_call"]


class ErrorKind(StrEnum):
    CONNECT = "connect"  # refused, DNS, TLS, connect timeout
    TIMEOUT = "timeout"  # read timeout between chunks, or whole-request timeout
    HTTP = "http"  # a non-2xx status
    STREAM = "stream"  # an error object inside a 200 stream
    PROTOCOL = "protocol"  # malformed line, not a stream, not JSON, wrong flavour
    INCOMPLETE = "incomplete"  # stream ended without done / [DONE]
    RESET = "reset"  # connection dropped mid-response
    TOO_LARGE = "too_large"  # response exceeded the in-memory cap
    EMPTY = "empty"  # the response completed without a single generated token
    CANCELLED = "cancelled"
    CONFIG = "config"  # e.g. token env var unset, token refused over plain HTTP
    CONTEXT = "context"  # the prompt does not fit the model's context window: not sent


@dataclass(frozen=True, slots=True)
class RequestError:
    """A readable error: the server's own message when it gave one."""

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    #: True when nothing of a response body had arrived: only then may it be retried.
    before_first_byte: bool = True

    @property
    def retryable(self) -> bool:
        if not self.before_first_byte:
            return False
        if self.kind in (ErrorKind.CONNECT, ErrorKind.RESET):
            # refused, or a kept-alive connection closed before any response arrived
            return True
        return (
            self.kind is ErrorKind.HTTP
            and self.status is not None
            and (self.status in (408, 409, 429) or self.status >= 500)
        )

    def __str__(self) -> str:
        return f"{self.status} {self.message}" if self.status else self.message


class ClientError(Exception):
    """Raised by discovery calls (models, server info); carries a :class:`RequestError`."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image for a vision prompt: raw bytes and a MIME type."""

    data: bytes
    mime_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """An earlier turn of a conversation, sent before the request's prompt."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    model: str
    prompt: str
    params: GenerationParams
    workload: Workload = Workload.CHAT  # CHAT and VISION use chat; COMPLETION uses generate
    images: tuple[ImageInput, ...] = ()
    system: str | None = None
    #: keep up to this many characters of response text (0 keeps none).
    keep_text_chars: int = 2000
    #: Ollama ``think``: ask a thinking model to separate its reasoning (``None``: omit).
    think: bool | None = None
    #: a multi-turn conversation's earlier turns (user and assistant alternating): chat
    #: APIs get them as messages before ``prompt``; a completion API gets one text
    #: (:func:`conversation_text`)
    history: tuple[ChatTurn, ...] = ()


def conversation_text(request: GenerationRequest) -> str:
    """The conversation as one text (the completion API's prompt, a custom profile's
    ``{prompt}``): the first user turn, then ``Assistant: ...`` and ``User: ...`` turns,
    the request's prompt last. Without history, the prompt itself."""
    if not request.history:
        return request.prompt
    names = {"user": "User", "assistant": "Assistant"}
    parts = [
        turn.content if i == 0 and turn.role == "user" else f"{names[turn.role]}: {turn.content}"
        for i, turn in enumerate(request.history)
    ]
    parts.append(f"User: {request.prompt}")
    return "\n\n".join(parts)


def history_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The conversation's earlier turns as chat messages (``role``/``content``)."""
    return [{"role": turn.role, "content": turn.content} for turn in request.history]


@dataclass(slots=True)
class GenerationObservation:
    """Everything one streamed request showed, stamped on the client's monotonic clock.

    Times are ``time.perf_counter_ns()`` values; ``None`` when it never happened.
    ``token_times_ns`` holds the arrival stamp of every token-carrying chunk, in order
    (the engine reduces it to a few numbers; it is not kept per record).

    A token-carrying chunk is one with generated output: visible content, reasoning, or
    tool-call output (OpenAI ``delta.tool_calls`` with a function name or arguments,
    Ollama ``message.tool_calls``). Every chunk completed by one read from the socket
    (an *arrival*) carries that read's stamp, so equal stamps in ``token_times_ns`` are
    the chunks of one arrival (a batching server or a buffering proxy puts several in
    one read; ``metrics.arrivals`` groups them).
    """

    sent_ns: int = 0
    first_byte_ns: int | None = None  # first byte of the response body
    first_token_ns: int | None = None  # first chunk with content, reasoning or a tool call
    first_visible_ns: int | None = None  # first chunk with non-empty visible content
    last_token_ns: int | None = None  # last token chunk (a whole answer: its last read)
    finished_ns: int | None = None
    #: which clock stamped the chunks: "kernel" (the socket's receive time, every read)
    #: or "loop" (when the event loop got the bytes); see api/_transport.py
    clock: str = "loop"
    #: which clock stamped ``sent_ns``: "kernel" (the kernel's transmit stamp of the
    #: request's last byte) or "loop" (when the write call returned)
    send_clock: str = "loop"
    token_times_ns: list[int] = field(default_factory=list)
    token_chunks: int = 0
    #: which output came first: ``"content"``, ``"reasoning"`` or ``"tool_call"``
    first_output: OutputKind | None = None
    #: the server answered a streamed request with one whole JSON body: no TTFT, the
    #: output and usage are read from the body, ``last_token_ns`` is its last read
    not_streamed: bool = False
    status: int | None = None
    done: bool = False  # the server said the stream was complete
    output_tokens: int | None = None  # from the server's usage/eval_count
    prompt_tokens: int | None = None
    #: server-side timings as the server named them (seconds for Ollama durations, which
    #: arrive in ns; llama.cpp's ``timings`` keys verbatim)
    server_timings: dict[str, float] = field(default_factory=dict)
    text: str = ""
    reasoning_chars: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    system_fingerprint: str | None = None
    usage_requested: bool = False  # OpenAI: stream_options.include_usage was sent
    #: lines/events that were not valid JSON (reading went on; the first one is the
    #: ``error`` unless a later fault ended the stream)
    malformed_lines: int = 0
    error: RequestError | None = None
    #: generation parameters the server rejected and the request was sent without
    dropped_params: tuple[str, ...] = ()
    #: what was done to fit the prompt into the context window (truncated), in words
    prompt_fit: str | None = None


@dataclass(slots=True)
class EmbeddingObservation:
    sent_ns: int = 0
    send_clock: str = "loop"  # as GenerationObservation.send_clock
    finished_ns: int | None = None
    status: int | None = None
    input_tokens: int | None = None
    dimensions: int | None = None
    vectors: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    error: RequestError | None = None


@dataclass(frozen=True, slots=True)
class ExchangeLogged:
    """One request/response pair for the debug log, secrets already masked.

    Bodies are excerpts (a few KB at most); a streamed response keeps its first chunks.
    """

    model: str | None
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None
    response_headers: dict[str, str]
    response_excerpt: str
    error: str | None
    elapsed_s: float | None


class ApiClient(Protocol):
    """One endpoint, one flavour. Create with ``ometer_tui.core.api.open_client``."""

    flavour: ApiFlavour

    async def server_info(self) -> ServerInfo:
        """Version, model count, backend; raises :class:`ClientError`."""
        ...

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        """Models newest first where the server says when; raises :class:`ClientError`.

        ``details`` asks for per-model metadata (Ollama ``/api/show``) too.
        """
        ...

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        """One streamed attempt. Never raises for server or network faults."""
        ...

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingObservation:
        """One embedding attempt. Never raises for server or network faults."""
        ...

    async def warm_pool(self, connections: int) -> None:
        """Open up to ``connections`` keep-alive connections before timing matters."""
        ...

    async def aclose(self) -> None: ...
