"""The run panel's Load section: presets, field-by-field checks with the core's rules,
the same plan as ``ometer-tui run``'s load flags, remembered like the other fields; and
the model filter's ``=NAME`` for a model the server serves but does not list."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Collapsible, Input, Select, Static

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.options import LoadOptions
from ometer_tui.core.settings import Defaults, Settings, load_settings, save_settings
from ometer_tui.tui.screens.model_picker import ModelPickerScreen
from ometer_tui.tui.widgets.load_form import LoadSection
from tests.tui.conftest import AppFactory, Settle
from tests.tui.picker_helpers import open_picker

SIZE = (120, 36)


def value(screen: ModelPickerScreen, field_id: str) -> str:
    return screen.query_one(f"#{field_id}", Input).value


def set_fields(screen: ModelPickerScreen, **values: str) -> None:
    for field_id, text in values.items():
        screen.query_one(f"#{field_id}", Input).value = text


def with_defaults(path: Path, defaults: Defaults) -> Settings:
    settings = Settings(endpoints=list(load_settings(path).endpoints), defaults=defaults)
    save_settings(settings, path)
    return settings


async def test_the_simple_closed_loop_keeps_the_load_section_collapsed(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        section = screen.query_one("#load", Collapsible)
        assert section.collapsed and section.title == "Load: none"
        await pilot.press("space", "b")
        await pilot.pause()
    (plan,) = captured
    assert plan.load is None  # the plain closed loop over the prompts, as before


async def test_the_panel_s_load_equals_headless_from_the_same_flags_and_defaults(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    from ometer_tui.cli import build_parser
    from ometer_tui.headless import _plan

    defaults = Defaults(
        seed=5, load=LoadOptions(requests=20, output_tokens=Fixed(8), shared_prefix=10)
    )
    settings = with_defaults(demo_config, defaults)
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        # the [defaults] load keys are the panel's starting values; the section is open
        assert value(screen, "requests") == "20" and value(screen, "output_tokens") == "8"
        section = screen.query_one("#load", Collapsible)
        assert not section.collapsed and section.title == "Load: closed, 20 req"
        assert screen.query_one("#rate", Input).disabled  # closed loop: no rate
        await pilot.press("space")
        screen.query_one("#load_mode", Select).value = "open"
        await pilot.pause()
        assert not screen.query_one("#rate", Input).disabled
        set_fields(screen, rate="4", arrival="gamma", burstiness="0.5", duration_s="30",
                   max_concurrency="6", input_tokens="uniform:30,40", turns="2",
                   ramp_up_s="3")  # fmt: skip
        await pilot.pause()
        assert section.title == "Load: open 4/s, 30 s, 20 req"
        await pilot.press("b")
        await pilot.pause()
        models, endpoint = list(screen.models), screen.endpoint
    (panel_plan,) = captured
    argv = ["run", "--model", models[0].name, "--rate", "4", "--arrival", "gamma",
            "--burstiness", "0.5", "--duration", "30", "--max-concurrency", "6",
            "--input-tokens", "uniform:30,40", "--turns", "2", "--ramp-up", "3"]  # fmt: skip
    headless_plan = _plan(build_parser().parse_args(argv), settings, endpoint, models)
    assert panel_plan == headless_plan
    load = panel_plan.load
    assert load is not None and load.arrival is not None
    assert (load.arrival.rate, load.arrival.kind, load.stop.max_requests) == (
        4,
        ArrivalKind.GAMMA,
        20,
    )
    assert (load.shared_prefix_tokens, load.seed, load.turns) == (10, 5, 2)


async def test_bad_load_fields_are_named_and_nothing_starts(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        await pilot.press("space")
        screen.query_one("#load_mode", Select).value = "open"
        set_fields(screen, rate="0", turns="many", dataset="/nonexistent/chats.jsonl")
        await pilot.press("b")
        await pilot.pause()
        shown = str(screen.query_one("#plan-errors", Static).render())
        assert "rate: must be more than 0, got 0" in shown
        assert "turns: expected a whole number, got 'many'" in shown
        assert isinstance(app.screen, ModelPickerScreen)
        # a dataset that cannot be read stops the plan too, naming the field and file
        set_fields(screen, rate="2", turns="", requests="3")
        await pilot.press("b")
        await pilot.pause()
        shown = str(screen.query_one("#plan-errors", Static).render())
        assert "dataset /nonexistent/chats.jsonl: not found" in shown
        assert isinstance(app.screen, ModelPickerScreen)
    assert captured == []


async def test_a_preset_fills_the_load_fields_and_says_how_to_pick_the_capacity_model(
    make_app: AppFactory, demo_config: Path, settle: Settle, captured: list[BenchmarkPlan]
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        set_fields(screen, turns="4")  # a preset clears what it does not set
        screen.query_one("#load_preset", Select).value = "load"
        await pilot.pause()
        assert value(screen, "rate") == "2" and value(screen, "duration_s") == "60"
        assert value(screen, "turns") == ""
        assert screen.query_one("#load_mode", Select).value == "open"
        note = str(screen.query_one("#load-note", Static).render())
        assert "=cap-4slot:1b" in note
        # the note's advice works: the filter's =NAME picks the unlisted model
        await pilot.press("slash", *"=cap-4slot:1b", "down", "space")
        await pilot.pause()
        assert screen.selected == {"cap-4slot:1b"}
        screen.query_one("#filter", Input).value = ""
        await pilot.pause()
        assert "cap-4slot:1b" in {m.name for m in screen.shown}  # kept once picked
        await pilot.press("b")
        await pilot.pause()
    (plan,) = captured
    assert [m.name for m in plan.models] == ["cap-4slot:1b"]
    assert plan.load is not None and plan.load.arrival is not None
    assert plan.load.arrival.rate == 2 and plan.load.max_concurrency == 64


async def test_the_load_fields_are_remembered_like_the_others(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        screen.query_one("#load_mode", Select).value = "open"
        set_fields(screen, rate="7", requests="70", input_tokens="normal:9,2,1,20")
        await pilot.pause()
        await pilot.press("escape")
        await settle(pilot)
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        again = await open_picker(app, pilot, settle)
        assert again.query_one("#load_mode", Select).value == "open"
        assert value(again, "rate") == "7" and value(again, "requests") == "70"
        assert value(again, "input_tokens") == "normal:9,2,1,20"
        assert not again.query_one("#load", Collapsible).collapsed
        assert again.query_one(LoadSection).texts()["rate"] == "7"


async def test_the_settings_screen_keeps_the_defaults_load_keys_when_it_saves(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    from ometer_tui.tui.screens.settings import SettingsScreen

    with_defaults(demo_config, Defaults(load=LoadOptions(rate=3.0, requests=30)))
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("comma")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#d_passes", Input).value = "5"
        await pilot.press("ctrl+s")
        await settle(pilot)
    saved = load_settings(demo_config).defaults
    assert saved.passes == 5 and saved.load == LoadOptions(rate=3.0, requests=30)


async def test_a_remembered_draft_with_a_bad_mode_opens_as_a_closed_loop(
    make_app: AppFactory, demo_config: Path, settle: Settle
) -> None:
    import json

    from ometer_tui.tui.plan_memory import VERSION, state_path

    draft = {"prompts": "p", "values": {"load_mode": "sideways", "requests": "4"}}
    state_path(demo_config).write_text(
        json.dumps({"version": VERSION, "endpoints": {"demo": draft}})
    )
    app = make_app(demo_config)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_picker(app, pilot, settle)
        assert screen.query_one("#load_mode", Select).value == "closed"
        assert value(screen, "requests") == "4"


def test_the_load_labels_fit_the_label_column() -> None:
    # a 13-character label ran into its value ("Output tokens128") at every size
    from ometer_tui.core.bench.workloads.options import LOAD_KEYS
    from ometer_tui.tui.widgets.load_form import LOAD_LABELS

    assert list(LOAD_LABELS) == list(LOAD_KEYS)
    assert all(len(label) <= 12 for label, _ in LOAD_LABELS.values())
