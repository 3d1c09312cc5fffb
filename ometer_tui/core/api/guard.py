"""What every flavour's client gets around it: parameter sanitization and context fit.

:class:`GuardedClient` wraps a client (``open_client`` does it) and, for each
generation request:

1. **Context fit.** When the prompt's token count (the server's ``/tokenize`` on
   llama.cpp and vLLM, else calibrated from the usage of earlier runs of the same
   model) plus ``max_tokens`` exceeds the model's context window (Ollama ``/api/show``,
   llama.cpp ``/props`` ``n_ctx``, vLLM ``/v1/models`` ``max_model_len``), the prompt is
   not sent: the run fails with a CONTEXT error naming the prompt, its length and the
   window; or, with the endpoint's ``truncate`` ("start" or "middle"), that part of the
   prompt is cut out so it fits and the run records what was cut (``prompt_fit``).
2. **Parameter sanitization.** A 400/422 that names a generation parameter the request
   sent says so in the run's error; with the endpoint's ``drop_unsupported`` the request
   is sent once more without it, the run records the dropped parameter
   (``dropped_params``), and later requests go without it from the start (each of
   them recording it too: never silently).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ometer_tui.core.api.base import (
    ApiClient,
    ClientError,
    EmbeddingObservation,
    ErrorKind,
    GenerationObservation,
    GenerationRequest,
    RequestError,
    conversation_text,
)
from ometer_tui.core.api.custom_profile import TRUNCATE_CHOICES
from ometer_tui.core.api.sanitize import (
    OLLAMA_WIRE_NAMES,
    rejected_parameter,
    sent_parameters,
    wire_names,
    without,
)
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo, ServerInfo, Workload

TRUNCATE_MODES = TRUNCATE_CHOICES
#: Tokens kept free beside the prompt and max_tokens (chat templates add a few).
CONTEXT_MARGIN = 8
#: Most parameters dropped for one request.
MAX_DROPS = 3


def _label(prompt: str) -> str:
    head = " ".join(prompt.split())
    return repr(head if len(head) <= 40 else head[:39] + "…")


def fits(prompt_tokens: int, window: int, max_tokens: int | None) -> bool:
    return prompt_tokens + (max_tokens or 0) + CONTEXT_MARGIN <= window


def truncate_text(prompt: str, keep_chars: int, mode: str) -> str:
    """``prompt`` cut to ``keep_chars`` characters: ``start`` drops the beginning (the
    end, usually the question, stays); ``middle`` keeps the beginning and the end."""
    if keep_chars >= len(prompt):
        return prompt
    keep_chars = max(0, keep_chars)
    if mode == "start":
        return prompt[len(prompt) - keep_chars :]
    head = keep_chars // 2
    tail = keep_chars - head
    return prompt[:head] + "\n…\n" + (prompt[len(prompt) - tail :] if tail else "")


def context_refusal(
    prompt: str, tokens: int, window: int, max_tokens: int | None, model: str, how: str
) -> str:
    return (
        f"prompt {_label(prompt)} is {tokens:,} tokens ({how}); with max_tokens "
        f"{max_tokens or 0} it does not fit the context window of {model} ({window:,} tokens): "
        f'not sent (truncate = "start" or "middle", or --truncate, cuts it to fit)'
    )


class GuardedClient:
    """An :class:`ApiClient` that checks context fit and sanitizes parameters."""

    def __init__(
        self, inner: ApiClient, endpoint: Endpoint, models: Iterable[ModelInfo] = ()
    ) -> None:
        """``models``: what discovery already said (their context windows are used)."""
        self.inner = inner
        self.endpoint = endpoint
        self.flavour = inner.flavour
        self._dropped: list[str] = []
        self._windows: dict[str, int | None] = {
            m.name: m.context_length for m in models if m.context_length
        }
        self._counts: dict[tuple[str, str], int | None] = {}
        self._tokenizer: bool | None = None  # None: not tried yet
        self._ratio: dict[str, float] = {}  # model -> tokens per character (from usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # -- the protocol -----------------------------------------------------------------

    async def server_info(self) -> ServerInfo:
        return await self.inner.server_info()

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        models = await self.inner.list_models(details=details)
        for m in models:
            if m.context_length:
                self._windows[m.name] = m.context_length
        return models

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingObservation:
        return await self.inner.embed(model, inputs)

    async def warm_pool(self, connections: int) -> None:
        await self.inner.warm_pool(connections)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        original = request
        asked = set(sent_parameters(request.params))
        dropped = [d for d in self._dropped if d in asked]
        if dropped:
            request = replace(request, params=without(request.params, dropped))
        fitted, note, refusal = await self._fit(request)
        if refusal is not None:
            obs = GenerationObservation()
            obs.finished_ns = time.perf_counter_ns()
            obs.error = refusal
            return obs
        request = fitted
        obs = await self.inner.generate(request)
        for _ in range(MAX_DROPS):
            name = self._rejected(obs.error, request)
            if name is None:
                break
            if not self.endpoint.drop_unsupported:
                assert obs.error is not None
                obs.error = replace(
                    obs.error,
                    message=f"the server rejected the parameter {name!r}: {obs.error.message} "
                    f"(drop_unsupported = true, or --drop-unsupported, sends it without)",
                )
                break
            dropped.append(name)
            if name not in self._dropped:
                self._dropped.append(name)
            request = replace(request, params=without(request.params, [name]))
            obs = await self.inner.generate(request)
        obs.dropped_params = tuple(dropped)
        obs.prompt_fit = note
        if obs.error is None and obs.prompt_tokens and request.prompt:
            ratio = obs.prompt_tokens / len(request.prompt)
            model = original.model
            self._ratio[model] = max(ratio, self._ratio.get(model, 0.0))
        return obs

    # -- sanitization -------------------------------------------------------------------

    def _rejected(self, error: RequestError | None, request: GenerationRequest) -> str | None:
        if error is None or error.kind is not ErrorKind.HTTP:
            return None
        mapping: dict[str, str] | None = None
        if self.flavour is ApiFlavour.OLLAMA:
            mapping = OLLAMA_WIRE_NAMES
        elif self.flavour is ApiFlavour.CUSTOM:
            names = getattr(self.inner, "parameter_names", None)
            mapping = names(request) if names is not None else None
        wires = wire_names(request.params, mapping)
        wire = rejected_parameter(error.status, error.message, wires)
        return None if wire is None else wires[wire]

    # -- context fit --------------------------------------------------------------------

    async def _fit(
        self, request: GenerationRequest
    ) -> tuple[GenerationRequest, str | None, RequestError | None]:
        if request.workload is Workload.EMBEDDING:
            return request, None, None
        window = await self.window(request.model)
        if window is None:
            return request, None, None
        text = conversation_text(request)  # a multi-turn conversation counts whole
        counted = await self.count(request.model, text)
        if counted is None:
            return request, None, None
        tokens, how = counted
        max_tokens = request.params.max_tokens
        if fits(tokens, window, max_tokens):
            return request, None, None
        mode = self.endpoint.truncate
        if mode not in TRUNCATE_MODES or request.history:  # a conversation is not cut
            message = context_refusal(text, tokens, window, max_tokens, request.model, how)
            return request, None, RequestError(ErrorKind.CONTEXT, message)
        budget = window - (max_tokens or 0) - CONTEXT_MARGIN
        if budget <= 0:
            message = (
                f"max_tokens {max_tokens} leaves no room for a prompt in the context window "
                f"of {request.model} ({window:,} tokens): not sent"
            )
            return request, None, RequestError(ErrorKind.CONTEXT, message)
        prompt = request.prompt
        now_tokens = tokens
        for _ in range(4):
            keep = math.floor(len(prompt) * budget / now_tokens * 0.97)
            prompt = truncate_text(prompt, keep, mode)
            again = await self.count(request.model, prompt)
            if again is None:
                break
            now_tokens = again[0]
            if fits(now_tokens, window, max_tokens):
                break
        note = (
            f"truncated ({mode}): {tokens:,} -> {now_tokens:,} tokens to fit the window of "
            f"{window:,} with max_tokens {max_tokens or 0}"
        )
        return replace(request, prompt=prompt), note, None

    async def window(self, model: str) -> int | None:
        """The model's context window in tokens, asked once per model."""
        if model in self._windows:
            return self._windows[model]
        found: int | None = None
        request_json = getattr(self.inner, "request_json", None)
        if self.flavour is ApiFlavour.OLLAMA:
            try:
                listed = await self.inner.list_models(details=True)
            except ClientError:
                listed = []
            for m in listed:  # every model's window at once: /api/show is per model
                self._windows.setdefault(m.name, m.context_length)
            found = self._windows.get(model)
        elif self.flavour is ApiFlavour.OPENAI and request_json is not None:
            found = await _openai_window(request_json, model)
        self._windows[model] = found
        return found

    async def count(self, model: str, prompt: str) -> tuple[int, str] | None:
        """(the prompt's tokens, how they were counted), or ``None`` when unknown."""
        key = (model, prompt)
        if key in self._counts:
            cached = self._counts[key]
            return None if cached is None else (cached, "the server's tokenizer")
        request_json = getattr(self.inner, "request_json", None)
        if self.flavour is ApiFlavour.OPENAI and self._tokenizer is not False and request_json:
            counted = await _tokenize(request_json, model, prompt)
            self._tokenizer = counted is not None
            if counted is not None:
                self._counts[key] = counted
                return counted, "the server's tokenizer"
        ratio = self._ratio.get(model)
        if ratio is None:
            return None
        return math.ceil(len(prompt) * ratio), "calibrated from the server's usage"


async def _openai_window(request_json: Any, model: str) -> int | None:
    """vLLM ``/v1/models`` ``max_model_len``, else llama.cpp ``/props`` ``n_ctx``."""
    try:
        decoded, _, _ = await request_json("GET", "/v1/models")
    except ClientError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("data"), list):
        for m in decoded["data"]:
            if isinstance(m, dict) and m.get("id") == model:
                value = m.get("max_model_len")
                if isinstance(value, int) and value > 0:
                    return value
    try:
        props, _, _ = await request_json("GET", "/props")
    except ClientError:
        return None
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    for source in (settings, props):
        if isinstance(source, dict):
            value = source.get("n_ctx")
            if isinstance(value, int) and value > 0:
                return value
    return None


async def _tokenize(request_json: Any, model: str, prompt: str) -> int | None:
    """The server's token count of ``prompt``: llama.cpp ``{"content"}`` or vLLM
    ``{"model", "prompt"}`` at ``/tokenize``; ``None`` when it has none."""
    try:
        decoded, _, _ = await request_json(
            "POST", "/tokenize", {"content": prompt, "model": model, "prompt": prompt}
        )
    except ClientError:
        return None
    if isinstance(decoded, dict):
        count = decoded.get("count")
        if isinstance(count, int):
            return count
        tokens = decoded.get("tokens")
        if isinstance(tokens, list):
            return len(tokens)
    return None
