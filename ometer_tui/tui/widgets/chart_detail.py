"""A model's distributions in its run detail: the TTFT histogram, the histogram of every
inter-token gap of its runs, the highlighted run's own gaps as a sparkline (one cell per
gap, in order) and each run's p99 gap (one cell per run, in plan order).

State flows down: the screen calls :meth:`DetailCharts.show` with the model's records
whenever they changed, and :meth:`DetailCharts.select` with the run its table
highlights; the charts are rebuilt at most once per :data:`DETAIL_INTERVAL_S` and only
while shown. The gap histogram folds each record's gaps once (``gaps.GapTally``): a
live run does not recount the gaps of the runs already drawn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Sparkline, Static

from ometer_tui.core.bench.gaps import GapTally, itl_sequence, run_gaps_ms
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.series import ttft_histogram
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
        self.selected: RunRecord | None = None
        self.rebuilds = 0
        self._dirty = True
        self._last = -1e9
        self._timer: Timer | None = None
        self._tally = GapTally()
        self._tallied: list[RunRecord] = []  # the records folded into the tally, in order

    def compose(self) -> ComposeResult:
        with Horizontal(id="dc-hists"):
            yield Chart(id="dc-ttft")
            yield Chart(id="dc-itl")
        for which in ("run", "p99"):
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

    def select(self, record: RunRecord | None) -> None:
        """The run whose own gaps the first sparkline shows (the table's highlighted
        run); redrawn at once when shown (one sparkline, no histogram)."""
        self.selected = record
        if self.shown and self.is_mounted:
            self._show_run()

    def _fold(self) -> GapTally:
        """The tally of every gap of ``records``: the new records folded in when the
        list grew (a live run), counted again when it changed otherwise."""
        records, done = self.records, self._tallied
        n = len(done)
        if len(records) < n or any(a is not b for a, b in zip(records, done, strict=False)):
            self._tally, self._tallied, n = GapTally(), [], 0
        self._tally.add(records[n:])
        self._tallied.extend(records[n:])
        return self._tally

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
        gaps = self._fold().histogram()
        self.query_one("#dc-itl", Chart).show(histogram_figure(gaps, title=gaps.name))
        _, p99 = itl_values(itl_sequence(records))
        self._spark("p99", p99, _spark_label("ITL p99 per run ", p99))
        self._show_run()

    def _show_run(self) -> None:
        rec = self.selected
        gaps = [] if rec is None else run_gaps_ms(rec)
        self._spark("run", gaps, run_label(rec, gaps))

    def _spark(self, which: str, values: list[float], label: Text) -> None:
        spark = self.query_one(f"#dc-{which}", Sparkline)
        spark.data = values or [0.0]
        spark.styles.max_width = max(len(values), 1)  # one cell per value when they fit
        self.query_one(f"#dc-{which}-label", Static).update(label)


def run_label(rec: RunRecord | None, gaps_ms: list[float]) -> Text:
    """The highlighted run's sparkline label: which run, how many gaps, their range
    ("gaps p1·3 (63) 18–45 ms"), or why it has none."""
    if rec is None:
        return Text("gaps: no run highlighted", style="dim")
    kind = "warm-up" if rec.warmup else f"p{rec.pass_index}·{rec.prompt_index + 1}"
    if not gaps_ms:
        if not rec.ok:
            why = "failed"
        elif rec.buffered:
            why = "buffered"
        elif rec.arrivals is not None and rec.arrivals < 2:
            why = "one read"
        else:
            why = "not kept"  # a result saved before gaps were kept
        return Text.assemble(f"gaps {kind} ", (f"– {why}", "dim"))
    count = f"{len(gaps_ms)}" + (" sampled" if rec.gaps_sampled else "")
    return _spark_label(f"gaps {kind} ({count}) ", gaps_ms)


def _spark_label(prefix: str, values: list[float]) -> Text:
    """A sparkline's name and range ("ITL p99 per run 18–24 ms"); "–" when no value."""
    text = Text(prefix)
    have = [v for v in values if v > 0]
    if not have:
        text.append("–", style="dim")
    else:
        text.append(f"{min(have):.3g}–{max(have):.3g} ms", style="bold")
    return text
