"""Export a benchmark result as JSON (versioned schema), CSV (long format) or Markdown.

Everything exported is built from whitelisted fields: the endpoint contributes its name,
its URL without credentials or query string, and its API flavour, never a token, an api
key, a header or URL credentials. Free text that came from a server (error messages,
backend headers, kept output text) is passed through :func:`redact_text` with every
secret the endpoint knows, in case a server echoed one back.

The JSON schema is documented in ``docs/json-schema.md``; bump :data:`SCHEMA_VERSION` on
any change that is not a pure addition.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ometer_tui import TOOL_NAME, __version__
from ometer_tui.core import sweep_doc
from ometer_tui.core.atomic import write_atomic
from ometer_tui.core.bench.metrics import clock_diff, stream_note, summary_stream_note
from ometer_tui.core.bench.records import (
    MIN_N_FOR_PERCENTILES,
    ModelSummary,
    RunRecord,
    ServerTimings,
    Stats,
)
from ometer_tui.core.models import Endpoint, GenerationParams
from ometer_tui.core.secrets import (
    SENSITIVE_HEADERS,
    Secret,
    SecretResolutionError,
    redact_text,
    resolve,
    strip_url_credentials,
)
from ometer_tui.core.telemetry.summary import telemetry_dict
from ometer_tui.core.units import format_rate, format_seconds

if TYPE_CHECKING:  # at run time only attributes are read; keeps the import light
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.result import BenchmarkResult, ModelResult

__all__ = [
    "CSV_COLUMNS",
    "SCHEMA_VERSION",
    "ExportFormat",
    "csv_from_dict",
    "default_export_path",
    "export_text",
    "render",
    "to_csv",
    "to_dict",
    "to_json",
    "to_markdown",
    "to_table",
    "write_export",
]

#: The newest schema this version writes and reads (docs/json-schema.md). 2: a sweep's
#: ``steps``; several endpoints (``models`` may hold one name twice, one entry per
#: endpoint that served it, each naming its ``endpoint``, described in the top-level
#: ``endpoints`` list). Version 1 documents still read.
SCHEMA_VERSION = 2
ONE_ENDPOINT_SCHEMA_VERSION = SCHEMA_VERSION  # a one-endpoint result: the same version

#: A figure that is not there (no ok run had it)
MISSING = "–"


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    MD = "md"
    #: plain text in aligned columns, for a terminal
    TABLE = "table"
    #: the self-contained HTML report (made by ``ometer_tui.core.report``)
    HTML = "html"

    @property
    def suffix(self) -> str:
        """The file name extension, with its dot."""
        return ".txt" if self is ExportFormat.TABLE else f".{self.value}"

    @classmethod
    def from_path(cls, path: Path | str) -> ExportFormat:
        """The format a file name asks for by its extension (``.markdown`` is Markdown);
        JSON when the extension names no format."""
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix == "markdown":
            return cls.MD
        if suffix == "txt":
            return cls.TABLE
        if suffix == "htm":
            return cls.HTML
        try:
            return cls(suffix)
        except ValueError:
            return cls.JSON


# --------------------------------------------------------------------------- helpers


def _sig(x: float, digits: int = 6) -> float | None:
    """``x`` to ``digits`` significant digits; ``None`` for NaN and infinities."""
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _num(name: str, x: float | int | None) -> float | int | None:
    """A number for export: ints unchanged; seconds (``*_s``) to the microsecond, other
    floats to 6 significant digits; NaN and infinities become ``None``."""
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, int):
        return x
    if not math.isfinite(x):
        return None
    if name.endswith("_s"):
        # microseconds, but never fewer than 6 significant digits for tiny values
        rounded = round(x, 6)
        return rounded if abs(x) >= 0.1 or rounded == 0.0 else _sig(x)
    return _sig(x)


def _utc(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, to the millisecond."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # the result stores UTC
    dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _public_url(endpoint: Endpoint) -> str:
    """scheme://host[:port]/path: no credentials, no query string, no fragment."""
    url = strip_url_credentials(endpoint.display_url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _secrets_of(endpoint: Endpoint) -> list[Secret]:
    """Every secret the endpoint knows, to redact echoes of them from server text."""
    out: list[Secret] = []
    for ref in (endpoint.token, endpoint.api_key):
        if ref is None:
            continue
        if ref.value is not None:
            out.append(ref.value)
        try:
            resolved = resolve(ref)
        except SecretResolutionError:
            resolved = None
        if resolved is not None:
            out.append(resolved)
    for name, value in endpoint.headers.items():
        if name.lower() in SENSITIVE_HEADERS:
            out.append(Secret(value))
            _, _, rest = value.partition(" ")
            if rest:
                out.append(Secret(rest))
    try:
        password = urlsplit(endpoint.base_url).password
    except ValueError:
        password = None
    if password:
        out.append(Secret(password))
    # longest first, so a token is not half-replaced by a shorter one inside it
    out = [s for s in out if len(s.reveal()) >= 4]
    out.sort(key=lambda s: len(s.reveal()), reverse=True)
    return out


class _Redactor:
    def __init__(self, *endpoints: Endpoint) -> None:
        self._secrets = sorted(
            (s for ep in endpoints for s in _secrets_of(ep)),
            key=lambda s: len(s.reveal()),
            reverse=True,
        )

    def __call__(self, text: str | None) -> str | None:
        if text is None or not self._secrets:
            return text
        return redact_text(text, self._secrets)


def _params_dict(params: GenerationParams) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(GenerationParams):
        value = getattr(params, f.name)
        if value is None:
            continue
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float):
            value = _sig(value)
        out[f.name] = value
    return out


def _stats_dict(name: str, s: Stats) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": s.n,
        "mean": _num(name, s.mean),
        "p50": _num(name, s.p50),
        "p90": _num(name, s.p90),
        "p99": _num(name, s.p99),
        "min": _num(name, s.min),
        "max": _num(name, s.max),
        "stdev": _num(name, s.stdev),
    }
    if s.values:
        out["values"] = [_num(name, v) for v in s.values]
    return out


def _summary_dict(s: ModelSummary) -> dict[str, Any]:
    return {
        "runs": s.runs,
        "ok": s.ok,
        "errors": s.errors,
        "errors_by_kind": dict(sorted(s.errors_by_kind.items())),
        "output_tokens": s.output_tokens,
        "prompt_tokens": s.prompt_tokens,
        "window_s": _num("window_s", s.window_s),
        "request_throughput": _num("request_throughput", s.request_throughput),
        "output_tps_aggregate": _num("output_tps_aggregate", s.output_tps_aggregate),
        "cost_usd": _num("cost_usd", s.cost_usd),
        "cold_runs": s.cold_runs,
        "warmup_runs": s.warmup_runs,
        "tokens_estimated": s.tokens_estimated,
        "buffered_runs": s.buffered_runs,
        "not_streamed_runs": s.not_streamed_runs,
        "metrics": {name: _stats_dict(name, st) for name, st in s.metrics.items()},
        **({"load": s.load.as_dict()} if s.load is not None else {}),
    }


#: RunRecord field -> exported key (metrics.md names; ``pass_index`` is ``pass``).
_RUN_KEY_RENAMES = {"pass_index": "pass"}
#: RunRecord fields holding text that may come from a server.
_RUN_TEXT_FIELDS = frozenset({"error", "error_kind", "text"})


#: Exported keys derived from the record rather than stored on it, after the field named.
_RUN_DERIVED_AFTER = {"server_timings": "clock_diff"}


def _run_fields() -> list[tuple[str, str]]:
    """(RunRecord field or derived key, exported key), in the record's field order."""
    out: list[tuple[str, str]] = []
    for f in fields(RunRecord):
        out.append((f.name, _RUN_KEY_RENAMES.get(f.name, f.name)))
        if (derived := _RUN_DERIVED_AFTER.get(f.name)) is not None:
            out.append((derived, derived))
    return out


def _run_attr(record: RunRecord, name: str) -> object:
    if name == "clock_diff":
        return clock_diff(record)
    value = getattr(record, name)
    return value.as_dict() if isinstance(value, ServerTimings) else _load_dict(value)


def _load_dict(value: object) -> object:
    """A run's ``load`` figures (workloads.record.LoadStamp) as a dict, like timings."""
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if as_dict is not None else value


def _run_value(name: str, value: object, redact: _Redactor) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return _num(name, value)
    if isinstance(value, str):
        return redact(value) if name in _RUN_TEXT_FIELDS else value
    if isinstance(value, dict):
        # server_timings / clock_diff: seconds keyed by name
        return {str(k): _run_value(str(k), v, redact) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_run_value(name, v, redact) for v in value]
    return str(value)


#: Optional run keys (docs/json-schema.md): written only when the record has them, and
#: only in JSON (a list per run: not a CSV cell).
_RUN_OPTIONAL = frozenset({"itl_gaps_us"})


def _run_dict(record: RunRecord, redact: _Redactor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in _run_fields():
        if name in _RUN_OPTIONAL:
            value = getattr(record, name)
            if value:
                out[key] = value.tolist()  # itl_gaps_us: whole microseconds
            continue
        out[key] = _run_value(name, _run_attr(record, name), redact)
    return out


def _ordered_models(result: BenchmarkResult) -> list[ModelResult]:
    """Models in plan order, then any the plan did not list, in insertion order (rows
    of several endpoints: endpoint by endpoint, as planned)."""
    if result.multi_endpoint:
        return list(result.models.values())
    order = {m.name: i for i, m in enumerate(result.plan.models)}
    return sorted(result.models.values(), key=lambda m: order.get(m.info.name, len(order)))


def _api_of(result: BenchmarkResult, endpoint: Endpoint | None = None) -> str | None:
    """The API flavour of ``endpoint`` (default: the plan's first endpoint)."""
    ep = endpoint or result.plan.endpoint
    if ep.api is not None:
        return ep.api.value
    server = result.server_of(ep.name if result.multi_endpoint else None)
    if server is not None:
        return server.flavour.value
    return None


def row_label(mr: ModelResult) -> str:
    """A row's name in text: the model, ``model @ endpoint`` with several endpoints."""
    return mr.info.name if mr.endpoint is None else f"{mr.info.name} @ {mr.endpoint}"


# --------------------------------------------------------------------------- JSON


def to_dict(result: BenchmarkResult) -> dict[str, Any]:
    """The JSON document as Python data (schema in docs/json-schema.md)."""
    plan = result.plan
    ep = plan.endpoint
    redact = _Redactor(*plan.endpoints)
    multi = result.multi_endpoint
    models: list[dict[str, Any]] = []
    for mr in _ordered_models(result):
        info = mr.info
        models.append(
            {
                "name": info.name,
                **({"endpoint": mr.endpoint} if multi else {}),
                "metadata": {
                    "size_bytes": info.size_bytes,
                    "parameter_size": info.parameter_size,
                    "quantization": info.quantization,
                    "context_length": info.context_length,
                    "family": info.family,
                    "capabilities": list(info.capabilities),
                    "modified_at": info.modified_at,
                    "owned_by": info.owned_by,
                },
                "phase": mr.phase.value,
                "backend": {k: redact(v) for k, v in sorted(mr.backend.items())},
                "summary": None if mr.summary is None else _summary_dict(mr.summary),
                "runs": [_run_dict(r, redact) for r in mr.records],
            }
        )
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION if multi else ONE_ENDPOINT_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "started_at": _utc(result.started_at),
        "finished_at": _utc(result.finished_at),
        "cancelled": result.cancelled,
        "simulated": result.simulated,
        "endpoint": _endpoint_dict(result, ep, redact),
        "plan": _plan_dict(plan),
        "warmup_requests": result.warmup_requests,
        "models": models,
        # the server's own telemetry (core/telemetry/summary.py; null when off)
        "telemetry": telemetry_dict(result),
        # a sweep, an SLO search or repeats (core/sweep_doc.py; null / [] otherwise)
        "sweep": sweep_doc.sweep_dict(result),
        "steps": sweep_doc.steps_list(result, _summary_dict),
    }
    if multi:  # each endpoint: what it is, its server and its own plan
        doc["plan"]["endpoints_parallel"] = plan.endpoints_parallel
        doc["endpoints"] = [
            {
                **_endpoint_dict(result, part.endpoint, redact),
                "simulated": part.endpoint.simulated,
                "plan": _plan_dict(part),
            }
            for part in plan.parts
        ]
    return doc


def _endpoint_dict(result: BenchmarkResult, ep: Endpoint, redact: _Redactor) -> dict[str, Any]:
    server = result.server_of(ep.name if result.multi_endpoint else None)
    return {
        "name": ep.name,
        "url": _public_url(ep),
        "api": _api_of(result, ep),
        "server_version": None if server is None else server.version,
        "backend": None if server is None else redact(server.backend),
    }


def _plan_dict(plan: BenchmarkPlan) -> dict[str, Any]:
    rl = plan.rate_limit
    return {
        "models": [m.name for m in plan.models],
        "prompts": list(plan.prompts),
        "passes": plan.passes,
        "warmup": plan.warmup,
        "concurrency": plan.concurrency,
        "parallel_models": plan.parallel_models,
        "params": _params_dict(plan.params),
        "completion_api": plan.completion_api,
        "keep_text_chars": plan.keep_text_chars,
        "rate_limit": {
            "requests_per_minute": _num("rpm", rl.requests_per_minute),
            "tokens_per_minute": _num("tpm", rl.tokens_per_minute),
        },
        "retry": {
            "max_retries": plan.retry.max_retries,
            "base_delay_s": _num("base_delay_s", plan.retry.base_delay_s),
            "max_delay_s": _num("max_delay_s", plan.retry.max_delay_s),
        },
        "prices": None
        if plan.prices is None
        else {
            "input_per_million": _num("price", plan.prices.input_per_million),
            "output_per_million": _num("price", plan.prices.output_per_million),
        },
        "images": {
            "count": len(plan.images),
            "bytes": sum(len(img.data) for img in plan.images),
        },
    }


def to_json(result: BenchmarkResult) -> str:
    """The versioned JSON document (UTF-8 text, 2-space indent, trailing newline)."""
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- CSV

#: Columns before the run fields, repeated on every row.
_CONTEXT_COLUMNS: tuple[str, ...] = (
    "started_at",
    "endpoint",
    "url",
    "api",
    "simulated",
    "model",
    "family",
    "parameter_size",
    "quantization",
    "context_length",
    "size_bytes",
)


def _csv_columns() -> tuple[str, ...]:
    run_keys = [key for name, key in _run_fields() if name != "model" and name not in _RUN_OPTIONAL]
    return (*_CONTEXT_COLUMNS, *run_keys)


#: The CSV header, in order: context columns, then every RunRecord field (but the
#: JSON-only inter-token gaps).
CSV_COLUMNS: tuple[str, ...] = _csv_columns()

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = str(value)
    # A spreadsheet would run a cell starting like a formula: neutralise it.
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(result: BenchmarkResult) -> str:
    """Long format: one row per run (warm-up runs included, ``warmup`` = true), with the
    endpoint and model metadata on every row. Columns: :data:`CSV_COLUMNS`."""
    return csv_from_dict(to_dict(result))


def csv_from_dict(doc: dict[str, Any]) -> str:
    """:func:`to_csv` from the JSON document (a stored or imported export)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    endpoints = {e.get("name"): e for e in doc.get("endpoints") or []}
    for model in doc["models"]:
        meta = model["metadata"]
        ep = endpoints.get(model.get("endpoint")) or doc["endpoint"]
        context = {
            "started_at": doc["started_at"],
            "endpoint": ep["name"],
            "url": ep["url"],
            "api": ep["api"],
            "simulated": doc["simulated"],
            "model": model["name"],
            "family": meta["family"],
            "parameter_size": meta["parameter_size"],
            "quantization": meta["quantization"],
            "context_length": meta["context_length"],
            "size_bytes": meta["size_bytes"],
        }
        for run in model["runs"]:
            row = {**run, **context}
            writer.writerow([_cell(row.get(col)) for col in CSV_COLUMNS])
    return out.getvalue()


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """A table cell: pipes escaped, line breaks flattened."""
    return " ".join(text.split()).replace("|", "\\|")


def _f(x: float | None, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{x:.{digits}f}"


def _with_n(text: str, st: Stats, ok: int) -> str:
    """A figure that rests on fewer values than the model's ok runs says so."""
    return text if st.n == ok or text == MISSING else f"{text} (n={st.n})"


def _time(summary: ModelSummary, name: str, figure: str) -> str:
    st = summary.metrics.get(name)
    if st is None:
        return MISSING
    if figure in ("p90", "p99") and not st.has_percentiles:
        return f"n<{MIN_N_FOR_PERCENTILES}"
    return _with_n(format_seconds(st.shown(figure), MISSING), st, summary.ok)


def _range(summary: ModelSummary, name: str) -> str:
    st = summary.metrics.get(name)
    if st is None:
        return MISSING
    if st.n == 1:
        return _with_n(format_seconds(st.min, MISSING), st, summary.ok)
    low, high = format_seconds(st.min, MISSING), format_seconds(st.max, MISSING)
    unit = " ms" if low.endswith(" ms") and high.endswith(" ms") else ""
    if unit:
        low = low.removesuffix(unit)
    return _with_n(f"{low}–{high}", st, summary.ok)


def _rate(summary: ModelSummary, name: str) -> str:
    st = summary.metrics.get(name)
    return MISSING if st is None else _with_n(format_rate(st.mean, MISSING), st, summary.ok)


def _cost(usd: float | None) -> str:
    if usd is None or not math.isfinite(usd):
        return "–"
    if usd == 0 or usd >= 0.01:
        return f"${usd:.2f}" if usd >= 1 else f"${usd:.4f}"
    return f"${usd:.6f}"


def _server_bits(
    result: BenchmarkResult,
    api: str | None,
    esc: Callable[[str], str],
    endpoint: Endpoint | None = None,
) -> list[str]:
    """The API, server version and backend (of ``endpoint``, default the benchmark's),
    each escaped by ``esc`` for its format."""
    ep = endpoint or result.plan.endpoint
    server = result.server_of(ep.name if result.multi_endpoint else None)
    bits = [f"API: {api}"] if api else []
    if server is not None and server.version:
        bits.append(f"server version: {esc(server.version)}")
    if server is not None and server.backend:
        redact = _Redactor(ep)
        bits.append(f"backend: {esc(redact(server.backend) or '')}")
    return bits


def _title(result: BenchmarkResult, esc: Callable[[str], str]) -> str:
    """``name (url)`` of the endpoint, or of each endpoint joined by `` + ``."""
    return " + ".join(
        esc(ep.name) if _public_url(ep) in ep.name else f"{esc(ep.name)} ({esc(_public_url(ep))})"
        for ep in result.plan.endpoints
    )


def _endpoint_lines(result: BenchmarkResult, esc: Callable[[str], str]) -> list[str]:
    """Several endpoints: one line each (name, URL, API, server), and how they ran."""
    how = "at the same time" if result.plan.endpoints_parallel else "one after the other"
    lines = [f"Endpoints ({how}):"]
    for ep in result.plan.endpoints:
        bits = _server_bits(result, _api_of(result, ep), esc, ep)
        lines.append(f"- {esc(ep.name)}: {esc(_public_url(ep))}" + "".join(f"; {b}" for b in bits))
    return lines


def _summary_rows(
    result: BenchmarkResult, header: Sequence[str], esc: Callable[[str], str]
) -> tuple[list[str], list[list[str]]]:
    """The summary table's header and rows (cells escaped by ``esc``): an endpoint column
    first when the benchmark has several endpoints."""
    models = _ordered_models(result)
    rows = [[esc(cell) for cell in _summary_row(mr)] for mr in models]
    if not result.multi_endpoint:
        return list(header), rows
    return ["Endpoint", *header], [
        [esc(mr.endpoint or ""), *row] for mr, row in zip(models, rows, strict=True)
    ]


def _summary_row(mr: ModelResult) -> list[str]:
    """The summary cells of one model (the name unescaped), as the Markdown report and
    the terminal table show them."""
    s = mr.summary
    name = mr.info.name
    if s is None:
        return [name, f"{MISSING} ({mr.phase.value})", *[MISSING] * (len(SUMMARY_HEADER) - 2)]
    tokens = f"{'~' if s.tokens_estimated else ''}{s.output_tokens}"
    ok_err = f"{s.ok}/{s.errors}"
    if s.cold_runs:
        ok_err += f" ({s.cold_runs} cold)"
    ttft = _time(s, "ttft_s", "p50")
    if "ttft_s" not in s.metrics and s.not_streamed_runs:
        ttft = "not streamed"
    decode = _rate(s, "decode_tps")
    if "decode_tps" not in s.metrics and s.buffered_runs:
        decode = "buffered"
    return [
        name,
        ok_err,
        ttft,
        _time(s, "ttft_visible_s", "p50"),
        decode,
        _rate(s, "server_decode_tps"),
        _time(s, "e2e_s", "p50"),
        _range(s, "e2e_s"),
        _time(s, "e2e_s", "p90"),
        _time(s, "e2e_s", "p99"),
        tokens,
        _cost(s.cost_usd),
    ]


#: The summary table's columns (Markdown report and terminal table).
SUMMARY_HEADER: tuple[str, ...] = (
    "Model",
    "Runs ok/err",
    "TTFT p50",
    "Visible TTFT p50",
    "Decode tok/s",
    "Server tok/s",
    "E2E p50",
    "E2E min–max",
    "E2E p90",
    "E2E p99",
    "Output tokens",
    "Cost",
)

#: The same columns with short names, for the terminal table.
SUMMARY_HEADER_SHORT: tuple[str, ...] = (
    "Model",
    "ok/err",
    "TTFT p50",
    "vTTFT p50",
    "tok/s",
    "srv tok/s",
    "E2E p50",
    "E2E min–max",
    "E2E p90",
    "E2E p99",
    "tokens",
    "cost",
)

#: What the figures rest on, under every summary table.
SUMMARY_NOTE = (
    "Warm-up runs are excluded from every figure. Each figure rests on the model's ok "
    "runs (ok) unless it names its own n. p50 is the median; p90 and p99 need at "
    f"least {MIN_N_FOR_PERCENTILES} runs (below, the median and the range min–max are "
    "what there is). tok/s are means. TTFT counts reasoning tokens; visible TTFT waits "
    "for visible content. `~` marks token counts estimated from stream chunks."
)


def _table(header: Iterable[str], rows: Iterable[list[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _plan_line(result: BenchmarkResult) -> str:
    """The plan in one line; several endpoints whose plans differ get one line each."""
    plan = result.plan
    if result.multi_endpoint:
        lines = {part.endpoint.name: _plan_bits(part, None, _spec_shape(part))
                 for part in plan.parts}  # fmt: skip
        if len(set(lines.values())) > 1:
            return "\n".join(f"Plan on {name}: {line}." for name, line in lines.items())
    return "Plan: " + _plan_bits(plan, result.warmup_requests, load_shape(result)) + "."


def _spec_shape(plan: BenchmarkPlan) -> tuple[str, bool] | None:
    load = plan.load
    return None if load is None else (load.brief(), load.arrival is not None)


def load_shape(result: BenchmarkResult) -> tuple[str, bool] | None:
    """What a load is, where a plan line (and the results screen's title) would say its
    passes: (``open 4/s, 8 s``, an open loop?) from the plan's load; for a result read
    back from a document, whose plan keeps no load spec, from its models' load figures
    (``open loop at 8 req/s offered``); ``None``: no load."""
    shape = _spec_shape(result.plan)
    if shape is not None:
        return shape
    for mr in _ordered_models(result):
        load = mr.summary.load if mr.summary is not None else None
        if load is not None:
            rate = f" at {load.offered_rate:g} req/s offered" if load.offered_rate else ""
            return f"{load.mode} loop{rate}", load.mode == "open"
    return None


def _plan_bits(
    plan: BenchmarkPlan, warmup_requests: int | None, shape: tuple[str, bool] | None
) -> str:
    p = plan.params
    if warmup_requests is None:
        warmup_requests = plan.warmup * len(plan.models)
    # a load: its shape, not passes (an open loop: no concurrency)
    text, open_loop = shape or (f"{plan.passes} passes × {len(plan.prompts)} prompt(s)", False)
    bits = [
        text,
        f"warm-up {plan.warmup} ({warmup_requests} request"
        f"{'' if warmup_requests == 1 else 's'} in all, not measured)",
    ]
    if not open_loop:
        bits.append(f"concurrency {plan.concurrency}")
    bits += [
        f"max_tokens {p.max_tokens if p.max_tokens is not None else 'server default'}",
        f"temperature {p.temperature if p.temperature is not None else 'server default'}",
    ]
    return ", ".join(bits)


def _error_lines(models: Iterable[ModelResult]) -> list[tuple[str, str]]:
    out = []
    for mr in models:
        if mr.summary is not None and mr.summary.errors_by_kind:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(mr.summary.errors_by_kind.items()))
            out.append((row_label(mr), kinds))
    return out


def to_markdown(result: BenchmarkResult) -> str:
    """A readable report: title, notes, one summary table with a row per model."""
    when = result.started_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    date = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    api = _api_of(result)
    lines = [f"# ometer-tui benchmark: {_title(result, _md)}, {date}", ""]
    notes: list[str] = []
    if result.simulated:
        notes.append(
            "**Simulated:** the built-in demo endpoint; these are not real server numbers."
        )
    if result.cancelled:
        notes.append("**Cancelled:** the benchmark was stopped; only finished runs are shown.")
    if notes:
        lines += [f"> {n}" for n in notes] + [""]
    server_bits = _server_bits(result, api, _md)
    if result.multi_endpoint:
        lines += [*_endpoint_lines(result, _md), ""]
    elif server_bits:
        lines.append("; ".join(server_bits) + ".  ")
    lines += [_plan_line(result), ""]

    models = _ordered_models(result)
    lines += _table(*_summary_rows(result, SUMMARY_HEADER, _md))
    lines += ["", SUMMARY_NOTE]
    streams = []
    for mr in models:
        note = None if mr.summary is None else summary_stream_note(mr.summary)
        if note:
            # buffered runs: how many tokens in how many reads ("32 tokens in 1 read")
            shapes = sorted(
                {
                    n.removeprefix("buffered (").removesuffix(")")
                    for r in mr.records
                    if r.ok and r.buffered and not r.warmup and (n := stream_note(r))
                }
            )
            if shapes:
                note += " (" + ", ".join(shapes[:3]) + (", …" if len(shapes) > 3 else "") + ")"
            streams.append(f"- {_md(row_label(mr))}: {_md(note)}")
    if streams:
        lines += [
            "",
            "Stream notes: *buffered* runs had their tokens arrive in too few reads for a "
            "decode rate (a proxy buffering the response); *not streamed* runs were "
            "answered with one whole body (no TTFT).",
            "",
            *streams,
        ]
    errors = [f"- {_md(name)}: {_md(kinds)}" for name, kinds in _error_lines(models)]
    if errors:
        lines += ["", "Errors by kind:", "", *errors]
    loads = [
        f"- {_md(row_label(mr))}: {_md(mr.summary.load.describe())}"
        for mr in models
        if mr.summary is not None and mr.summary.load is not None
    ]
    if loads:  # a load (plan.load): rate, schedule lag, latency from intended, lengths
        lines += ["", "Load:", "", *loads]
    lines += sweep_doc.step_sections(result, _table, _md)  # a sweep's steps, if any
    return "\n".join(lines) + "\n"


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], names: int = 1) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the first ``names``
    columns to the left, figures to the right."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(w) if i < names else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def to_table(result: BenchmarkResult) -> str:
    """The Markdown report's content as plain text for a terminal: the same figures in
    aligned columns (``ometer-tui run --format table``, the default on a terminal)."""
    when = result.started_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    date = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"ometer-tui benchmark: {_title(result, _plain)}, {date}"]
    if result.simulated:
        lines.append("SIMULATED: the built-in demo endpoint; these are not real server numbers.")
    if result.cancelled:
        lines.append("CANCELLED: the benchmark was stopped; only finished runs are shown.")
    server_bits = _server_bits(result, _api_of(result), _plain)
    if result.multi_endpoint:
        lines += _endpoint_lines(result, _plain)
    elif server_bits:
        lines.append("; ".join(server_bits) + ".")
    lines += [_plan_line(result), ""]
    models = _ordered_models(result)
    header, rows = _summary_rows(result, SUMMARY_HEADER_SHORT, _plain)
    # a column no model has a figure in (cost without prices...) is left out
    keep = [i for i in range(len(header)) if any(r[i] != MISSING for r in rows)]
    keep = keep if rows else list(range(len(header)))
    names = 2 if result.multi_endpoint else 1
    lines += _aligned([header[i] for i in keep], [[r[i] for i in keep] for r in rows], names)
    lines += ["", *textwrap.wrap(SUMMARY_NOTE.replace("`", ""), width=88)]
    errors = _error_lines(models)
    if errors:
        lines += ["", "Errors by kind:", *(f"  {_plain(n)}: {_plain(k)}" for n, k in errors)]
    lines += sweep_doc.step_sections(result, _aligned, _plain)  # a sweep's steps, if any
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """One line of text with no control characters (a model name from a server)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


# --------------------------------------------------------------------------- files


def render(result: BenchmarkResult, fmt: ExportFormat | str) -> str:
    """The export in ``fmt`` as text."""
    fmt = ExportFormat(fmt)
    if fmt is ExportFormat.HTML:  # the report imports this module: it cannot be called here
        raise ValueError("the HTML report is rendered by ometer_tui.core.report.render")
    if fmt is ExportFormat.JSON:
        return to_json(result)
    if fmt is ExportFormat.CSV:
        return to_csv(result)
    if fmt is ExportFormat.TABLE:
        return to_table(result)
    return to_markdown(result)


export_text = render


def write_export(result: BenchmarkResult, fmt: ExportFormat | str, path: Path) -> Path:
    """Write the export atomically (mode 0644) and return the path written.

    A missing folder or no permission raises an ``OSError`` naming ``path``; nothing is
    written then.
    """
    path = Path(path).expanduser()
    write_atomic(path, render(result, fmt), mode=0o644)
    return path


_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(name: str) -> str:
    slug = _SLUG_BAD.sub("-", name).strip("-.")
    return slug[:60] or "endpoint"


def default_export_path(
    result: BenchmarkResult, fmt: ExportFormat | str, folder: Path | None = None
) -> Path:
    """``<folder>/ometer-<endpoint slug>-<YYYYmmdd-HHMMSS>.<ext>`` (UTC start time);
    ``folder`` defaults to the current working directory."""
    when = result.started_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(os.getcwd()) if folder is None else Path(folder)
    return base / f"ometer-{_slug(result.plan.endpoint.name)}-{stamp}{ExportFormat(fmt).suffix}"
