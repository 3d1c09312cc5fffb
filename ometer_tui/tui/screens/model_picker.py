"""Pick models on one endpoint (or several: their union) and set the run plan, then start
the benchmark.

Wiring only: the table (:class:`ModelTable`), the filter (:class:`FilterBox`) and the
run panel (:class:`RunPanel`) are widgets. The panel's draft and the selection are
remembered per endpoint (``plan_memory``) when the screen is left or a run starts.
Several endpoints: ``picker_endpoints`` lists and plans them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.selection import filter_models
from ometer_tui.tui.host import host_of
from ometer_tui.tui.messages import BenchmarkRequested
from ometer_tui.tui.picker_endpoints import (
    Listing,
    endpoints_note,
    fresh_draft,
    list_models,
    plan_on,
    steps_on,
    subtitle,
)
from ometer_tui.tui.type_to_filter import typed_into_filter
from ometer_tui.tui.widgets.filter_box import FilterBox
from ometer_tui.tui.widgets.model_table import ModelTable, sort_newest_first, status_text
from ometer_tui.tui.widgets.run_panel import RunDraft, RunPanel


class ModelPickerScreen(Screen[None]):
    """Models of one endpoint, a filter, a selection and the run panel."""

    HELP_TITLE = "Models"
    AUTO_FOCUS = "#models"
    #: below 90 columns the run panel narrows (app.tcss), leaving the names room
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_model", "Select", id="models.toggle",
                tooltip="Select or unselect the highlighted model"),
        Binding("a", "toggle_all", "All", id="models.toggle_all",
                tooltip="Select or unselect every visible model"),
        Binding("b", "build", "Run", id="models.run",
                tooltip="Build the plan from the run panel and start the benchmark"),
        Binding("slash", "focus_filter", "Filter", id="models.filter",
                tooltip="Filter by name or family prefix (or just start typing a name)"),
        Binding("r", "reload", "Reload", id="models.reload",
                tooltip="Load the model list again (retry after an error)"),
        Binding("p", "parallel", "Parallel", id="models.endpoints_parallel",
                tooltip="Several endpoints: at the same time, or one after the other"),
        Binding("escape", "back", "Back", id="models.back",
                tooltip="Back to the table, or to the endpoints"),
    ]  # fmt: skip

    class ModelsListed(Message):
        """The endpoints listed their models (``listing``), or could not (``error``)."""

        def __init__(self, listing: Listing, error: str | None = None) -> None:
            super().__init__()
            self.listing = listing
            self.models = listing.models
            self.error = error

    def __init__(
        self, endpoint: Endpoint, draft: RunDraft | None = None, also: tuple[Endpoint, ...] = ()
    ) -> None:
        """``draft``: the run panel's starting values (else the one remembered for
        ``endpoint``, else the defaults). ``also``: more endpoints for one benchmark."""
        super().__init__()
        self.endpoint = endpoint
        self.endpoints = (endpoint, *also)
        self._key = " + ".join(e.name for e in self.endpoints)  # plan memory, sub-title
        self.listing = Listing()
        self.parallel = False  # several endpoints: at the same time (p)
        self._draft = draft
        self.models: list[ModelInfo] = []
        self.shown: list[ModelInfo] = []
        self.selected: set[str] = set()
        self.load_error: str | None = None
        self.loading_models = False
        #: typing has started a filter whose box has not taken the focus yet (focus moves
        #: on the next message cycle; keys already queued still reach the table)
        self._typing_into_filter = False
        #: names selected in the remembered draft, kept once the models are listed
        self._wanted: set[str] = set()

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        host = host_of(self)
        draft = self._draft or host.plan_memory.get(self._key)
        draft = draft or fresh_draft(host.settings, self.endpoint)
        self._wanted = set(draft.selected)
        yield Header()
        with Horizontal(id="picker-body"):
            with Vertical(id="models-pane"):
                yield FilterBox(
                    placeholder="filter: type a name or family prefix",
                    id="filter",
                    compact=True,
                    select_on_focus=False,  # typing on the table carries on in here
                )
                yield Static(id="models-status")
                yield ModelTable(id="models", endpoints=len(self.endpoints))
            yield RunPanel(draft, id="run-panel")
        yield Footer(compact=True)

    @property
    def table(self) -> ModelTable:
        return self.query_one("#models", ModelTable)

    @property
    def panel(self) -> RunPanel:
        return self.query_one("#run-panel", RunPanel)

    def on_mount(self) -> None:
        self.sub_title = subtitle(self.endpoints)
        self.action_reload()
        self.table.focus()

    def on_screen_suspend(self) -> None:
        self._remember()

    def _remember(self) -> None:
        """Keep the panel and the selection for the next visit to this endpoint (an
        untouched panel with nothing selected is not kept: new defaults then apply)."""
        host = host_of(self)
        draft = self.panel.draft(frozenset(self.selected if self.models else self._wanted))
        fresh = fresh_draft(host.settings, self.endpoint)
        host.plan_memory.remember(self._key, None if draft == fresh else draft)

    # ----------------------------------------------------------------- loading
    def action_reload(self) -> None:
        self.load_error = None
        self.loading_models = True
        self.table.loading = True
        self._set_status(Text("loading models…", style="dim italic"))
        self._load_models()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def _load_models(self) -> None:
        # listing waits no longer than a run would (the plan's timeouts)
        listing, error = await list_models(self.endpoints, host_of(self).settings.defaults)
        self.post_message(self.ModelsListed(listing, error))

    @on(ModelsListed)
    def _models_listed(self, message: ModelsListed) -> None:
        self.loading_models = False
        self.table.loading = False
        if message.error is not None:
            self.load_error = message.error
            self._set_status(
                Text.assemble(("✗ ", "red"), (message.error, "red"), ("   r retries", "dim"))
            )
            return
        self.listing = message.listing
        self.models = sort_newest_first(message.models)
        known = {m.name for m in self.models}
        self.selected = (self.selected | self._wanted) & known
        self._wanted = set()
        self._apply_filter()
        self.refresh_bindings()

    # ------------------------------------------------------------------ filter
    def on_key(self, event: events.Key) -> None:
        """Type to filter (see :func:`type_to_filter.typed_into_filter`)."""
        if self.focused is self.table:
            box = self.query_one("#filter", FilterBox)
            bound = event.key in self.app.active_bindings
            if typed_into_filter(event, box, typing=self._typing_into_filter, bound=bound):
                self._typing_into_filter = True

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        if event.widget is self.table:
            self._typing_into_filter = False  # back on the table: keys are bindings again

    @on(FilterBox.Changed, "#filter")
    def _filter_changed(self, event: FilterBox.Changed) -> None:
        event.stop()
        self._apply_filter()

    @on(FilterBox.Left)
    def _filter_left(self, event: FilterBox.Left) -> None:
        event.stop()
        self.table.focus()

    @on(FilterBox.ToggleRequested)
    def _filter_toggle(self, event: FilterBox.ToggleRequested) -> None:
        event.stop()
        self.action_toggle_model()

    def _apply_filter(self) -> None:
        query = self.query_one("#filter", FilterBox).value
        self.shown = filter_models(self.models, query)
        self.table.show(self.shown, self.selected, self.listing.served)
        self._update_status()

    def _set_status(self, text: Text) -> None:
        self.query_one("#models-status", Static).update(text)

    def _update_status(self) -> None:
        if self.load_error is None and not self.loading_models:
            text = status_text(len(self.models), len(self.shown), len(self.selected))
            self._set_status(text + endpoints_note(len(self.endpoints), self.parallel))

    def highlighted_model(self) -> ModelInfo | None:
        name = self.table.highlighted_name()
        return next((m for m in self.shown if m.name == name), None)

    # ---------------------------------------------------------------- actions
    def _toggle(self, names: set[str], on: bool) -> None:
        # a model named with =NAME (not listed) joins the list once picked
        self.models += [m for m in self.shown if m.name in names and m not in self.models]
        self.selected = self.selected | names if on else self.selected - names
        self.table.mark(names, self.selected)
        self._update_status()

    def action_toggle_model(self) -> None:
        model = self.highlighted_model()
        if model is not None:
            self._toggle({model.name}, model.name not in self.selected)

    def action_toggle_all(self) -> None:
        names = {m.name for m in self.shown}
        self._toggle(names, not names <= self.selected)

    def action_parallel(self) -> None:
        self.parallel = not self.parallel
        self._update_status()

    def action_focus_filter(self) -> None:
        """``/`` starts a new filter: the old text is selected, so typing replaces it."""
        box = self.query_one("#filter", FilterBox)
        box.focus()
        box.select_all()

    def action_back(self) -> None:
        if self.focused is not self.table:
            self.table.focus()
        else:
            self._remember()
            self.app.pop_screen()

    @on(ModelTable.RowSelected, "#models")
    def _row_selected(self, event: ModelTable.RowSelected) -> None:
        event.stop()
        if not self.selected:
            model = self.highlighted_model()
            if model is not None:
                self._toggle({model.name}, True)
        self.action_build()

    @on(RunPanel.RunRequested)
    def _run_requested(self, event: RunPanel.RunRequested) -> None:
        event.stop()
        self.action_build()

    def selected_models(self) -> tuple[ModelInfo, ...]:
        return tuple(m for m in self.models if m.name in self.selected)

    def build_plan(self) -> tuple[BenchmarkPlan | None, list[str]]:
        """The plan from the selection and the run panel, or the problems (each naming
        its field)."""
        panel, settings = self.panel, host_of(self).settings
        fresh = fresh_draft(settings, self.endpoint)
        return plan_on(
            settings.defaults, self.endpoints, self.listing, self.selected_models(), panel.fields(),
            completion_api=panel.completion_api, parallel=self.parallel,
            fresh={**fresh.values, "prompts": fresh.prompts},
        )  # fmt: skip

    def action_build(self) -> None:
        plan, problems = self.build_plan()
        steps, more = steps_on(self.panel.fields(), self.endpoints, host_of(self).settings)
        self.panel.show_problems(problems := problems + more)
        if plan is None or more:
            self.notify(problems[0], title="Plan not valid", severity="error", markup=False)
            return
        self._remember()
        self.post_message(BenchmarkRequested(plan, steps))

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action in {"toggle_model", "toggle_all", "build"} and not self.models:
            return None
        if action == "parallel":
            return len(self.endpoints) > 1
        return True
