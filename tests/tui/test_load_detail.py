"""The model detail shows a load's figures: achieved request rate, schedule lag,
latency from the intended send, input and output lengths asked against actual, the most
requests in flight and why sending stopped (issue #11, point 4)."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.demo.server import DemoServerThread
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from tests.tui.test_results_screen import SIZE, Host, make_plan, wait_done, wait_for


async def test_the_detail_of_a_load_shows_its_figures(demo: DemoServerThread) -> None:
    load = LoadSpec(
        arrival=ArrivalSpec(20.0, ArrivalKind.CONSTANT),
        stop=StopConditions(max_requests=4),
        input_tokens=Fixed(40),
        output_tokens=Fixed(3),
    )
    app = Host(replace(make_plan(demo.url, "demo-fast:1b", warmup=0), load=load))
    async with app.run_test(size=SIZE) as pilot:
        await wait_done(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        line = app.screen.query_one("#detail-load", Static)
        text = str(line.render())
        assert line.display
        assert text.startswith("load: open loop, 4 sent, ") and " of 20 req/s" in text
        assert "schedule lag p50 " in text and "TTFT from intended p50 " in text
        assert "input asked 40 got " in text and "output asked 3 got 3" in text
        assert "max in flight " in text and "stopped: 4 requests sent" in text


async def test_a_plain_closed_loop_shows_no_load_line(demo: DemoServerThread) -> None:
    app = Host(make_plan(demo.url, "demo-fast:1b", passes=1, warmup=0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_done(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert not app.screen.query_one("#detail-load", Static).display
