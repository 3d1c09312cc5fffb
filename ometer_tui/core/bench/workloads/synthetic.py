"""Synthetic prompts of a target length in tokens, as the server counts them.

No tokenizer is downloaded. The length comes from the server itself:

* ``/tokenize`` where the server offers it (llama.cpp: ``{"content": text}``; vLLM:
  ``{"model": m, "prompt": text}``; both answer with ``tokens``, vLLM also ``count``).
  The chat template's own tokens are measured once with a probe request
  (``usage.prompt_tokens`` minus the tokenized length of the probe's text).
* otherwise a calibration: two probe requests of known word counts give the server's
  ``prompt_tokens`` (Ollama ``prompt_eval_count``, OpenAI ``usage.prompt_tokens``) and
  from them tokens per word and the template's overhead (a straight line).

The words come from the built-in dataset's text (public domain). Each prompt starts at a
seeded random place in it behind a unique tag, so no two prompts share a prefix (which
would let a prefix cache flatter the server) unless ``--shared-prefix`` asks for one.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ometer_tui.core.api.base import ApiClient, ClientError, GenerationRequest
from ometer_tui.core.bench.workloads.datasets import BUILTIN, load_dataset
from ometer_tui.core.models import GenerationParams

#: Word counts of the two calibration probes.
PROBE_WORDS = (24, 320)
#: When a server reports no prompt token count at all: a common English average.
FALLBACK_TOKENS_PER_WORD = 1.33
#: Tokenize-and-correct rounds per prompt (the first estimate is usually within 2%).
MAX_ROUNDS = 4

Tokenize = Callable[[str], Awaitable[int]]


class JsonRequester(Protocol):
    """The plain JSON call our HTTP clients offer (``HttpClient.request_json``)."""

    async def request_json(
        self, method: str, path: str, payload: object = None, *, model: str | None = None
    ) -> tuple[Any, Any, int]: ...


_WORDS: tuple[str, ...] | None = None


def corpus_words() -> tuple[str, ...]:
    """The built-in dataset's words, in order (a few tens of thousands)."""
    global _WORDS
    if _WORDS is None:
        text = " ".join(e.prompt for e in load_dataset(BUILTIN).entries)
        _WORDS = tuple(text.split())
    return _WORDS


def words_text(count: int, rng: random.Random, tag: str = "") -> str:
    """``count`` words (the tag counts as one) from a random place in the corpus."""
    words = corpus_words()
    start = rng.randrange(len(words))
    body = count - 1 if tag else count
    picked = [words[(start + i) % len(words)] for i in range(max(0, body))]
    return " ".join(([tag] if tag else []) + picked)


@dataclass(frozen=True, slots=True)
class TokenModel:
    """How the server counts: ``tokens(words) ~ per_word * words + overhead``.

    ``overhead`` is what the server adds to every prompt (the chat template);
    ``source`` says where the figures came from: ``tokenize``, ``calibrated`` (two probe
    requests' usage) or ``estimate`` (the server reported no counts).
    """

    per_word: float
    overhead: int
    source: str
    tokenize: Tokenize | None = None


def tokenizer_for(client: ApiClient, model: str) -> Tokenize | None:
    """A ``/tokenize`` caller when the client can make plain JSON calls, else None."""
    request_json = getattr(client, "request_json", None)
    if request_json is None:
        return None
    requester: JsonRequester = client  # type: ignore[assignment]
    form: list[dict[str, str]] = []  # the payload shape that worked, once known

    async def call(payload: dict[str, str]) -> Any:
        for attempt in range(3):
            try:
                decoded, _, _ = await requester.request_json("POST", "/tokenize", payload)
                return decoded
            except ClientError as exc:
                # a kept-alive connection the server closed (llama.cpp: max=100 requests
                # a connection) fails before any answer: try again; others are final
                if not exc.error.retryable or attempt == 2:
                    errors.append(str(exc))
                    return None
        return None

    errors: list[str] = []

    async def count(text: str) -> int:
        shapes = form or [{"content": text}, {"model": model, "prompt": text}]
        for shape in shapes:
            payload = {k: (text if k in ("content", "prompt") else v) for k, v in shape.items()}
            decoded = await call(payload)
            if isinstance(decoded, dict):
                if isinstance(decoded.get("count"), int):
                    form[:] = [shape]
                    return int(decoded["count"])
                if isinstance(decoded.get("tokens"), list):
                    form[:] = [shape]
                    return len(decoded["tokens"])
        raise LookupError(f"no /tokenize ({errors[-1] if errors else 'no token list'})")

    return count


async def _probe_prompt_tokens(
    client: ApiClient, model: str, text: str, params: GenerationParams
) -> int | None:
    obs = await client.generate(
        GenerationRequest(
            model=model,
            prompt=text,
            params=replace(params, max_tokens=1, min_tokens=None, ignore_eos=None),
            keep_text_chars=0,
        )
    )
    return obs.prompt_tokens if obs.error is None else None


async def measure_token_model(
    client: ApiClient,
    model: str,
    params: GenerationParams,
    rng: random.Random,
) -> TokenModel:
    """Find how the server counts prompt tokens (see the module's docstring)."""
    tokenize = tokenizer_for(client, model)
    small, big = (words_text(n, rng, f"[probe-{rng.randrange(10**9)}]") for n in PROBE_WORDS)
    if tokenize is not None:
        try:
            big_tokens = await tokenize(big)
            small_tokens = await tokenize(small)
        except LookupError:
            tokenize = None
        else:
            per_word = big_tokens / PROBE_WORDS[1]
            used = await _probe_prompt_tokens(client, model, small, params)
            overhead = max(0, used - small_tokens) if used is not None else 0
            return TokenModel(per_word, overhead, "tokenize", tokenize)
    used_small = await _probe_prompt_tokens(client, model, small, params)
    used_big = await _probe_prompt_tokens(client, model, big, params)
    if used_small is None or used_big is None or used_big <= used_small:
        return TokenModel(FALLBACK_TOKENS_PER_WORD, 0, "estimate")
    per_word = (used_big - used_small) / (PROBE_WORDS[1] - PROBE_WORDS[0])
    overhead = max(0, round(used_small - per_word * PROBE_WORDS[0]))
    return TokenModel(per_word, overhead, "calibrated")


async def content_text(
    tokens: int, model: TokenModel, rng: random.Random, tag: str = ""
) -> tuple[str, int]:
    """Text of about ``tokens`` tokens as the server counts them (no template);
    returns (text, its count: exact with ``/tokenize``, else the model's estimate)."""
    tokens = max(1, tokens)
    words = max(1, round(tokens / model.per_word))
    state = random.Random(rng.random())  # the same start for every round of this prompt
    if model.tokenize is None:
        return words_text(words, random.Random(state.random()), tag), tokens
    seed = state.random()
    best: tuple[int, str, int] | None = None
    for _ in range(MAX_ROUNDS):
        text = words_text(words, random.Random(seed), tag)
        try:
            counted = await model.tokenize(text)
        except LookupError:  # /tokenize stopped answering: keep the estimate
            return (best[1], best[2]) if best is not None else (text, tokens)
        miss = abs(counted - tokens)
        if best is None or miss < best[0]:
            best = (miss, text, counted)
        if miss == 0:
            break
        step = round((tokens - counted) / model.per_word)
        words = max(1, words + (step or (1 if counted < tokens else -1)))
    assert best is not None
    return best[1], best[2]
