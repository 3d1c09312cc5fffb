"""The requests of a load, prepared per model before the clock starts.

Preparing may call the server (``/tokenize``, probe requests: see ``synthetic``), so it
happens before the timetable begins and never delays a send.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ometer_tui.core.api.base import ApiClient
from ometer_tui.core.bench.workloads.datasets import sample_entries
from ometer_tui.core.bench.workloads.lengths import Pairs
from ometer_tui.core.bench.workloads.spec import MAX_PREPARED, LoadSpec
from ometer_tui.core.bench.workloads.synthetic import (
    TokenModel,
    content_text,
    measure_token_model,
)
from ometer_tui.core.models import GenerationParams

#: The next user turn of a multi-turn conversation when the dataset gives none.
DEFAULT_FOLLOWUP = "Go on: tell me more, with one concrete example."


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """The first turn of one conversation (a single request when ``turns`` is 1)."""

    prompt: str
    prompt_index: int  # index into the plan's prompts, or the prepared list
    input_tokens_asked: int | None  # the target (synthetic prompts), None otherwise
    output_tokens_asked: int | None  # the answer length asked for, None: plan default
    followups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PreparedLoad:
    requests: tuple[PlannedRequest, ...]
    token_model: TokenModel | None  # how lengths were measured (synthetic prompts)
    prefix_tokens: int | None  # the shared prefix's length as counted, when asked for

    def request(self, n: int) -> PlannedRequest:
        return self.requests[n % len(self.requests)]


def followup_text(planned: PlannedRequest, turn: int) -> str:
    """The user's words for ``turn`` (2, 3, ...)."""
    index = turn - 2
    return planned.followups[index] if index < len(planned.followups) else DEFAULT_FOLLOWUP


async def prepare_load(
    spec: LoadSpec,
    plan_prompts: Sequence[str],
    client: ApiClient,
    model: str,
    params: GenerationParams,
) -> PreparedLoad:
    """The requests for one model (at most ``MAX_PREPARED``; a longer load cycles)."""
    rng = random.Random(spec.seed)
    expected = spec.expected_requests() or MAX_PREPARED
    conversations = max(1, -(-expected // spec.turns))
    count = min(conversations, MAX_PREPARED)
    token_model: TokenModel | None = None
    prefix = ""
    prefix_tokens: int | None = None
    if spec.synthetic or spec.shared_prefix_tokens:
        token_model = await measure_token_model(client, model, params, rng)
    if spec.shared_prefix_tokens and token_model is not None:
        prefix_body, prefix_tokens = await content_text(
            spec.shared_prefix_tokens, token_model, rng, tag="Context:"
        )
        prefix = prefix_body + "\n\n"
    requests: list[PlannedRequest] = []
    entries = iter(sample_entries(spec.dataset.entries, spec.seed)) if spec.dataset else None
    for n in range(count):
        out_asked: int | None = None
        if spec.output_tokens is not None:
            out_asked = spec.output_tokens.sample(rng)
        if entries is not None:
            entry = next(entries)
            text = entry.prompt
            if out_asked is None:
                out_asked = entry.output_tokens
            requests.append(PlannedRequest(prefix + text, n, None, out_asked, entry.followups))
        elif spec.input_tokens is not None and token_model is not None:
            if isinstance(spec.input_tokens, Pairs):
                in_asked, out_asked = spec.input_tokens.sample_pair(rng)
            else:
                in_asked = spec.input_tokens.sample(rng)
            budget = in_asked - token_model.overhead - (prefix_tokens or 0)
            body, _ = await content_text(budget, token_model, rng, tag=f"[{n}]")
            requests.append(PlannedRequest(prefix + body, n, in_asked, out_asked))
        else:
            index = n % len(plan_prompts)
            # behind a shared prefix, a tag keeps the rest of each prompt apart
            text = f"{prefix}[{n}] {plan_prompts[index]}" if prefix else plan_prompts[index]
            requests.append(PlannedRequest(text, index, None, out_asked))
    return PreparedLoad(tuple(requests), token_model, prefix_tokens)
