"""The results screen's chart panel: the run's time series, the server's, a sweep curve.

State flows down: the panel is given the :class:`~ometer_tui.tui.session.BenchmarkSession`
and observes its ``changed`` signal (as the screens do); a sweep's curve is handed to
:meth:`ChartPanel.show_sweep`. It never polls.

Update budget: the session publishes a few times a second; the panel redraws at most
once per :data:`CHART_INTERVAL_S` while a run goes (a change in between is kept and
drawn when the interval is up), at once when a run starts or ends, and not at all while
hidden. A chart whose figure did not change is not redrawn.

Pages: the charts come in groups (run: output tok/s, in flight, TTFT p50/p99, errors;
server: one chart per telemetry series; sweep: throughput and goodput against offered
load, TTFT against throughput), cut into pages of as many charts as fit: 2x2 when the
panel is at least :data:`WIDE` cells wide and :data:`TALL` high, 2 side by side when
only wide, 1 otherwise (80x24 and 60x20 show one chart at a time). ``g`` / ``G`` go to
the next / previous page; ``c`` shows or hides the panel. While the charts show, the
telemetry panel steps aside unless it was asked for with its own key (``t``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.dom import DOMNode
from textual.timer import Timer

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.series import (
    OfferedKind,
    SeriesBuilder,
    SweepCurve,
    TelemetryPoints,
    TelemetryTrail,
    sweep_curves,
    telemetry_points,
)
from ometer_tui.core.bench.steps import LoadKind
from ometer_tui.tui.widgets.chart import Chart, Figure
from ometer_tui.tui.widgets.chart_figures import run_figures, sweep_figures, telemetry_figure

if TYPE_CHECKING:
    from ometer_tui.tui.session import BenchmarkSession, SessionChanged

#: Least time between two redraws while a run goes (seconds).
CHART_INTERVAL_S = 1.0
#: The panel shows two charts side by side from this width, two rows from this height.
WIDE = 100
TALL = 16
#: Charts drawn at once at most.
MAX_CHARTS = 4

#: Keys of a screen that holds a chart panel (add them to its BINDINGS; the actions
#: come with :class:`ChartKeys`).
CHART_BINDINGS: list[BindingType] = [
    Binding("c", "toggle_charts", "Charts", id="charts.toggle",
            tooltip="Show or hide the charts: the run over time, server telemetry, sweeps"),
    Binding("g", "charts_page(1)", "Next charts", show=False, id="charts.next",
            tooltip="The next page of charts"),
    Binding("G", "charts_page(-1)", "Previous charts", show=False, id="charts.previous",
            tooltip="The previous page of charts"),
]  # fmt: skip


class ChartKeys:
    """The chart panel's actions, for a screen that composes one :class:`ChartPanel`."""

    def action_toggle_charts(self) -> None:
        cast(DOMNode, self).query_one(ChartPanel).toggle()

    def action_charts_page(self, step: int) -> None:
        panel = cast(DOMNode, self).query_one(ChartPanel)
        if panel.shown:
            panel.turn_page(step)


def session_sweep_curves(session: BenchmarkSession) -> dict[str, SweepCurve]:
    """The sweep curves of a session's finished steps, the TTFT SLO drawn ({}: not a
    sweep or search, or no step finished yet)."""
    record, steps = session.result.sweep, session.steps
    if record is not None:
        kind, slo, sweeping = record.kind, record.slo, record.mode != "repeat"
    elif steps is not None:
        job = steps.job
        sweeping = job.sweep is not None or job.find_max is not None
        kind = job.sweep.kind if job.sweep is not None else job.find_max or LoadKind.RATE
        if session.step_now is not None:
            kind = session.step_now.load.kind
        slo = steps.slo
    else:
        return {}
    if not sweeping or not session.step_points:
        return {}
    offered: OfferedKind = "rate" if kind is LoadKind.RATE else "concurrency"
    return sweep_curves(session.step_points, offered_kind=offered, slo_ttft_s=slo.limit_s("ttft"))


class ChartPanel(Vertical, can_focus=False):
    """Charts of ``session``'s benchmark; hidden until :meth:`toggle`."""

    DEFAULT_CSS = """
    ChartPanel {
        display: none;
        height: 2fr;
        min-height: 7;
        border-top: solid $primary;
        border-title-color: $text;
    }
    ChartPanel.-on { display: block; }
    ChartPanel #cp-grid { grid-size: 1 1; grid-gutter: 0 2; height: 1fr; }
    ChartPanel.-cols2 #cp-grid { grid-size: 2 1; }
    ChartPanel.-cols2.-rows2 #cp-grid { grid-size: 2 2; }
    ChartPanel Chart.-unused { display: none; }
    Screen.-charts TelemetryPanel.-auto { display: none; }
    """

    SCOPED_CSS = False  # one rule is about the telemetry panel beside it

    def __init__(self, session: BenchmarkSession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.page = 0
        self.sweeps: dict[str, SweepCurve] = {}
        self.trail = TelemetryTrail()
        self.builder = SeriesBuilder()
        #: model -> (records in the builder, the last of them)
        self._folded: dict[str, tuple[int, RunRecord]] = {}
        self.redraws = 0  # panel updates made (a test checks the budget with it)
        self._dirty = True
        self._last_update = -1e9
        self._timer: Timer | None = None
        self._capacity = 1
        self.pages: list[tuple[str, list[Figure]]] = []
        self._groups: list[tuple[str, list[Figure]]] = []

    def compose(self) -> ComposeResult:
        with Grid(id="cp-grid"):
            for i in range(MAX_CHARTS):
                yield Chart(id=f"cp-chart-{i}", classes="-unused")

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self._session_changed)
        self.sweeps = self.sweeps or session_sweep_curves(self.session)
        if self.session.telemetry is not None:
            self.trail.add(self.session.telemetry)

    @property
    def shown(self) -> bool:
        return self.has_class("-on")

    @property
    def charts(self) -> list[Chart]:
        return list(self.query(Chart))

    # ------------------------------------------------------------------ state down

    def toggle(self) -> None:
        """Show or hide the panel. While it shows, the telemetry panel is hidden unless
        the user asked for it (its key): the charts' server page has the same series."""
        self.toggle_class("-on")
        self.screen.set_class(self.shown, "-charts")
        if self.shown:
            self.call_after_refresh(self.update_now)

    def turn_page(self, step: int) -> None:
        if self.pages:
            self.page = (self.page + step) % len(self.pages)
        self._show_page()

    def show_sweep(self, curves: Mapping[str, SweepCurve]) -> None:
        """Show a sweep's curves, one page per model (``{}``: none); drawn within the
        update budget. Feed it after each finished step (``series.sweep_curves`` makes
        them from the steps' per-model points)."""
        self.sweeps = dict(curves)
        self._changed(urgent=False)

    def _session_changed(self, change: SessionChanged) -> None:
        if change.steps or change.restarted:
            self.sweeps = session_sweep_curves(self.session)
        if change.restarted:
            self.trail.clear()
        if change.telemetry and self.session.telemetry is not None:
            self.trail.add(self.session.telemetry)
        self._changed(urgent=change.restarted or change.finished)

    def _changed(self, *, urgent: bool) -> None:
        self._dirty = True
        if not self.shown:
            return
        wait = CHART_INTERVAL_S - (time.monotonic() - self._last_update)
        if urgent or wait <= 0:
            self.update_now()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self.update_now)

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        cols = 2 if width >= WIDE else 1
        rows = 2 if height >= TALL and cols == 2 else 1
        self.set_class(cols == 2, "-cols2")
        self.set_class(rows == 2, "-rows2")
        capacity = cols * rows
        if capacity != self._capacity:
            self._capacity = capacity
            self._paginate()

    # ------------------------------------------------------------------- drawing

    def update_now(self) -> None:
        """Rebuild the figures from the session (if anything changed) and show a page."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._dirty or not self.shown:
            return
        self._dirty = False
        self._last_update = time.monotonic()
        self.redraws += 1
        self._groups = self._figures()
        self._paginate()

    def _figures(self) -> list[tuple[str, list[Figure]]]:
        result = self.session.result
        self._fold_new_records()
        groups: list[tuple[str, list[Figure]]] = [("run", list(run_figures(self.builder.series())))]
        server: tuple[TelemetryPoints, ...]
        if not self.session.running and result.telemetry is not None:
            server = telemetry_points(result.telemetry)  # the whole run, finished
        else:
            server = self.trail.points()
        if server:
            groups.append(("server", [telemetry_figure(s) for s in server]))
        for model, curve in self.sweeps.items():
            groups.append((f"sweep {model}", list(sweep_figures(curve))))
        return groups

    def _fold_new_records(self) -> None:
        """Hand the series builder the records that arrived since the last redraw. The
        engine's final result holds the same records in the same order as the live one;
        anything else (a re-run, a result loaded) starts the builder afresh."""
        models = self.session.result.models
        for name, last in self._folded.items():
            records = models[name].records if name in models else []
            if len(records) < last[0] or records[last[0] - 1] is not last[1]:
                self.builder = SeriesBuilder()
                self._folded = {}
                break
        for name, mr in models.items():
            done = self._folded[name][0] if name in self._folded else 0
            if len(mr.records) > done:
                self.builder.add(mr.records[done:])
                self._folded[name] = (len(mr.records), mr.records[-1])

    def _paginate(self) -> None:
        size = self._capacity
        self.pages = [
            (name, figures[i : i + size])
            for name, figures in self._groups
            for i in range(0, len(figures), size)
        ]
        self.page = min(self.page, max(len(self.pages) - 1, 0))
        self._show_page()

    def _show_page(self) -> None:
        if not self.pages:
            return
        name, figures = self.pages[self.page]
        index = sum(1 for p in self.pages[: self.page] if p[0] == name) + 1
        count = sum(1 for p in self.pages if p[0] == name)
        where = f" {index}/{count}" if count > 1 else ""
        more = " · g next" if len(self.pages) > 1 else ""
        self.border_title = f"Charts · {name}{where}{more}"
        for i, chart in enumerate(self.charts):
            figure = figures[i] if i < len(figures) else None
            chart.set_class(figure is None, "-unused")
            chart.show(figure)
