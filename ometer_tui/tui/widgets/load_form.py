"""The run panel's Load section: a collapsible set of fields for a load (issue #11).

State flows down: the section is built from field texts (``LOAD_KEYS`` ids and
``load_mode``: the core's ``options_texts`` of the defaults, or a remembered draft) and
hands them back with :meth:`LoadSection.texts`; the host turns them into the plan with
the core's plan builder (``overrides_from_fields``: one rule per option, the same as the
command line's flags). A preset fills the fields; nothing here decides a value.

The settings screen's defaults form shows the same section for the ``[defaults]`` load
keys (``field=Input``: Enter there does not start a run; :meth:`LoadSection.show` fills
it after mount).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Collapsible, Input, Select, Static

from ometer_tui.core.bench.workloads.options import (
    LOAD_KEYS,
    OPEN_LOOP_KEYS,
    describe_options,
    options_from_texts,
    options_texts,
)
from ometer_tui.core.bench.workloads.presets import BY_ID, PRESETS
from ometer_tui.tui.widgets.form import field_row

#: key -> (label, tooltip) of the load fields (labels of 12 characters at most: the
#: label column is 13 wide); each tooltip starts with the key, the name problems and
#: the settings' [defaults] use
LOAD_LABELS: dict[str, tuple[str, str]] = {
    "rate": ("Rate /s", "open loop: requests per second, on a timetable"),
    "arrival": ("Arrival", "constant, poisson or gamma (empty: poisson; gamma with burstiness)"),
    "burstiness": ("Burstiness", "gamma's shape as in vLLM: 1 = Poisson, lower = burstier"),
    "max_concurrency": ("Max inflight", "open loop: at most this many requests in flight"),
    "ramp_up_s": ("Ramp-up s", "the rate (or the streams) rise linearly over this time"),
    "duration_s": ("Duration s", "stop sending after this many seconds"),
    "requests": ("Requests", "stop after this many requests"),
    "max_errors": ("Max errors", "the error budget: stop after this many failures"),
    "max_error_rate": ("Max err rate", "stop when more than this fraction (0..1) failed"),
    "dataset": ("Dataset", "a ShareGPT .json, .jsonl or .csv file, or builtin"),
    "dataset_lengths": ("Dataset len", "MIN,MAX: keep dataset prompts of this many tokens"),
    "input_tokens": ("In tokens", "synthetic prompts: N, normal:M,SD,MIN,MAX, uniform:LO,HI"),
    "output_tokens": ("Out tokens", "answer length: N, normal:..., uniform:..."),
    "shared_prefix": ("Prefix len", "tokens of one prefix common to every prompt"),
    "turns": ("Turns", "conversations of this many turns (answers sent back)"),
}
MODES: tuple[tuple[str, str], ...] = (("closed loop", "closed"), ("open loop", "open"))
#: the field ids the section owns (kept in a run draft)
LOAD_FIELD_IDS: tuple[str, ...] = ("load_mode", *LOAD_KEYS)


class RunField(Input):
    """A one-line field of the run panel: Enter starts the run (shown in the footer)."""

    HELP_TITLE = "Run panel's fields"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "submit",
            "Run",
            id="run_panel.run",
            tooltip="Build the plan from the run panel and start the benchmark",
        ),
    ]


def load_title(texts: Mapping[str, str]) -> str:
    """The collapsed section's title: ``Load: none``, ``Load: open 2/s, 60 s``."""
    closed = texts.get("load_mode") != "open"
    shown = {k: v for k, v in texts.items() if not (closed and k in OPEN_LOOP_KEYS)}
    options, _ = options_from_texts(shown)
    return f"Load: {describe_options(options)}"


class LoadSection(Vertical):
    """Mode, rate and arrival, limits, what is sent, presets; collapsed until used."""

    DEFAULT_CSS = """
    LoadSection {
        height: auto;
        margin-top: 1;
    }
    LoadSection > Collapsible {
        padding: 0;
        border-top: none;
        background: $background;
    }
    LoadSection > Collapsible > Contents {
        padding: 0;
    }
    LoadSection CollapsibleTitle {
        padding: 0;
    }
    LoadSection #load-note {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(
        self, texts: Mapping[str, str], *, id: str | None = None, field: type[Input] = RunField
    ) -> None:
        super().__init__(id=id)
        self._texts = dict(texts)
        self._field = field

    def compose(self) -> ComposeResult:
        texts = self._texts
        in_use = texts.get("load_mode") == "open" or any(texts.get(k) for k in LOAD_KEYS)
        with Collapsible(title=load_title(texts), collapsed=not in_use, id="load"):
            presets = [(p.title, p.id) for p in PRESETS]
            yield field_row(
                "Preset",
                Select(presets, prompt="pick one", compact=True, id="load_preset"),
                "Fill the load fields from a preset, then edit them",
            )
            yield Static(id="load-note")
            mode = "open" if texts.get("load_mode") == "open" else "closed"
            yield field_row(
                "Mode",
                Select(MODES, value=mode, allow_blank=False, compact=True, id="load_mode"),
                "closed loop: Concurrency streams, each sending when its answer ends; "
                "open loop: requests on a timetable at Rate /s",
            )
            for key in LOAD_KEYS:
                label, tip = LOAD_LABELS[key]
                field = self._field(texts.get(key, ""), id=key, compact=True)
                yield field_row(label, field, f"{key}: {tip}")

    def on_mount(self) -> None:
        self._open_loop_fields()

    # -------------------------------------------------------------- reading
    def texts(self) -> dict[str, str]:
        """Field id -> text (``LOAD_FIELD_IDS``)."""
        values = {k: self.query_one(f"#{k}", Input).value for k in LOAD_KEYS}
        mode = self.query_one("#load_mode", Select).value
        values["load_mode"] = mode if isinstance(mode, str) else "closed"
        return values

    def show(self, texts: Mapping[str, str], note: str = "") -> None:
        """Fill the fields with ``texts`` (``LOAD_FIELD_IDS``; a missing one empty) and
        the note under the preset."""
        for key in LOAD_KEYS:
            self.query_one(f"#{key}", Input).value = texts.get(key, "")
        mode = "open" if texts.get("load_mode") == "open" else "closed"
        self.query_one("#load_mode", Select).value = mode
        self.query_one("#load-note", Static).update(Text(note))
        self._open_loop_fields()
        self._retitle()

    # --------------------------------------------------------------- events
    def _open_loop_fields(self) -> None:
        closed = self.texts()["load_mode"] != "open"
        for key in OPEN_LOOP_KEYS:
            self.query_one(f"#{key}", Input).disabled = closed

    def _retitle(self) -> None:
        self.query_one("#load", Collapsible).title = load_title(self.texts())

    @on(Select.Changed, "#load_mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._open_loop_fields()
        self._retitle()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id in LOAD_KEYS:
            self._retitle()

    @on(Select.Changed, "#load_preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        event.stop()
        preset = BY_ID.get(str(event.value))
        if preset is None:
            return
        self.show(options_texts(preset.options), preset.description)
