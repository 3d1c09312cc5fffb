"""How a plan is cut into the plans of its workers (``--workers``): pure functions,
no running (the merge that runs them is :mod:`ometer_tui.core.bench.shards`).

What is split (:func:`split_plan`, one endpoint's plan):

* closed loop: the streams per model (``concurrency``) as evenly as possible, and the
  work with them: job ``j`` of the plan's passes x prompts (or conversation ``j`` of a
  load, up to ``--requests``) goes to stream ``j % concurrency`` and so to the worker
  holding that stream. A worker is never made without a stream or without work.
  ``--duration`` applies to every worker as it is; a ramp-up starts each worker's
  streams when one engine would have started them.
* open loop: every worker computes the same timetable (same seed) and sends arrival
  ``k`` when ``k % workers`` is its index; conversation numbers stay the whole plan's, so
  every request is the prompt one engine would send at that point of the timetable.
  ``--max-concurrency`` is split; ``--requests`` counts the whole timetable's arrivals.
* rate limits (rpm, tpm) are split evenly; an error budget (``--max-errors``) too (each
  worker judges its share; ``--max-error-rate`` applies to each as it is).

Several endpoints (:func:`endpoint_workers`): each endpoint's plan is split on its own,
as above. One after the other (the default), each endpoint runs on ``workers`` workers
of its own, one endpoint's set after the other's, so no more than ``workers`` run at a
time. At the same time (``endpoints_parallel``), the ``workers`` are shared out among
the endpoints as evenly as their streams allow, at least one each: ``--workers 4`` on
two endpoints is two workers each, four processes in all.
"""

from __future__ import annotations

from dataclasses import replace

from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit
from ometer_tui.core.bench.shard_spec import ShardSpec

__all__ = ["ShardError", "endpoint_workers", "split_plan", "worker_count"]


class ShardError(ValueError):
    """The plan cannot be split across workers as asked (one line, for the user)."""


def _even(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split as evenly as possible into ``parts``."""
    return total // parts + (1 if index < total % parts else 0)


def _one_endpoint_count(plan: BenchmarkPlan, workers: int) -> int:
    load = plan.load
    if load is None:
        streams = min(plan.concurrency, plan.runs_per_model)
    elif load.arrival is None:
        streams = plan.concurrency
    else:
        streams = load.max_concurrency or workers
    if load is not None and load.stop.max_requests is not None:
        streams = min(streams, load.stop.max_requests)
    return max(1, min(workers, streams))


def endpoint_workers(plan: BenchmarkPlan, workers: int) -> tuple[int, ...]:
    """How many workers each endpoint's plan (``plan.parts``, in order) is split into
    when ``workers`` are asked (see the module's docstring): never more than it has
    streams (closed loop), connections (``--max-concurrency``) or requests."""
    if workers < 1:
        raise ShardError(f"--workers: must be at least 1 (got {workers})")
    caps = [_one_endpoint_count(part, workers) for part in plan.parts]
    if not plan.endpoints_parallel or len(caps) == 1:
        return tuple(caps)
    shares = [1] * len(caps)  # at the same time: the workers shared, at least one each
    left = workers - len(caps)
    while left > 0 and any(s < c for s, c in zip(shares, caps, strict=True)):
        for i, cap in enumerate(caps):
            if left > 0 and shares[i] < cap:
                shares[i] += 1
                left -= 1
    return tuple(shares)


def worker_count(plan: BenchmarkPlan, workers: int) -> int:
    """How many workers ``plan`` runs at a time when ``workers`` are asked (one set per
    model group: see ``MergedRunner``). One endpoint: what its plan is split into;
    several: the largest endpoint's set when one runs after the other, else every
    endpoint's set together (:func:`endpoint_workers`)."""
    counts = endpoint_workers(plan, workers)
    return sum(counts) if plan.endpoints_parallel else max(counts)


def split_plan(
    plan: BenchmarkPlan,
    workers: int,
    *,
    origin_ns: int | None = None,
    start_ns: int | None = None,
    rate_parts: int = 1,
) -> list[BenchmarkPlan]:
    """Shard ``i`` of the ``n`` plans one endpoint's ``plan`` splits into (n:
    :func:`worker_count`).

    The union of the shards' work is the plan's exactly (see the module's docstring).
    ``origin_ns``: the shared time origin (``ShardSpec.origin_ns``); ``start_ns``: the
    shared start of the load (``ShardSpec.start_ns``). ``rate_parts``:
    further groups the rate limits are shared with (models run as separate sets of
    workers at once). Each shard plan has ``workers=1``: it is one engine. A plan on
    several endpoints is split endpoint by endpoint (:func:`endpoint_workers`); given
    here as a whole it is a :class:`ShardError`.
    """
    if plan.endpoint_plans:
        raise ShardError("split_plan: split a plan on several endpoints part by part")
    n = worker_count(plan, workers)
    load = plan.load
    open_loop = load is not None and load.arrival is not None
    lanes = n if open_loop else plan.concurrency
    rpm, tpm = plan.rate_limit.requests_per_minute, plan.rate_limit.tokens_per_minute
    parts = n * rate_parts
    rate = RateLimit(
        requests_per_minute=None if rpm is None else rpm / parts,
        tokens_per_minute=None if tpm is None else tpm / parts,
    )
    shards: list[BenchmarkPlan] = []
    for i in range(n):
        spec = ShardSpec(index=i, count=n, lanes=lanes, origin_ns=origin_ns, start_ns=start_ns)
        shard_load = load
        if load is not None:
            stop = load.stop
            if stop.max_errors is not None:
                stop = replace(stop, max_errors=max(1, _even(stop.max_errors, n, i)))
            mc = load.max_concurrency
            if open_loop and mc is not None:
                mc = _even(mc, n, i)
            shard_load = replace(load, stop=stop, max_concurrency=mc)
        shards.append(
            replace(
                plan,
                concurrency=plan.concurrency if open_loop else len(spec.residues),
                load=shard_load,
                rate_limit=rate,
                workers=1,
                shard=spec,
            )
        )
    return shards
