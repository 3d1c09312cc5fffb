"""The run panel's Steps section: a sweep, the SLO search, SLOs and repeats (issue #12),
collapsed until used.

The fields take the same text as the headless flags (``--sweep concurrency=1,2,4``,
``--find-max-rate``, ``--slo ttft:500`` items, ``--slo-percentile``, ``--repeat N``,
``--search-precision``, ``--step-duration``, ``--sweep-error-budget``,
``--no-early-stop``); the host parses them with the core's ``steps_from_fields`` (each
problem naming its field). Nothing here decides a value.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Collapsible, Input, Select

from ometer_tui.core.bench.sweep_form import STEPS_KEYS
from ometer_tui.tui.widgets.form import FormCheckbox, field_row
from ometer_tui.tui.widgets.load_form import RunField

#: field id -> (label, tooltip) of the text fields; the ids name the problems
STEPS_LABELS: dict[str, tuple[str, str]] = {
    "sweep": ("Sweep", "sweep: concurrency=1,2,4 or rate=1,2,4 or rate=auto:4 (as --sweep)"),
    "precision": ("Precision", "precision: a rate search stops when its bracket is narrower "
                  "than this fraction of the rate (default 0.05; as --search-precision)"),
    "slo": ("SLOs ms", "slo: ttft:500 tpot:50 (as --slo; from the settings' [slo])"),
    "percentile": ("Percentile", "percentile: the one a step's verdict and the search judge "
                   "(as --slo-percentile; from the settings' [slo], else 90)"),
    "repeat": ("Repeats", "repeat: run the plan, or each step, N times (as --repeat)"),
    "step_duration": ("Step s", "step_duration: a step's seconds without the Load section's "
                      "Duration/Requests (default 10; as --step-duration)"),
    "error_budget": ("Err budget", "error_budget: stop the sweep after a step where more than "
                     "this fraction failed (default 0.1; as --sweep-error-budget)"),
}  # fmt: skip
#: the SLO search's choices (``search`` field: "" none, ``rate``, ``concurrency``)
SEARCHES: tuple[tuple[str, str], ...] = (
    ("none", "none"),
    ("rate", "rate"),
    ("concurrency", "concurrency"),
)
#: the field ids the section owns (kept in a run draft)
STEPS_FIELD_IDS: tuple[str, ...] = STEPS_KEYS
#: what each field holds when not in use
_UNUSED = {"repeat": ("", "1"), "early_stop": ("", "on"), "search": ("", "none")}


def steps_title(texts: Mapping[str, str]) -> str:
    """``Steps: none`` or ``Steps: concurrency=1,2,4 · SLOs · ×3``."""
    bits = []
    if texts.get("sweep", "").strip():
        bits.append(texts["sweep"].strip())
    if texts.get("search", "") not in _UNUSED["search"]:
        bits.append(f"max {texts['search']}")
    if texts.get("slo", "").strip():
        bits.append("SLOs")
    if texts.get("repeat", "").strip() not in _UNUSED["repeat"]:
        bits.append(f"×{texts['repeat'].strip()}")
    return "Steps: " + (" · ".join(bits) or "none")


def in_use(texts: Mapping[str, str]) -> bool:
    """A series is asked for (the section opens): a sweep, a search or repeats."""
    return (
        bool(texts.get("sweep", "").strip())
        or texts.get("search", "") not in _UNUSED["search"]
        or texts.get("repeat", "").strip() not in _UNUSED["repeat"]
    )


class StepsSection(Vertical):
    """Sweep, SLO search, SLOs, repeats and the sweep's limits in a collapsible, open when
    a series is asked for."""

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
        search = texts.get("search", "") or "none"
        with Collapsible(title=steps_title(texts), collapsed=not in_use(texts), id="steps"):
            yield self._field("sweep")
            yield field_row(
                "Search max",
                Select(SEARCHES, value=search if search in dict(SEARCHES).values() else "none",
                       allow_blank=False, compact=True, id="search"),
                "search: the highest rate or concurrency whose percentile meets the SLOs, "
                "by bisection (as --find-max-rate / --find-max-concurrency)",
            )  # fmt: skip
            for key in ("precision", "slo", "percentile", "repeat", "step_duration",
                        "error_budget"):  # fmt: skip
                yield self._field(key)
            yield FormCheckbox(
                "Early stop",
                texts.get("early_stop", "") != "off",
                id="early_stop",
                compact=True,
                tooltip="early_stop: stop a sweep at saturation or over its error budget "
                "(off: as --no-early-stop)",
            )

    def _field(self, key: str) -> Horizontal:
        label, tip = STEPS_LABELS[key]
        return field_row(label, RunField(self._texts.get(key, ""), id=key, compact=True), tip)

    def texts(self) -> dict[str, str]:
        """Field id -> text (``STEPS_FIELD_IDS``)."""
        values = {k: self.query_one(f"#{k}", Input).value for k in STEPS_LABELS}
        search = self.query_one("#search", Select).value
        values["search"] = search if isinstance(search, str) and search != "none" else ""
        values["early_stop"] = "on" if self.query_one("#early_stop", FormCheckbox).value else "off"
        return values

    def _retitle(self) -> None:
        self.query_one("#steps", Collapsible).title = steps_title(self.texts())

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in STEPS_LABELS:
            self._retitle()

    @on(Select.Changed, "#search")
    def _search_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._retitle()
