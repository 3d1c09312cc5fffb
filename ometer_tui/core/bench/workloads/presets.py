"""Load presets: starting points a user picks in the run panel, then edits.

Each preset sets load options only (the run panel's passes, concurrency and generation
fields are left as they are); every option it does not name is cleared. The README's
"Load shapes and workloads" section lists what each one sets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ometer_tui.core.bench.workloads.datasets import BUILTIN
from ometer_tui.core.bench.workloads.lengths import Fixed, Normal
from ometer_tui.core.bench.workloads.options import LoadOptions

#: The demo endpoint's capacity model (4 slots, a queue, shared decode, a prefix
#: cache): served by name, not listed; the model filter's ``=NAME`` picks it.
DEMO_CAPACITY_MODEL = "cap-4slot:1b"


@dataclass(frozen=True, slots=True)
class LoadPreset:
    id: str
    title: str  # a few words for a list
    description: str  # one sentence: what it sets and what it is for
    options: LoadOptions


PRESETS: tuple[LoadPreset, ...] = (
    LoadPreset(
        "chat",
        "Chat",
        "Conversations of 3 turns: prompts of 256 ± 64 tokens, 128-token answers, "
        "90 requests, closed loop (the streams are Concurrency).",
        LoadOptions(
            closed_loop=True,
            requests=90,
            input_tokens=Normal(256.0, 64.0, 32, 1024),
            output_tokens=Fixed(128),
            turns=3,
        ),
    ),
    LoadPreset(
        "rag",
        "Long prompt / RAG",
        "Prompts of 4096 tokens, 256-token answers, 30 requests, closed loop: prefill "
        "time and TTFT under long contexts.",
        LoadOptions(
            closed_loop=True, requests=30, input_tokens=Fixed(4096), output_tokens=Fixed(256)
        ),
    ),
    LoadPreset(
        "summarization",
        "Summarization",
        "The built-in dataset's passages of 300 tokens or more, 200-token answers, "
        "30 requests, closed loop.",
        LoadOptions(
            closed_loop=True,
            requests=30,
            dataset=BUILTIN,
            dataset_lengths=(300, None),
            output_tokens=Fixed(200),
        ),
    ),
    LoadPreset(
        "prefix",
        "Prefix-cache test",
        "A 2000-token prefix shared by prompts of 2100 tokens, 32-token answers, "
        "50 requests: the first request's TTFT against the cached later ones.",
        LoadOptions(
            closed_loop=True,
            requests=50,
            shared_prefix=2000,
            input_tokens=Fixed(2100),
            output_tokens=Fixed(32),
        ),
    ),
    LoadPreset(
        "load",
        "Load test (R req/s)",
        "Open loop: Poisson arrivals at 2/s (edit Rate) for 60 s, at most 64 in flight, "
        f"256-token prompts, 32-token answers. Demo: type ={DEMO_CAPACITY_MODEL} in the "
        "filter for its capacity model (its knee: about 3 requests/s).",
        LoadOptions(
            rate=2.0,
            duration_s=60.0,
            max_concurrency=64,
            input_tokens=Fixed(256),
            output_tokens=Fixed(32),
        ),
    ),
)

BY_ID: dict[str, LoadPreset] = {p.id: p for p in PRESETS}


def preset_named(name: str) -> LoadPreset:
    """The preset ``name`` (its id, as ``--preset`` takes it); ``KeyError`` with one line
    listing the names otherwise."""
    preset = BY_ID.get(name.strip().lower())
    if preset is None:
        raise KeyError(f"unknown preset {name!r} (known: {', '.join(BY_ID)})")
    return preset


def under_preset(given: LoadOptions, preset: LoadPreset) -> LoadOptions:
    """The options ``given`` (flags) over ``preset``'s: each given option wins, and what
    is sent replaces the preset's as it replaces a default (``LoadOptions.over``). A
    closed-loop preset stays closed unless a rate is given; the result then goes over
    the settings' ``[defaults]`` as the flags alone would."""
    merged = given.over(preset.options)
    closed = given.closed_loop or (preset.options.closed_loop and given.rate is None)
    return replace(merged, closed_loop=closed)
