"""Every run of one model: client and server timings side by side, and the response text."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ometer_tui.core.bench.metrics import clock_diff, stream_note
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.tui.results_table import (
    BUFFERED,
    DASH,
    NOT_STREAMED,
    fmt_bytes,
    fmt_context,
    fmt_rate,
    fmt_seconds,
    metric_stats,
)

if TYPE_CHECKING:
    from ometer_tui.tui.screens.results import ResultsScreen

#: Preview of the response text: this many characters at most.
PREVIEW_CHARS = 1500

RUN_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("n", "#", 3),
    ("kind", "run", 7),
    ("status", "status", 7),
    ("ttft", "TTFT", 8),
    ("vttft", "vis TTFT", 8),
    ("e2e", "e2e", 8),
    ("tokens", "tokens", 11),
    ("tps", "tok/s", 7),
    ("srv", "srv t/s", 7),
    ("att", "att", 3),
    ("queue", "queue", 8),
    ("error", "error", 40),
)


def ordered_records(records: list[RunRecord]) -> list[RunRecord]:
    """Warm-up runs first, then measured runs in plan order (pass, prompt)."""
    return sorted(records, key=lambda r: (not r.warmup, r.pass_index, r.prompt_index))


def run_cells(index: int, rec: RunRecord) -> list[Text]:
    """One run as table cells (``Text``, never markup)."""
    kind = "warm-up" if rec.warmup else f"p{rec.pass_index}·{rec.prompt_index + 1}"
    if rec.ok:
        status = Text(str(rec.status or "ok"), style="green")
    else:
        status = Text(str(rec.status) if rec.status else "error", style="bold red")
    first = rec.ttft_s if rec.ttft_s is not None else rec.latency_s
    end = rec.e2e_s if rec.e2e_s is not None else rec.latency_s
    if rec.output_tokens is not None:
        tokens = f"{rec.output_tokens} ({rec.tokens_source})"
    elif rec.input_tokens is not None:
        tokens = f"{rec.input_tokens} in"
    else:
        tokens = DASH
    error = rec.error or ""
    if rec.incomplete and not error:
        error = "incomplete stream"
    note = stream_note(rec) if rec.ok else None
    cold = " cold" if rec.cold else ""
    return [
        Text(str(index), justify="right"),
        Text(kind + cold, style="dim italic" if rec.warmup else ""),
        status,
        Text(NOT_STREAMED if rec.not_streamed else fmt_seconds(first), justify="right"),
        Text(fmt_seconds(rec.ttft_visible_s), justify="right"),
        Text(fmt_seconds(end), justify="right"),
        Text(tokens, justify="right", style="yellow" if rec.tokens_source == "chunks" else ""),
        Text(BUFFERED if rec.buffered else fmt_rate(rec.decode_tps), justify="right"),
        Text(fmt_rate(rec.server_decode_tps), justify="right"),
        Text(str(rec.attempts), justify="right", style="yellow" if rec.attempts > 1 else ""),
        Text(fmt_seconds(rec.queue_s) if rec.queue_s else DASH, justify="right"),
        Text(note, style="yellow") if note else Text(error, style="red"),
    ]


def timings_table(rec: RunRecord) -> Table:
    """The server's own timings beside the client's, and the difference (client − server).

    Ollama reports durations (``load_s``, ``prompt_eval_s``, ``eval_s``, ``total_s``,
    converted to seconds by the client); llama.cpp reports ``timings`` in ms. Whatever
    else the server sent is listed as it came.
    """
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    table.add_column("", style="bold")
    table.add_column("client", justify="right")
    table.add_column("server", justify="right")
    table.add_column("client − server", justify="right")
    server = rec.server_timings.as_dict() if rec.server_timings is not None else {}
    diffs = clock_diff(rec) or {}
    used: set[str] = set()

    def take(key: str) -> float | None:
        used.add(key)
        return server.get(key)

    if not server:
        table.add_row("TTFT", fmt_seconds(rec.ttft_s), DASH, DASH)
        end = rec.e2e_s if rec.e2e_s is not None else rec.latency_s
        table.add_row("e2e", fmt_seconds(end), DASH, DASH)
        table.add_row("tok/s", fmt_rate(rec.decode_tps), DASH, DASH)
        table.add_row(Text("the server reported no timings", style="dim"), "", "", "")
        return table

    if "eval_s" in server:  # Ollama
        load, prompt_eval = take("load_s"), take("prompt_eval_s")
        if load is not None:
            table.add_row("load", DASH, fmt_seconds(load), DASH)
        if prompt_eval is not None:
            table.add_row("prompt eval", DASH, fmt_seconds(prompt_eval), DASH)
        prefill = (load or 0.0) + (prompt_eval or 0.0)
        table.add_row(
            "TTFT ~ load+prompt",
            fmt_seconds(rec.ttft_s),
            fmt_seconds(prefill),
            _signed(diffs.pop("ttft_minus_server_prefill_s", None)),
        )
        decode = (
            rec.e2e_s - rec.ttft_s if rec.e2e_s is not None and rec.ttft_s is not None else None
        )
        table.add_row(
            "decode ~ eval",
            fmt_seconds(decode),
            fmt_seconds(take("eval_s")),
            _signed(diffs.pop("decode_minus_server_eval_s", None)),
        )
        total = take("total_s")
        if total is not None:
            e2e_diff = rec.e2e_s - total if rec.e2e_s is not None else None
            table.add_row("e2e ~ total", fmt_seconds(rec.e2e_s), fmt_seconds(total),
                          _signed(e2e_diff))
        take("eval_count")
        take("prompt_eval_count")
    else:
        table.add_row("TTFT", fmt_seconds(rec.ttft_s), DASH,
                      _signed(diffs.pop("ttft_minus_server_prompt_s", None)))
        table.add_row("e2e", fmt_seconds(rec.e2e_s), DASH,
                      _signed(diffs.pop("e2e_minus_server_total_s", None)))
    table.add_row("tok/s", fmt_rate(rec.decode_tps), fmt_rate(rec.server_decode_tps), "")
    if rec.prefill_tps is not None:
        table.add_row("prefill t/s", DASH, fmt_rate(rec.prefill_tps), "")
    if rec.output_tokens is not None:
        table.add_row("tokens", f"{rec.output_tokens} ({rec.tokens_source})",
                      _count(server.get("eval_count")), "")
    if rec.prompt_tokens is not None:
        table.add_row("prompt tokens", DASH, str(rec.prompt_tokens), "")
    for key, value in server.items():
        if key not in used and key not in ("eval_count", "prompt_eval_count"):
            table.add_row(key, DASH, _number(value), "")
    for key, value in diffs.items():
        table.add_row(key, "", "", _signed(value))
    return table


def _count(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}"


def _signed(value: float | None) -> str:
    if value is None:
        return DASH
    sign = "+" if value >= 0 else "−"
    return f"{sign}{fmt_seconds(abs(value))}"


def _number(value: float) -> str:
    return f"{value:.4g}"


class RunDetailScreen(Screen[None]):
    """Every run (warm-up included) of one model of the results screen's benchmark."""

    HELP_TITLE = "Run detail"

    CSS_PATH = "../results.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="run_detail.back",
                tooltip="Back to the results"),
    ]

    def __init__(self, source: ResultsScreen | BenchmarkResult, model: str) -> None:
        super().__init__()
        self._source = source
        self.model = model
        self._shown = 0

    @property
    def result(self) -> BenchmarkResult:
        src = self._source
        return src if isinstance(src, BenchmarkResult) else src.result

    @property
    def model_result(self) -> ModelResult:
        return self.result.models[self.model]

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="detail-title")
        yield Static(self._summary(), id="detail-summary")
        table: DataTable[Text] = DataTable(id="detail-runs", cursor_type="row")
        yield table
        with Horizontal(id="detail-bottom"):
            with VerticalScroll(id="detail-text-box"):
                yield Static("", id="detail-text")
            with VerticalScroll(id="detail-timings-box"):
                yield Static("", id="detail-timings")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#detail-text-box").border_title = "Response"
        self.query_one("#detail-timings-box").border_title = "Server vs client"
        table = self.query_one("#detail-runs", DataTable)
        for key, label, width in RUN_COLUMNS:
            table.add_column(label, key=key, width=width)
        self._add_new_rows()
        table.focus()
        self._show_record(0)
        if self._live:
            self.set_interval(0.5, self._poll)

    @property
    def _live(self) -> bool:
        src = self._source
        return not isinstance(src, BenchmarkResult) and src.benchmark_running

    def _records(self) -> list[RunRecord]:
        return ordered_records(self.model_result.records)

    def _add_new_rows(self) -> None:
        table = self.query_one("#detail-runs", DataTable)
        records = self._records()
        if len(records) == self._shown:
            return
        # Records arrive out of plan order under concurrency: lay the rows out again.
        keep = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for i, rec in enumerate(records, start=1):
                table.add_row(*run_cells(i, rec), key=str(i))
            table.move_cursor(row=min(keep, max(len(records) - 1, 0)))
        self._shown = len(records)

    def _poll(self) -> None:
        self._add_new_rows()
        self.query_one("#detail-title", Static).update(self._title())
        self.query_one("#detail-summary", Static).update(self._summary())

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
        parts: list[tuple[str, str]] = [(info.name, "bold")]
        meta = " · ".join(b for b in bits if b)
        if meta:
            parts.append((meta, "dim"))
        parts.append((f"[{mr.phase}]", "cyan"))
        if self.result.simulated:
            parts.append(("SIMULATED", "bold yellow"))
        # The gaps end the previous part rather than start the next: some SVG renderers
        # drop a span's leading spaces, which ran the name into the size in screenshots.
        text = Text()
        for i, (part, style) in enumerate(parts):
            text.append(part, style=style)
            if i < len(parts) - 1:
                text.append("  ")
        return text

    def _summary(self) -> Text:
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
        for label, metric, fmt in (
            ("TTFT", "ttft_s", fmt_seconds),
            ("e2e", "e2e_s", fmt_seconds),
            ("tok/s", "decode_tps", fmt_rate),
        ):
            st = metric_stats(mr, metric)
            if st is None:
                continue
            if st.n < 5:
                values = ", ".join(fmt(v) for v in (st.values or (st.mean,)))
                text.append(f" · {label} {values}")
            else:
                text.append(
                    f" · {label} mean {fmt(st.mean)} p50 {fmt(st.p50)} p99 {fmt(st.p99)}"
                )
        return text

    @on(DataTable.RowHighlighted, "#detail-runs")
    def _on_highlight(self, event: DataTable.RowHighlighted) -> None:
        self._show_record(event.cursor_row)

    def _show_record(self, index: int) -> None:
        records = self._records()
        text_widget = self.query_one("#detail-text", Static)
        timings_widget = self.query_one("#detail-timings", Static)
        if not 0 <= index < len(records):
            text_widget.update(Text("No runs finished yet.", style="dim"))
            timings_widget.update("")
            return
        rec = records[index]
        body = Text()
        if rec.error:
            body.append(f"{rec.error}\n\n", style="bold red")
        if rec.text:
            preview = rec.text[:PREVIEW_CHARS]
            body.append(preview)
            if len(rec.text) > PREVIEW_CHARS:
                body.append(" …", style="dim")
        elif not rec.error:
            body.append("(no response text kept)", style="dim")
        text_widget.update(body)
        timings_widget.update(timings_table(rec))
        # a new record's text starts at its beginning (not where the last one was)
        for box in ("#detail-text-box", "#detail-timings-box"):
            self.query_one(box, VerticalScroll).scroll_home(animate=False, immediate=True)
