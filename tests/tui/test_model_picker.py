"""The model picker: loading, filtering, selection, the run panel and its checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Static, TextArea

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import Endpoint
from ometer_tui.demo.catalogue import CATALOGUE
from ometer_tui.tui.screens.model_picker import ModelPickerScreen
from tests.tui.conftest import AppFactory, Settle
from tests.tui.picker_helpers import FakeResults, open_picker

SIZE = (120, 36)


def shown_names(screen: ModelPickerScreen) -> list[str]:
    table = screen.query_one("#models", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def marks(screen: ModelPickerScreen) -> list[str]:
    table = screen.query_one("#models", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def type_filter(pilot: Pilot[None], screen: ModelPickerScreen, text: str) -> None:
    await pilot.press("slash")
    field = screen.query_one("#filter", Input)
    assert screen.focused is field
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_filter_by_family_prefix(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert len(shown_names(screen)) == len(CATALOGUE)
        await type_filter(pilot, screen, "fault")
        assert shown_names(screen) and all(n.startswith("fault-") for n in shown_names(screen))
        assert len(shown_names(screen)) == sum(m.name.startswith("fault") for m in CATALOGUE)
        await type_filter(pilot, screen, "DEMO-FAST")  # case-insensitive
        assert shown_names(screen) == ["demo-fast:1b"]
        await type_filter(pilot, screen, "demo-embed:335m")  # exact name
        assert shown_names(screen) == ["demo-embed:335m"]
        await type_filter(pilot, screen, "nothing-like-this")
        assert shown_names(screen) == []
        assert "0 shown" in str(screen.query_one("#models-status", Static).render())


async def test_space_and_a_select(make_app: AppFactory, demo_config: Path, settle: Settle) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        assert screen.selected == {"demo-fast:1b"}
        assert marks(screen)[0] == "●"
        await pilot.press("down", "space")
        assert screen.selected == {"demo-fast:1b", "demo-medium:8b"}
        await pilot.press("space")
        assert screen.selected == {"demo-fast:1b"}
        # `a` toggles every visible model: filter to the fault family first.
        await type_filter(pilot, screen, "fault")
        await pilot.press("enter")  # back to the table
        await pilot.press("a")
        faults = {m.name for m in CATALOGUE if m.name.startswith("fault")}
        assert screen.selected == faults | {"demo-fast:1b"}
        assert set(marks(screen)) == {"●"}
        await pilot.press("a")
        assert screen.selected == {"demo-fast:1b"}
        # In the filter input, `a` is typed, not a binding.
        await pilot.press("slash", "a")
        assert screen.query_one("#filter", Input).value == "a"  # focus selects the old text
        assert screen.selected == {"demo-fast:1b"}


async def test_filter_box_reaches_the_list_and_space_selects(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    # issue 8 defect 12: down and Enter in the filter go to the list; space is not typed
    # (names have none) but selects the highlighted model, the focus staying in the box.
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        table = screen.query_one("#models", DataTable)
        field = screen.query_one("#filter", Input)
        await type_filter(pilot, screen, "demo-me")
        await pilot.press("space")
        await pilot.pause()
        assert field.value == "demo-me"
        assert screen.selected == {"demo-medium:8b"}
        assert screen.focused is field
        await pilot.press("space")
        await pilot.pause()
        assert screen.selected == set()
        await pilot.press("down")
        await pilot.pause()
        assert screen.focused is table
        await type_filter(pilot, screen, "fault")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.focused is table
        assert field.value == "fault"
        # the footer names the keys while filtering
        field.focus()
        await pilot.pause()
        shown = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
        assert {"To list", "Select"} <= shown


async def test_run_builds_plan_from_panel(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        # Defaults come from the settings' Defaults.
        assert screen.query_one("#passes", Input).value == "3"
        await pilot.press("space", "down", "space")
        screen.query_one("#passes", Input).value = "2"
        screen.query_one("#concurrency", Input).value = "4"
        screen.query_one("#rpm", Input).value = "120"
        screen.query_one("#seed", Input).value = "7"
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, FakeResults)
    (plan,) = FakeResults.plans
    assert [m.name for m in plan.models] == ["demo-fast:1b", "demo-medium:8b"]
    assert plan.passes == 2 and plan.concurrency == 4 and plan.warmup == 1
    assert plan.rate_limit.requests_per_minute == 120
    assert plan.params.seed == 7 and plan.params.max_tokens == 128
    assert plan.prompts == ("Write one paragraph about the sea.",)


async def test_enter_runs_highlighted_model_when_none_selected(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await open_picker(app, pilot, settle)
        await pilot.press("down", "enter")
        await pilot.pause()
    assert [m.name for m in FakeResults.plans[0].models] == ["demo-medium:8b"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("passes", "0", "passes: must be at least 1"),
        ("passes", "-2", "passes: must be at least 1 (got -2)"),
        ("concurrency", "100000", "concurrency: must be 1..4096 (got 100000)"),
        ("parallel_models", "0", "parallel_models: must be 1..64"),
        ("passes", "two", "passes: 'two' is not a whole number"),
        ("temperature", "3", "temperature: must be 0..2"),
        ("top_p", "1.5", "top_p: must be 0..1"),
        ("prompts_file", "{tmp}/missing.txt", "prompts file"),
        ("prompts_file", "{tmp}/empty.txt", "has no prompts"),
        ("prompts_file", "{tmp}/binary.txt", "binary"),
        ("image", "{tmp}/notimage.png", "not a PNG"),
    ],
)
async def test_invalid_plan_names_the_field(
    make_app: AppFactory,
    demo_config: Path,
    settle: Settle,
    tmp_path: Path,
    field: str,
    value: str,
    expected: str,
) -> None:
    write_bytes(tmp_path / "empty.txt", b"\n  \n")
    write_bytes(tmp_path / "binary.txt", b"abc\x00def")
    write_bytes(tmp_path / "notimage.png", b"just text")
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        screen.query_one(f"#{field}", Input).value = value.format(tmp=tmp_path)
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen  # not started
        errors = str(screen.query_one("#plan-errors", Static).render())
        assert expected in errors


async def test_no_model_selected_is_explained(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("b")
        await pilot.pause()
        assert "models: pick at least one model" in str(
            screen.query_one("#plan-errors", Static).render()
        )


async def test_load_failure_shows_reason_and_retries(
    make_app: AppFactory, config_path: Path, settle: Settle
) -> None:
    import socket

    from ometer_tui.core.models import ApiFlavour, Endpoint
    from ometer_tui.core.settings import Settings, save_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = Endpoint(name="dead", url=f"http://127.0.0.1:{port}", api=ApiFlavour.OLLAMA)
    save_settings(Settings(endpoints=[ep]), config_path)
    app = make_app(config_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        status = str(screen.query_one("#models-status", Static).render())
        assert "refused" in status and "r retries" in status
        assert screen.load_error is not None
        await pilot.press("r")
        await settle(pilot)
        assert screen.load_error is not None  # still down, still explained


async def test_a_burst_of_typing_keeps_bound_letters_as_filter_text(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    # All keys queued at once, as a paste or a fast typist delivers them: the box only
    # takes the focus after the first one, so the "a" (select all) and "r" (reload) that
    # follow still reach the table. They must be filter text, not bindings.
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert screen.focused is screen.query_one("#models", DataTable)
        for char in "demo-fa":
            app.post_message(events.Key(char, char))
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#filter", Input).value == "demo-fa"
        assert shown_names(screen) == ["demo-fast:1b"]
        assert screen.selected == set()  # "a" did not select every model
        await pilot.press("enter")  # back on the table, "a" is a binding again
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        assert screen.selected == {"demo-fast:1b"}
        assert screen.query_one("#filter", Input).value == "demo-fa"


async def test_typing_on_the_table_starts_the_filter(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert screen.focused is screen.query_one("#models", DataTable)
        await pilot.press("d", "e", "m", "o", "-", "t")  # no binding for these letters
        await pilot.pause()
        assert screen.query_one("#filter", Input).value == "demo-t"
        assert shown_names(screen) == ["demo-think:7b"]
        await pilot.press("enter")  # back to the table, filter kept
        await pilot.pause()
        assert screen.focused is screen.query_one("#models", DataTable)
        assert shown_names(screen) == ["demo-think:7b"]


async def test_enter_in_a_run_field_starts_the_run_and_the_footer_says_so(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    # issue 8 defect 13: Enter in a field runs; the footer shows that key; the focused
    # field's row is marked (its label bold in the accent colour).
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        field = screen.query_one("#max_tokens", Input)
        field.focus()
        await settle(pilot)
        run_keys = [
            k
            for k, b in app.active_bindings.items()
            if b.binding.show and b.binding.description == "Run"
        ]
        assert "enter" in run_keys
        label = field.parent.query_one(".field-name") if field.parent else None
        other = screen.query_one("#passes", Input).parent
        assert label is not None and other is not None
        assert label.styles.text_style.bold
        assert not other.query_one(".field-name").styles.text_style.bold
        field.value = "32"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FakeResults)
    (plan,) = FakeResults.plans
    assert plan.params.max_tokens == 32


async def test_run_panel_has_top_k_and_the_completions_switch(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    # issue 8 defect 20: what `ometer-tui run --top-k N --completions` has, the panel has
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        screen.query_one("#top_k", Input).value = "40"
        box = screen.query_one("#completion_api", Checkbox)
        assert box.value is False
        box.focus()
        await pilot.press("space")  # toggles the box, not a model
        assert box.value is True and screen.selected == {"demo-fast:1b"}
        await pilot.press("b")  # not bound on the box: the screen's run key
        await pilot.pause()
        assert isinstance(app.screen, FakeResults)
    (plan,) = FakeResults.plans
    assert plan.params.top_k == 40
    assert plan.completion_api is True


async def test_the_plan_is_kept_when_leaving_and_coming_back(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    # issue 8 defect 7: back to the endpoints and into the picker again keeps the
    # selection and the run panel; a new app (same settings folder) has them too.
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space", "down", "down", "space")
        chosen = set(screen.selected)
        assert len(chosen) == 2
        screen.query_one("#passes", Input).value = "7"
        screen.query_one("#top_k", Input).value = "5"
        screen.query_one("#prompts", TextArea).text = "one\ntwo"
        screen.query_one("#completion_api", Checkbox).value = True
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ModelPickerScreen)
        again = await open_picker(app, pilot, settle)
        assert again is not screen
        assert again.selected == chosen
        assert set(marks(again)) == {"●", "○"} and marks(again).count("●") == 2
        assert again.query_one("#passes", Input).value == "7"
        assert again.query_one("#top_k", Input).value == "5"
        assert again.query_one("#prompts", TextArea).text == "one\ntwo"
        assert again.query_one("#completion_api", Checkbox).value is True
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        third = await open_picker(app, pilot, settle)
        assert third.selected == chosen
        assert third.query_one("#passes", Input).value == "7"


async def test_the_run_panel_and_headless_build_the_same_plan(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    # issue 8: one plan builder; the panel's values as typed and `ometer-tui run`'s
    # flags give equal plans (the panel used to drop [defaults] top_k and fall back to
    # concurrency 1 on an empty field)
    from ometer_tui.cli import build_parser
    from ometer_tui.core.settings import Defaults, Settings, save_settings
    from ometer_tui.headless import _plan

    settings = Settings(
        endpoints=load_endpoints(demo_config),
        defaults=Defaults(top_k=40, concurrency=3, prompts=("one", "two")),
    )
    save_settings(settings, demo_config)
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space", "down", "space")
        assert screen.query_one("#top_k", Input).value == "40"
        screen.query_one("#concurrency", Input).value = ""
        screen.query_one("#passes", Input).value = "2"
        screen.query_one("#seed", Input).value = "9"
        screen.query_one("#temperature", Input).value = "server"
        screen.query_one("#rpm", Input).value = "60"
        await pilot.press("b")
        await pilot.pause()
        models = list(screen.models)
        endpoint = screen.endpoint
    (panel_plan,) = FakeResults.plans
    argv = ["run", "--model", "demo-fast:1b", "--model", "demo-medium:8b", "--passes", "2",
            "--seed", "9", "--rpm", "60"]  # fmt: skip
    headless_plan = _plan(build_parser().parse_args(argv), settings, endpoint, models)
    assert panel_plan.params.temperature is None  # "server": none sent
    headless_plan = replace(headless_plan, params=replace(headless_plan.params, temperature=None))
    assert panel_plan == headless_plan
    assert panel_plan.params.top_k == 40 and panel_plan.concurrency == 3


def load_endpoints(path: Path) -> list[Endpoint]:
    from ometer_tui.core.settings import load_settings

    return list(load_settings(path).endpoints)


def test_plan_memory_round_trip_and_a_bad_state_file_is_ignored(tmp_path: Path) -> None:
    from types import MappingProxyType

    from ometer_tui.tui.plan_memory import PlanMemory, state_path
    from ometer_tui.tui.widgets.run_panel import RunDraft

    path = state_path(tmp_path / "cfg" / "config.toml")
    # a field of each section: the run fields, Load and Steps (sweep, SLOs, percentile)
    kept = {"passes": "4", "rate": "20", "sweep": "concurrency=1,2", "slo": "ttft:200",
            "percentile": "95"}  # fmt: skip
    draft = RunDraft(prompts="a\nb", values=MappingProxyType({**kept, "bogus": "x"}),
                     completion_api=True, selected=frozenset({"m1", "m2"}))  # fmt: skip
    PlanMemory(path).remember("box", draft)
    again = PlanMemory(path).get("box")
    assert again is not None
    assert again.prompts == "a\nb" and again.completion_api and again.selected == {"m1", "m2"}
    assert dict(again.values) == kept  # unknown fields are dropped
    path.write_text("{not json")
    assert PlanMemory(path).get("box") is None  # ignored, the panel starts from defaults
    path.write_text('{"version": 99, "endpoints": {}}')
    assert PlanMemory(path).get("box") is None
    # a folder in the way: the write fails, the draft stays in memory, reason kept
    blocked = PlanMemory(tmp_path / "file" / "last-plans.json")
    (tmp_path / "file").write_text("")
    blocked.remember("box", draft)
    assert blocked.get("box") == draft and blocked.write_error is not None


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_small_terminal_keeps_the_run_button_on_screen_and_names_apart(
    make_app: AppFactory, demo_config: Path, settle: Settle, size: tuple[int, int]
) -> None:
    # issue 8 defect 9: at 60x20 the run button was below the screen, and the two
    # fault-rate-limited names were cut to the same text
    app = make_app(demo_config)
    async with app.run_test(size=size) as pilot:
        screen = await open_picker(app, pilot, settle)
        button = screen.query_one("#run")
        assert screen.region.contains_region(button.region), button.region
        names = dict(zip(shown_full_names(screen), shown_names(screen), strict=True))
        limited, once = names["fault-rate-limited"], names["fault-rate-limited-once"]
        assert limited != once
        assert once.endswith("once") and limited.startswith("fault-ra")
        await pilot.click("#run")  # nothing selected: the plan's problem is shown
        await pilot.pause()
        assert "models: pick at least one model" in str(
            screen.query_one("#plan-errors", Static).render()
        )


def shown_full_names(screen: ModelPickerScreen) -> list[str]:
    table = screen.query_one("#models", DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


async def test_tab_from_the_list_goes_straight_into_the_run_panel(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    # the panel's scrolling area is not a tab stop of its own (it was, and Enter there
    # did nothing visible at 60x20)
    app = make_app(demo_config)
    async with app.run_test(size=(60, 20)) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#prompts", TextArea)
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#prompts_file", Input)


async def test_an_untouched_panel_is_not_kept_so_new_defaults_apply(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    from ometer_tui.core.settings import Defaults, Settings, save_settings

    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await open_picker(app, pilot, settle)
        await pilot.press("escape")
        await settle(pilot)
        assert app.plan_memory.get("demo") is None
        # a selection alone is kept
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space", "escape")
        await settle(pilot)
        kept = app.plan_memory.get("demo")
        assert kept is not None and kept.selected == {"demo-fast:1b"}
        # ...and taking it back forgets the draft again
        screen = await open_picker(app, pilot, settle)
        assert screen.selected == {"demo-fast:1b"}
        await pilot.press("space", "escape")
        await settle(pilot)
        assert app.plan_memory.get("demo") is None
    save_settings(Settings(endpoints=load_endpoints(demo_config), defaults=Defaults(passes=6)),
                  demo_config)  # fmt: skip
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert screen.query_one("#passes", Input).value == "6"
