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
        help=f"split the load across N engine workers (1..{MAX_WORKERS}; default 1, or "
        "[defaults] workers): each gets a share of the streams, or of the open loop's "
        "arrivals; the result is merged into one",
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
    from ometer_tui.core.bench.shards import ShardError, split_plan

    try:
        split_plan(plan, workers)
    except ShardError as exc:
        return str(exc)
    return None


def describe(plan: BenchmarkPlan, workers: int) -> str | None:
    """The progress line saying how the load is split (``None`` for one engine)."""
    if workers <= 1:
        return None
    from ometer_tui.core.bench.shards import worker_count

    n = worker_count(plan, workers)
    fewer = f" (of {workers} asked: no more than there are streams)" if n < workers else ""
    split = "one worker" if n == 1 else f"the load split across {n} workers"
    return f"ometer-tui: {split}{fewer}"


def runner_factory(workers: int) -> MakeRunner:
    """Runners of plans on ``workers`` workers (:func:`~ometer_tui.core.bench.shards.
    runner_for`: one engine for 1, else the plan split across them and merged)."""
    from ometer_tui.core.bench.shards import runner_for

    def make(plan: BenchmarkPlan, sink: EventSink) -> Runner:
        return runner_for(plan, sink, workers=workers)

    return make
