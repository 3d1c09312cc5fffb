"""``ometer-tui run --ray auto|ADDRESS``: the engine's shards as Ray actors on a cluster.

``auto`` joins the Ray cluster running on this machine (``ray start`` was run here);
an ADDRESS is the cluster's head, ``host:port``. The number of shards is ``--workers``
when given, else one per alive node of the cluster. Without Ray installed the flag
fails with one line (exit code 2) and nothing else changes; a cluster that cannot be
joined is exit code 3, like an unreachable endpoint.

The engine itself is core (``core/bench/ray_shards.py``); this module is the command
line's wiring only.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable

    from ometer_tui.core.bench.events import BenchmarkEvent
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.ray_shards import RayShardFactory, RayShardRunner

    #: what ``make_runner`` returns (the runner's shape: run, cancel, result)
    RayRunner = RayShardRunner


class RayArgsError(ValueError):
    """``--ray`` cannot be used as given (the message is one line, for exit code 2)."""


class RayClusterUnreachable(RuntimeError):
    """The Ray cluster cannot be joined (exit code 3)."""


def run_errors() -> tuple[type[BaseException], ...]:
    """What a run on Ray can end with besides the engine's own errors: a worker lost (its
    node, its process), or the cluster gone. The runs finished so far are kept."""
    from ometer_tui.core.bench.ray_shards import RayUnavailable, RayWorkerLost

    return (RayWorkerLost, RayUnavailable)


def add_ray_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("Ray cluster (the ray extra: pip install 'ometer-tui[ray]')")
    group.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the engine's workers as Ray actors spread over the nodes of a Ray "
        "cluster: 'auto' joins the cluster started on this machine, ADDRESS is its "
        "head (host:port); the workers are --workers, else one per node",
    )


def check(args: argparse.Namespace, *, sweep: bool = False) -> None:
    """Before anything runs: ``--ray`` needs Ray, and a plain benchmark (not a sweep)."""
    address = getattr(args, "ray", None)
    if address is None:
        return
    head, sep, port = address.strip().rpartition(":")
    if address.strip() != "auto" and not (sep and head and port.isdigit()):
        raise RayArgsError(
            f"--ray: expected 'auto' or the cluster head's host:port, got {address!r}"
        )
    from ometer_tui.core.bench.ray_shards import ray_available

    problem = ray_available()
    if problem is not None:
        raise RayArgsError(f"--ray: {problem}")
    if sweep:
        raise RayArgsError("--ray: a sweep, a search or --repeat runs on this machine only")


def with_ray(args: argparse.Namespace, plan: BenchmarkPlan) -> BenchmarkPlan:
    """``plan`` with ``--ray``'s address (``BenchmarkPlan.ray_address``)."""
    address = getattr(args, "ray", None)
    if address is None:
        return plan
    from dataclasses import replace

    return replace(plan, ray_address=address.strip())


def make_runner(
    plan: BenchmarkPlan,
    on_event: Callable[[BenchmarkEvent], None],
    err: TextIO,
    *,
    quiet: bool = False,
) -> RayRunner:
    """The runner of ``plan`` on the Ray cluster at ``plan.ray_address`` (joined here:
    :class:`RayClusterUnreachable` when it cannot be); each worker's node and clock
    offset go to ``err`` unless ``quiet``."""
    from ometer_tui.core.bench.ray_shards import (
        Placement,
        RayUnavailable,
        cluster_nodes,
        ray_shard_factory,
    )

    address = plan.ray_address or "auto"
    try:
        nodes = cluster_nodes(address)
    except RayUnavailable as exc:
        raise RayClusterUnreachable(f"--ray: {exc}") from None
    workers = plan.workers or max(nodes, 1)
    if plan.workers is None and workers > 1 and not _can_merge():
        workers = 1  # one per node needs the shard merge; one actor runs the whole plan

    def placed(where: Placement) -> None:
        if not quiet:
            print(f"ometer-tui: {where.describe()}", file=err, flush=True)

    if not quiet:
        print(
            f"ometer-tui: Ray cluster at {address}: {nodes} node(s), {workers} worker(s)",
            file=err,
            flush=True,
        )
    factory = ray_shard_factory(address, on_placed=placed)
    if workers == 1:
        return factory(plan, 0, 1, on_event)
    return _merged(plan, on_event, workers, factory)


def _can_merge() -> bool:
    import importlib.util

    return importlib.util.find_spec("ometer_tui.core.bench.shards") is not None


def _merged(
    plan: BenchmarkPlan,
    on_event: Callable[[BenchmarkEvent], None],
    workers: int,
    factory: RayShardFactory,
) -> RayRunner:
    try:
        from ometer_tui.core.bench.shards import MergedRunner
    except ImportError:
        raise RayArgsError(
            f"--ray: {workers} workers need the shard merge (core/bench/shards.py), which "
            "this build does not have yet; give --workers 1"
        ) from None
    runner: RayRunner = MergedRunner(plan, on_event, workers=workers, shard_factory=factory)
    return runner
