"""The engine's load report: counters, CPU, loop lag, one report an interval."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from ometer_tui.core.bench.events import WorkerLoad
from ometer_tui.core.bench.load_report import LoadReporter, p99, reporting
from ometer_tui.core.load_counters import COUNTERS


def test_p99_is_the_nearest_rank() -> None:
    assert p99([]) == 0.0
    assert p99([5.0]) == 5.0
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([float(i) for i in range(1, 51)]) == 50.0  # 50 samples: the largest


def test_a_report_says_what_the_interval_did() -> None:
    reports: list[WorkerLoad] = []

    async def main() -> None:
        reporter = LoadReporter(reports.append, worker=1, workers=3, interval_s=0.3, tick_s=0.005)
        reporter.start()
        COUNTERS.in_flight += 3
        try:
            COUNTERS.chunks += 600
            await asyncio.sleep(0.05)
            time.sleep(0.06)  # noqa: ASYNC251 (the loop is blocked: the probe wakes late)
            end = time.process_time() + 0.05
            while time.process_time() < end:  # busy: CPU time
                pass
            while not reports:  # noqa: ASYNC110 (the report is what is awaited)
                await asyncio.sleep(0.01)
        finally:
            COUNTERS.in_flight -= 3
            reporter.stop(last=False)

    asyncio.run(main())
    [report] = reports
    assert (report.worker, report.workers) == (1, 3)
    assert report.pid == os.getpid() and report.node == socket.gethostname()
    assert report.interval_s >= 0.3
    assert report.chunks_per_s == 600 / report.interval_s
    assert report.in_flight == 3
    assert report.lag_p99_ms >= 40  # the 60 ms block, less the probe's own period
    assert report.cpu_percent * report.interval_s / 100 >= 0.049  # the 50 ms busy (CPU s)
    assert report.rss_bytes is None or report.rss_bytes > 1_000_000


def test_reporting_sends_a_last_report_for_the_end_and_stops() -> None:
    reports: list[WorkerLoad] = []

    async def work() -> str:
        await asyncio.sleep(0.35)
        return "done"

    async def main() -> str:
        out = await reporting(work(), reports.append, interval_s=10)
        await asyncio.sleep(0.05)  # nothing more after the end
        return out

    assert asyncio.run(main()) == "done"
    assert len(reports) == 1 and 0.3 <= reports[0].interval_s < 10
