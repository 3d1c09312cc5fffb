"""The export's ``telemetry`` section read back into a :class:`TelemetryRecording`
(issue #13): a result opened from the history or imported shows its telemetry panel
(peaks and means of the saved series) and re-exports the same section.

The inverse of :func:`~ometer_tui.core.telemetry.summary.telemetry_dict` as far as the
export holds the recording: the series' samples (seconds since the start, rounded), the
sources, what the server said about itself and the model events. The derived sections
(``summary``, ``histograms``, ``ttft_client_vs_server``, ``model_events``) were computed
from what the export does not keep (unrounded samples, histogram buckets), so they are
kept as written (``TelemetryRecording.saved_sections``), not computed again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ometer_tui.core.telemetry.recording import (
    SourceKind,
    SourceState,
    TelemetryEvent,
    TelemetryRecording,
)

__all__ = ["SAVED_SECTIONS", "recording_from_dict"]

#: The sections kept as written (see the module's docstring).
SAVED_SECTIONS = ("summary", "histograms", "ttft_client_vs_server", "model_events")

_NS = 1e9


def _ns(t_s: object) -> int:
    """Seconds since the benchmark started as the recording's clock (its origin is 0)."""
    if not isinstance(t_s, int | float) or isinstance(t_s, bool):
        raise TypeError(f"a time is not a number: {t_s!r}")
    return round(t_s * _NS)


def _value(v: object) -> float:
    if v is None:  # the export writes a value that was not finite as null
        return math.nan
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise TypeError(f"a sample value is not a number: {v!r}")
    return float(v)


def _kind(value: object) -> SourceKind | None:
    """The source's kind; ``None`` for one this version does not know (it is skipped)."""
    try:
        return SourceKind(str(value))
    except ValueError:
        return None


def recording_from_dict(section: object) -> TelemetryRecording | None:
    """The recording an export's ``telemetry`` section was written from; ``None`` when
    the section is null (telemetry was off). Raises ``TypeError`` / ``ValueError`` /
    ``KeyError`` on a field that is not as exported."""
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise TypeError("telemetry is not an object")
    rec = TelemetryRecording(interval_s=float(section.get("interval_s") or 0.0))
    rec.origin_ns = 0
    for s in section.get("sources") or []:
        kind = _kind(s["source"])
        if kind is None:
            continue
        rec.sources[kind] = SourceState(
            kind,
            str(s.get("url") or ""),
            available=bool(s.get("available")),
            reason=None if s.get("reason") is None else str(s["reason"]),
            samples=int(s.get("samples") or 0),
            failures=int(s.get("failures") or 0),
        )
    server = section.get("server") or {}
    if not isinstance(server, Mapping):
        raise TypeError("telemetry.server is not an object")
    for key, value in server.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            rec.server[str(key)] = value
    for d in section.get("series") or []:
        kind = _kind(d["source"])
        if kind is None:
            continue
        series = rec.series_for(
            kind, str(d["metric"]), str(d.get("unit") or ""), str(d.get("name") or ""),
            str(d.get("label") or ""),
        )  # fmt: skip
        series.points = [(_ns(t), _value(v)) for t, v in d.get("samples") or []]
    for e in section.get("model_events") or []:
        rec.events.append(
            TelemetryEvent(
                _ns(e["t_s"]), _ns(e["since_s"]), SourceKind.OLLAMA_PS, str(e["event"]),
                str(e["model"]), str(e.get("detail") or ""),
            )
        )  # fmt: skip
    points = [t for s in rec.series.values() for t, _ in s.points]
    rec.started_ns = min(points, default=0)
    rec.stopped_ns = max(points, default=0)
    rec.saved_sections = {
        name: [dict(item) for item in section.get(name) or []] for name in SAVED_SECTIONS
    }
    return rec
