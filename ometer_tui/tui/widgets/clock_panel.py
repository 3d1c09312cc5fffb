"""The server's timings beside the client's for one run (``core.bench.clocks``)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ometer_tui.core.bench.clocks import SHOWN_TIMINGS, ClockRow, Unit, clock_rows
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.tui.formatting import DASH, fmt_rate, fmt_seconds, fmt_signed_seconds


def _value(value: float | None, unit: Unit) -> str:
    if value is None:
        return DASH
    if unit is Unit.SECONDS:
        return fmt_seconds(value)
    if unit is Unit.RATE:
        return fmt_rate(value)
    return f"{value:.0f}"


def clock_table(rec: RunRecord) -> Table:
    """Rows of :func:`clock_rows` (``client − server`` is exactly the two shown
    values' difference), then any other timing the server sent, as sent."""
    table = Table(box=None, pad_edge=False, expand=False, show_edge=False)
    table.add_column("", style="bold", overflow="fold")
    table.add_column("client", justify="right", no_wrap=True)
    table.add_column("server", justify="right", no_wrap=True)
    table.add_column("client − server", justify="right", no_wrap=True)
    rows: list[ClockRow] = clock_rows(rec)
    for row in rows:
        diff = fmt_signed_seconds(row.diff) if row.diff is not None else ""
        table.add_row(row.label, _value(row.client, row.unit), _value(row.server, row.unit),
                      diff)  # fmt: skip
    server = rec.server_timings.as_dict() if rec.server_timings is not None else {}
    for key, value in server.items():
        if key not in SHOWN_TIMINGS:
            table.add_row(key, DASH, f"{value:.4g}", "")
    if not server:
        table.add_row(Text("the server reported no timings", style="dim"), "", "", "")
    return table
