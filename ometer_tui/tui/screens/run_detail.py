"""Every run of one model: client and server timings side by side, and the response text.

Wiring only: it observes the benchmark session it is given (new runs appear as they
finish) and renders the model's runs with :class:`RunTable` and :func:`clock_table`.
When the session found a trend for the model, a line names the saved result it is
compared against and gives each trend metric's A -> B and verdict.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ometer_tui.core.bench.fold import is_embedding, live_stats
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import ModelResult
from ometer_tui.core.bench.workloads.summary import live_load_summary
from ometer_tui.core.compare import TREND_METRICS, Verdict, comparison_rows
from ometer_tui.core.trends import Trend
from ometer_tui.tui.formatting import fmt_bytes, fmt_context, fmt_rate, fmt_seconds
from ometer_tui.tui.session import BenchmarkSession, SessionChanged
from ometer_tui.tui.widgets.chart_detail import DetailCharts
from ometer_tui.tui.widgets.clock_panel import clock_table
from ometer_tui.tui.widgets.run_table import RunTable, adjustment_text

#: Preview of the response text: this many characters at most.
PREVIEW_CHARS = 1500
#: Below this width the response and the timings are stacked, not side by side.
STACK_BELOW = 100


def trend_text(trend: Trend) -> Text:
    """``vs history #12 (date, "label")``, then per trend metric ``A → B unit`` and its
    verdict (``▼ 8% better``, ``▲ 5% worse``, ``≈``, ``too few runs (need 5)``)."""
    text = Text()
    text.append(f"vs history {trend.baseline_name}", style="bold")
    rows = zip(trend.pair.metrics, comparison_rows(trend.pair), strict=True)
    cells = {m.spec.key: row for m, row in rows}
    for key in TREND_METRICS:
        m = trend.metric(key)
        text.append(f" · {m.spec.label} {cells[key][1]} → {cells[key][2]} {m.spec.unit} ")
        if m.verdict is Verdict.TOO_FEW:
            text.append(f"too few runs (need {m.runs_needed})", style="yellow")
        elif m.verdict is Verdict.SAME:
            text.append("≈")
        else:
            style = "green" if m.verdict is Verdict.BETTER else "bold red"
            text.append(f"{trend.mark(key)} {m.verdict.value}", style=style)
    text.append(" (▲▼ beyond noise; ≈ no significant difference)", style="dim")
    return text


class RunDetailScreen(Screen[None]):
    """Every run (warm-up included) of one model of the session's benchmark."""

    HELP_TITLE = "Run detail"

    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="run_detail.back",
                tooltip="Back to the results"),
        Binding("c", "toggle_charts", "Charts", id="run_detail.charts",
                tooltip="TTFT and inter-token gap histograms and per-run sparklines, in "
                "place of the response and timings"),
    ]  # fmt: skip

    def __init__(self, session: BenchmarkSession, model: str) -> None:
        super().__init__()
        self.session = session
        self.model = model

    @property
    def model_result(self) -> ModelResult:
        return self.session.result.models[self.model]

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="detail-title")
        yield Static(self._summary(), id="detail-summary")
        yield Static(id="detail-trend")
        load = self._load()  # a load's figures (issue #11); none: not shown
        yield Static(load, id="detail-load").set_styles(f"display: {'block' if load else 'none'};")
        yield RunTable(embedding=is_embedding(self.model_result), id="detail-runs")
        yield Static(id="detail-adjusted")  # dropped parameters, cut prompts (issue #14)
        yield DetailCharts(id="detail-charts")
        with Horizontal(id="detail-bottom"):
            with VerticalScroll(id="detail-text-box"):
                yield Static("", id="detail-text")
            with VerticalScroll(id="detail-timings-box"):
                yield Static("", id="detail-timings")
        yield Footer(compact=True)

    @property
    def runs(self) -> RunTable:
        return self.query_one("#detail-runs", RunTable)

    def on_mount(self) -> None:
        self.query_one("#detail-text-box").border_title = "Response"
        self.query_one("#detail-timings-box").border_title = "Server vs client"
        self.runs.show(self.model_result.records)
        self._show_adjusted()
        self.runs.focus()
        self._show_record(self.runs.highlighted_record())
        self._show_trend()
        self.session.changed.subscribe(self, self._session_changed)

    def _show_trend(self) -> None:
        trend = self.session.trends.get(self.model)
        widget = self.query_one("#detail-trend", Static)
        widget.display = trend is not None
        widget.update(trend_text(trend) if trend is not None else "")

    def _show_adjusted(self) -> None:
        text = adjustment_text(self.model_result.records)
        widget = self.query_one("#detail-adjusted", Static)
        widget.display = bool(text.plain)
        widget.update(text)

    @property
    def charts(self) -> DetailCharts:
        return self.query_one(DetailCharts)

    def action_toggle_charts(self) -> None:
        """Charts in place of the response and timings (and back)."""
        self.charts.show(self.model_result.records)
        self.charts.toggle()
        self.set_class(self.charts.shown, "-charts")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < STACK_BELOW, "-narrow")

    def _session_changed(self, change: SessionChanged) -> None:
        if self.model not in self.session.result.models:
            return
        if change.trends or change.restarted:
            self._show_trend()
        if change.restarted or change.finished or self.model in change.models:
            before = self.runs.highlighted_record()
            self.runs.show(self.model_result.records)
            self._show_adjusted()
            self.charts.show(self.model_result.records, urgent=change.finished)
            self.query_one("#detail-title", Static).update(self._title())
            self.query_one("#detail-summary", Static).update(self._summary())
            load = self._load()
            self.query_one("#detail-load", Static).update(load)
            self.query_one("#detail-load", Static).display = bool(load)
            if before is None or change.restarted:
                self._show_record(self.runs.highlighted_record())

    def _title(self) -> Text:
        mr = self.model_result
        info = mr.info
        bits = [
            info.parameter_size or "",
            info.quantization or "",
            fmt_bytes(info.size_bytes) if info.size_bytes else "",
            f"ctx {fmt_context(info.context_length)}" if info.context_length else "",
            info.family or "",
        ]
        name = info.name if mr.endpoint is None else f"{info.name} @ {mr.endpoint}"
        parts: list[tuple[str, str]] = [(name, "bold"), (f"[{mr.phase}]", "cyan")]
        if self.session.result.simulated:
            parts.append(("SIMULATED", "bold yellow"))
        meta = " · ".join(b for b in bits if b)
        if meta:  # last: on a narrow terminal it is what gets cut
            parts.append((meta, "dim"))
        # The gaps end the previous part rather than start the next: some SVG renderers
        # drop a span's leading spaces, which ran the name into the size in screenshots.
        text = Text()
        for i, (part, style) in enumerate(parts):
            text.append(part, style=style)
            if i < len(parts) - 1:
                text.append("  ")
        return text

    def _summary(self) -> Text:
        """Counts, then each figure with the n it rests on: the values themselves when
        there are fewer than 5, else mean, p50 and p99."""
        mr = self.model_result
        measured = [r for r in mr.records if not r.warmup]
        ok = sum(1 for r in measured if r.ok)
        text = Text()
        text.append(f"{len(measured)} measured run{'s' if len(measured) != 1 else ''}")
        warm = len(mr.records) - len(measured)
        if warm:
            text.append(f" (+{warm} warm-up)")
        text.append(f" · {ok} ok · ")
        errors = len(measured) - ok
        text.append(f"{errors} error{'s' if errors != 1 else ''}", style="red" if errors else "")
        figures = (
            (("latency", "latency_s", fmt_seconds),)
            if is_embedding(mr)
            else (("TTFT", "ttft_s", fmt_seconds), ("e2e", "e2e_s", fmt_seconds),
                  ("tok/s", "decode_tps", fmt_rate))
        )  # fmt: skip
        for label, metric, fmt in figures:
            st = live_stats(mr, metric)
            if st is None:
                continue
            if st.n < 5:
                values = ", ".join(fmt(v) for v in (st.values or (st.mean,)))
                text.append(f" · {label} (n={st.n}) {values}")
            else:
                text.append(f" · {label} (n={st.n}) mean {fmt(st.mean)} p50 {fmt(st.p50)} "
                            f"p99 {fmt(st.p99)}")  # fmt: skip
        return text

    def _load(self) -> Text:
        """A load's achieved rate, schedule lag, lengths asked and got, most in flight."""
        mr = self.model_result
        final = mr.summary.load if mr.summary is not None else None
        load = live_load_summary(mr.records, self.session.result.plan.load, final)
        return Text("") if load is None else Text.assemble(("load: ", "bold"), load.describe())

    @on(DataTable.RowHighlighted, "#detail-runs")
    def _on_highlight(self, event: DataTable.RowHighlighted) -> None:
        self._show_record(self.runs.highlighted_record())

    def _show_record(self, rec: RunRecord | None) -> None:
        self.charts.select(rec)  # the charts' sparkline of this run's own gaps
        text_widget = self.query_one("#detail-text", Static)
        timings_widget = self.query_one("#detail-timings", Static)
        if rec is None:
            text_widget.update(Text("No runs finished yet.", style="dim"))
            timings_widget.update("")
            return
        body = Text()
        if rec.error:
            body.append(f"{rec.error}\n\n", style="bold red")
        if rec.text:
            body.append(rec.text[:PREVIEW_CHARS])
            if len(rec.text) > PREVIEW_CHARS:
                body.append(" …", style="dim")
        elif not rec.error:
            body.append("(no response text kept)", style="dim")
        text_widget.update(body)
        timings_widget.update(clock_table(rec))
        # a new record's text starts at its beginning (not where the last one was)
        for box in ("#detail-text-box", "#detail-timings-box"):
            self.query_one(box, VerticalScroll).scroll_home(animate=False, immediate=True)
