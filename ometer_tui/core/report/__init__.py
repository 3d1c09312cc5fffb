"""Reports: the self-contained HTML page, and one entry point for every export format.

:func:`render` / :func:`write_export` take any :class:`~ometer_tui.core.export.
ExportFormat`: HTML is made here (from the JSON document, :func:`to_html`), the others by
:mod:`ometer_tui.core.export`. Callers that offer HTML (``run --format html``, ``history``,
the export menu) use these rather than ``export.render``, which does not import the
report (it would close an import cycle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ometer_tui.core.atomic import write_atomic
from ometer_tui.core.export import ExportFormat, to_dict
from ometer_tui.core.export import render as _render_export
from ometer_tui.core.report.page import to_html

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

__all__ = ["html_report", "render", "to_html", "write_export"]


def html_report(result: BenchmarkResult) -> str:
    """The HTML report of a result (built from its JSON document)."""
    return to_html(to_dict(result))


def render(result: BenchmarkResult, fmt: ExportFormat | str) -> str:
    """The export of ``result`` in ``fmt`` as text, HTML included."""
    fmt = ExportFormat(fmt)
    if fmt is ExportFormat.HTML:
        return html_report(result)
    return _render_export(result, fmt)


def write_export(result: BenchmarkResult, fmt: ExportFormat | str, path: Path) -> Path:
    """Write the export atomically (mode 0644) and return the path written; an
    ``OSError`` naming ``path`` when it cannot be written (nothing is written then)."""
    path = Path(path).expanduser()
    write_atomic(path, render(result, fmt), mode=0o644)
    return path
