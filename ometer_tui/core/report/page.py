"""The HTML report: one self-contained page built from a JSON export document.

Inline CSS and inline SVG only: no script, no external font, image or stylesheet, no
``src``/``href`` to the network; it reads the same with JavaScript off, in light and dark
mode (``prefers-color-scheme``) and printed. Every string from the document is escaped.
The summary table has the Markdown report's columns and figures (the same functions
make both); the document never holds a credential, and the endpoint URL is stripped of
user, password and query again here in case an imported document had them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ometer_tui import TOOL_NAME
from ometer_tui.core.bench.metrics import summary_stream_note
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import (
    SUMMARY_HEADER,
    SUMMARY_NOTE,
    _error_lines,
    _ordered_models,
    _plan_line,
    _server_bits,
    _summary_row,
)
from ometer_tui.core.export_read import check_document, result_from_dict
from ometer_tui.core.report.charts import (
    ModelRecords,
    distribution_section,
    esc,
    finite_number,
    scale_for,
    telemetry_charts,
    time_series_section,
)
from ometer_tui.core.report.steps import step_marks, steps_section
from ometer_tui.core.report.style import CSS
from ometer_tui.core.report.tables import table
from ometer_tui.core.secrets import strip_url_credentials

__all__ = ["to_html"]


def _public_url(url: object) -> str:
    text = strip_url_credentials(str(url or ""))
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _when(text: object) -> str:
    if not isinstance(text, str) or not text:
        return "–"
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _endpoints(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's endpoint, or its ``endpoints`` when it names several."""
    many = doc.get("endpoints")
    if isinstance(many, list) and many:
        return [e for e in many if isinstance(e, Mapping)]
    one = doc.get("endpoint")
    return [one] if isinstance(one, Mapping) else []


def _header(doc: Mapping[str, Any], result: BenchmarkResult) -> str:
    eps = _endpoints(doc)
    names = ", ".join(f"{esc(e.get('name'))} ({esc(_public_url(e.get('url')))})" for e in eps)
    when = _when(doc.get("started_at"))
    parts = [f"<header><h1>ometer-tui benchmark: {names}</h1>"]
    marks = []
    if doc.get("simulated"):
        marks.append(
            '<p class="mark simulated"><strong>Simulated:</strong> the built-in demo '
            "endpoint; these are not real server numbers.</p>"
        )
    if doc.get("cancelled"):
        marks.append(
            '<p class="mark cancelled"><strong>Cancelled:</strong> the benchmark was '
            "stopped; only finished runs are shown.</p>"
        )
    parts += marks
    facts = [
        ("Started", when),
        ("Finished", _when(doc.get("finished_at")) if doc.get("finished_at") else "not finished"),
    ]
    api = doc.get("endpoint", {}).get("api") if isinstance(doc.get("endpoint"), Mapping) else None
    bits = _server_bits(result, api if isinstance(api, str) else None, lambda s: s)
    if bits:
        facts.append(("Server", "; ".join(bits)))
    facts.append(("Plan", _plan_line(result).removeprefix("Plan: ").rstrip(".")))
    tool_d = doc.get("tool")
    tool: Mapping[str, Any] = tool_d if isinstance(tool_d, Mapping) else {}
    facts.append(
        (
            "Written by",
            f"{tool.get('name', TOOL_NAME)} {tool.get('version', '')}, export schema "
            f"{doc.get('schema_version')}",
        )
    )
    parts.append('<dl class="facts">')
    parts += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts]
    parts.append("</dl></header>")
    return "".join(parts)


def _note_html(text: str) -> str:
    """The summary note with its Markdown code spans as ``<code>``."""
    out, code = [], False
    for piece in text.split("`"):
        out.append(f"<code>{esc(piece)}</code>" if code else esc(piece))
        code = not code
    return "".join(out)


def _summary(result: BenchmarkResult) -> str:
    models = _ordered_models(result)
    rows = [_summary_row(mr) for mr in models]
    parts = [
        '<section id="summary"><h2>Summary</h2>',
        table(SUMMARY_HEADER, rows, caption="One row per model (measured runs only)"),
        f'<p class="note">{_note_html(SUMMARY_NOTE)}</p>',
    ]
    streams = [
        (mr.info.name, note)
        for mr in models
        if mr.summary is not None and (note := summary_stream_note(mr.summary))
    ]
    if streams:
        parts.append("<h3>Stream notes</h3><ul>")
        parts += [f"<li>{esc(n)}: {esc(t)}</li>" for n, t in streams]
        parts.append("</ul>")
    errors = _error_lines(models)
    if errors:
        parts.append("<h3>Errors by kind</h3><ul>")
        parts += [f"<li>{esc(n)}: {esc(k)}</li>" for n, k in errors]
        parts.append("</ul>")
    loads = [
        (mr.info.name, mr.summary.load.describe())
        for mr in models
        if mr.summary is not None and mr.summary.load is not None
    ]
    if loads:  # a load (plan.load): rate, schedule lag, latency from intended, lengths
        parts.append("<h3>Load</h3><ul>")
        parts += [f"<li>{esc(n)}: {esc(text)}</li>" for n, text in loads]
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


def _num(x: object, digits: int = 3) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "–" if x is None else str(x)
    return str(x) if isinstance(x, int) else f"{x:.{digits}g}"


def _with_unit(value: object, unit: object) -> str:
    """A telemetry figure in a readable unit (bytes in MiB/GiB, seconds in ms)."""
    number = finite_number(value)
    if number is None:
        return "–"
    return scale_for(str(unit or ""), number).text(number)


def _telemetry(
    telemetry: object, end_s: float | None, marks: Sequence[tuple[float, str]] = ()
) -> str:
    if not isinstance(telemetry, Mapping):
        return ""
    parts = ['<section id="telemetry"><h2>Server telemetry</h2>']
    interval = telemetry.get("interval_s")
    if interval is not None:
        parts.append(
            f'<p class="note">Sampled every {esc(_num(interval))} s by the client, on '
            "the same time axis as the runs (seconds since the start).</p>"
        )
    sources = [s for s in telemetry.get("sources") or [] if isinstance(s, Mapping)]
    if sources:
        parts.append(
            table(
                ("Source", "URL", "Available", "Reason", "Samples", "Failures"),
                [
                    [
                        str(s.get("source")),
                        _public_url(s.get("url")),
                        "yes" if s.get("available") else "no",
                        str(s.get("reason") or ""),
                        _num(s.get("samples")),
                        _num(s.get("failures")),
                    ]
                    for s in sources
                ],
                caption="Telemetry sources",
            )
        )
    server = telemetry.get("server")
    if isinstance(server, Mapping) and server:
        parts.append(
            table(
                ("Key", "Value"),
                [[str(k), str(v)] for k, v in server.items()],
                caption="What the server said about itself",
            )
        )
    parts.append(telemetry_charts(telemetry, end_s, marks))
    summary = [s for s in telemetry.get("summary") or [] if isinstance(s, Mapping)]
    if summary:
        parts.append(
            table(
                ("Source", "Metric", "Label", "n", "Peak", "Mean"),
                [
                    [
                        str(s.get("source")),
                        str(s.get("metric")),
                        str(s.get("label") or ""),
                        _num(s.get("n")),
                        _with_unit(s.get("peak"), s.get("unit")),
                        _with_unit(s.get("mean"), s.get("unit")),
                    ]
                    for s in summary
                ],
                caption="Peaks and means over the run",
            )
        )
    hists = [h for h in telemetry.get("histograms") or [] if isinstance(h, Mapping)]
    if hists:
        parts.append(
            table(
                ("Metric", "Model", "Count", "Mean (s)", "p50 (s)", "p90 (s)", "p99 (s)"),
                [
                    [
                        str(h.get("metric")),
                        str(h.get("model") or ""),
                        _num(h.get("count")),
                        _num(h.get("mean_s")),
                        _num(h.get("p50_s")),
                        _num(h.get("p90_s")),
                        _num(h.get("p99_s")),
                    ]
                    for h in hists
                ],
                caption="The server's own latency histograms over the run",
            )
        )
    vs = [v for v in telemetry.get("ttft_client_vs_server") or [] if isinstance(v, Mapping)]
    if vs:
        parts.append(
            table(
                (
                    "Model",
                    "Client TTFT mean (s)",
                    "Server TTFT mean (s)",
                    "Difference (s)",
                    "Server figure",
                    "The difference is",
                ),
                [
                    [
                        str(v.get("model")),
                        _num(v.get("client_mean_s")),
                        _num(v.get("server_mean_s")),
                        _num(v.get("difference_s")),
                        str(v.get("server_source") or ""),
                        str(v.get("difference_is") or ""),
                    ]
                    for v in vs
                ],
                caption="Client TTFT against the server's own",
            )
        )
    events = [e for e in telemetry.get("model_events") or [] if isinstance(e, Mapping)]
    if events:
        parts.append(
            table(
                ("Model", "Event", "Seen at (s)", "Since (s)", "Detail", "Runs touched"),
                [
                    [
                        str(e.get("model")),
                        str(e.get("event")),
                        _num(e.get("t_s")),
                        _num(e.get("since_s")),
                        str(e.get("detail") or ""),
                        str(len(e.get("runs") or [])),
                    ]
                    for e in events
                ],
                caption="Models loaded, reloaded or unloaded during the run",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _models(result: BenchmarkResult) -> list[ModelRecords]:
    return [
        ModelRecords(mr.info.name, i, list(mr.records))
        for i, mr in enumerate(_ordered_models(result))
    ]


def _end_s(models: Sequence[ModelRecords]) -> float | None:
    ends = [r.finished_at_s for m in models for r in m.records if not r.warmup]
    return max(ends) if ends else None


def to_html(doc: Mapping[str, Any]) -> str:
    """The report page for an export document (a saved result, an imported export, or
    ``export.to_dict`` of a live one). :class:`~ometer_tui.core.export_read.
    ForeignDocumentError` when the document is not one of ours."""
    check_document(dict(doc))
    result = result_from_dict(doc)
    models = _models(result)
    end_s = _end_s(models)
    marks = step_marks(doc.get("steps"))
    eps = _endpoints(doc)
    title = "ometer-tui report: " + ", ".join(str(e.get("name")) for e in eps)
    title += f", {_when(doc.get('started_at'))}"
    body = [
        _header(doc, result),
        "<main>",
        _summary(result),
        steps_section(doc.get("steps"), doc.get("sweep")),
        time_series_section(models, end_s, marks),
        distribution_section(models),
        _telemetry(doc.get("telemetry"), end_s, marks),
        "</main>",
        f'<footer><p class="note">Written by {esc(TOOL_NAME)} from its JSON export '
        "(docs/json-schema.md). Self-contained: no script, no network.</p></footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
