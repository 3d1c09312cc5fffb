"""The cyclic garbage collector while a benchmark runs: no full collections mid-load.

CPython's full (generation 2) collection scans every tracked object the process holds:
the imported libraries, and during a benchmark every record kept so far. Measured by
``benchmarks/schedule_lag.py`` (200 requests/s, 20 s, on the shared machine): three full
collections of 47-80 ms each, every one a burst of late sends, and generation-1
collections of 3-14 ms. While a benchmark runs, :func:`engine_gc`

* collects once and freezes what is alive (``gc.freeze``: the libraries and the set-up
  move to the permanent generation, which no collection scans),
* raises the generation-2 threshold to :data:`RUN_GEN2_THRESHOLD`, so a full collection
  waits for that many generation-1 collections instead of 10 (at 200 requests/s, one in
  about 20 minutes), and
* lowers the generation-1 threshold to :data:`RUN_GEN1_THRESHOLD`: a generation-1
  collection scans the survivors of the young collections since the last one (mostly
  the records just finished), so coming more often it pauses for less, for the same work.

On the way out (the end, an error or a cancellation) the thresholds are put back and the
frozen objects are returned to the collector (``gc.unfreeze``). Cyclic garbage that
outlived two young collections waits for the next full collection instead of being
freed mid-run; objects freed by reference counting (nearly all) are freed as before.

Every engine mode gets it: :class:`~ometer_tui.core.bench.runner.BenchmarkRunner` enters it
in ``run()``, in the main process (headless) and in each engine process. Nested or
concurrent runs in one process share one policy (the outermost sets and restores it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: A full collection waits for this many generation-1 collections while a run lasts.
RUN_GEN2_THRESHOLD = 5_000
#: A generation-1 collection comes after this many generation-0 ones (Python's: 10).
RUN_GEN1_THRESHOLD = 2
#: False leaves the collector as Python set it (``benchmarks/schedule_lag.py --gc default``)
ENABLED = True

_lock = threading.Lock()  # engines may run in threads of one process
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def engine_gc() -> Iterator[None]:
    """Hold off full collections for the duration (see the module's docstring)."""
    global _depth, _saved
    if not ENABLED:
        yield
        return
    with _lock:
        if _depth == 0:
            gc.collect()
            gc.freeze()
            threshold = gc.get_threshold()
            _saved = (threshold[0], threshold[1], threshold[2])
            gc.set_threshold(
                threshold[0],
                min(threshold[1], RUN_GEN1_THRESHOLD),
                max(threshold[2], RUN_GEN2_THRESHOLD),
            )
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
                gc.unfreeze()
