"""Every run of one model, one row each (warm-up first), on a :class:`FittedTable`.

Generation models show TTFT, visible TTFT, e2e, tokens and rates; embedding models show
their latency and input tokens instead (they have no TTFT).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from ometer_tui.core.bench.adjustments import adjustment_lines, run_adjustment
from ometer_tui.core.bench.metrics import stream_note
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.tui.formatting import BUFFERED, DASH, NOT_STREAMED, fmt_rate, fmt_seconds
from ometer_tui.tui.widgets.fitted_table import FitColumn, FittedTable

_COMMON_HEAD = (
    FitColumn("n", "#", width=3),
    FitColumn("kind", "run", width=7),
    FitColumn("status", "status", width=8),
)
_COMMON_TAIL = (
    FitColumn("att", "att", width=3, priority=3),
    FitColumn("queue", "queue", width=8, priority=4),
    FitColumn("error", "error", cap=60, minimum=10, priority=1),
)
GENERATION_COLUMNS = (
    *_COMMON_HEAD,
    FitColumn("ttft", "TTFT", width=8),
    FitColumn("vttft", "vis TTFT", width=8, priority=2),
    FitColumn("e2e", "e2e", width=8),
    FitColumn("tokens", "tokens", width=11, priority=2),
    FitColumn("tps", "tok/s", width=7),
    FitColumn("srv", "srv t/s", width=7, priority=2),
    *_COMMON_TAIL,
)
EMBEDDING_COLUMNS = (
    *_COMMON_HEAD,
    FitColumn("latency", "latency", width=8),
    FitColumn("tokens", "input", width=8, priority=2),
    FitColumn("in_tps", "in tok/s", width=8, priority=2),
    *_COMMON_TAIL,
)


def ordered_records(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Warm-up runs first, then measured runs in plan order (pass, prompt)."""
    return sorted(records, key=lambda r: (not r.warmup, r.pass_index, r.prompt_index))


def _right(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right")


def _note_cell(error: str, note: str | None, adjustment: str | None) -> Text:
    """The error (red), or the stream note (yellow), then what was changed in the request
    (a dropped parameter, a cut prompt: yellow), so a changed request is never silent."""
    cell = Text(note, style="yellow") if note else Text(error, style="red")
    if adjustment:
        cell.append(" · " if cell.plain else "")
        cell.append(adjustment, style="yellow")
    return cell


def run_cells(index: int, rec: RunRecord, *, embedding: bool = False) -> dict[str, Text]:
    """One run as cells (``Text``, never markup), keyed by column."""
    kind = "warm-up" if rec.warmup else f"p{rec.pass_index}·{rec.prompt_index + 1}"
    if rec.ok:
        status = Text(str(rec.status or "ok"), style="green")
    else:
        status = Text(str(rec.status) if rec.status else "error", style="bold red")
    error = rec.error or ""
    if rec.incomplete and not error:
        error = "incomplete stream"
    note = stream_note(rec) if rec.ok else None
    cells = {
        "n": _right(str(index)),
        "kind": Text(kind + (" cold" if rec.cold else ""), style="dim italic" if rec.warmup
                     else ""),
        "status": status,
        "att": _right(str(rec.attempts), "yellow" if rec.attempts > 1 else ""),
        "queue": _right(fmt_seconds(rec.queue_s) if rec.queue_s else DASH),
        "error": _note_cell(error, note, run_adjustment(rec)),
    }  # fmt: skip
    if embedding:
        cells["latency"] = _right(fmt_seconds(rec.latency_s))
        cells["tokens"] = _right(DASH if rec.input_tokens is None else str(rec.input_tokens))
        cells["in_tps"] = _right(fmt_rate(rec.input_tps))
        return cells
    has = rec.output_tokens is not None
    tokens = f"{rec.output_tokens} ({rec.tokens_source})" if has else DASH
    cells |= {
        "ttft": _right(NOT_STREAMED if rec.not_streamed else fmt_seconds(rec.ttft_s)),
        "vttft": _right(fmt_seconds(rec.ttft_visible_s)),
        "e2e": _right(fmt_seconds(rec.e2e_s)),
        "tokens": _right(tokens, "yellow" if rec.tokens_source == "chunks" else ""),
        "tps": _right(BUFFERED if rec.buffered else fmt_rate(rec.decode_tps)),
        "srv": _right(fmt_rate(rec.server_decode_tps)),
    }
    return cells


def adjustment_text(records: Sequence[RunRecord]) -> Text:
    """The line under a model's runs: what was changed in its requests (a parameter the
    server refused, a prompt cut to fit the window) and in how many runs; empty: none."""
    lines = adjustment_lines(records)
    if not lines:
        return Text("")
    return Text.assemble(("⚠ sent changed: ", "bold yellow"), ("; ".join(lines), "yellow"))


class RunTable(FittedTable):
    """The runs of one model; :meth:`show` takes its records (any order)."""

    def __init__(self, *, embedding: bool = False, id: str | None = None) -> None:
        super().__init__(EMBEDDING_COLUMNS if embedding else GENERATION_COLUMNS,
                         zebra_stripes=False, id=id)  # fmt: skip
        self._embedding = embedding
        self.records: list[RunRecord] = []

    def show(self, records: Sequence[RunRecord]) -> None:
        self.records = ordered_records(records)
        self.show_rows({
            str(i): run_cells(i, rec, embedding=self._embedding)
            for i, rec in enumerate(self.records, start=1)
        })  # fmt: skip

    def highlighted_record(self) -> RunRecord | None:
        key = self.highlighted_key
        if key is None or not key.isdigit():
            return None
        index = int(key) - 1
        return self.records[index] if 0 <= index < len(self.records) else None
