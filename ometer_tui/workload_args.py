"""The headless ``run`` command's load flags (issue #11) and their conversion into a
:class:`~ometer_tui.core.bench.workloads.spec.LoadSpec`.

Kept out of ``cli.py`` so that parsing stays lazy: nothing here is imported until
``build_parser`` asks for the group, and the conversion only when a run starts.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ometer_tui.core.bench.workloads.options import LoadOptions
    from ometer_tui.core.bench.workloads.spec import LoadSpec

#: argparse dest of a load option's flag where it is not the option's key
_DEST = {"ramp_up_s": "ramp_up", "duration_s": "duration"}


def _option(key: str) -> Callable[[str], object]:
    """An argparse type: the core's one rule for load option ``key``
    (``core.bench.workloads.options.parse_option``), as the run panel uses it too."""

    def convert(text: str) -> object:
        from ometer_tui.core.bench.workloads.errors import OptionError
        from ometer_tui.core.bench.workloads.options import parse_option

        try:
            return parse_option(key, text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.body) from None

    return convert


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``load shape`` and ``what is sent`` groups of ``ometer-tui run``."""
    shape = parser.add_argument_group(
        "load shape",
        "Open loop: --rate sends on a timetable whatever the server does (latency from the "
        "intended send time is reported beside the usual figures). Without --rate the "
        "load is closed loop: --concurrency streams, each sending when its last answer ends.",
    )
    shape.add_argument(
        "--closed-loop",
        action="store_true",
        default=None,
        help="a closed loop even when the settings' [defaults] set a rate",
    )
    shape.add_argument(
        "--rate", type=_option("rate"), metavar="R", help="open loop: requests per second"
    )
    shape.add_argument(
        "--arrival",
        choices=("constant", "poisson", "gamma"),
        help="arrival process for --rate (default poisson; gamma with --burstiness)",
    )
    shape.add_argument(
        "--burstiness",
        type=_option("burstiness"),
        metavar="B",
        help="gamma arrivals' shape as in vLLM: 1 = Poisson, lower = burstier (CV 1/sqrt(B))",
    )
    shape.add_argument(
        "--max-concurrency",
        type=_option("max_concurrency"),
        metavar="N",
        help="open loop: cap on requests in flight",
    )
    shape.add_argument(
        "--ramp-up",
        type=_option("ramp_up_s"),
        metavar="S",
        help="the rate (or the number of streams) rises linearly over S seconds",
    )
    shape.add_argument("--duration", type=_option("duration_s"), metavar="S", help="stop after S s")
    shape.add_argument(
        "--requests", type=_option("requests"), metavar="N", help="stop after N requests"
    )
    shape.add_argument(
        "--max-errors", type=_option("max_errors"), metavar="N", help="stop after N errors"
    )
    shape.add_argument(
        "--max-error-rate",
        type=_option("max_error_rate"),
        metavar="X",
        help="stop when more than this fraction (0..1) of 20 or more requests failed",
    )
    sent = parser.add_argument_group(
        "what is sent",
        "--seed (else the settings' seed) also seeds the arrivals, the dataset sampling and "
        "the synthetic lengths (default 0: a load is reproducible unless asked otherwise). "
        "Each of these flags falls back on the same key in the settings' [defaults].",
    )
    sent.add_argument(
        "--dataset",
        metavar="FILE|builtin",
        help="prompts from a ShareGPT .json, a .jsonl or .csv (column 'prompt', optional "
        "'output_tokens'), or 'builtin'",
    )
    sent.add_argument(
        "--dataset-lengths",
        metavar="MIN,MAX",
        help="keep dataset prompts of MIN..MAX tokens (estimated: 4 characters a token)",
    )
    sent.add_argument(
        "--input-tokens",
        metavar="SPEC",
        help="synthetic prompts of this length in the server's tokens: N, "
        "normal:MEAN,STDEV,MIN,MAX, uniform:LO,HI or pairs:IN/OUT,IN/OUT",
    )
    sent.add_argument(
        "--output-tokens",
        metavar="SPEC",
        help="answer length (N, normal:, uniform:): max_tokens, and ignore_eos + min_tokens "
        "for llama.cpp and vLLM so answers reach it",
    )
    sent.add_argument(
        "--shared-prefix",
        type=_option("shared_prefix"),
        metavar="TOKENS",
        help="put one common prefix of this many tokens before every prompt",
    )
    sent.add_argument(
        "--turns",
        type=_option("turns"),
        metavar="N",
        help="conversations of N turns (answer sent back)",
    )


def wants_load(args: argparse.Namespace) -> bool:
    from ometer_tui.core.bench.workloads.options import LOAD_KEYS

    return bool(getattr(args, "closed_loop", False)) or any(
        getattr(args, _DEST.get(key, key), None) is not None for key in LOAD_KEYS
    )


def options_from_args(args: argparse.Namespace) -> LoadOptions:
    """The load options the flags give (numbers were checked by argparse with the
    core's rule; the text ones are checked here). Raises ``WorkloadError`` with one
    line naming the flag."""
    from ometer_tui.core.bench.workloads.options import (
        LOAD_KEYS,
        TEXT_KEYS,
        LoadOptions,
        flag_name,
        parse_option,
    )

    values: dict[str, object] = {}
    for key in LOAD_KEYS:
        value = getattr(args, _DEST.get(key, key), None)
        if value is None:
            continue
        values[key] = parse_option(key, value, flag_name(key)) if key in TEXT_KEYS else value
    closed = bool(getattr(args, "closed_loop", False))
    if closed and getattr(args, "rate", None) is not None:
        from ometer_tui.core.bench.workloads.errors import WorkloadError

        raise WorkloadError("--closed-loop and --rate: give one, not both")
    return LoadOptions(closed_loop=closed, **values)  # type: ignore[arg-type]


def prompts_given(args: argparse.Namespace) -> bool:
    """``--prompt`` or ``--prompts`` was given (a ``--dataset`` excludes them)."""
    return bool(getattr(args, "prompt", None) or getattr(args, "prompts", None))


def load_spec_from_args(args: argparse.Namespace) -> LoadSpec | None:
    """The :class:`LoadSpec` the flags alone ask for (no settings), or ``None`` (the
    closed loop over the prompts). ``ometer-tui run`` builds its load with the plan
    builder instead (``plan_builder.checked_plan``: the flags over the settings'
    ``[defaults]``). Raises ``WorkloadError`` with one line naming the flag."""
    from ometer_tui.core.bench.workloads.options import resolve_load

    if not wants_load(args):
        return None
    seed = args.seed if getattr(args, "seed", None) is not None else 0
    return resolve_load(options_from_args(args), seed=seed, prompts_given=prompts_given(args))


def describe_load(summary: object) -> str | None:
    """One progress line for a model's load figures (``ModelSummary.load``), or None."""
    from ometer_tui.core.bench.workloads.summary import LoadSummary

    return summary.describe() if isinstance(summary, LoadSummary) else None
