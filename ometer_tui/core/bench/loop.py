"""The event loop the engine runs on: uvloop where it is installed, else asyncio's own.

uvloop is a dependency on Linux and macOS (it has no Windows build). Measured by
benchmarks/accuracy.py on a 2-core machine, headless, 100-200 streams x 50 tok/s: TTFT
error p50 0.04-0.24 ms on uvloop against 0.23-4.39 ms on asyncio's loop, per-chunk lag
p50 0.10-0.19 ms against 0.25-0.50 ms (README "How accurate is it").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def engine_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when uvloop is installed; ``None`` means asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_engine(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh engine loop in the calling thread."""
    with asyncio.Runner(loop_factory=engine_loop_factory()) as runner:
        return runner.run(main)
