"""After (or during) a run: peaks and means, histogram percentiles, client vs server TTFT,
Ollama reloads and the runs they touched, and the export section."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.telemetry.prometheus import Histogram
from ometer_tui.core.telemetry.recording import Series, SourceKind, TelemetryRecording

_QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    source: str
    metric: str
    unit: str
    label: str
    n: int
    peak: float
    mean: float
    last: float


def _run_points(rec: TelemetryRecording, series: Series) -> list[tuple[float, float]]:
    """Points from the benchmark's start on (all of them before it has started)."""
    points = [(rec.t_s(t), v) for t, v in series.points]
    during = [(t, v) for t, v in points if t >= 0.0]
    return during or points


def summarise(rec: TelemetryRecording) -> list[SeriesSummary]:
    """Peak, mean and last value of every series over the run."""
    out: list[SeriesSummary] = []
    for s in rec.series.values():
        values = [v for _, v in _run_points(rec, s)]
        if values:
            out.append(
                SeriesSummary(
                    s.source.value,
                    s.metric,
                    s.unit,
                    s.label,
                    len(values),
                    max(values),
                    fmean(values),
                    values[-1],
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class CurrentValue:
    """The latest sample of one series: what a live panel shows."""

    source: str
    metric: str
    unit: str
    label: str
    t_s: float
    value: float


def current_values(rec: TelemetryRecording) -> list[CurrentValue]:
    """The latest value of every series (immutable: safe to hand to another thread)."""
    return [
        CurrentValue(
            s.source.value, s.metric, s.unit, s.label, rec.t_s(s.points[-1][0]), s.points[-1][1]
        )
        for s in rec.series.values()
        if s.points
    ]


@dataclass(frozen=True, slots=True)
class HistogramSummary:
    """What the server's own histogram observed between the first and last sample."""

    metric: str  # server_ttft, server_itl, server_e2e, server_queue
    model: str  # the model label ("" when the server has none)
    count: int
    mean_s: float | None
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None


def histogram_summaries(rec: TelemetryRecording) -> list[HistogramSummary]:
    out: list[HistogramSummary] = []
    for (metric, model), (first, last) in sorted(rec.histograms.items()):
        h: Histogram = last.minus(first)
        count = round(h.count)
        mean = h.sum / h.count if h.count > 0 else None
        p50, p90, p99 = (h.quantile(q) for q in _QUANTILES)
        out.append(HistogramSummary(metric, model, count, mean, p50, p90, p99))
    return out


@dataclass(frozen=True, slots=True)
class TtftComparison:
    """Client TTFT beside the server's own, per model, and what the gap is made of."""

    model: str
    client_mean_s: float
    client_n: int
    server_mean_s: float
    server_n: int
    server_source: str  # "vllm:time_to_first_token_seconds", "ollama load+prompt_eval"...
    difference_s: float  # client minus server
    named: str  # what the difference is


_GAP_PROMETHEUS = (
    "network, HTTP front-end and proxies before the server's engine saw the request, "
    "and the client (the server's histogram starts when its engine receives the request)"
)
_GAP_OLLAMA = (
    "network, queueing in Ollama for a free slot (OLLAMA_NUM_PARALLEL), the first "
    "token's decode and the client"
)
_GAP_LLAMACPP = (
    "waiting for a free slot (requests_deferred), network, the first token's decode "
    "and the client (llama.cpp's prompt_ms is prefill only)"
)


def client_vs_server(
    result: BenchmarkResult, rec: TelemetryRecording | None
) -> list[TtftComparison]:
    """Per model: the server's TTFT from its histogram over the run (vLLM, SGLang), else
    from the records' server timings (Ollama load + prompt eval; llama.cpp prompt_ms)."""
    hist = {(h.model, h.metric): h for h in histogram_summaries(rec)} if rec else {}
    unlabelled = rec is not None and len(result.models) == 1
    out: list[TtftComparison] = []
    for mr in result.models.values():
        name = mr.info.name if mr.endpoint is None else f"{mr.info.name} @ {mr.endpoint}"
        runs = [r for r in mr.records if r.ok and not r.warmup and r.ttft_s is not None]
        if not runs:
            continue
        h = hist.get((mr.info.name, "server_ttft")) or (
            hist.get(("", "server_ttft")) if unlabelled else None
        )
        if h is not None and h.mean_s is not None and rec is not None:
            # the histogram saw every request of the run: compare with all of them,
            # warm-up included, so both sides hold the same requests
            every = [r.ttft_s for r in mr.records if r.ok and r.ttft_s is not None]
            mean = fmean(every)
            source = _histogram_name(rec, "server_ttft") + " (warm-up included on both sides)"
            out.append(
                TtftComparison(
                    name,
                    mean,
                    len(every),
                    h.mean_s,
                    h.count,
                    source,
                    mean - h.mean_s,
                    _GAP_PROMETHEUS,
                )
            )
            continue
        ollama = [
            (r.ttft_s, (t.load_s or 0.0) + (t.prompt_eval_s or 0.0))
            for r in runs
            if (t := r.server_timings) is not None and t.prompt_eval_s is not None
        ]
        llama = [
            (r.ttft_s, t.prompt_ms / 1000.0)
            for r in runs
            if (t := r.server_timings) is not None and t.prompt_ms is not None
        ]
        for pairs, source, named in (
            (ollama, "ollama load_duration + prompt_eval_duration", _GAP_OLLAMA),
            (llama, "llama.cpp timings.prompt_ms", _GAP_LLAMACPP),
        ):
            if pairs:
                c = fmean(p[0] for p in pairs if p[0] is not None)
                s = fmean(p[1] for p in pairs)
                out.append(TtftComparison(name, c, len(pairs), s, len(pairs), source, c - s, named))
                break
    return out


def _histogram_name(rec: TelemetryRecording, key: str) -> str:
    s = rec.series.get((SourceKind.PROMETHEUS, key, ""))
    return s.name if s is not None else key


@dataclass(frozen=True, slots=True)
class Reload:
    """A model (re)loaded or unloaded during the run, and the runs it may have touched."""

    model: str
    kind: str
    t_s: float
    since_s: float
    detail: str
    runs: tuple[int, ...]  # indices into the model's records


def reloads(result: BenchmarkResult, rec: TelemetryRecording) -> list[Reload]:
    """Ollama loads/reloads/unloads, each with the runs in flight between the two samples."""
    out: list[Reload] = []
    for ev in rec.events:
        t_s, since_s = rec.t_s(ev.t_ns), rec.t_s(ev.since_ns)
        mr = result.models.get(ev.model) or result.models.get(f"{ev.model}:latest")
        if mr is None and ev.model.endswith(":latest"):
            mr = result.models.get(ev.model.removesuffix(":latest"))
        touched = tuple(
            i
            for i, r in enumerate(mr.records if mr is not None else ())
            if r.started_at_s <= t_s and r.finished_at_s >= since_s
        )
        out.append(Reload(ev.model, ev.kind, t_s, since_s, ev.detail, touched))
    return out


# -- export -----------------------------------------------------------------------------


def _n(x: float | None, digits: int = 6) -> float | int | None:
    if x is None or not math.isfinite(x):
        return None
    if float(x).is_integer() and abs(x) < 2**53:
        return int(x)
    return float(f"{x:.{digits}g}")


def _t(x: float) -> float:
    return round(x, 3)


def telemetry_dict(result: BenchmarkResult) -> dict[str, Any] | None:
    """The export's ``telemetry`` section (docs/json-schema.md); ``None`` when off.

    Built from whitelisted fields: source URLs without credentials, no headers.
    """
    rec = getattr(result, "telemetry", None)
    if not isinstance(rec, TelemetryRecording):
        return None
    section = _telemetry_dict(result, rec)
    if rec.saved_sections is not None:  # read back from an export: as it was written
        section |= rec.saved_sections
    return section


def _telemetry_dict(result: BenchmarkResult, rec: TelemetryRecording) -> dict[str, Any]:
    return {
        "interval_s": rec.interval_s,
        "sources": [
            {
                "source": s.kind.value,
                "url": s.url,
                "available": s.available,
                "reason": s.reason,
                "samples": s.samples,
                "failures": s.failures,
            }
            for s in rec.sources.values()
        ],
        "server": dict(sorted(rec.server.items())),
        "series": [
            {
                "source": s.source.value,
                "metric": s.metric,
                "name": s.name,
                "label": s.label or None,
                "unit": s.unit,
                "samples": [[_t(rec.t_s(t)), _n(v)] for t, v in s.points],
            }
            for s in rec.series.values()
        ],
        "summary": [
            {
                "source": s.source,
                "metric": s.metric,
                "label": s.label or None,
                "unit": s.unit,
                "n": s.n,
                "peak": _n(s.peak),
                "mean": _n(s.mean),
            }
            for s in summarise(rec)
        ],
        "histograms": [
            {
                "metric": h.metric,
                "model": h.model or None,
                "count": h.count,
                "mean_s": _n(h.mean_s),
                "p50_s": _n(h.p50_s),
                "p90_s": _n(h.p90_s),
                "p99_s": _n(h.p99_s),
            }
            for h in histogram_summaries(rec)
        ],
        "ttft_client_vs_server": [
            {
                "model": c.model,
                "client_mean_s": _n(c.client_mean_s),
                "server_mean_s": _n(c.server_mean_s),
                "difference_s": _n(c.difference_s),
                "n_client": c.client_n,
                "n_server": c.server_n,
                "server_source": c.server_source,
                "difference_is": c.named,
            }
            for c in client_vs_server(result, rec)
        ],
        "model_events": [
            {
                "model": r.model,
                "event": r.kind,
                "t_s": _t(r.t_s),
                "since_s": _t(r.since_s),
                "detail": r.detail or None,
                "runs": list(r.runs),
            }
            for r in reloads(result, rec)
        ],
    }


def summary_lines(result: BenchmarkResult) -> list[str]:
    """Human lines for the end of a headless run: sources, peaks and means, TTFT gap."""
    rec = getattr(result, "telemetry", None)
    if not isinstance(rec, TelemetryRecording):
        return []
    lines = ["telemetry:"]
    for src in rec.sources.values():
        lines.append(f"  {src.kind.value} ({src.url}): {src.describe()}")
    for s in summarise(rec):
        label = f" [{s.label}]" if s.label else ""
        lines.append(
            f"  {s.metric}{label}: peak {_fmt(s.peak)} {s.unit}, mean {_fmt(s.mean)} {s.unit}"
        )
    for h in histogram_summaries(rec):
        if h.count and h.p50_s is not None and h.mean_s is not None:
            model = f" [{h.model}]" if h.model else ""
            lines.append(
                f"  {h.metric}{model}: {h.count} observed, mean {h.mean_s * 1000:.1f} ms, "
                f"p50 {h.p50_s * 1000:.1f} ms"
            )
    for c in client_vs_server(result, rec):
        lines.append(
            f"  ttft {c.model}: client {c.client_mean_s * 1000:.1f} ms, server "
            f"{c.server_mean_s * 1000:.1f} ms ({c.server_source}); difference "
            f"{c.difference_s * 1000:+.1f} ms = {c.named}"
        )
    for r in reloads(result, rec):
        lines.append(
            f"  {r.model} {r.kind} between {max(0.0, r.since_s):.1f} s and {r.t_s:.1f} s"
            + (f", runs touched: {len(r.runs)}" if r.runs else "")
        )
    return lines


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
