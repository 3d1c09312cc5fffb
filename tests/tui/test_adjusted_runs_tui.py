"""A request sent changed is never silent in the dashboard (issue #14, §4 and §5): a
parameter the server refused (``--drop-unsupported``) and a prompt cut to fit the context
window (``--truncate``) mark the model's results row, the legend says what the mark
means, and the model's detail says which parameter, which cut, and in how many runs."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from ometer_tui.core.bench.adjustments import adjustment_lines, parse_prompt_fit, run_adjustment
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.history import HistoryStore
from ometer_tui.tui.screens.history import HistoryScreen
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.widgets.run_table import run_cells
from tests.history_samples import synthetic_result
from tests.tui.conftest import AppFactory, Settle
from tests.tui.test_results_screen import SIZE, wait_for

#: what core/api/guard.py writes for a cut prompt
FIT = "truncated (middle): 5,000 -> 4,000 tokens to fit the window of 4,096 with max_tokens 64"


def adjusted_result() -> BenchmarkResult:
    """llama3: every run sent without top_k, runs 1 and 2 with the prompt cut; phi3: as
    planned."""
    result = synthetic_result(runs=4, models=("llama3:8b", "phi3:mini"), seed=5)
    mr = result.models["llama3:8b"]
    mr.records = [
        replace(r, dropped_params=("top_k",), prompt_fit=FIT if i in (1, 2) else None)
        for i, r in enumerate(mr.records)
    ]
    return result


def test_the_notes_say_what_was_changed_and_in_how_many_runs() -> None:
    records = adjusted_result().models["llama3:8b"].records
    assert adjustment_lines(records) == [
        "dropped top_k (the server refused it) in 5 runs",
        "prompt cut (middle) to 4,000 tokens in 2 runs",
    ]
    assert run_adjustment(records[1]) == "dropped top_k; prompt cut (middle) 5,000 -> 4,000 tokens"
    assert run_adjustment(records[3]) == "dropped top_k"
    assert adjustment_lines(adjusted_result().models["phi3:mini"].records) == []
    cut = parse_prompt_fit(FIT)
    assert cut is not None and (cut.mode, cut.before, cut.after) == ("middle", 5000, 4000)
    assert parse_prompt_fit("something else") is None


def test_a_failed_run_keeps_its_error_and_says_what_was_dropped() -> None:
    rec = adjusted_result().models["llama3:8b"].records[1]
    failed = replace(rec, ok=False, status=500, error="500 boom", error_kind="http")
    assert run_cells(1, failed)["error"].plain == (
        "500 boom · dropped top_k; prompt cut (middle) 5,000 -> 4,000 tokens"
    )


async def test_an_opened_result_marks_the_row_and_the_detail_says_which(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    with HistoryStore(Path(os.environ["OMETER_TUI_HISTORY"])) as store:
        saved = store.add_result(adjusted_result())
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), what="history")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_for(pilot, lambda: history.loaded, what="the list")
        history.table.move_to(str(saved))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        await pilot.pause()
        rows = results.table.model_rows
        assert rows["llama3:8b"]["status"].text == "done ⚠"
        assert rows["phi3:mini"]["status"].text == "done"
        legend = str(results.query_one("#results-legend", Static).render())
        assert "⚠: sent changed" in legend
        results.table.move_to("llama3:8b")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="detail")
        line = app.screen.query_one("#detail-adjusted", Static)
        assert line.display
        assert str(line.render()) == (
            "⚠ sent changed: dropped top_k (the server refused it) in 5 runs; "
            "prompt cut (middle) to 4,000 tokens in 2 runs"
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is results)
        results.table.move_to("phi3:mini")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="detail")
        assert not app.screen.query_one("#detail-adjusted", Static).display
