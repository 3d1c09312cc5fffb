"""The set-up widgets on their own, each in a tiny host app: run panel, filter box,
endpoint form, defaults form, model table."""

from __future__ import annotations

from types import MappingProxyType

from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from ometer_tui.core.models import Endpoint, EndpointDefaults, ModelInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import Defaults
from ometer_tui.tui.widgets.defaults_form import DefaultsForm
from ometer_tui.tui.widgets.endpoint_form import EndpointForm, secret_withheld
from ometer_tui.tui.widgets.filter_box import FilterBox
from ometer_tui.tui.widgets.form import FormCheckbox
from ometer_tui.tui.widgets.model_table import ModelTable, sort_newest_first
from ometer_tui.tui.widgets.run_panel import RunDraft, RunPanel


class Host(App[None]):
    """Mounts ``widgets`` and records the messages they post."""

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_run_panel_run_requested(self, message: RunPanel.RunRequested) -> None:
        self.seen.append(message)

    def on_filter_box_left(self, message: FilterBox.Left) -> None:
        self.seen.append(message)

    def on_filter_box_toggle_requested(self, message: FilterBox.ToggleRequested) -> None:
        self.seen.append(message)


async def test_run_panel_shows_its_draft_and_enter_asks_for_the_run() -> None:
    draft = RunDraft.from_defaults(Defaults(passes=4, top_k=40, prompts=("a", "b")))
    assert draft.values["passes"] == "4" and draft.values["top_k"] == "40"
    assert draft.values["temperature"] == "0" and draft.values["top_p"] == ""
    panel = RunPanel(draft)
    app = Host(panel)
    async with app.run_test(size=(40, 40)) as pilot:
        assert panel.fields()["prompts"] == "a\nb"
        assert panel.draft() == draft
        field = panel.query_one("#seed", Input)
        field.focus()
        field.value = "7"
        await pilot.press("enter")
        await pilot.pause()
        assert [type(m) for m in app.seen] == [RunPanel.RunRequested]
        again = panel.draft(frozenset({"m"}))
        assert again.values["seed"] == "7" and again.selected == {"m"}
        panel.show_problems(["passes: must be at least 1"])
        errors = panel.query_one("#plan-errors", Static)
        assert errors.display and "passes" in str(errors.render())
        panel.show_problems([])
        assert not errors.display


async def test_filter_box_hands_down_enter_and_space_to_its_host() -> None:
    box = FilterBox()
    app = Host(box)
    async with app.run_test(size=(40, 5)) as pilot:
        box.focus()
        await pilot.press("l", "l", "space", "a", "down", "enter")
        await pilot.pause()
        assert box.value == "lla"
        kinds = [type(m) for m in app.seen]
        assert kinds == [FilterBox.ToggleRequested, FilterBox.Left, FilterBox.Left]


async def test_endpoint_form_reads_back_what_it_shows_and_can_remove_a_saved_token() -> None:
    endpoint = Endpoint(
        name="box",
        url="https://box.example.com",
        token=TokenRef(value=Secret("sk-secret-0123456789")),
        api_key=TokenRef(env="BOX_KEY"),
        headers={"X-Team": "bench"},
        defaults=EndpointDefaults(passes=5, timeout_s=30.0),
    )
    form = EndpointForm()
    app = Host(form)
    async with app.run_test(size=(100, 60)) as pilot:
        form.load(endpoint, title=Text("Endpoint 'box'"))
        await pilot.pause()
        read, problems = form.read()
        assert problems == [] and read == endpoint  # unchanged: the saved token kept
        assert form.query_one("#token_remove", FormCheckbox).display
        assert not form.query_one("#api_key_remove", FormCheckbox).display  # env ref
        form.query_one("#token_remove", FormCheckbox).value = True
        form.query_one("#e_concurrency", Input).value = "8"
        read, problems = form.read()
        assert problems == [] and read is not None
        assert read.token is None and read.api_key == endpoint.api_key
        assert read.defaults == EndpointDefaults(passes=5, concurrency=8, timeout_s=30.0)
        # typing a new token replaces the saved one; "remove" no longer applies
        form.query_one("#token", Input).value = "sk-new-token"
        await pilot.pause()
        assert not form.query_one("#token_remove", FormCheckbox).value
        read, _ = form.read()
        assert read is not None and read.token is not None
        assert read.token.value is not None and read.token.value.reveal() == "sk-new-token"
        form.query_one("#e_passes", Input).value = "0"
        _, problems = form.read()
        assert problems == ["defaults.passes: must be at least 1 (got 0)"]


def test_a_secret_over_plain_http_to_another_host_is_withheld() -> None:
    token = TokenRef(value=Secret("sk-0123456789"))
    assert secret_withheld(Endpoint(name="a", url="http://gpu-box:11434", token=token))
    assert not secret_withheld(Endpoint(name="a", url="http://localhost:11434", token=token))
    assert not secret_withheld(Endpoint(name="a", url="https://gpu-box", token=token))
    assert not secret_withheld(Endpoint(name="a", url="http://gpu-box:11434"))


async def test_defaults_form_keeps_what_it_does_not_show_and_names_bad_fields() -> None:
    base = Defaults(timeout_s=42.0, top_k=40)
    form = DefaultsForm()
    app = Host(form)
    async with app.run_test(size=(80, 40)):
        form.load(base)
        read, problems = form.read(base)
        assert problems == [] and read == base
        form.query_one("#d_top_k", Input).value = ""
        form.query_one("#d_passes", Input).value = ""
        form.query_one("#d_max_tokens", Input).value = "many"
        read, problems = form.read(base)
        assert read is None
        assert problems == ["passes: must not be empty", "max_tokens: 'many' is not a whole number"]
        form.query_one("#d_passes", Input).value = "2"
        form.query_one("#d_max_tokens", Input).value = "64"
        read, problems = form.read(base)
        assert problems == [] and read is not None
        assert (read.passes, read.max_tokens, read.top_k, read.timeout_s) == (2, 64, None, 42.0)


async def test_model_table_marks_and_keeps_the_cursor_on_its_model() -> None:
    models = [
        ModelInfo("old:1b", modified_at="2026-01-01T00:00:00Z"),
        ModelInfo("undated:1b"),
        ModelInfo("new:1b", modified_at="2026-06-01T00:00:00Z"),
    ]
    ordered = sort_newest_first(models)
    assert [m.name for m in ordered] == ["new:1b", "old:1b", "undated:1b"]
    table = ModelTable()
    app = Host(table)
    async with app.run_test(size=(80, 10)) as pilot:
        table.show(ordered, {"old:1b"})
        await pilot.pause()
        table.move_to("undated:1b")
        table.mark({"undated:1b"}, {"old:1b", "undated:1b"})
        await pilot.pause()
        marks = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert marks == ["○", "●", "●"]
        table.show([m for m in ordered if m.name != "new:1b"], {"undated:1b"})
        await pilot.pause()
        assert table.highlighted_name() == "undated:1b"


def test_run_draft_equality_survives_the_mapping_proxy() -> None:
    a = RunDraft(values=MappingProxyType({"passes": "3"}))
    b = RunDraft(values=MappingProxyType({"passes": "3"}))
    assert a == b  # the plan memory skips a write when nothing changed
