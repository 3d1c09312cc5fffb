"""The results screen's workers strip: the engine workers and their load, under the header.

It shows a session's :class:`~ometer_tui.core.bench.worker_view.WorkerBoard` (the core
decides what is stale, the totals and the warning's words; this widget only lays them
out) and observes the session's ``changed`` signal. Hidden while no report came (a
result from the history has none).

- The summary: the layout, the worst lag p99, chunks/s and CPU summed, stale workers
  (requests in flight are in the header's status line, beside the requests done).
- Compact (less than :data:`ROOMY_WIDTH` x :data:`ROOMY_HEIGHT`): one summary line,
  phrases dropped from the end when short of room.
- Roomy: the summary and one line per worker (at most :data:`ROOMY_ROWS`, the worst
  first when there are more; ``w`` shows up to :data:`ALL_ROWS`).
- A worker past the lag limit adds a warning line under the summary, in words
  (``NO_COLOR`` keeps them); on a narrow terminal it wraps rather than lose its figure.
- The engine's warnings about the run (``EngineNotice.warning``: the calibration's
  "this asks ~N chunks/s; this machine holds ~M ...") stay under the summary, shown
  even before any report came.
- Stale workers (silent for more than 3 s while running) show as stale, not as numbers;
  the strip redraws every second while the benchmark runs, so a worker going silent is
  seen without a report.
- After the end: the layout and each worker's peak lag p99, and the warning in the past
  tense when a worker was ever past the limit (it tells whether the result's timings can
  be trusted, so it stays); the last second's figures (0 in flight...) would say nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.timer import Timer
from textual.widget import Widget

from ometer_tui.core.bench.worker_view import WorkerRow
from ometer_tui.tui.widgets.results_header import Phrase, fit_phrases

if TYPE_CHECKING:
    from ometer_tui.tui.session import BenchmarkSession, SessionChanged

#: One line per worker from this terminal size (columns, rows).
ROOMY_WIDTH = 100
ROOMY_HEIGHT = 30
#: Worker lines shown at most: roomy, and with ``w``.
ROOMY_ROWS = 4
ALL_ROWS = 16

#: The columns of a worker's line: (title, width).
COLUMNS = (("worker", 7), ("node", 16), ("pid", 8), ("chunks/s", 10), ("CPU", 6),
           ("lag p99", 10), ("in flight", 10), ("memory", 9))  # fmt: skip

#: Keys of a screen that holds a workers strip (the action comes with WorkerKeys).
WORKER_BINDINGS: list[BindingType] = [
    Binding("w", "toggle_workers", "Workers", show=False, id="results.workers",
            tooltip="Show every engine worker's load, or only the summary"),
]  # fmt: skip

WARN_STYLE = "bold black on yellow"
LAG_STYLE = "bold red"


class WorkerKeys:
    """The strip's action, for a screen that composes one :class:`WorkersStrip`."""

    def action_toggle_workers(self) -> None:
        cast(DOMNode, self).query_one(WorkersStrip).toggle()


def _cells(values: list[str]) -> str:
    out = ""
    for (title, width), value in zip(COLUMNS, values, strict=False):
        cut = value if len(value) < width else value[: width - 2] + "…"
        out += cut.ljust(width) if title in ("worker", "node") else cut.rjust(width - 1) + " "
    return out.rstrip()


def _row_text(row: WorkerRow) -> Text:
    report = row.live
    if report is None:
        values = [str(row.worker + 1), row.report.node if row.report else "", "", row.state()]
        text = Text(_cells(values[:3]))
        text.append(" " + row.state(), style="yellow")
        return text
    memory = f"{report.rss_bytes / 1e6:,.0f} MB" if report.rss_bytes is not None else ""
    head = _cells([str(row.worker + 1), report.node, str(report.pid),
                   f"{report.chunks_per_s:,.0f}", f"{report.cpu_percent:.0f}%"])  # fmt: skip
    lag = f"{report.lag_p99_ms:.1f} ms".rjust(COLUMNS[5][1] - 1) + " "
    text = Text(head + " ")
    text.append(lag, style=LAG_STYLE if report.overloaded else "")
    text.append(f"{report.in_flight}".rjust(COLUMNS[6][1] - 1) + " " + memory.rjust(8))
    text.rstrip()
    return text


def _row_lines(rows: list[WorkerRow], limit: int, *, expanded: bool) -> list[Text]:
    """Column titles and a line per worker, at most ``limit`` (the worst then: stale
    ones, then by lag), in the workers' order."""
    if not rows:
        return []
    shown = rows
    if len(rows) > limit:

        def badness(r: WorkerRow) -> float:
            return 1e9 if r.stale else (r.live.lag_p99_ms if r.live else 0.0)

        keep = {r.worker for r in sorted(rows, key=badness, reverse=True)[:limit]}
        shown = [r for r in rows if r.worker in keep]
    out = [Text("  " + _cells([t for t, _ in COLUMNS]), style="dim")]
    out += [Text("  ") + _row_text(r) for r in shown]
    if len(rows) > len(shown):
        more = len(rows) - len(shown)
        hint = "" if expanded else ": w shows more"
        out.append(Text(f"  … {more} more worker{'s' if more != 1 else ''}{hint}", style="dim"))
    return out


class WorkersStrip(Widget, can_focus=False):
    """The workers and their load of ``session``'s benchmark (see the module)."""

    DEFAULT_CSS = """
    WorkersStrip {
        display: none;
        height: auto;
        max-height: 50vh;
        padding: 0 1;
    }
    WorkersStrip.-shown { display: block; }
    """

    def __init__(self, session: BenchmarkSession, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.expanded = False
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        self.session.changed.subscribe(self, self._session_changed)
        self._update()

    def toggle(self) -> None:
        """Every worker's line (up to :data:`ALL_ROWS`), or back to what fits."""
        self.expanded = not self.expanded
        self._update()
        if self.session.workers.empty:
            self.notify("No engine worker has reported its load (yet).", timeout=3)

    def _session_changed(self, change: SessionChanged) -> None:
        if change.workers or change.restarted or change.finished or change.notices:
            self._update()

    def _warnings(self) -> list[str]:
        """The engine's warnings about this run (the calibration's: a load past what
        this machine measures honestly); they stay while the result is shown."""
        return [notice.text for notice in self.session.notices if notice.warning]

    def _update(self) -> None:
        running = self.session.running
        self.set_class(not self.session.workers.empty or bool(self._warnings()), "-shown")
        if running and self._timer is None:  # stale workers show without a report
            self._timer = self.set_interval(1.0, self._tick)
        elif not running and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refresh(layout=True)

    def _tick(self) -> None:
        self.refresh(layout=True)  # (a stale worker may take the warning's line away)

    # ---------------------------------------------------------------- drawing

    @property
    def roomy(self) -> bool:
        width, height = self.app.size
        return width >= ROOMY_WIDTH and height >= ROOMY_HEIGHT

    def lines(self, width: int = 0) -> list[Text]:
        """The lines the strip shows (``width`` 0: no phrase dropped)."""
        board = self.session.workers
        told = [Text(f"⚠ {text}", style=WARN_STYLE) for text in self._warnings()]
        if board.empty:
            return told
        running = self.session.running
        now = self.session.clock() if running else None
        phrases = self._phrases(now)
        head = Text()
        head.append("Client ", style="bold")
        head.append_text(fit_phrases(phrases, max(width - head.cell_len, 0) if width else 0))
        out = [head]
        warning = board.warning(now)
        if warning is not None:  # under the summary: never cut off by the rows
            why = (board.advice(now) if now is not None else None) or (
                "timings of that time may be late"
            )
            out.append(fit_phrases([Phrase(Text(f"⚠ {warning}", style=WARN_STYLE)),
                                    Phrase(Text(why), 1)], width, separator=": "))  # fmt: skip
        out += told
        limit = ALL_ROWS if self.expanded else ROOMY_ROWS if self.roomy else 0
        if running and limit:
            out += _row_lines(board.rows(now), limit, expanded=self.expanded)
        return out

    def _phrases(self, now: float | None) -> list[Phrase]:
        board = self.session.workers
        # (requests in flight: the header says it, beside the requests done)
        texts = [t for t in board.summary_phrases(now) if not t.endswith(" in flight")]
        warned = board.warning(now) is not None
        phrases = []
        for i, text in enumerate(texts):
            style = ""
            if text.startswith("lag p99") and warned:
                style = LAG_STYLE
            elif text.endswith("stale") or text == "no live report":
                style = "yellow"
            phrases.append(Phrase(Text(text, style=style), 0 if i < 2 else i))
        return phrases

    @property
    def plain(self) -> str:
        """Everything the strip would show with room enough (tests, screen readers)."""
        return "\n".join(line.plain for line in self.lines())

    def render(self) -> Text:
        text = Text("\n").join(self.lines(self.size.width))
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
