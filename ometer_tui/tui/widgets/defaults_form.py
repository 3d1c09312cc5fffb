"""The defaults form: the ``[defaults]`` every run starts from (its load keys in the run
panel's Load section, ``load_form.LoadSection``), and ``[telemetry]``.

State flows down (:meth:`DefaultsForm.load`); the host reads :meth:`DefaultsForm.read`
against the defaults it holds (fields the form does not show are kept), or
:meth:`DefaultsForm.read_settings` for both tables at once. Each load key is checked by
its one rule (``workloads.options``, as when the file loads); a problem names the key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static, TextArea

from ometer_tui.core.bench.workloads.options import (
    OPEN_LOOP_KEYS,
    options_from_texts,
    options_texts,
)
from ometer_tui.core.settings import Defaults, Settings, validate_defaults
from ometer_tui.core.telemetry import MIN_INTERVAL_S
from ometer_tui.core.telemetry.config import TelemetrySettings, validate_telemetry
from ometer_tui.tui.widgets.form import FORM_CSS, FormCheckbox, field_row, parse_number
from ometer_tui.tui.widgets.load_form import LoadSection

#: (field, label, kind, may be empty, placeholder, tooltip)
DEFAULT_FIELDS: tuple[tuple[str, str, type[int] | type[float], bool, str, str], ...] = (
    ("passes", "Passes", int, False, "", "Measured passes over the prompts, per model"),
    ("warmup", "Warm-up", int, False, "", "Unmeasured requests per model first"),
    ("temperature", "Temperature", float, True, "server default",
     "0..2; empty: send none (the server's default)"),
    ("max_tokens", "Max tokens", int, False, "", "Output token limit per request"),
    ("concurrency", "Concurrency", int, False, "", "In-flight requests per model"),
    ("parallel_models", "Models ∥", int, False, "", "Models benchmarked at the same time"),
    ("top_p", "top_p", float, True, "server default", "0..1; empty: not sent"),
    ("top_k", "top_k", int, True, "server default", "Whole number; empty: not sent"),
    ("seed", "Seed", int, True, "none", "Integer; empty: not sent"),
)  # fmt: skip


def _shown(value: object) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


class DefaultsForm(Vertical):
    """Counts, generation parameters and prompts every run starts from."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    DefaultsForm {
        height: auto;
    }
    DefaultsForm > .panel-title {
        height: 1;
        margin-top: 1;
        color: $text-accent;
    }
    DefaultsForm > #d_telemetry {
        margin-left: 13;
    }
    DefaultsForm #d_prompts {
        height: 3;
    }
    """
    )

    def compose(self) -> ComposeResult:
        yield Static(Text("Defaults for every run", style="bold"), classes="panel-title")
        for name, label, _, _, placeholder, tooltip in DEFAULT_FIELDS:
            field = Input(id=f"d_{name}", compact=True, placeholder=placeholder)
            yield field_row(label, field, tooltip)
        yield Label("Prompts (one per line)", classes="field-label")
        yield TextArea(id="d_prompts", compact=True, tab_behavior="focus", soft_wrap=True)
        yield LoadSection({}, id="d_load", field=Input)  # the [defaults] load keys
        yield Static(Text("Server telemetry", style="bold"), classes="panel-title")
        yield FormCheckbox("Sample the server's metrics during runs", id="d_telemetry",
                           compact=True, tooltip="/metrics, /slots, /props, /api/ps")  # fmt: skip
        yield field_row(
            "Interval s",
            Input(id="d_telemetry_interval", compact=True),
            f"Seconds between samples, at least {MIN_INTERVAL_S:g}",
        )
        yield Static(id="defaults-errors", classes="form-errors errors")

    def load(self, defaults: Defaults, telemetry: TelemetrySettings | None = None) -> None:
        telemetry = telemetry or TelemetrySettings()
        for name, *_ in DEFAULT_FIELDS:
            self.query_one(f"#d_{name}", Input).value = _shown(getattr(defaults, name))
        self.query_one("#d_prompts", TextArea).text = "\n".join(defaults.prompts)
        self.query_one(LoadSection).show(options_texts(defaults.load))
        self.query_one("#d_telemetry", FormCheckbox).value = telemetry.enabled
        self.query_one("#d_telemetry_interval", Input).value = _shown(telemetry.interval_s)
        self.show_problems([])

    def state(self) -> tuple[Any, ...]:
        values: list[Any] = [w.value for w in self.query(Input)]
        enabled = self.query_one("#d_telemetry", FormCheckbox).value
        load = tuple(sorted(self.query_one(LoadSection).texts().items()))
        return (*values, self.query_one("#d_prompts", TextArea).text, enabled, load)

    def read_telemetry(self) -> tuple[TelemetrySettings | None, list[str]]:
        """The ``[telemetry]`` the form describes, or the problems (``telemetry.<key>``)."""
        problems: list[str] = []
        raw = self.query_one("#d_telemetry_interval", Input).value
        interval = parse_number(raw, float, "telemetry.interval_s", problems)
        if interval is None and not problems:
            problems.append("telemetry.interval_s: must not be empty")
        if problems or interval is None:
            return None, problems
        enabled = self.query_one("#d_telemetry", FormCheckbox).value
        telemetry = TelemetrySettings(enabled=enabled, interval_s=interval)
        problems = [f"telemetry.{p}" for p in validate_telemetry(telemetry)]
        return (None if problems else telemetry), problems

    def read_settings(self, base: Settings) -> tuple[Settings | None, list[str]]:
        """``base`` with the form's ``[defaults]`` and ``[telemetry]``, or the problems."""
        defaults, problems = self.read(base.defaults)
        telemetry, t_problems = self.read_telemetry()
        problems += t_problems
        if defaults is None or telemetry is None:
            return None, problems
        return replace(base, defaults=defaults, telemetry=telemetry), problems

    def read(self, base: Defaults) -> tuple[Defaults | None, list[str]]:
        """``base`` with the form's values, or the problems (each naming its field)."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        for name, _, kind, may_be_empty, _, _ in DEFAULT_FIELDS:
            raw = self.query_one(f"#d_{name}", Input).value
            value = parse_number(raw, kind, name, problems)
            if value is None and not may_be_empty and not raw.strip():
                problems.append(f"{name}: must not be empty")
                value = getattr(base, name)
            values[name] = value
        text = self.query_one("#d_prompts", TextArea).text
        prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
        texts = self.query_one(LoadSection).texts()
        if texts["load_mode"] != "open":  # a closed loop: the open-loop keys are unused
            texts.update(dict.fromkeys(OPEN_LOOP_KEYS, ""))
        load, load_problems = options_from_texts(texts)  # each problem names its key
        problems += load_problems
        defaults = replace(base, prompts=prompts, load=load, **values)
        problems += validate_defaults(defaults)
        return (None if problems else defaults), problems

    def show_problems(self, problems: list[str]) -> None:
        errors = self.query_one("#defaults-errors", Static)
        errors.update(Text("\n".join(problems), style="red"))
        errors.set_class(bool(problems), "-shown")
