"""Which part of a plan one worker runs (``BenchmarkPlan.shard``).

A plan split across workers (:func:`ometer_tui.core.bench.shards.split_plan`) keeps its
whole sequence of work, numbered as one engine numbers it: the closed loop's jobs
(pass x prompt, in plan order) or conversations, the open loop's arrivals on its one
timetable. Item ``k`` of that sequence goes to lane ``k % lanes`` and lane ``l`` belongs
to worker ``l % count``. A closed loop has one lane per stream (the whole plan's
concurrency), so a worker's share of the work follows its share of the streams; an open
loop has one lane per worker (arrival ``k`` goes to worker ``k % count``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ometer_tui.core.bench.workloads.arrivals import worker_start_times


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """Worker ``index`` of ``count``.

    ``origin_ns``: the benchmark's time zero on this worker's ``time.perf_counter_ns()``
    clock (records' ``started_at_s`` and intended send times count from it), shared by
    every worker so their records lie on one time line. ``perf_counter_ns`` is
    CLOCK_MONOTONIC on Linux, shared by the processes of one machine; a worker on
    another machine is given the origin moved by its measured clock offset. ``None``:
    the worker's own start (one engine's rule).

    ``start_ns``: on the same clock, when every worker starts its load (``plan.load``:
    the open loop's timetable, the closed loop's streams), so that their timetables
    line up: a worker ready sooner waits for it, one ready later starts at once on the
    timetable that began then (its first sends are late, and their schedule lag says
    so). ``None``: each worker starts its load when it is ready (after its warm-up).
    """

    index: int
    count: int
    lanes: int
    origin_ns: int | None = None
    start_ns: int | None = None

    def validate(self) -> list[str]:
        if not (1 <= self.count <= self.lanes and 0 <= self.index < self.count):
            return [
                f"shard: worker {self.index} of {self.count} over {self.lanes} lane(s) "
                "is not a valid split"
            ]
        return []

    @property
    def residues(self) -> tuple[int, ...]:
        """This worker's lanes."""
        return tuple(range(self.index, self.lanes, self.count))

    def owns(self, k: int) -> bool:
        """Item ``k`` of the whole plan's sequence is this worker's."""
        return (k % self.lanes) % self.count == self.index

    def global_index(self, j: int) -> int:
        """The whole plan's number of this worker's ``j``-th item (0-based)."""
        mine = self.residues
        return (j // len(mine)) * self.lanes + mine[j % len(mine)]

    def share(self, n: int) -> int:
        """How many of the whole plan's first ``n`` items are this worker's."""
        mine = self.residues
        cycles, rest = divmod(n, self.lanes)
        return cycles * len(mine) + sum(1 for r in mine if r < rest)

    def stream_starts(self, ramp_up_s: float) -> list[float]:
        """A closed loop's ramp-up: when each of this worker's streams starts (the whole
        plan's streams start over ``ramp_up_s``; these are this worker's lanes')."""
        every = worker_start_times(self.lanes, ramp_up_s)
        return [every[r] for r in self.residues]
