"""What the engine's process does while an open loop holds a timetable.

The cyclic garbage collector's pauses hold the event loop for 0.5-3 ms
(``benchmarks/schedule_lag.py`` times them), and a held request (``core/api/_held_send.py``)
due in the middle of one leaves when it ends. While an open loop runs,
:func:`open_loop_policy` turns the collector's automatic runs off and lets the timetable
run the young collections itself (:meth:`TimetableCollector.idle`), at moments when no
send is due for :data:`GC_ROOM_NS`: the same generations, as often (every
``gc.get_threshold()[0]`` new objects, every :data:`~.gc_policy.RUN_GEN1_THRESHOLD` th one
a generation-1 collection), only moved into the timetable's gaps. Where the gaps are too
short for that long, a collection runs anyway once :data:`FORCE_AFTER` times the
threshold has piled up (memory stays bounded).

The collector is put back when the open loop ends, fails or is cancelled (its last
request done); nested open loops in one process (several endpoints at once) share one
policy (the outermost sets and restores it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ometer_tui.core.bench.gc_policy import RUN_GEN1_THRESHOLD

#: A young collection runs only when no send is due for this long (a generation-1
#: collection took up to 3.1 ms here with a minute of records kept).
GC_ROOM_NS = 4_000_000
#: ... unless this many times the generation-0 threshold has piled up meanwhile.
FORCE_AFTER = 20
#: False leaves the collector alone (A/B measurements).
ENABLED = True

_lock = threading.Lock()
_depth = 0
_saved: bool | None = None  # whether the collector was enabled


class TimetableCollector:
    """Runs the young collections in the timetable's gaps (see the module)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.threshold = max(1, gc.get_threshold()[0])
        #: collections run: in a gap, and forced (no gap long enough came)
        self.in_gaps = 0
        self.forced = 0

    def idle(self, room_ns: int | None) -> None:
        """The timetable has nothing due for ``room_ns`` (None: nothing at all): collect
        if enough new objects are waiting."""
        if not self.active:
            return
        count = gc.get_count()[0]
        if count < self.threshold:
            return
        fits = room_ns is None or room_ns >= GC_ROOM_NS
        if not fits and count < self.threshold * FORCE_AFTER:
            return
        done = self.in_gaps + self.forced
        generation = 1 if done % RUN_GEN1_THRESHOLD == RUN_GEN1_THRESHOLD - 1 else 0
        if fits:
            self.in_gaps += 1
        else:
            self.forced += 1
        gc.collect(generation)


@contextmanager
def open_loop_policy(active: bool = True) -> Iterator[TimetableCollector]:
    """The policy for the duration (see the module's docstring); ``active=False`` changes
    nothing (a closed loop)."""
    global _depth, _saved
    if not (ENABLED and active):
        yield TimetableCollector(active=False)
        return
    with _lock:
        if _depth == 0:
            _saved = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield TimetableCollector(active=True)
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                enabled, _saved = _saved, None
                if enabled:
                    gc.enable()
