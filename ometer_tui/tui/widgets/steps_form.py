"""The run panel's Steps section: a sweep, SLOs and repeats (issue #12), collapsed until
used.

The fields take the same text as the headless flags (``--sweep concurrency=1,2,4``,
``--slo ttft:500`` items, ``--repeat N``); the host parses them with the core's
``steps_from_texts`` (each problem naming its field). Nothing here decides a value.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Input

from ometer_tui.tui.widgets.form import field_row
from ometer_tui.tui.widgets.load_form import RunField

#: field id -> (label, tooltip); the ids name the problems (``sweep: ...``)
STEPS_LABELS: dict[str, tuple[str, str]] = {
    "sweep": ("Sweep", "sweep: concurrency=1,2,4 or rate=1,2,4 or rate=auto:4 (as --sweep)"),
    "slo": ("SLOs ms", "slo: ttft:500 tpot:50 (as --slo; from the settings' [slo])"),
    "repeat": ("Repeats", "repeat: run the plan, or each step, N times (as --repeat)"),
}
#: the field ids the section owns (kept in a run draft)
STEPS_FIELD_IDS: tuple[str, ...] = tuple(STEPS_LABELS)


def steps_title(texts: Mapping[str, str]) -> str:
    """``Steps: none`` or ``Steps: concurrency=1,2,4 · SLOs · ×3``."""
    bits = []
    if texts.get("sweep", "").strip():
        bits.append(texts["sweep"].strip())
    if texts.get("slo", "").strip():
        bits.append("SLOs")
    if texts.get("repeat", "").strip() not in ("", "1"):
        bits.append(f"×{texts['repeat'].strip()}")
    return "Steps: " + (" · ".join(bits) or "none")


class StepsSection(Vertical):
    """Sweep, SLOs and repeats fields in a collapsible, open when one is in use."""

    DEFAULT_CSS = """
    StepsSection {
        height: auto;
    }
    StepsSection > Collapsible {
        padding: 0;
        border-top: none;
        background: $background;
    }
    StepsSection > Collapsible > Contents {
        padding: 0;
    }
    StepsSection CollapsibleTitle {
        padding: 0;
    }
    """

    def __init__(self, texts: Mapping[str, str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts = dict(texts)

    def compose(self) -> ComposeResult:
        texts = self._texts
        in_use = bool(texts.get("sweep", "").strip()) or texts.get("repeat", "") not in ("", "1")
        with Collapsible(title=steps_title(texts), collapsed=not in_use, id="steps"):
            for key, (label, tip) in STEPS_LABELS.items():
                yield field_row(label, RunField(texts.get(key, ""), id=key, compact=True), tip)

    def texts(self) -> dict[str, str]:
        """Field id -> text (``STEPS_FIELD_IDS``)."""
        return {k: self.query_one(f"#{k}", Input).value for k in STEPS_FIELD_IDS}

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in STEPS_LABELS:
            self.query_one("#steps", Collapsible).title = steps_title(self.texts())
