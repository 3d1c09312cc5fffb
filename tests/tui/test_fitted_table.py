"""The fitted table widget: fitting rules (pure) and the widget in a tiny host app."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from ometer_tui.tui.widgets.fitted_table import (
    FitColumn,
    FittedTable,
    cut_text,
    fit_widths,
    natural_width,
)

COLUMNS = [
    FitColumn("name", "Name", minimum=8, cut="middle"),
    FitColumn("status", "Status", width=12),
    FitColumn("url", "URL", cap=30, minimum=10, priority=1),
    FitColumn("api", "API", priority=2),
]


def test_natural_width_is_the_widest_of_label_and_cells_up_to_cap() -> None:
    col = FitColumn("url", "URL", cap=10)
    assert natural_width(col, [Text("abc")]) == 3
    assert natural_width(col, [Text("x" * 40)]) == 10
    assert natural_width(FitColumn("s", "Status", width=12), [Text("x" * 40)]) == 12
    assert natural_width(FitColumn("t", "TTFT"), [], extra_label=2) == 6


def test_fit_keeps_priority_zero_and_drops_minor_columns_first() -> None:
    naturals = {"name": 20, "status": 12, "url": 30, "api": 6}
    assert fit_widths(COLUMNS, naturals, 200) == naturals
    # name+status = 32 + 4 padding; url gets what is left (>= 10), api nothing
    assert fit_widths(COLUMNS, naturals, 50) == {"name": 20, "status": 12, "url": 12}
    # url does not fit at its minimum: it and everything after it go
    assert fit_widths(COLUMNS, naturals, 44) == {"name": 20, "status": 12}
    # the kept columns shrink (the later first, down to their minimum: status has none)
    assert fit_widths(COLUMNS, naturals, 30) == {"name": 14, "status": 12}
    assert fit_widths(COLUMNS, naturals, 10) == {"name": 8, "status": 12}
    # not laid out yet: everything at its natural width
    assert fit_widths(COLUMNS, naturals, 0) == naturals


def test_cut_in_the_middle_keeps_both_ends_apart() -> None:
    a = cut_text(Text("fault-rate-limited"), 14, "middle").plain
    b = cut_text(Text("fault-rate-limited-once"), 14, "middle").plain
    assert a != b and len(a) == len(b) == 14
    assert b.startswith("fault-") and b.endswith("once") and "…" in b
    assert cut_text(Text("short"), 14, "middle").plain == "short"
    assert cut_text(Text("x" * 20), 5).plain == "x" * 20  # cut at render: ellipsis overflow
    assert cut_text(Text("x" * 20), 5).overflow == "ellipsis"


class Host(App[None]):
    def __init__(self, width_hint: int = 0) -> None:
        super().__init__()

    def compose(self) -> ComposeResult:
        yield FittedTable(COLUMNS, id="t", sortable=True)


def rows(n: int, *, status: str = "ok") -> dict[str, dict[str, Text]]:
    return {
        f"m{i}": {
            "name": Text(f"model-number-{i}"),
            "status": Text(status),
            "url": Text(f"http://host-{i}.example:8080/v1"),
            "api": Text("ollama"),
        }
        for i in range(n)
    }


@pytest.mark.parametrize("width", [40, 60, 120])
async def test_widget_fits_its_width_and_refits_on_resize(width: int) -> None:
    app = Host()
    async with app.run_test(size=(width, 12)) as pilot:
        table = app.query_one(FittedTable)
        table.show_rows(rows(3))
        await pilot.pause()
        used = sum(w + 2 for w in table.widths.values())
        assert used <= width - 2 or set(table.widths) == {"name", "status"}
        assert {"name", "status"} <= set(table.visible_columns)
        if width >= 120:
            assert table.visible_columns == ["name", "status", "url", "api"]
        await pilot.resize_terminal(140, 12)
        await pilot.pause()
        assert table.visible_columns == ["name", "status", "url", "api"]


async def test_show_rows_diffs_reorders_and_keeps_the_cursor_row() -> None:
    app = Host()
    async with app.run_test(size=(120, 12)) as pilot:
        table = app.query_one(FittedTable)
        table.show_rows(rows(3))
        await pilot.pause()
        table.move_to("m1")
        assert table.highlighted_key == "m1"
        new = rows(3, status="done")
        reordered = {k: new[k] for k in ("m2", "m1", "m0")}
        table.show_rows(reordered)
        await pilot.pause()
        assert table.row_keys == ["m2", "m1", "m0"]
        assert table.highlighted_key == "m1"
        assert table.get_cell("m0", "status").plain == "done"
        del reordered["m2"]
        table.show_rows(reordered)
        await pilot.pause()
        assert table.row_keys == ["m1", "m0"]
        assert table.highlighted_key == "m1"
        table.set_sort_indicator("status", descending=True)
        assert (
            table.columns[next(k for k in table.columns if k.value == "status")].label.plain
            == "Status ▼"
        )
