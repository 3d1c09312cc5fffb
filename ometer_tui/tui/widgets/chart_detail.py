"""A model's distributions in its run detail: TTFT and inter-token gap histograms, and
each run's inter-token gaps as sparklines (one cell per run, in plan order).

State flows down: the screen calls :meth:`DetailCharts.show` with the model's records
whenever they changed; the charts are rebuilt at most once per
:data:`~ometer_tui.tui.widgets.chart_panel.CHART_INTERVAL_S` and only while shown.
Records keep each run's gap summary (mean, p50, p99), not every gap, so the gap
histogram counts one value per run (its mean gap) and says so in its title.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Sparkline, Static

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.series import itl_histogram, itl_sequence, ttft_histogram
from ometer_tui.tui.widgets.chart import Chart
from ometer_tui.tui.widgets.chart_figures import histogram_figure, itl_values

#: Least time between two rebuilds while runs arrive (seconds).
DETAIL_INTERVAL_S = 1.0


class DetailCharts(Vertical, can_focus=False):
    """Histograms and sparklines of one model's runs; hidden until :meth:`toggle`."""

    DEFAULT_CSS = """
    DetailCharts { display: none; height: 1fr; min-height: 8; }
    DetailCharts.-on { display: block; }
    DetailCharts #dc-hists { height: 1fr; }
    DetailCharts .dc-row { height: 1; }
    DetailCharts .dc-label { width: 30; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    DetailCharts Sparkline { width: 1fr; height: 1; margin: 0 1 0 0; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[RunRecord] = []
        self.rebuilds = 0
        self._dirty = True
        self._last = -1e9
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="dc-hists"):
            yield Chart(id="dc-ttft")
            yield Chart(id="dc-itl")
        for which in ("mean", "p99"):
            with Horizontal(classes="dc-row"):
                yield Static(id=f"dc-{which}-label", classes="dc-label", markup=False)
                yield Sparkline([], id=f"dc-{which}")

    @property
    def shown(self) -> bool:
        return self.has_class("-on")

    def toggle(self) -> None:
        self.toggle_class("-on")
        if self.shown:
            self.call_after_refresh(self._rebuild)

    def show(self, records: Sequence[RunRecord], *, urgent: bool = False) -> None:
        """The model's records as they stand (kept; drawn within the update budget)."""
        self.records = list(records)
        self._dirty = True
        if not self.shown:
            return
        wait = DETAIL_INTERVAL_S - (time.monotonic() - self._last)
        if urgent or wait <= 0:
            self._rebuild()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._rebuild)

    def _rebuild(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self._dirty or not self.shown:
            return
        self._dirty = False
        self._last = time.monotonic()
        self.rebuilds += 1
        records = self.records
        self.query_one("#dc-ttft", Chart).show(
            histogram_figure(ttft_histogram(records), title="TTFT")
        )
        self.query_one("#dc-itl", Chart).show(
            histogram_figure(itl_histogram(records), title="ITL, mean per run")
        )
        mean, p99 = itl_values(itl_sequence(records))
        for which, values in (("mean", mean), ("p99", p99)):
            spark = self.query_one(f"#dc-{which}", Sparkline)
            spark.data = values or [0.0]
            spark.styles.max_width = max(len(values), 1)  # one cell per run
            self.query_one(f"#dc-{which}-label", Static).update(_spark_label(which, values))


def _spark_label(which: str, values: list[float]) -> Text:
    """The sparkline's name and range ("ITL mean per run 18–24 ms"); "–" when no run
    has one."""
    text = Text(f"ITL {which} per run ")
    have = [v for v in values if v > 0]
    if not have:
        text.append("–", style="dim")
    else:
        text.append(f"{min(have):.3g}–{max(have):.3g} ms", style="bold")
    return text
