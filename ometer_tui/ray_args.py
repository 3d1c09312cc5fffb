"""``ometer-tui run --ray auto|ADDRESS``: the engine's shards as Ray actors on a cluster.

``auto`` joins the Ray cluster running on this machine (``ray start`` was run here);
an ADDRESS is the cluster's head, ``host:port``. The number of workers is ``--workers``
(or ``[defaults] workers``) when given, else one per alive node of the cluster. Without
Ray installed the flag fails with one line (exit code 2) and nothing else changes; a
cluster that cannot be joined is exit code 3, like an unreachable endpoint; a worker
lost mid-run is a failed worker (exit code 1, the finished runs kept), as with
``--workers``.

The engine itself is core (``core/bench/ray_shards.py``); this module is the command
line's wiring only.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.runner import EventSink
    from ometer_tui.core.bench.shards import Runner
    from ometer_tui.core.settings import Settings
    from ometer_tui.worker_args import MakeRunner


class RayArgsError(ValueError):
    """``--ray`` cannot be used as given (the message is one line, for exit code 2)."""


class RayClusterUnreachable(RuntimeError):
    """The Ray cluster cannot be joined (exit code 3)."""


def add_ray_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("Ray cluster (the ray extra: pip install 'ometer-tui[ray]')")
    group.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the engine's workers as Ray actors spread over the nodes of a Ray "
        "cluster: 'auto' joins the cluster started on this machine, ADDRESS is its "
        "head (host:port); the workers are --workers, else one per node",
    )


def check(args: argparse.Namespace) -> None:
    """Before anything runs: ``--ray`` is ``auto`` or ``host:port``, and Ray imports."""
    address = getattr(args, "ray", None)
    if address is None:
        return
    from ometer_tui.core.bench.ray_shards import ray_address_problem, ray_available

    problem = ray_address_problem(address)
    if problem is not None:
        raise RayArgsError(f"--ray: {problem}")
    problem = ray_available()
    if problem is not None:
        raise RayArgsError(f"--ray: {problem}")


def with_ray(args: argparse.Namespace, plan: BenchmarkPlan) -> BenchmarkPlan:
    """``plan`` with ``--ray``'s address (``BenchmarkPlan.ray_address``)."""
    address = getattr(args, "ray", None)
    if address is None:
        return plan
    from dataclasses import replace

    return replace(plan, ray_address=address.strip())


def runner_factory(
    plan: BenchmarkPlan,
    args: argparse.Namespace,
    settings: Settings,
    err: TextIO,
    *,
    quiet: bool = False,
) -> MakeRunner:
    """Runners of plans on the Ray cluster at ``plan.ray_address`` (joined here:
    :class:`RayClusterUnreachable` when it cannot be): ``--workers``, else the settings'
    ``[defaults] workers``, else one worker per alive node; one worker is one actor
    running the whole plan, more are the plan split and merged
    (:class:`~ometer_tui.core.bench.shards.MergedRunner`). Each worker's node and clock
    offset go to ``err`` unless ``quiet``."""
    from ometer_tui import worker_args
    from ometer_tui.core.bench.ray_shards import (
        Placement,
        RayUnavailable,
        cluster_line,
        cluster_nodes,
        ray_runner_for,
        ray_shard_factory,
        ray_workers,
    )

    address = plan.ray_address or "auto"
    try:
        nodes = cluster_nodes(address)
    except RayUnavailable as exc:
        raise RayClusterUnreachable(f"--ray: {exc}") from None
    asked: int | None = getattr(args, "workers", None) or settings.defaults.workers
    workers = ray_workers(asked, nodes)
    refusal = worker_args.check(plan, workers)
    if refusal is not None:
        raise RayArgsError(f"--ray: {refusal}")

    def placed(where: Placement) -> None:
        if not quiet:
            print(f"ometer-tui: {where.describe()}", file=err, flush=True)

    if not quiet:
        print(f"ometer-tui: {cluster_line(plan, address, nodes, workers)}", file=err, flush=True)
    factory = ray_shard_factory(address, on_placed=placed)

    def make(plan: BenchmarkPlan, sink: EventSink) -> Runner:
        return ray_runner_for(plan, sink, workers=workers, factory=factory)

    return make
