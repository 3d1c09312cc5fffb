"""Accessible HTML tables for the report: a caption, column headers with ``scope``, the
first cell of each row as its row header; every cell escaped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ometer_tui.core.report.charts import esc

__all__ = ["table"]

#: A cell that reads as a figure (``12``, ``31.3 ms``, ``~640``, ``$0.01``, ``–``, ``3/0``):
#: right-aligned; other text is left-aligned.
_FIGURE = re.compile(r"^(?:[~$<>≤≥+-]?\d|–$|-$|n<)")


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str) -> str:
    """A ``<table>`` whose first column names the row (a model, a step, a source)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = list(row)
        if not cells:
            continue
        first = f'<th scope="row">{esc(cells[0])}</th>'
        rest = "".join(
            f"<td>{esc(c)}</td>" if _FIGURE.match(c) else f'<td class="t">{esc(c)}</td>'
            for c in cells[1:]
        )
        body.append(f"<tr>{first}{rest}</tr>")
    return (
        f'<div class="table"><table><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
