"""Process-wide counters the engine's hot paths bump and the load report reads.

Each is a plain attribute increment on one slotted object: nothing else happens on the
path that reads a stream chunk or sends a request. ``core/bench/load_report.py`` turns
their differences over an interval into a :class:`~ometer_tui.core.bench.events.WorkerLoad`.
"""

from __future__ import annotations


class LoadCounters:
    __slots__ = ("chunks", "in_flight")

    def __init__(self) -> None:
        #: stream chunks (reads carrying data) read since the process started
        self.chunks = 0
        #: requests this process has in flight now
        self.in_flight = 0


#: The one instance, shared by every engine in the process.
COUNTERS = LoadCounters()
