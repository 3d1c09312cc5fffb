"""The run panel: the plan's values as the user types them, and a run button.

State flows down: the panel is built from a :class:`RunDraft` (the endpoint's defaults,
or the draft remembered from the last visit) and hands back its current draft with
:meth:`RunPanel.draft`. Events flow up: Enter in a field or the button posts
:class:`RunPanel.RunRequested`; the host turns :meth:`RunPanel.fields` into the plan
with the core's one plan builder (``overrides_from_fields`` then ``build_plan``), the
same path ``ometer-tui run`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static, TextArea

from ometer_tui.core.bench.slo import SloTargets
from ometer_tui.core.bench.sweep_form import slo_text
from ometer_tui.core.bench.workloads.options import options_texts
from ometer_tui.core.settings import Defaults
from ometer_tui.tui.widgets.form import FORM_CSS, FormCheckbox, field_row
from ometer_tui.tui.widgets.load_form import LOAD_FIELD_IDS, LoadSection, RunField
from ometer_tui.tui.widgets.steps_form import STEPS_FIELD_IDS, StepsSection

__all__ = ["RUN_FIELDS", "RunDraft", "RunField", "RunPanel"]

#: (input id, label, tooltip) of the one-line fields, in order.
RUN_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("prompts_file", "Prompts file", "One prompt per line; replaces the prompts above"),
    ("passes", "Passes", "Measured passes over the prompts, per model"),
    ("warmup", "Warm-up", "Unmeasured requests per model before the passes"),
    ("concurrency", "Concurrency", "In-flight requests per model; empty: the default"),
    ("parallel_models", "Models ∥", "Models benchmarked at the same time"),
    ("workers", "Workers", "Engine processes the load is split across, 1..64; empty: auto"),
    ("ray", "Ray", "Workers as Ray actors: 'auto' (a cluster here) or host:port; empty: local"),
    ("max_tokens", "Max tokens", "Output token limit per request"),
    ("temperature", "Temperature", "0..2; empty: the default; 'server': send none"),
    ("top_p", "top_p", "0..1; empty: the default; 'server': send none"),
    ("top_k", "top_k", "Whole number; empty: the default; 'server': send none"),
    ("seed", "Seed", "Integer; empty: the default; 'server': send none"),
    ("timeout_s", "Timeout s", "Whole-request timeout; empty: the default"),
    ("rpm", "Req/min", "Requests-per-minute limit; empty: unlimited"),
    ("tpm", "Tokens/min", "Tokens-per-minute limit; empty: unlimited"),
    ("image", "Image file", "PNG/JPEG/GIF/WebP sent to vision models"),
)

#: what an empty field means, shown in it (dim) where it is not obvious
PLACEHOLDERS = {"workers": "auto", "ray": "local"}

#: fields filled from the defaults
FROM_DEFAULTS = ("passes", "warmup", "concurrency", "parallel_models", "max_tokens",
                 "temperature", "top_p", "top_k", "seed", "timeout_s")  # fmt: skip


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True, slots=True)
class RunDraft:
    """The run panel's contents as typed: remembered per endpoint between visits."""

    prompts: str = ""
    #: field id -> text, for the ids of ``RUN_FIELDS`` and the Load section's
    #: (``LOAD_FIELD_IDS``) and the Steps section's (``STEPS_FIELD_IDS``)
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    completion_api: bool = False
    #: names of the models selected with it
    selected: frozenset[str] = frozenset()

    @classmethod
    def from_defaults(cls, defaults: Defaults, slo: SloTargets | None = None) -> RunDraft:
        """The draft a first visit starts from: ``defaults`` (the plan builder's
        ``plan_defaults``: the endpoint's applied) and the settings' ``[slo]``."""
        values = {field_id: "" for field_id, _, _ in RUN_FIELDS}
        values.update({name: _shown(getattr(defaults, name)) for name in FROM_DEFAULTS})
        values.update(options_texts(defaults.load))  # the [defaults] load keys
        slo = slo or SloTargets()
        values.update({k: "" for k in STEPS_FIELD_IDS})
        values.update(slo=slo_text(slo), percentile=f"{slo.percentile:g}", early_stop="on")
        return cls(prompts="\n".join(defaults.prompts), values=MappingProxyType(values))


class RunPanel(Vertical):
    """Prompts, counts, generation parameters, limits, the Load and Steps sections and
    the run button."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    RunPanel {
        width: 30;
        padding: 0 1;
        border-left: solid $primary-muted;
    }
    /* a choice list as wide as the panel's content (27: 30 less its border and
       padding), moved left over the 13-column labels from its 14-column field: "Long
       prompt / RAG" on one line, not cut into "Long / prompt / / RAG" */
    RunPanel Select > SelectOverlay {
        min-width: 27;
        offset-x: -13;
    }
    RunPanel > .panel-title {
        height: 1;
        color: $text-accent;
    }
    RunPanel > #run-fields {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    RunPanel #prompts {
        height: 4;
    }
    RunPanel #prompts:focus {
        background: $accent 15%;
    }
    RunPanel #completion_api {
        margin-top: 1;
    }
    RunPanel > #plan-errors {
        max-height: 6;
        margin: 0;
    }
    RunPanel > #run {
        width: 100%;
        margin-top: 1;
    }
    """
    )

    class RunRequested(Message):
        """Enter in a field or the run button: the user wants the benchmark started."""

    def __init__(self, draft: RunDraft, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._draft = draft

    def compose(self) -> ComposeResult:
        draft = self._draft
        yield Static(Text("Run plan", style="bold"), classes="panel-title")
        # not a tab stop of its own: focusing a field scrolls it into view
        with VerticalScroll(id="run-fields", can_focus=False):
            yield Label("Prompts (one per line)", classes="field-label")
            yield TextArea(draft.prompts, id="prompts", soft_wrap=True, tab_behavior="focus",
                           compact=True)  # fmt: skip
            for field_id, label, tooltip in RUN_FIELDS:
                value = draft.values.get(field_id, "")
                hint = PLACEHOLDERS.get(field_id, "")
                run_field = RunField(value, placeholder=hint, id=field_id, compact=True)
                yield field_row(label, run_field, tooltip)
            yield FormCheckbox(
                "Completions API",
                draft.completion_api,
                id="completion_api",
                compact=True,
                tooltip="/api/generate or /v1/completions instead of chat",
            )
            yield LoadSection(
                {k: draft.values.get(k, "") for k in LOAD_FIELD_IDS}, id="load-section"
            )
            yield StepsSection(
                {k: draft.values.get(k, "") for k in STEPS_FIELD_IDS}, id="steps-section"
            )
        yield Static(id="plan-errors", classes="form-errors")
        yield Button("Run benchmark (b)", id="run", variant="primary", compact=True)

    # -------------------------------------------------------------- reading
    def fields(self) -> dict[str, str]:
        """Field id -> text as typed, ``prompts`` and the Load section's fields included
        and the Steps section's (the plan builder's ``overrides_from_fields`` input; the
        core's ``steps_from_texts`` takes ``sweep``, ``slo`` and ``repeat``)."""
        values = {field_id: self.query_one(f"#{field_id}", Input).value
                  for field_id, _, _ in RUN_FIELDS}  # fmt: skip
        values["prompts"] = self.query_one("#prompts", TextArea).text
        values.update(self.query_one(LoadSection).texts())
        values.update(self.query_one(StepsSection).texts())
        return values

    @property
    def completion_api(self) -> bool:
        return self.query_one("#completion_api", FormCheckbox).value

    def draft(self, selected: frozenset[str] = frozenset()) -> RunDraft:
        """What the panel shows now (with ``selected``), to be shown again later."""
        values = self.fields()
        prompts = values.pop("prompts")
        return RunDraft(
            prompts=prompts,
            values=MappingProxyType(values),
            completion_api=self.completion_api,
            selected=selected,
        )

    def show_problems(self, problems: list[str]) -> None:
        """Problems under the fields (none: hidden)."""
        errors = self.query_one("#plan-errors", Static)
        errors.update(Text("\n".join(problems), style="red"))
        errors.set_class(bool(problems), "-shown")

    # --------------------------------------------------------------- events
    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.RunRequested())

    @on(Button.Pressed, "#run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested())
