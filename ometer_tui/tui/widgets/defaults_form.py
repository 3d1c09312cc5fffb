"""The defaults form: the ``[defaults]`` every run starts from.

State flows down (:meth:`DefaultsForm.load`); the host reads :meth:`DefaultsForm.read`
against the defaults it holds (fields the form does not show are kept).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Static, TextArea

from ometer_tui.core.settings import Defaults, validate_defaults
from ometer_tui.tui.widgets.form import FORM_CSS, field_row, parse_number

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
        yield Static(id="defaults-errors", classes="form-errors errors")

    def load(self, defaults: Defaults) -> None:
        for name, *_ in DEFAULT_FIELDS:
            self.query_one(f"#d_{name}", Input).value = _shown(getattr(defaults, name))
        self.query_one("#d_prompts", TextArea).text = "\n".join(defaults.prompts)
        self.show_problems([])

    def state(self) -> tuple[Any, ...]:
        values: list[Any] = [w.value for w in self.query(Input)]
        return (*values, self.query_one("#d_prompts", TextArea).text)

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
        defaults = replace(base, prompts=prompts, **values)
        problems += validate_defaults(defaults)
        return (None if problems else defaults), problems

    def show_problems(self, problems: list[str]) -> None:
        errors = self.query_one("#defaults-errors", Static)
        errors.update(Text("\n".join(problems), style="red"))
        errors.set_class(bool(problems), "-shown")
