"""The results screen in a tiny host app, against the demo endpoint over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Static

from ometer_tui.core.api.base import ExchangeLogged
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.catalogue import BY_NAME
from ometer_tui.demo.server import DemoServerThread, run_in_thread
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.confirm import ConfirmScreen
from ometer_tui.tui.screens.debug_log import DebugLogScreen
from ometer_tui.tui.screens.export_menu import ExportMenu
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.results_header import PhraseLine
from ometer_tui.tui.widgets.results_table import ResultsTable

SIZE = (120, 36)
FAST = ("demo-fast:1b", "demo-think:7b", "demo-embed:335m", "fault-server-error")
CANARY = "sk-CANARY-0123456789abcdef"


def info(name: str) -> ModelInfo:
    m = BY_NAME[name]
    return ModelInfo(
        name=m.name,
        size_bytes=m.size_bytes,
        parameter_size=m.parameter_size,
        quantization=m.quantization,
        context_length=m.context_length,
        family=m.family,
        capabilities=m.capabilities,
    )


def make_plan(
    url: str, *names: str, passes: int = 2, warmup: int = 1, endpoint: Endpoint | None = None
) -> BenchmarkPlan:
    ep = endpoint or Endpoint(name="demo", url=url, api=ApiFlavour.OLLAMA, simulated=True)
    return BenchmarkPlan(
        endpoint=ep,
        models=tuple(info(n) for n in names),
        passes=passes,
        warmup=warmup,
        params=GenerationParams(max_tokens=32),
        retry=RetryPolicy(max_retries=0),
    )


class Host(App[None]):
    """The smallest app that shows a results screen."""

    def __init__(self, plan: BenchmarkPlan) -> None:
        super().__init__()
        self.plan = plan

    def on_mount(self) -> None:
        self.push_screen(ResultsScreen(BenchmarkSession.started(self, self.plan)))

    @property
    def results(self) -> ResultsScreen:
        for screen in self.screen_stack:
            if isinstance(screen, ResultsScreen):
                return screen
        raise AssertionError("no results screen")


async def wait_for(
    pilot: Pilot[None], cond: Callable[[], object], limit_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``cond`` between UI turns, bounded in time (never a fixed sleep)."""
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def wait_done(pilot: Pilot[None], app: Host) -> ResultsScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="screen")
    screen = app.results
    await wait_for(
        pilot,
        lambda: (
            not screen.benchmark_running
            and screen.result.models
            and all(
                m.phase not in (ModelPhase.QUEUED, ModelPhase.RUNNING, ModelPhase.WARMING)
                for m in screen.result.models.values()
            )
        ),
        what="the benchmark to finish",
    )
    await pilot.pause()
    return screen


def table_rows(screen: ResultsScreen) -> dict[str, dict[str, str]]:
    table = screen.table
    cols = [c.value or "" for c in table.columns]
    return {
        row.key.value or "": dict(zip(cols, (c.plain for c in table.get_row(row.key)), strict=True))
        for row in table.ordered_rows
    }


def read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def raw(screen: ResultsScreen, model: str, column: str) -> object:
    return screen.table.model_rows[model][column].raw


@pytest.fixture
def fast_plan(demo: DemoServerThread) -> BenchmarkPlan:
    return make_plan(demo.url, *FAST)


@pytest.fixture
def done_app(fast_plan: BenchmarkPlan) -> Iterator[Host]:
    yield Host(fast_plan)


async def test_run_completes_and_fills_rows(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        rows = table_rows(screen)
        assert list(rows) == list(FAST)
        assert rows["demo-fast:1b"]["status"] == "done"
        assert rows["demo-fast:1b"]["ok"] == "2" and rows["demo-fast:1b"]["err"] == "0"
        assert rows["demo-fast:1b"]["ttft"].endswith("ms")
        tps = float(rows["demo-fast:1b"]["tps"])
        recs = screen.result.models["demo-fast:1b"].records
        kept = [r.decode_tps for r in recs if not r.warmup and r.decode_tps is not None]
        assert len(kept) == 2  # the cell is the mean of the measured runs, warm-up apart
        assert tps == pytest.approx(sum(kept) / len(kept), abs=0.05)
        # The demo writes 200 tok/s; its accuracy is tests/integration/test_engine.py's
        # business. Here the demo shares this process with the UI and the engine, and on
        # a loaded machine it catches up on late tokens, so only the magnitude is checked.
        assert 50 < tps < 2000
        think = screen.table.model_rows["demo-think:7b"]
        assert think["vttft"].text != think["ttft"].text
        # an embedding model: its own latency column, no TTFT, not among chat e2e
        embed = rows["demo-embed:335m"]
        assert embed["latency"].endswith("ms")
        assert embed["ttft"] == embed["e2e"] == embed["tps"] == "—"
        assert rows["demo-fast:1b"]["latency"] == "—"
        assert rows["fault-server-error"]["status"] == "failed"
        assert rows["fault-server-error"]["err"] == "2"
        assert screen.table.model_rows["demo-fast:1b"]["p90"].text == "—"  # n = 2 < 5
        assert rows["demo-fast:1b"]["sd"].startswith("±")  # a spread from n = 2
        status = screen.query_one("#results-status", PhraseLine).plain
        assert status.startswith("done") and "12/12 requests" in status
        assert "SIMULATED" in str(screen.query_one("#results-simulated", Static).render())
        # the error cell is red, the ok cells are not
        err_cell = screen.table.get_cell("fault-server-error", "err")
        assert "red" in str(err_cell.style)


async def test_sorting_keeps_the_cursor_on_the_same_model(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        screen.table.move_cursor(row=screen.row_order().index("demo-think:7b"))
        await pilot.pause()

        # `s` walks the sort column rightwards: status, model, TTFT
        await pilot.press("s", "s", "s")
        assert screen.sort_state == ("ttft", False)
        order = screen.row_order()
        with_ttft = [m for m in order if raw(screen, m, "ttft") is not None]
        values = [raw(screen, m, "ttft") for m in with_ttft]
        assert values == sorted(values)  # type: ignore[type-var]
        assert order[len(with_ttft) :] == [m for m in FAST if m not in with_ttft]
        assert screen.highlighted_model() == "demo-think:7b"
        header = screen.table.columns[next(k for k in screen.table.columns if k == "ttft")]
        assert header.label.plain.endswith("▲")

        await pilot.press("r")  # reverse: None stays last
        assert screen.sort_state == ("ttft", True)
        order = screen.row_order()
        assert order[: len(with_ttft)] == list(reversed(with_ttft))
        assert raw(screen, order[-1], "ttft") is None
        assert screen.highlighted_model() == "demo-think:7b"

        # a rate sorts best (highest) first
        while screen.sort_state[0] != "tps":  # type: ignore[comparison-overlap]
            await pilot.press("s")
        assert screen.sort_state == ("tps", True)
        order = screen.row_order()
        assert order[0] == "demo-fast:1b"
        assert raw(screen, order[-1], "tps") is None
        assert screen.highlighted_model() == "demo-think:7b"

        # back leftwards to the name, then reversed
        while screen.sort_state[0] != "model":  # type: ignore[comparison-overlap]
            await pilot.press("S")
        assert screen.row_order() == sorted(FAST, key=str.casefold)
        await pilot.press("r")
        assert screen.row_order() == sorted(FAST, key=str.casefold, reverse=True)
        assert screen.highlighted_model() == "demo-think:7b"


async def test_header_click_sorts(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        table = screen.table
        column_index = [c.value for c in table.columns].index("e2e")
        event = DataTable.HeaderSelected(
            table,
            table.ordered_columns[column_index].key,
            column_index,
            table.ordered_columns[column_index].label,
        )
        table.post_message(event)
        await pilot.pause()
        assert screen.sort_state == ("e2e", False)
        table.post_message(
            DataTable.HeaderSelected(
                table,
                table.ordered_columns[column_index].key,
                column_index,
                table.ordered_columns[column_index].label,
            )
        )
        await pilot.pause()
        assert screen.sort_state == ("e2e", True)


async def test_v_toggles_per_run_columns(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        assert "ttft1" not in screen.visible_columns
        await pilot.press("v")
        cols = screen.visible_columns
        assert {"ttft1", "ttft2", "tps1", "tps2"} <= set(cols) and "ttft3" not in cols
        rows = table_rows(screen)
        assert rows["demo-fast:1b"]["ttft1"].endswith("ms")
        assert rows["fault-server-error"]["ttft1"] == "✗"
        await pilot.press("v")
        assert "ttft1" not in screen.visible_columns


async def test_enter_opens_the_runs_of_the_model(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        screen.table.move_cursor(row=screen.row_order().index("demo-think:7b"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, RunDetailScreen))
        detail = done_app.screen
        assert isinstance(detail, RunDetailScreen) and detail.model == "demo-think:7b"
        runs = detail.query_one("#detail-runs", DataTable)
        assert runs.row_count == 3  # 1 warm-up + 2 measured
        first = [c.plain for c in runs.get_row_at(0)]
        assert first[1].startswith("warm-up")
        text = str(detail.query_one("#detail-text", Static).render())
        assert "sea" in text  # the demo's words
        timings = detail.query_one("#detail-timings", Static).render()
        assert timings is not None
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))

        # the failing model's detail shows the server's own error message
        screen.table.move_cursor(row=screen.row_order().index("fault-server-error"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, RunDetailScreen))
        errors = [
            c.plain for c in done_app.screen.query_one("#detail-runs", DataTable).get_row_at(1)
        ]
        assert errors[2] == "500" and errors[-1]


async def test_escape_cancels_after_confirmation_and_keeps_finished_runs(
    demo: DemoServerThread,
) -> None:
    plan = make_plan(demo.url, "demo-fast:1b", "demo-slow:70b", passes=5, warmup=0)
    app = Host(plan)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
        screen = app.results
        await wait_for(
            pilot,
            lambda: any(not r.warmup for r in screen.result.models["demo-slow:70b"].records),
            what="a finished run of the slow model",
        )
        assert screen.benchmark_running
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep running
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
        assert screen.benchmark_running
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.benchmark_running, limit_s=15, what="the cancel")
        await pilot.pause()
        rows = table_rows(screen)
        assert rows["demo-fast:1b"]["status"] == "done"
        assert rows["demo-slow:70b"]["status"] == "cancelled"
        assert 1 <= int(rows["demo-slow:70b"]["ok"]) < 5
        assert screen.result.cancelled
        status = screen.query_one("#results-status", PhraseLine).plain
        assert status.startswith("cancelled")
        # not running any more: Escape goes back
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ResultsScreen))


async def test_R_reruns_the_same_plan(done_app: Host) -> None:
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        first = screen.result
        await pilot.press("R")  # the result was not exported: asked first
        await wait_for(pilot, lambda: isinstance(done_app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        assert screen.benchmark_running
        assert screen.result is not first  # a fresh result: the table starts over
        assert sum(len(m.records) for m in screen.result.models.values()) < 12
        screen = await wait_done(pilot, done_app)
        assert screen.result is not first
        assert len(screen.result.models["demo-fast:1b"].records) == 3
        assert table_rows(screen)["demo-fast:1b"]["status"] == "done"


async def test_a_finished_unexported_result_is_not_discarded_without_asking(
    done_app: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)
        first = screen.result
        for key in ("escape", "R"):
            await pilot.press(key)
            await wait_for(pilot, lambda: isinstance(done_app.screen, ConfirmScreen))
            await pilot.press("n")  # keep
            await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
            assert screen.result is first and not screen.benchmark_running
        # once exported, leaving needs no answer
        await _open_export(pilot, done_app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        assert screen.session.exported_to is not None and not screen.session.unsaved
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(done_app.screen, ResultsScreen))


async def _open_export(pilot: Pilot[None], app: Host) -> ExportMenu:
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, ExportMenu))
    menu = app.screen
    assert isinstance(menu, ExportMenu)
    return menu


async def test_export_each_format_through_the_menu(
    done_app: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with done_app.run_test(size=SIZE) as pilot:
        screen = await wait_done(pilot, done_app)

        # Enter alone: JSON to the default path in the current folder
        menu = await _open_export(pilot, done_app)
        default = menu.query_one("#export-path", Input).value
        assert default.startswith(str(tmp_path)) and default.endswith(".json")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        data = json.loads(read(default))
        assert "demo-fast:1b" in json.dumps(data) and "sk-" not in json.dumps(data)

        # CSV: one line per run; the path follows the format
        menu = await _open_export(pilot, done_app)
        await pilot.press("down")
        csv_path = menu.query_one("#export-path", Input).value
        assert csv_path.endswith(".csv")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        lines = read(csv_path).strip().splitlines()
        assert len(lines) == 1 + sum(len(m.records) for m in screen.result.models.values())

        # Markdown
        menu = await _open_export(pilot, done_app)
        await pilot.press("down", "down")
        md_path = menu.query_one("#export-path", Input).value
        assert md_path.endswith(".md")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        md = read(md_path)
        assert "demo-fast:1b" in md and "|" in md

        # An existing file: asked first; "n" keeps it, "y" overwrites
        write(md_path, "keep me")
        menu = await _open_export(pilot, done_app)
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ExportMenu))
        assert read(md_path) == "keep me"
        await pilot.press("enter")  # the format list still has the focus
        await wait_for(pilot, lambda: isinstance(done_app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))
        assert "demo-fast:1b" in read(md_path)


async def test_export_failure_is_shown_not_raised(
    done_app: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with done_app.run_test(size=SIZE) as pilot:
        await wait_done(pilot, done_app)
        menu = await _open_export(pilot, done_app)
        path_input = menu.query_one("#export-path", Input)
        path_input.value = str(tmp_path / "missing" / "folder" / "out.json")
        path_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(done_app.screen, ExportMenu)
        message = str(menu.query_one("#export-message", Static).render())
        assert "missing" in message and "Could not write" in message
        assert not (tmp_path / "missing").exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(done_app.screen, ResultsScreen))


async def test_debug_log_shows_requests_with_masked_auth() -> None:
    with run_in_thread(require_token=CANARY) as server:
        endpoint = Endpoint(
            name="secured",
            url=server.url,
            api=ApiFlavour.OLLAMA,
            simulated=True,
            token=TokenRef(value=Secret(CANARY)),
        )
        plan = make_plan(
            server.url, "demo-fast:1b", "fault-server-error", passes=1, warmup=0, endpoint=endpoint
        )
        app = Host(plan)
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_done(pilot, app)
            assert table_rows(screen)["demo-fast:1b"]["status"] == "done"  # token accepted
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DebugLogScreen))
            log = app.screen.query_one("#debug-log", RichLog)
            await wait_for(pilot, lambda: len(log.lines) > 0)
            text = "\n".join(line.text for line in log.lines)
            assert "/api/chat" in text
            assert "authorization" in text.lower()
            assert "500" in text
            assert CANARY not in text
            assert CANARY not in app.export_screenshot()
            await pilot.press("x")  # errors only
            await pilot.pause()
            errors_only = "\n".join(line.text for line in log.lines)
            assert "500" in errors_only and "← 200" not in errors_only
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
            assert CANARY not in app.export_screenshot()


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_narrow_terminal_drops_columns_instead_of_wrapping(
    fast_plan: BenchmarkPlan, size: tuple[int, int]
) -> None:
    app = Host(fast_plan)
    async with app.run_test(size=size) as pilot:
        screen = await wait_done(pilot, app)
        cols = screen.visible_columns
        # err stays beside ok: errors matter more than anything optional
        assert {"status", "model", "ttft", "tps", "ok", "err"} <= set(cols)
        assert "ctx" not in cols
        width = sum(w + 2 for w in screen.table.widths.values())
        assert width <= size[0] - 2  # nothing hidden off the right edge


async def test_unreachable_endpoint_fails_readably() -> None:
    endpoint = Endpoint(name="nowhere", url="http://127.0.0.1:9", api=ApiFlavour.OLLAMA)
    plan = make_plan(endpoint.url, "demo-fast:1b", endpoint=endpoint)
    app = Host(plan)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
        screen = app.results
        await wait_for(pilot, lambda: not screen.benchmark_running, what="the failure")
        await pilot.pause()
        assert table_rows(screen)["demo-fast:1b"]["status"] == "failed"
        status = screen.query_one("#results-status", PhraseLine).plain
        assert status.startswith("failed") and "Unreachable" in status
        assert not screen.benchmark_running


# ------------------------------------------------------------- in the app: sort, palette


async def test_the_sort_survives_a_new_run_and_the_palette_sorts(
    make_app: Callable[..., OmeterApp], demo_config: Path, demo: DemoServerThread
) -> None:
    plan = make_plan(demo.url, "demo-fast:1b", "demo-think:7b", passes=1, warmup=0)
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.start_benchmark(plan)
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        await wait_for(pilot, lambda: not screen.benchmark_running, what="the first run")
        # "Sort by <column>" from the command palette
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"sort by tok/s")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.sort_state == ("tps", True), what="the sort")
        assert app.results_sort == ("tps", True)  # told upwards, kept by the app
        screen.session.mark_exported(Path("kept.json"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ResultsScreen))
        # a new run of a plan starts sorted as the last results were
        app.start_benchmark(plan)
        await wait_for(
            pilot, lambda: isinstance(app.screen, ResultsScreen) and app.screen is not screen
        )
        again = app.screen
        assert isinstance(again, ResultsScreen)
        await wait_for(pilot, lambda: again.query(ResultsTable), what="the table")
        assert again.sort_state == ("tps", True)
        await wait_for(pilot, lambda: not again.benchmark_running, what="the second run")
        assert again.row_order() == sorted(
            again.row_order(), key=lambda m: -float(again.table.model_rows[m]["tps"].raw or 0)
        )
        header = again.table.columns[next(k for k in again.table.columns if k == "tps")]
        assert header.label.plain.endswith("▼")
        # R re-runs in place: the sort stays too
        again.session.mark_exported(Path("kept.json"))
        await pilot.press("R")
        await wait_for(pilot, lambda: not again.benchmark_running, what="the re-run")
        assert again.sort_state == ("tps", True)


# ------------------------------------------------------------------ debug log (defect 19)


def exchange(n: int, *, status: int, body: str) -> ExchangeLogged:
    return ExchangeLogged(
        model="m",
        method="POST",
        url=f"http://127.0.0.1:1/api/chat?{n}",
        request_headers={},
        request_body="",
        status=status,
        response_headers={},
        response_excerpt=body,
        error=None if status < 400 else f"{status} boom",
        elapsed_s=0.01,
    )


async def test_debug_log_counts_what_it_shows_and_indents_wrapped_bodies() -> None:
    ndjson = "\n".join(
        '{"message":{"content":"' + "word " * 12 + f'"}},"done":false,"n":{i}}}' for i in range(3)
    )
    plan = make_plan("http://127.0.0.1:1", "demo-fast:1b")

    class LogHost(App[None]):
        def on_mount(self) -> None:
            session = BenchmarkSession(self, plan)
            session.fold.apply(
                [
                    exchange(1, status=200, body=ndjson),
                    exchange(2, status=500, body='{"error":"boom"}'),
                    exchange(3, status=200, body="{}"),
                ]
            )
            self.push_screen(DebugLogScreen(session))

    app = LogHost()
    async with app.run_test(size=(60, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        title = str(screen.query_one("#debug-title", Static).render())
        assert "3 exchanges" in title
        log = screen.query_one("#debug-log", RichLog)
        lines = [strip.text.rstrip() for strip in log.lines]
        body = lines[lines.index("← 200 in 10 ms") + 1 :]
        body = body[: next(i for i, line in enumerate(body) if line.startswith("#"))]
        assert len(body) > 3  # three NDJSON lines, wrapped at 60 columns
        assert all(line.startswith("    ") for line in body), body  # wrapped lines too
        assert max(strip.cell_length for strip in log.lines) <= 60  # wrapped, not cropped
        await pilot.press("x")
        await pilot.pause()
        title = str(screen.query_one("#debug-title", Static).render())
        assert "1 failed of 3 exchanges" in title
        shown = "\n".join(strip.text for strip in log.lines)
        assert "← 500" in shown and "← 200" not in shown


# ------------------------------------------------------------ small terminals (defect 9)


async def test_export_dialog_buttons_are_inside_it_at_60x20(tmp_path: Path) -> None:
    plan = make_plan("http://127.0.0.1:1", "demo-fast:1b")

    class ExportHost(App[None]):
        def on_mount(self) -> None:
            session = BenchmarkSession(self, plan)
            self.push_screen(ExportMenu(session, folder=tmp_path))

    app = ExportHost()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        dialog = app.screen.query_one("#export-dialog")
        for button in ("#export-ok", "#export-cancel"):
            region = app.screen.query_one(button).region
            assert region.height >= 1
            inside = dialog.content_region  # within its border and padding: not clipped
            assert inside.contains_region(region), (button, region, inside)


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_the_footer_palette_key_covers_the_last_column(size: tuple[int, int]) -> None:
    """No stale character after the footer's last key (``^p paletteo``)."""
    plan = make_plan("http://127.0.0.1:1", *FAST)

    class FooterHost(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ResultsScreen(BenchmarkSession(self, plan)))

    app = FooterHost()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        key = app.screen.query_one("FooterKey.-command-palette")
        assert key.region.right == size[0]


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_the_server_vs_client_panel_gets_the_full_width_when_narrow(
    size: tuple[int, int],
) -> None:
    plan = make_plan("http://127.0.0.1:1", "demo-fast:1b")

    class DetailHost(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RunDetailScreen(BenchmarkSession(self, plan), "demo-fast:1b"))

    app = DetailHost()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#detail-timings-box").region
        assert box.width >= size[0] - 2  # stacked, not a third of the screen
        assert box.height >= 6  # the column heads and some rows
