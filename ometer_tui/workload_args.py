"""The headless ``run`` command's load flags (issue #11) and their conversion into a
:class:`~ometer_tui.core.bench.workloads.spec.LoadSpec`.

Kept out of ``cli.py`` so that parsing stays lazy: nothing here is imported until
``build_parser`` asks for the group, and the conversion only when a run starts.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ometer_tui.arg_types import number

if TYPE_CHECKING:
    from ometer_tui.core.bench.workloads.spec import LoadSpec

LOAD_FLAGS = (
    "rate",
    "arrival",
    "burstiness",
    "max_concurrency",
    "ramp_up",
    "duration",
    "requests",
    "max_errors",
    "max_error_rate",
    "dataset",
    "dataset_lengths",
    "input_tokens",
    "output_tokens",
    "shared_prefix",
    "turns",
)


_rate = number(float, minimum=0, inclusive=False)
_seconds = number(float, minimum=0, inclusive=True)
_positive_seconds = number(float, minimum=0, inclusive=False)
_count = number(int, minimum=1, inclusive=True)
_tokens = number(int, minimum=0, inclusive=True)


def _fraction(text: str) -> float:
    value = _rate(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, got {text}")
    return value


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``load shape`` and ``what is sent`` groups of ``ometer-tui run``."""
    shape = parser.add_argument_group(
        "load shape",
        "Open loop: --rate sends on a timetable whatever the server does (latency from the "
        "intended send time is reported beside the usual figures). Without --rate the "
        "load is closed loop: --concurrency streams, each sending when its last answer ends.",
    )
    shape.add_argument("--rate", type=_rate, metavar="R", help="open loop: requests per second")
    shape.add_argument(
        "--arrival",
        choices=("constant", "poisson", "gamma"),
        help="arrival process for --rate (default poisson; gamma with --burstiness)",
    )
    shape.add_argument(
        "--burstiness",
        type=_rate,
        metavar="B",
        help="gamma arrivals' shape as in vLLM: 1 = Poisson, lower = burstier (CV 1/sqrt(B))",
    )
    shape.add_argument(
        "--max-concurrency", type=_count, metavar="N", help="open loop: cap on requests in flight"
    )
    shape.add_argument(
        "--ramp-up",
        type=_seconds,
        metavar="S",
        help="the rate (or the number of streams) rises linearly over S seconds",
    )
    shape.add_argument("--duration", type=_positive_seconds, metavar="S", help="stop after S s")
    shape.add_argument("--requests", type=_count, metavar="N", help="stop after N requests")
    shape.add_argument("--max-errors", type=_count, metavar="N", help="stop after N errors")
    shape.add_argument(
        "--max-error-rate",
        type=_fraction,
        metavar="X",
        help="stop when more than this fraction (0..1) of 20 or more requests failed",
    )
    sent = parser.add_argument_group(
        "what is sent",
        "--seed also seeds the arrivals, the dataset sampling and the synthetic lengths "
        "(default 0: a load is reproducible unless asked otherwise).",
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
        type=_tokens,
        metavar="TOKENS",
        help="put one common prefix of this many tokens before every prompt",
    )
    sent.add_argument(
        "--turns", type=_count, metavar="N", help="conversations of N turns (answer sent back)"
    )


def wants_load(args: argparse.Namespace) -> bool:
    return any(getattr(args, name, None) is not None for name in LOAD_FLAGS)


def load_spec_from_args(args: argparse.Namespace) -> LoadSpec | None:
    """The :class:`LoadSpec` the flags ask for, or ``None`` (the closed loop over the
    prompts, as before). Raises ``WorkloadError`` with one line naming the flag."""
    if not wants_load(args):
        return None
    from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
    from ometer_tui.core.bench.workloads.datasets import filter_lengths, load_dataset
    from ometer_tui.core.bench.workloads.errors import WorkloadError
    from ometer_tui.core.bench.workloads.lengths import parse_length_spec
    from ometer_tui.core.bench.workloads.spec import LoadSpec
    from ometer_tui.core.bench.workloads.stop import StopConditions

    arrival = None
    if args.rate is not None:
        kind = (
            ArrivalKind(args.arrival)
            if args.arrival
            else (ArrivalKind.GAMMA if args.burstiness is not None else ArrivalKind.POISSON)
        )
        if args.burstiness is not None and kind is not ArrivalKind.GAMMA:
            raise WorkloadError(f"--burstiness: applies to --arrival gamma, not {kind.value}")
        arrival = ArrivalSpec(args.rate, kind, args.burstiness or 1.0)
    else:
        for name in ("arrival", "burstiness", "max_concurrency"):
            if getattr(args, name) is not None:
                flag = "--" + name.replace("_", "-")
                hint = " (the closed loop's streams are --concurrency)" * (
                    name == "max_concurrency"
                )
                raise WorkloadError(f"{flag}: applies to an open loop: give --rate{hint}")
    if args.dataset is not None and (
        getattr(args, "prompt", None) or getattr(args, "prompts", None)
    ):
        raise WorkloadError("--dataset: give a dataset or --prompt/--prompts, not both")
    dataset = None
    if args.dataset is not None:
        dataset = load_dataset(args.dataset)
        if args.dataset_lengths is not None:
            lo, hi = _range(args.dataset_lengths)
            dataset = filter_lengths(dataset, lo, hi)
    elif args.dataset_lengths is not None:
        raise WorkloadError("--dataset-lengths: filters a --dataset; none was given")
    spec = LoadSpec(
        arrival=arrival,
        max_concurrency=args.max_concurrency,
        ramp_up_s=args.ramp_up or 0.0,
        stop=StopConditions(
            max_requests=args.requests,
            duration_s=args.duration,
            max_errors=args.max_errors,
            max_error_rate=args.max_error_rate,
        ),
        dataset=dataset,
        input_tokens=(
            None
            if args.input_tokens is None
            else parse_length_spec(args.input_tokens, "--input-tokens")
        ),
        output_tokens=(
            None
            if args.output_tokens is None
            else parse_length_spec(args.output_tokens, "--output-tokens")
        ),
        shared_prefix_tokens=args.shared_prefix or 0,
        turns=args.turns or 1,
        seed=args.seed if getattr(args, "seed", None) is not None else 0,
    )
    problems = spec.validate()
    if problems:
        raise WorkloadError(problems[0])
    return spec


def _range(text: str) -> tuple[int | None, int | None]:
    from ometer_tui.core.bench.workloads.errors import WorkloadError

    lo, sep, hi = text.partition(",")
    try:
        low = int(lo) if lo.strip() else None
        high = int(hi) if hi.strip() else None
    except ValueError:
        raise WorkloadError(f"--dataset-lengths: expected MIN,MAX tokens, got {text!r}") from None
    if not sep or (low is not None and high is not None and low > high):
        raise WorkloadError(f"--dataset-lengths: expected MIN,MAX with MIN <= MAX, got {text!r}")
    return low, high


def describe_load(summary: object) -> str | None:
    """One progress line for a model's load figures (``ModelSummary.load``), or None."""
    from ometer_tui.core.bench.workloads.summary import LoadSummary

    return summary.describe() if isinstance(summary, LoadSummary) else None
