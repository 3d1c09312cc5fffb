"""``ometer-tui run --workers N``: the load split across engine workers (issue 15), and
the runner that runs it. Kept out of ``cli.py`` / ``headless.py`` (they call in here);
the engine's modules load only when a run starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from ometer_tui.arg_types import number
from ometer_tui.core.bench.limits import MAX_WORKERS

if TYPE_CHECKING:
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.runner import EventSink
    from ometer_tui.core.bench.shards import Runner
    from ometer_tui.core.settings import Settings

_count = number(int, minimum=1, inclusive=True)

#: (plan, event sink) -> the runner of that plan (one engine, or workers merged)
MakeRunner = Callable[["BenchmarkPlan", "EventSink"], "Runner"]


def _workers(text: str) -> int:
    value = _count(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_WORKERS}, got {text}")
    return value


def add_worker_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help=f"split the load across N engine workers (1..{MAX_WORKERS}; default: "
        "[defaults] workers, else chosen from the load and this machine): each gets a "
        "share of the streams, or of the open loop's arrivals; the result is merged into "
        "one. Several endpoints: each runs on N workers of its own, one endpoint after the "
        "other; with --endpoints-parallel the N are shared among them (at least one each)",
    )


def workers_of(args: argparse.Namespace, settings: Settings) -> int | None:
    """``--workers``, else the settings' ``[defaults] workers``, else ``None``: chosen
    from the load asked and this machine (:func:`choose`)."""
    given: int | None = getattr(args, "workers", None)
    return given or settings.defaults.workers or None


def choose(plan: BenchmarkPlan, given: int | None, err: TextIO, *, quiet: bool) -> int:
    """The workers to run ``plan`` on: ``given``, or chosen from the load asked and this
    machine (``shards.workers_to_run``). Its warning (a load past what the machine can
    measure honestly) is printed even when ``quiet``; the choice and notes only when not."""
    from ometer_tui.core.bench.shards import workers_told

    def note(line: str) -> None:
        if not quiet:
            print(f"ometer-tui: {line}", file=err)

    def warn(line: str) -> None:
        print(f"ometer-tui: {line}", file=err)

    return workers_told(replace(plan, workers=given), note, warn)


def check(plan: BenchmarkPlan, workers: int) -> str | None:
    """Why ``plan`` cannot run on ``workers`` workers (one line), or ``None``."""
    if workers <= 1:
        return None
    from ometer_tui.core.bench.shards import ShardError, endpoint_workers

    try:
        endpoint_workers(plan, workers)
    except ShardError as exc:
        return str(exc)
    return None


def describe(plan: BenchmarkPlan, workers: int) -> str | None:
    """The progress line saying how the load is split (``None`` for one engine)."""
    if workers <= 1:
        return None
    from ometer_tui.core.bench.shards import endpoint_workers

    counts = endpoint_workers(plan, workers)
    n = max(counts)
    fewer = f" (of {workers} asked: no more than there are streams)" if n < workers else ""
    if not plan.multi_endpoint:
        split = "one worker" if n == 1 else f"the load split across {n} workers"
        return f"ometer-tui: {split}{fewer}"
    each = ", ".join(
        f"{part.endpoint.name} {_workers_text(c)}"
        for part, c in zip(plan.parts, counts, strict=True)
    )
    if plan.endpoints_parallel:
        return f"ometer-tui: the endpoints at the same time on {sum(counts)} workers: {each}"
    if len(set(counts)) == 1:
        return f"ometer-tui: one endpoint after the other, each on {_workers_text(n)}{fewer}"
    return f"ometer-tui: one endpoint after the other: {each}{fewer}"


def _workers_text(n: int) -> str:
    return f"{n} worker{'s' if n != 1 else ''}"


def runner_factory(workers: int) -> MakeRunner:
    """Runners of plans on ``workers`` workers (:func:`~ometer_tui.core.bench.shards.
    runner_for`: one engine for 1, else the plan split across them and merged)."""
    from ometer_tui.core.bench.shards import runner_for

    def make(plan: BenchmarkPlan, sink: EventSink) -> Runner:
        return runner_for(plan, sink, workers=workers)

    return make
