"""The server's own telemetry beside the results: sources, current values, sparklines.

State flows down: the owner calls :meth:`TelemetryPanel.show` with the session's
:class:`~ometer_tui.core.telemetry.live.TelemetrySnapshot` (at most a few times a
second, coalesced upstream). Rows are updated in place, one per series, so a new sample
repaints values and sparklines without rebuilding the panel. After the run (a ``final``
snapshot) each row adds its peak and mean over the run.

Visibility: shown by default when a source answered and the screen is roomy enough;
hidden by default when no source answered or the screen is small (the screen's
``-narrow`` / ``-short`` breakpoint classes). :meth:`toggle` overrides the default either
way. The sparkline is Textual's own ``Sparkline``: one row high, scales to its width,
highlights the maximum; nothing of ours to maintain.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Sparkline, Static

from ometer_tui.core.telemetry.live import SeriesView, TelemetrySnapshot
from ometer_tui.tui.formatting import fmt_bytes


def fmt_value(value: float, unit: str, *, with_unit: bool = True) -> str:
    """A telemetry value with its unit (bytes in kB/MB/GB, seconds in ms or s; those
    keep their unit even without ``with_unit``)."""
    if unit == "bytes":
        return fmt_bytes(int(value))
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if float(value).is_integer() and abs(value) < 1e15:
        number = f"{int(value):,}"
    elif abs(value) >= 100:
        number = f"{value:,.0f}"
    else:
        number = f"{value:.3g}"
    if not with_unit:
        return number
    return f"{number}{unit}" if unit == "%" else f"{number} {unit}"


def series_name(series: SeriesView) -> str:
    name = series.metric.replace("_", " ")
    return f"{name} [{series.label}]" if series.label else name


class TelemetryRow(Horizontal):
    """One series: name, current value, sparkline, and (final) peak and mean."""

    def __init__(self, series: SeriesView) -> None:
        super().__init__(classes="tp-row")
        self.series = series

    def compose(self) -> ComposeResult:
        s = self.series
        yield Static(series_name(s), classes="tp-name", markup=False)
        yield Static(fmt_value(s.current, s.unit), classes="tp-value", markup=False)
        spark = Sparkline(list(s.history), classes="tp-spark")
        # one cell per sample until the row is full: a short run does not look stretched
        spark.styles.max_width = max(len(s.history), 1)
        yield spark
        yield Static(classes="tp-gap")
        yield Static(stats_text(s), classes="tp-stats", markup=False)

    def update(self, series: SeriesView) -> None:
        self.series = series
        if not self.query(".tp-value"):  # not composed yet: compose shows ``series``
            return
        self.query_one(".tp-value", Static).update(fmt_value(series.current, series.unit))
        spark = self.query_one(Sparkline)
        spark.data = list(series.history)
        spark.styles.max_width = max(len(series.history), 1)
        self.query_one(".tp-stats", Static).update(stats_text(series))


def stats_text(series: SeriesView) -> str:
    """Peak and mean over the run (empty while it runs)."""
    if series.peak is None or series.mean is None:
        return ""
    percent = series.unit == "%"  # "peak 0.1" alone would read as a fraction
    peak = fmt_value(series.peak, series.unit, with_unit=percent)
    return f"peak {peak} mean {fmt_value(series.mean, series.unit, with_unit=percent)}"


class TelemetryPanel(VerticalScroll, can_focus=False):
    """Telemetry of the benchmark shown; ``show(None)``: none (off, or not sampled yet)."""

    DEFAULT_CSS = """
    TelemetryPanel {
        height: auto;
        max-height: 45%;
        border-top: solid $primary;
        border-title-color: $text;
        padding: 0 1;
    }
    TelemetryPanel.-off, TelemetryPanel.-auto.-empty { display: none; }
    Screen.-narrow TelemetryPanel.-auto, Screen.-short TelemetryPanel.-auto { display: none; }
    TelemetryPanel #tp-sources { height: auto; max-height: 2; }
    TelemetryPanel .tp-row { height: 1; }
    TelemetryPanel .tp-name { width: 24; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    TelemetryPanel .tp-value { width: 12; height: 1; text-align: right; }
    TelemetryPanel .tp-spark { width: 1fr; height: 1; margin: 0 1; }
    TelemetryPanel .tp-gap { width: 1fr; height: 1; }
    TelemetryPanel .tp-stats { display: none; width: 26; height: 1; text-wrap: nowrap; }
    TelemetryPanel.-final .tp-stats { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-auto -empty")
        self.border_title = "Server telemetry"
        self.snapshot: TelemetrySnapshot | None = None
        self._rows: dict[tuple[str, str, str], TelemetryRow] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="tp-sources")

    def on_mount(self) -> None:
        self.show(self.snapshot)

    @property
    def shown(self) -> bool:
        """Whether the panel takes space on the screen now."""
        return self.display

    def toggle(self) -> None:
        """Show it if hidden, hide it if shown (over the default)."""
        visible = self.shown
        self.remove_class("-auto", "-on", "-off")
        self.add_class("-off" if visible else "-on")

    def show(self, snapshot: TelemetrySnapshot | None) -> None:
        self.snapshot = snapshot
        if not self.is_mounted:
            return
        self.set_class(snapshot is None or not snapshot.any_available, "-empty")
        self.set_class(snapshot is not None and snapshot.final, "-final")
        final = snapshot is not None and snapshot.final
        self.border_title = "Server telemetry" + (" · peak and mean over the run" if final else "")
        self.query_one("#tp-sources", Static).update(self._sources_text(snapshot))
        keys = {s.key for s in snapshot.series} if snapshot is not None else set()
        for key in [k for k in self._rows if k not in keys]:
            self._rows.pop(key).remove()
        for series in snapshot.series if snapshot is not None else ():
            row = self._rows.get(series.key)
            if row is None:
                row = self._rows[series.key] = TelemetryRow(series)
                self.mount(row)
            else:
                row.update(series)

    @staticmethod
    def _sources_text(snapshot: TelemetrySnapshot | None) -> Text:
        if snapshot is None:
            return Text("no telemetry yet", style="dim")
        text = Text()
        for i, source in enumerate(snapshot.sources):
            if i:
                text.append(" · ", style="dim")
            text.append(source.source + " ")
            text.append(source.state, style="green" if source.available else "dim")
        return text
