"""How a plan runs: the engine. (Interface fixed; implementation in progress.)"""

from __future__ import annotations

from collections.abc import Callable

from ometer_tui.core.api.base import ApiClient
from ometer_tui.core.bench.events import BenchmarkEvent
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.result import BenchmarkResult

EventSink = Callable[[BenchmarkEvent], None]


class BenchmarkRunner:
    """Runs one plan on the current event loop and reports through ``on_event``.

    ``on_event`` is called on the runner's loop, synchronously, for every event; it must
    be cheap (post a message, append to a list). ``cancel()`` may be called from any
    thread; finished runs are kept and the result is marked cancelled.
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        on_event: EventSink,
        *,
        client: ApiClient | None = None,
        log_exchanges: bool = False,
    ) -> None:
        raise NotImplementedError

    @property
    def result(self) -> BenchmarkResult:
        """The live (possibly partial) result."""
        raise NotImplementedError

    async def run(self) -> BenchmarkResult:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError
