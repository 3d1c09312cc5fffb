"""Pick models on one endpoint and set the run plan, then start the benchmark."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static, TextArea

from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit
from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.selection import filter_models
from ometer_tui.tui.formatting import fmt_bytes, fmt_context
from ometer_tui.tui.messages import BenchmarkRequested
from ometer_tui.tui.widgets.cells import cell, short_date
from ometer_tui.tui.widgets.fit import FitColumn, clipped, fit_widths, natural_width

if TYPE_CHECKING:
    from ometer_tui.tui.app import OmeterApp

T = TypeVar("T", int, float)

SELECTED = Text("●", style="bold green")
UNSELECTED = Text("○", style="dim")

#: Width of the run panel (app.tcss ``#run-panel``), border included.
RUN_PANEL_WIDTH = 30
#: A long capability list is cut to this width.
CAPS_CAP = 20

#: (key, header, narrowest, always shown) of the model columns, in display order, which
#: is also their importance: at 80 columns Modified goes first, then Size, Ctx...
MODEL_COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("sel", " ", 1, True),
    ("name", "Model", 12, True),
    ("workload", "Workload", 8, True),
    ("caps", "Caps", 6, True),
    ("params", "Params", 99, False),
    ("quant", "Quant", 99, False),
    ("ctx", "Ctx", 99, False),
    ("size", "Size", 99, False),
    ("modified", "Modified", 99, False),
)

#: (input id, label, tooltip) of the one-line fields of the run panel, in order.
RUN_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("prompts_file", "Prompts file", "One prompt per line; replaces the prompts above"),
    ("passes", "Passes", "Measured passes over the prompts, per model"),
    ("warmup", "Warm-up", "Unmeasured requests per model before the passes"),
    ("concurrency", "Concurrency", "In-flight requests per model"),
    ("parallel_models", "Models ∥", "Models benchmarked at the same time"),
    ("max_tokens", "Max tokens", "Output token limit per request"),
    ("temperature", "Temperature", "0..2; empty: the server's default"),
    ("top_p", "top_p", "0..1; empty: the server's default"),
    ("seed", "Seed", "Integer; empty: none"),
    ("rpm", "Req/min", "Requests-per-minute limit; empty: unlimited"),
    ("tpm", "Tokens/min", "Tokens-per-minute limit; empty: unlimited"),
    ("image", "Image file", "PNG/JPEG/GIF/WebP sent to vision models"),
)


def sort_newest_first(models: Iterable[ModelInfo]) -> list[ModelInfo]:
    """Newest first by ``modified_at``; models without a date keep their order, last."""
    listed = list(models)
    dated = sorted(
        (m for m in listed if m.modified_at), key=lambda m: m.modified_at or "", reverse=True
    )
    return dated + [m for m in listed if not m.modified_at]


class ModelPickerScreen(Screen[None]):
    """Models of one endpoint, a filter, a selection and the run panel."""

    HELP_TITLE = "Models"
    AUTO_FOCUS = "#models"
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
        Binding("escape", "back", "Back", id="models.back",
                tooltip="Back to the table, or to the endpoints"),
    ]

    class ModelsLoaded(Message):
        def __init__(self, models: list[ModelInfo]) -> None:
            super().__init__()
            self.models = models

    class ModelsFailed(Message):
        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.models: list[ModelInfo] = []
        self.shown: list[ModelInfo] = []
        self.selected: set[str] = set()
        self.load_error: str | None = None
        self.loading_models = False
        #: key -> width of the columns shown (the fit to the terminal's width)
        self._widths: dict[str, int] = {}
        #: typing has started a filter whose box has not taken the focus yet (focus moves
        #: on the next message cycle; keys already queued still reach the table)
        self._typing_into_filter = False

    @property
    def omapp(self) -> OmeterApp:
        return self.app  # type: ignore[return-value]

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="picker-body"):
            with Vertical(id="models-pane"):
                yield Input(
                    placeholder="filter: type a name or family prefix",
                    id="filter",
                    compact=True,
                    select_on_focus=False,  # typing on the table carries on in here
                )
                yield Static(id="models-status")
                table: DataTable[Text] = DataTable(
                    id="models", cursor_type="row", zebra_stripes=True
                )
                yield table
            with VerticalScroll(id="run-panel"):
                yield Static(Text("Run plan", style="bold"), classes="panel-title")
                yield Label("Prompts (one per line)", classes="field-label")
                yield TextArea(id="prompts", soft_wrap=True, tab_behavior="focus",
                               compact=True)
                for field_id, label, tooltip in RUN_FIELDS:
                    with Horizontal(classes="field-row"):
                        yield Label(label, classes="field-name")
                        field = Input(id=field_id, compact=True)
                        field.tooltip = tooltip
                        yield field
                yield Static(id="plan-errors")
                yield Button("Run benchmark (b)", id="run", variant="primary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.endpoint.name} · {self.endpoint.display_url}"
        self._layout_columns()
        self._fill_defaults()
        self.action_reload()
        self.query_one("#models", DataTable).focus()

    def on_resize(self) -> None:
        if self._layout_columns():
            self._apply_filter()

    def _fill_defaults(self) -> None:
        """Start from the endpoint's defaults, falling back to the settings' Defaults."""
        defaults = self.omapp.settings.defaults.for_endpoint(self.endpoint)
        self.query_one("#prompts", TextArea).text = "\n".join(defaults.prompts)
        for name in ("passes", "warmup", "concurrency", "parallel_models", "max_tokens",
                     "temperature", "top_p", "seed"):
            value = getattr(defaults, name)
            self.query_one(f"#{name}", Input).value = "" if value is None else str(value)

    # ----------------------------------------------------------------- loading
    def action_reload(self) -> None:
        self.load_error = None
        self.loading_models = True
        self.query_one("#models", DataTable).loading = True
        self._set_status(Text("loading models…", style="dim italic"))
        self._load_models()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def _load_models(self) -> None:
        from ometer_tui.core.api import detect_flavour, open_client
        from ometer_tui.core.api.base import ClientError

        try:
            flavour = self.endpoint.api or await detect_flavour(self.endpoint)
            client = open_client(self.endpoint, flavour=flavour)
            try:
                models = await client.list_models(details=True)
            finally:
                await client.aclose()
        except ClientError as exc:
            self.post_message(self.ModelsFailed(str(exc)))
        except Exception as exc:
            self.post_message(self.ModelsFailed(str(exc) or type(exc).__name__))
        else:
            self.post_message(self.ModelsLoaded(models))

    @on(ModelsLoaded)
    def _models_loaded(self, message: ModelsLoaded) -> None:
        self.loading_models = False
        self.models = sort_newest_first(message.models)
        known = {m.name for m in self.models}
        self.selected &= known
        self.query_one("#models", DataTable).loading = False
        self._layout_columns()
        self._apply_filter()
        self.refresh_bindings()

    @on(ModelsFailed)
    def _models_failed(self, message: ModelsFailed) -> None:
        self.loading_models = False
        self.load_error = message.reason
        self.query_one("#models", DataTable).loading = False
        self._set_status(
            Text.assemble(("✗ ", "red"), (message.reason, "red"), ("   r retries", "dim"))
        )

    # ------------------------------------------------------------ table rows
    def _cells(self, model: ModelInfo) -> dict[str, Text]:
        return {
            "sel": SELECTED if model.name in self.selected else UNSELECTED,
            "name": Text(model.name),
            "workload": cell(str(model.workload)),
            "caps": cell(", ".join(c for c in model.capabilities if c != "completion")
                         or None),
            "params": cell(model.parameter_size),
            "quant": cell(model.quantization),
            "ctx": cell(fmt_context(model.context_length)),
            "size": cell(fmt_bytes(model.size_bytes)),
            "modified": cell(short_date(model.modified_at)),
        }

    def _row(self, model: ModelInfo) -> list[Text]:
        cells = self._cells(model)
        return [clipped(cells[key]) for key in self._widths]

    def _layout_columns(self) -> bool:
        """Fit the columns to the pane (workload and capabilities always shown; Modified,
        then Size... dropped first); True when the columns changed."""
        rows = [self._cells(m) for m in self.models]
        fit = []
        for key, header, minimum, keep in MODEL_COLUMNS:
            natural = natural_width(header, (r[key] for r in rows), cap=CAPS_CAP)
            fit.append(FitColumn(key, natural, min(minimum, natural), keep))
        # the run panel's width, and the table's vertical scrollbar
        available = self.size.width - RUN_PANEL_WIDTH - 2
        widths = fit_widths(fit, max(available, 0))
        if widths == self._widths:
            return False
        self._widths = widths
        headers = {key: header for key, header, _, _ in MODEL_COLUMNS}
        table = self.query_one("#models", DataTable)
        table.clear(columns=True)
        for key, width in widths.items():
            table.add_column(headers[key], key=key, width=width)
        return True

    def on_key(self, event: events.Key) -> None:
        """Type to filter: a printable key the table has no binding for starts the filter.

        Once typing has started, every printable key is filter text, bound ones too, even
        before the box has the focus: a fast typist or a paste must not have the ``a`` of
        ``llama`` select every model.
        """
        table = self.query_one("#models", DataTable)
        char = event.character
        if self.focused is not table or not event.is_printable or not char or char.isspace():
            return
        if not self._typing_into_filter and event.key in self.app.active_bindings:
            return  # a, b, r, /, q, ? keep their meaning on the table
        event.stop()
        event.prevent_default()
        self._typing_into_filter = True
        box = self.query_one("#filter", Input)
        box.focus()
        box.insert_text_at_cursor(char)

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        if event.widget is not self.query_one("#models", DataTable):
            return
        self._typing_into_filter = False  # back on the table: its keys are bindings again

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply_filter()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#models", DataTable).focus()

    def _apply_filter(self) -> None:
        query = self.query_one("#filter", Input).value
        table = self.query_one("#models", DataTable)
        current = self.highlighted_model()
        self.shown = filter_models(self.models, query)
        with self.app.batch_update():
            table.clear()
            for model in self.shown:
                table.add_row(*self._row(model), key=model.name)
            if current is not None and current.name in {m.name for m in self.shown}:
                table.move_cursor(row=table.get_row_index(current.name))
        self._update_status()

    def _set_status(self, text: Text) -> None:
        self.query_one("#models-status", Static).update(text)

    def _update_status(self) -> None:
        if self.load_error is not None or self.loading_models:
            return
        text = Text(f"{len(self.models)} models")
        if len(self.shown) != len(self.models):
            text.append(f" · {len(self.shown)} shown")
        text.append(f" · {len(self.selected)} selected", style="bold" if self.selected else "")
        if not self.models:
            text = Text("The server lists no models.   r reloads", style="yellow")
        self._set_status(text)

    def highlighted_model(self) -> ModelInfo | None:
        table = self.query_one("#models", DataTable)
        if table.row_count == 0 or not self.shown:
            return None
        row = table.cursor_row
        if 0 <= row < len(self.shown):
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
            for model in self.shown:
                if model.name == row_key.value:
                    return model
        return None

    def _refresh_marks(self, names: Iterable[str]) -> None:
        table = self.query_one("#models", DataTable)
        for name in names:
            if name in {m.name for m in self.shown} and "sel" in self._widths:
                table.update_cell(name, "sel", SELECTED if name in self.selected else UNSELECTED)
        self._update_status()

    # ---------------------------------------------------------------- actions
    def action_toggle_model(self) -> None:
        model = self.highlighted_model()
        if model is None:
            return
        self.selected ^= {model.name}
        self._refresh_marks([model.name])

    def action_toggle_all(self) -> None:
        names = {m.name for m in self.shown}
        if names <= self.selected:
            self.selected -= names
        else:
            self.selected |= names
        self._refresh_marks(names)

    def action_focus_filter(self) -> None:
        """``/`` starts a new filter: the old text is selected, so typing replaces it."""
        box = self.query_one("#filter", Input)
        box.focus()
        box.select_all()

    def action_back(self) -> None:
        table = self.query_one("#models", DataTable)
        if self.focused is not table:
            table.focus()
        else:
            self.app.pop_screen()

    @on(DataTable.RowSelected, "#models")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if not self.selected:
            model = self.highlighted_model()
            if model is not None:
                self.selected.add(model.name)
                self._refresh_marks([model.name])
        self.action_build()

    @on(Button.Pressed, "#run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_build()

    def selected_models(self) -> tuple[ModelInfo, ...]:
        return tuple(m for m in self.models if m.name in self.selected)

    def build_plan(self) -> tuple[BenchmarkPlan | None, list[str]]:
        """The plan from the selection and the run panel, or the problems (each naming
        its field)."""
        problems: list[str] = []

        def value(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value.strip()

        def number(field_id: str, kind: Callable[[str], T], label: str) -> T | None:
            raw = value(field_id)
            if not raw:
                return None
            try:
                return kind(raw)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                problems.append(f"{label}: {raw!r} is not {what}")
                return None

        prompts: tuple[str, ...] = ()
        prompts_file = value("prompts_file")
        if prompts_file:
            try:
                prompts = read_prompts_file(Path(prompts_file).expanduser())
            except InputFileError as exc:
                problems.append(str(exc))
        else:
            text = self.query_one("#prompts", TextArea).text
            prompts = tuple(line.strip() for line in text.splitlines() if line.strip())

        passes = number("passes", int, "passes")
        warmup = number("warmup", int, "warmup")
        concurrency = number("concurrency", int, "concurrency")
        parallel = number("parallel_models", int, "parallel_models")
        max_tokens = number("max_tokens", int, "max_tokens")
        temperature = number("temperature", float, "temperature")
        top_p = number("top_p", float, "top_p")
        seed = number("seed", int, "seed")
        rpm = number("rpm", float, "rpm")
        tpm = number("tpm", float, "tpm")
        if top_p is not None and not 0.0 <= top_p <= 1.0:
            problems.append(f"top_p: must be 0..1 (got {top_p})")

        images: tuple[ImageInput, ...] = ()
        image_path = value("image")
        if image_path:
            try:
                images = (read_image(Path(image_path).expanduser()),)
            except InputFileError as exc:
                problems.append(str(exc))

        base = self.omapp.settings.defaults.for_endpoint(self.endpoint)
        plan = BenchmarkPlan(
            endpoint=self.endpoint,
            models=self.selected_models(),
            prompts=prompts,
            passes=passes if passes is not None else base.passes,
            warmup=warmup if warmup is not None else base.warmup,
            concurrency=concurrency if concurrency is not None else 1,
            parallel_models=parallel if parallel is not None else 1,
            params=GenerationParams(
                max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed
            ),
            images=images,
            rate_limit=RateLimit(requests_per_minute=rpm, tokens_per_minute=tpm),
        )
        problems.extend(plan.validate())
        return (None if problems else plan), problems

    def action_build(self) -> None:
        plan, problems = self.build_plan()
        errors = self.query_one("#plan-errors", Static)
        if plan is None:
            errors.update(Text("\n".join(problems), style="red"))
            errors.display = True
            self.notify(problems[0], title="Plan not valid", severity="error", markup=False)
            return
        errors.update("")
        errors.display = False
        self.post_message(BenchmarkRequested(plan))

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action in {"toggle_model", "toggle_all", "build"} and not self.models:
            return None
        return True
