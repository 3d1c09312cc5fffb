"""A/B comparison of benchmark results, with a verdict on noise, and the regression gate.

Inputs are JSON export documents (:func:`export.to_dict`, a stored history result or an
imported file). A *pair* is one model row of A against one model row of B: the same
model in two results, or two models of one result. Per metric this module gives A, B,
the difference B - A, the difference in % of A, a confidence interval (95% by default)
of the difference, and a verdict: better, worse, no significant difference, or too few
runs (with how many would be needed).

Methods (pure Python; written in the README with their assumptions):

* **Quantiles** (TTFT p50/p90, visible TTFT p50, decode tok/s median, e2e p50): the
  standard error of each sample quantile is estimated distribution-free from order
  statistics (the Siddiqui / Bloch-Gastwirth sparsity estimate; for the median this is
  the Price-Bonett (2002) interval for a difference of medians): with
  ``s = sqrt(n q (1 - q))`` and order statistics ``j = round(nq - z s)`` and
  ``k = round(nq + z s)`` (1-based, clamped to 1..n), ``SE = (x_k - x_j) s / (k - j)``.
  The difference's interval is ``d ± z sqrt(SE_A² + SE_B²)`` (normal approximation).
  Assumes independent runs within each result, continuous values, and enough runs
  (at least :data:`MIN_RUNS_MEDIAN` per side, :data:`MIN_RUNS_P90` for p90).
* **Request throughput** (ok requests / measured window): completions treated as a
  renewal process (Cox): with ``mu`` and ``sigma`` the mean and standard deviation of
  the gaps between successive completions, ``Var N(t) ~ t sigma² / mu³``, so
  ``SE = sqrt(sigma² / (mu³ t))``; a Poisson process (``sigma = mu``) gives
  ``sqrt(ok) / t``. Assumes the gaps are independent and alike (a steady load).
* **Error rate**: Newcombe's hybrid score interval (method 10, 1998) for a difference of
  two proportions, built from Wilson intervals; good coverage with few runs and with
  0 errors.

A difference is significant when the interval excludes 0. "Better" and "worse" follow
each metric's direction (lower TTFT, e2e and error rate are better; higher tok/s and
throughput are better).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

from ometer_tui import TOOL_NAME, __version__
from ometer_tui.core.bench.metrics import percentile

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

__all__ = [
    "COMPARISON_FORMATS",
    "COMPARISON_HEADER",
    "METRICS",
    "TREND_METRICS",
    "CompareError",
    "Comparison",
    "FailRule",
    "MetricComparison",
    "MetricSpec",
    "PairComparison",
    "Side",
    "Verdict",
    "compare_documents",
    "compare_metric",
    "compare_pair",
    "compare_rows",
    "comparison_rows",
    "comparison_text",
    "comparison_to_csv",
    "comparison_to_dict",
    "comparison_to_json",
    "comparison_to_markdown",
    "comparison_to_table",
    "default_comparison_path",
    "diff_proportions",
    "diff_quantiles",
    "gate_failures",
    "gate_unjudged",
    "pair_titles",
    "parse_fail_on",
    "quantile_se",
    "row_document",
    "trend_line",
    "trend_mark",
    "verdict_text",
    "wilson",
]

MIN_RUNS_MEDIAN = 5
MIN_RUNS_P90 = 20
MIN_RUNS_RATE = 5
DEFAULT_CONFIDENCE = 0.95


class CompareError(ValueError):
    """Nothing to compare (no pair of models, a model not found, a bad rule)."""


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "no significant difference"
    TOO_FEW = "too few runs"


Kind = Literal["quantile", "rate", "proportion"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str  # the name used by --fail-on and in exports
    label: str
    unit: str  # of the values shown (ms, s, tok/s, req/s, %)
    kind: Kind
    higher_is_better: bool
    field: str = ""  # the run field a quantile is taken of
    q: float = 0.5
    scale: float = 1.0  # run field -> shown unit
    min_runs: int = MIN_RUNS_MEDIAN


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ttft_p50", "TTFT p50", "ms", "quantile", False, "ttft_s", 0.5, 1000.0),
    MetricSpec(
        "ttft_p90", "TTFT p90", "ms", "quantile", False, "ttft_s", 0.9, 1000.0, MIN_RUNS_P90
    ),
    MetricSpec(
        "ttft_visible_p50",
        "Visible TTFT p50",
        "ms",
        "quantile",
        False,
        "ttft_visible_s",
        0.5,
        1000.0,
    ),
    MetricSpec("decode_tps", "Decode p50", "tok/s", "quantile", True, "decode_tps"),
    MetricSpec("e2e_p50", "E2E p50", "s", "quantile", False, "e2e_s"),
    MetricSpec(
        "request_throughput", "Request throughput", "req/s", "rate", True, min_runs=MIN_RUNS_RATE
    ),
    MetricSpec("error_rate", "Error rate", "%", "proportion", False, scale=100.0),
)
_BY_KEY = {m.key: m for m in METRICS}


# --------------------------------------------------------------------------- statistics


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def quantile_se(sorted_values: Sequence[float], q: float, z: float = 1.96) -> float:
    """Distribution-free standard error of the sample ``q``-quantile (0 < q < 1) of
    already sorted values, from the spacing of the order statistics around it."""
    n = len(sorted_values)
    if n < 2:
        return math.inf
    s = math.sqrt(n * q * (1 - q))
    j = min(max(round(n * q - z * s), 1), n)
    k = min(max(round(n * q + z * s), 1), n)
    if k == j:
        k = min(j + 1, n)
        j = k - 1
    return (sorted_values[k - 1] - sorted_values[j - 1]) * s / (k - j)


def diff_quantiles(
    a: Sequence[float], b: Sequence[float], q: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float, float]:
    """(quantile of A, quantile of B, interval low, high) for B - A."""
    z = _z(confidence)
    sa, sb = sorted(a), sorted(b)
    qa, qb = percentile(sa, q * 100), percentile(sb, q * 100)
    se = math.hypot(quantile_se(sa, q, z), quantile_se(sb, q, z))
    d = qb - qa
    return qa, qb, d - z * se, d + z * se


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_proportions(
    x_a: int, n_a: int, x_b: int, n_b: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_B - p_A."""
    z = _z(confidence)
    pa, pb = x_a / n_a, x_b / n_b
    la, ua = wilson(x_a, n_a, z)
    lb, ub = wilson(x_b, n_b, z)
    d = pb - pa
    low = d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2)
    high = d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    return low, high


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class MetricComparison:
    spec: MetricSpec
    a: float | None
    b: float | None
    n_a: int
    n_b: int
    verdict: Verdict
    ci_low: float | None = None
    ci_high: float | None = None
    #: runs per side needed: for TOO_FEW the minimum; for SAME an estimate of how many
    #: would make a difference of this size significant (None when there is none)
    runs_needed: int | None = None

    @property
    def difference(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b - self.a

    @property
    def difference_pct(self) -> float | None:
        d = self.difference
        if d is None or self.a is None or self.a == 0:
            return None
        return d / abs(self.a) * 100

    @property
    def worse_by(self) -> float | None:
        """How much worse B is, in % of A (percentage points for the error rate);
        negative when B is better; None when it cannot be said."""
        if self.spec.kind == "proportion":
            d = self.difference
        else:
            d = self.difference_pct
            if d is None and self.difference:  # A was 0: infinitely worse or better
                d = math.copysign(math.inf, self.difference)
        if d is None:
            return None
        return -d if self.spec.higher_is_better else d


def _needed(n: int, se: float, d: float, z: float) -> int | None:
    if d == 0 or not math.isfinite(se) or n == 0:
        return None
    return max(n + 1, math.ceil(n * (z * se / abs(d)) ** 2))


def _verdict(spec: MetricSpec, low: float, high: float) -> Verdict:
    if low > 0:
        return Verdict.BETTER if spec.higher_is_better else Verdict.WORSE
    if high < 0:
        return Verdict.WORSE if spec.higher_is_better else Verdict.BETTER
    return Verdict.SAME


def _measured(model: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in model.get("runs") or [] if not r.get("warmup")]


def _values(model: Mapping[str, Any], name: str) -> list[float]:
    return [
        float(v)
        for r in _measured(model)
        if r.get("ok") and isinstance(v := r.get(name), int | float) and math.isfinite(v)
    ]


def _completions(model: Mapping[str, Any]) -> tuple[int, float | None, float]:
    """(ok measured runs, measured window in s as the summary computes it, standard
    error of the request rate ok / window)."""
    runs = _measured(model)
    try:
        start = min(float(r["started_at_s"]) for r in runs)
        end = max(float(r["finished_at_s"]) for r in runs)
        done = sorted(float(r["finished_at_s"]) for r in runs if r.get("ok"))
    except (KeyError, TypeError, ValueError):
        return 0, None, math.inf
    window = end - start
    if not done or window <= 0:
        return len(done), None, math.inf
    gaps = [b - a for a, b in zip([start, *done], done, strict=False)]
    mu = sum(gaps) / len(gaps)
    if len(gaps) < 2 or mu <= 0:
        return len(done), window, math.inf
    var = sum((g - mu) ** 2 for g in gaps) / (len(gaps) - 1)
    # renewal-process CLT: Var N(t) ~ t var / mu^3, so SE(N/t) = sqrt(var / (mu^3 t))
    return len(done), window, math.sqrt(var / (mu**3 * window))


def compare_metric(
    spec: MetricSpec,
    model_a: Mapping[str, Any],
    model_b: Mapping[str, Any],
    confidence: float = DEFAULT_CONFIDENCE,
) -> MetricComparison:
    """One metric of two model rows (``models[i]`` entries of export documents)."""
    z = _z(confidence)
    a: float | None
    b: float | None
    if spec.kind == "quantile":
        va, vb = _values(model_a, spec.field), _values(model_b, spec.field)
        n_a, n_b = len(va), len(vb)
        a = percentile(sorted(va), spec.q * 100) * spec.scale if va else None
        b = percentile(sorted(vb), spec.q * 100) * spec.scale if vb else None
        enough = min(n_a, n_b) >= spec.min_runs
        if enough:
            _, _, low, high = diff_quantiles(va, vb, spec.q, confidence)
            low, high = low * spec.scale, high * spec.scale
            se = (high - low) / (2 * z)
    elif spec.kind == "rate":
        (n_a, w_a, se_a), (n_b, w_b, se_b) = _completions(model_a), _completions(model_b)
        a = n_a / w_a if w_a else None
        b = n_b / w_b if w_b else None
        se = math.hypot(se_a, se_b)
        enough = min(n_a, n_b) >= MIN_RUNS_RATE and math.isfinite(se)
        if enough and a is not None and b is not None:
            low, high = b - a - z * se, b - a + z * se
    else:  # the proportion of measured runs that failed
        ra, rb = _measured(model_a), _measured(model_b)
        n_a, n_b = len(ra), len(rb)
        x_a = sum(1 for r in ra if not r.get("ok"))
        x_b = sum(1 for r in rb if not r.get("ok"))
        a = x_a / n_a * spec.scale if n_a else None
        b = x_b / n_b * spec.scale if n_b else None
        enough = min(n_a, n_b) >= spec.min_runs
        if enough:
            low, high = (x * spec.scale for x in diff_proportions(x_a, n_a, x_b, n_b, confidence))
            # for the runs-needed estimate only: the normal approximation's error
            pa, pb = max(x_a, 1) / n_a, max(x_b, 1) / n_b
            se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b) * spec.scale
    if not enough or a is None or b is None:
        return MetricComparison(spec, a, b, n_a, n_b, Verdict.TOO_FEW, runs_needed=spec.min_runs)
    verdict = _verdict(spec, low, high)
    needed = _needed(max(n_a, n_b), se, b - a, z) if verdict is Verdict.SAME else None
    return MetricComparison(spec, a, b, n_a, n_b, verdict, low, high, needed)


@dataclass(frozen=True, slots=True)
class Side:
    """Where one side of a comparison comes from."""

    source: str  # "history #12" or a file name
    model: str
    started_at: str | None = None
    endpoint: str | None = None
    url: str | None = None
    simulated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model": self.model,
            "started_at": self.started_at,
            "endpoint": self.endpoint,
            "url": self.url,
            "simulated": self.simulated,
        }


@dataclass(frozen=True, slots=True)
class PairComparison:
    a: Side
    b: Side
    metrics: tuple[MetricComparison, ...]
    notes: tuple[str, ...] = ()

    def metric(self, key: str) -> MetricComparison:
        for m in self.metrics:
            if m.spec.key == key:
                return m
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Comparison:
    pairs: tuple[PairComparison, ...]
    confidence: float = DEFAULT_CONFIDENCE
    notes: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- pairing


_WORKLOAD_KEYS = ("prompts", "passes", "concurrency", "completion_api")


def _workload_notes(
    doc_a: Mapping[str, Any],
    doc_b: Mapping[str, Any],
    endpoint_a: str | None = None,
    endpoint_b: str | None = None,
) -> list[str]:
    notes: list[str] = []
    ea, eb = _endpoint_of(doc_a, endpoint_a), _endpoint_of(doc_b, endpoint_b)
    pa, pb = ea.get("plan") or doc_a.get("plan") or {}, eb.get("plan") or doc_b.get("plan") or {}
    for key in _WORKLOAD_KEYS:
        if pa.get(key) != pb.get(key):
            shown = "differ" if key == "prompts" else f"{pa.get(key)} vs {pb.get(key)}"
            notes.append(f"workloads differ: {key} {shown}")
    ma = (pa.get("params") or {}).get("max_tokens")
    mb = (pb.get("params") or {}).get("max_tokens")
    if ma != mb:
        notes.append(f"workloads differ: max_tokens {ma} vs {mb}")
    if ea.get("api") != eb.get("api"):
        notes.append(f"APIs differ: {ea.get('api')} vs {eb.get('api')}")
    if bool(doc_a.get("simulated")) != bool(doc_b.get("simulated")):
        notes.append("one side is the simulated demo endpoint")
    return notes


def _endpoint_of(doc: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The endpoint entry of a row: the one named ``name`` in a result of several
    endpoints (``endpoints``), else the result's endpoint."""
    for ep in doc.get("endpoints") or []:
        if name is not None and ep.get("name") == name:
            return dict(ep)
    return dict(doc.get("endpoint") or {})


def _side(doc: Mapping[str, Any], source: str, model: str, endpoint: str | None = None) -> Side:
    ep = _endpoint_of(doc, endpoint)
    return Side(
        source=source,
        model=model,
        started_at=doc.get("started_at"),
        endpoint=ep.get("name"),
        url=ep.get("url"),
        simulated=bool(doc.get("simulated")),
    )


def compare_pair(
    doc_a: Mapping[str, Any],
    model_a: str,
    doc_b: Mapping[str, Any],
    model_b: str,
    *,
    source_a: str = "A",
    source_b: str = "B",
    confidence: float = DEFAULT_CONFIDENCE,
    endpoint_a: str | None = None,
    endpoint_b: str | None = None,
) -> PairComparison:
    """Every metric of row ``model_a`` of A against row ``model_b`` of B (the row of
    that model on ``endpoint_a``/``endpoint_b`` in a result of several endpoints)."""
    ma = _model(doc_a, model_a, source_a, endpoint_a)
    mb = _model(doc_b, model_b, source_b, endpoint_b)
    notes = (
        _workload_notes(doc_a, doc_b, endpoint_a, endpoint_b)
        if doc_a is not doc_b or endpoint_a != endpoint_b
        else []
    )
    return PairComparison(
        a=_side(doc_a, source_a, model_a, endpoint_a),
        b=_side(doc_b, source_b, model_b, endpoint_b),
        metrics=tuple(compare_metric(spec, ma, mb, confidence) for spec in METRICS),
        notes=tuple(notes),
    )


def _model(
    doc: Mapping[str, Any], name: str, source: str, endpoint: str | None = None
) -> Mapping[str, Any]:
    for model in doc.get("models") or []:
        if model.get("name") == name and (endpoint is None or model.get("endpoint") == endpoint):
            return dict(model)
    names = ", ".join(_row_name(r) for r in _rows_of(doc, measured=False)) or "none"
    on = f" on {endpoint!r}" if endpoint is not None else ""
    raise CompareError(f"{source}: no model {name!r}{on} (models: {names})")


#: A row of a result: (endpoint, model); the endpoint is None in a one-endpoint result.
Row = tuple[str | None, str]


def _rows_of(doc: Mapping[str, Any], *, measured: bool = True) -> list[Row]:
    """The rows of a result (those with measured runs), keyed by (endpoint, model)."""
    return [
        (None if m.get("endpoint") is None else str(m.get("endpoint")), str(m.get("name")))
        for m in doc.get("models") or []
        if not measured or _measured(m)
    ]


def _row_name(row: Row) -> str:
    endpoint, model = row
    return model if endpoint is None else f"{model} @ {endpoint}"


def _measured_names(doc: Mapping[str, Any]) -> list[str]:
    return [str(m.get("name")) for m in doc.get("models") or [] if _measured(m)]


def _several_endpoints(doc: Mapping[str, Any]) -> bool:
    return len(doc.get("endpoints") or []) > 1


def compare_documents(
    doc_a: Mapping[str, Any],
    doc_b: Mapping[str, Any] | None = None,
    models: Sequence[str] = (),
    *,
    source_a: str = "A",
    source_b: str = "B",
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Compare two results model by model, or two rows of one result.

    * Two results: each model measured in both is a pair (only ``models`` when given);
      when they share no model and each measured exactly one, those two are paired.
      With ``models`` = two names of which the first is only in A and the second only in
      B, those two are paired.
    * One result (``doc_b`` None): ``models`` names the two rows (A first); without it,
      the result must have measured exactly two models.

    Raises :class:`CompareError` when nothing can be paired.
    """
    if doc_b is None:
        rows = _rows_of(doc_a)
        if models:
            rows = [r for r in rows if r[1] in models]
            rows.sort(key=lambda r: list(models).index(r[1]))
        if len(rows) != 2:
            raise CompareError(
                f"{source_a}: give two models to compare within one result "
                f"(measured: {', '.join(map(_row_name, _rows_of(doc_a))) or 'none'})"
            )
        (ea, ma), (eb, mb) = rows
        pair = compare_pair(
            doc_a,
            ma,
            doc_a,
            mb,
            source_a=source_a,
            source_b=source_a,
            confidence=confidence,
            endpoint_a=ea,
            endpoint_b=eb,
        )
        return Comparison(pairs=(pair,), confidence=confidence)
    pairs = _pair_rows(doc_a, doc_b, models, source_a, source_b)
    return Comparison(
        pairs=tuple(
            compare_pair(
                doc_a,
                ra[1],
                doc_b,
                rb[1],
                source_a=source_a,
                source_b=source_b,
                confidence=confidence,
                endpoint_a=ra[0],
                endpoint_b=rb[0],
            )
            for ra, rb in pairs
        ),
        confidence=confidence,
    )


def row_document(result: BenchmarkResult, key: str) -> dict[str, Any]:
    """The export document of one row of ``result`` (``result.models[key]``: whatever
    the rows are keyed by) as if it had been measured alone: the same endpoint, plan and
    dates, that row's model only."""
    from dataclasses import replace

    from ometer_tui.core.export import to_dict

    return to_dict(replace(result, models={key: result.models[key]}, telemetry=None))


def compare_rows(
    result: BenchmarkResult,
    key_a: str,
    key_b: str,
    *,
    source: str = "this result",
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Row ``key_a`` (A) against row ``key_b`` (B) of one result: model A against model
    B, or one model on endpoint A against it on endpoint B. Raises :class:`CompareError`
    for an unknown row or a row compared with itself."""
    for key in (key_a, key_b):
        if key not in result.models:
            raise CompareError(f"{source}: no row {key!r}")
    if key_a == key_b:
        raise CompareError(f"{source}: pick two different rows")
    doc_a, doc_b = row_document(result, key_a), row_document(result, key_b)
    pair = compare_pair(
        doc_a,
        result.models[key_a].info.name,
        doc_b,
        result.models[key_b].info.name,
        source_a=source,
        source_b=source,
        confidence=confidence,
    )
    return Comparison(pairs=(pair,), confidence=confidence)


def _pair_rows(
    doc_a: Mapping[str, Any],
    doc_b: Mapping[str, Any],
    models: Sequence[str],
    source_a: str,
    source_b: str,
) -> list[tuple[Row, Row]]:
    """The rows of two results to compare: by (endpoint, model) when both have several
    endpoints, by model otherwise (a model of several endpoints on one side then pairs
    each of its rows with the other side's)."""
    rows_a, rows_b = _rows_of(doc_a), _rows_of(doc_b)
    both = _several_endpoints(doc_a) and _several_endpoints(doc_b)

    def same(ra: Row, rb: Row) -> bool:
        return ra == rb if both else ra[1] == rb[1]

    in_a, in_b = [r[1] for r in rows_a], [r[1] for r in rows_b]
    if models:
        wanted = list(models)
        common = [m for m in wanted if m in in_a and m in in_b]
        if not common and len(wanted) == 2 and wanted[0] in in_a and wanted[1] in in_b:
            return [
                (ra, rb)
                for ra in rows_a
                for rb in rows_b
                if ra[1] == wanted[0] and rb[1] == wanted[1] and (not both or ra[0] == rb[0])
            ] or _nothing_to_pair(rows_a, rows_b, source_a, source_b)
        missing = [m for m in wanted if m not in in_a or m not in in_b]
        if missing:
            raise CompareError(
                f"--model {', '.join(missing)}: not measured in both "
                f"({source_a}: {', '.join(dict.fromkeys(in_a)) or 'none'}; "
                f"{source_b}: {', '.join(dict.fromkeys(in_b)) or 'none'})"
            )
        rows_a = [r for r in rows_a if r[1] in common]
    pairs = [(ra, rb) for ra in rows_a for rb in rows_b if same(ra, rb)]
    if not pairs and not models and len(rows_a) == 1 and len(rows_b) == 1:
        pairs = [(rows_a[0], rows_b[0])]
    return pairs or _nothing_to_pair(rows_a, rows_b, source_a, source_b)


def _nothing_to_pair(
    rows_a: list[Row], rows_b: list[Row], source_a: str, source_b: str
) -> list[tuple[Row, Row]]:
    raise CompareError(
        f"nothing to pair: no model measured in both ({source_a}: "
        f"{', '.join(map(_row_name, rows_a)) or 'none'}; "
        f"{source_b}: {', '.join(map(_row_name, rows_b)) or 'none'})"
    )


# --------------------------------------------------------------------------- trends

#: the figures a trend is shown for (issue #10: TTFT, visible TTFT, decode, e2e, errors)
TREND_METRICS = ("ttft_p50", "ttft_visible_p50", "decode_tps", "e2e_p50", "error_rate")


def trend_mark(m: MetricComparison, *, compact: bool = False) -> str:
    """``▲ 12%`` / ``▼ 5%`` (the value went up / down, beyond noise), ``≈`` (no
    significant difference), or ``""`` (too few runs to tell). ``compact`` (for a table
    cell of 6 characters): no spaces, ``▲>999%`` beyond 999%, ``▲33pt``."""
    if m.verdict is Verdict.TOO_FEW:
        return ""
    if m.verdict is Verdict.SAME:
        return "≈"
    d = m.difference or 0.0
    arrow = "▲" if d > 0 else "▼"
    gap = "" if compact else " "
    if m.spec.kind == "proportion":
        return f"{arrow}{gap}{abs(d):.0f}{gap}pt"
    pct = m.difference_pct
    if pct is None:
        return arrow
    if compact and round(abs(pct)) > 999:
        return f"{arrow}>999%"
    return f"{arrow}{gap}{abs(pct):.0f}%"


def trend_line(pair: PairComparison) -> str:
    """One line: each trend metric with its mark and, beyond noise, better or worse."""
    parts = []
    for key in TREND_METRICS:
        m = pair.metric(key)
        mark = trend_mark(m)
        if not mark:
            continue
        judged = f" ({m.verdict.value})" if m.verdict in (Verdict.BETTER, Verdict.WORSE) else ""
        parts.append(f"{m.spec.label} {mark}{judged}")
    return ", ".join(parts) if parts else "too few runs to tell"


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True, slots=True)
class FailRule:
    metric: str
    pct: float


def parse_fail_on(text: str) -> FailRule:
    """``METRIC:PCT``, e.g. ``ttft_p50:10`` (PCT in % of A; percentage points for
    ``error_rate``). :class:`CompareError` naming the valid metrics otherwise."""
    name, sep, pct = text.partition(":")
    name = name.strip()
    if name not in _BY_KEY:
        raise CompareError(
            f"--fail-on {text!r}: unknown metric {name!r} "
            f"(one of: {', '.join(m.key for m in METRICS)})"
        )
    if not sep:
        raise CompareError(f"--fail-on {text!r}: expected METRIC:PCT, e.g. {name}:10")
    try:
        value = float(pct.strip().rstrip("%"))
    except ValueError:
        raise CompareError(f"--fail-on {text!r}: {pct!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CompareError(f"--fail-on {text!r}: PCT must be 0 or more")
    return FailRule(name, value)


def gate_failures(comparison: Comparison, rules: Sequence[FailRule]) -> list[str]:
    """One sentence per (pair, rule) where B is significantly worse by more than the
    rule allows; empty when the gate passes."""
    out: list[str] = []
    for pair in comparison.pairs:
        for rule in rules:
            m = pair.metric(rule.metric)
            worse = m.worse_by
            if m.verdict is not Verdict.WORSE or worse is None or worse <= rule.pct:
                continue
            unit = "points" if m.spec.kind == "proportion" else "%"
            out.append(
                f"{rule.metric} worse by {_num(worse, 1)} {unit} (limit {rule.pct:g}) "
                f"for {_pair_name(pair)}: {_num(m.a)} -> {_num(m.b)} {m.spec.unit}, "
                f"{_pct(comparison.confidence)} CI of the difference "
                f"{_signed(m.ci_low)}..{_signed(m.ci_high)}"
            )
    return out


def gate_unjudged(comparison: Comparison, rules: Sequence[FailRule]) -> list[str]:
    """One sentence per (pair, rule) the gate could not judge (too few runs)."""
    out: list[str] = []
    for pair in comparison.pairs:
        for rule in rules:
            m = pair.metric(rule.metric)
            if m.verdict is Verdict.TOO_FEW:
                out.append(
                    f"{rule.metric} not judged for {_pair_name(pair)}: too few runs "
                    f"({m.n_a}/{m.n_b}; need {m.runs_needed} per side)"
                )
    return out


# --------------------------------------------------------------------------- exports


def _num(x: float | None, digits: int | None = None) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if digits is not None:
        return f"{x:.{digits}f}"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}" if abs(x) >= 1e-4 else f"{x:.1e}"


def _signed(x: float | None) -> str:
    text = _num(x)
    return text if x is None or text.startswith("-") else "+" + text


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _pair_name(pair: PairComparison) -> str:
    if pair.a.model == pair.b.model:
        if pair.a.source == pair.b.source and pair.a.endpoint != pair.b.endpoint:
            return f"{pair.a.model} ({pair.a.endpoint} vs {pair.b.endpoint})"
        return pair.a.model
    return f"{pair.a.model} vs {pair.b.model}"


def verdict_text(m: MetricComparison, *, short: bool = False) -> str:
    """The verdict in words: ``too few runs (need 20 per side)``, ``no significant
    difference (~603 runs per side to tell)``, ``better``, ``worse``; ``short`` drops
    "per side" and the runs a difference would need."""
    if m.verdict is Verdict.TOO_FEW:
        per_side = "" if short else " per side"
        return f"too few runs (need {m.runs_needed}{per_side})"
    if m.verdict is Verdict.SAME and m.runs_needed is not None and not short:
        return f"no significant difference (~{m.runs_needed} runs per side to tell)"
    return m.verdict.value


def _round(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    return {
        "kind": "comparison",
        "tool": {"name": TOOL_NAME, "version": __version__},
        "confidence": comparison.confidence,
        "notes": list(comparison.notes),
        "pairs": [
            {
                "a": pair.a.as_dict(),
                "b": pair.b.as_dict(),
                "notes": list(pair.notes),
                "metrics": [
                    {
                        "metric": m.spec.key,
                        "label": m.spec.label,
                        "unit": m.spec.unit,
                        "higher_is_better": m.spec.higher_is_better,
                        "a": _round(m.a),
                        "b": _round(m.b),
                        "n_a": m.n_a,
                        "n_b": m.n_b,
                        "difference": _round(m.difference),
                        "difference_pct": _round(m.difference_pct),
                        "ci_low": _round(m.ci_low),
                        "ci_high": _round(m.ci_high),
                        "verdict": m.verdict.value,
                        "runs_needed": m.runs_needed,
                    }
                    for m in pair.metrics
                ],
            }
            for pair in comparison.pairs
        ],
    }


def comparison_to_json(comparison: Comparison) -> str:
    return json.dumps(comparison_to_dict(comparison), indent=2, ensure_ascii=False) + "\n"


CSV_COLUMNS = (
    "a_source",
    "a_model",
    "b_source",
    "b_model",
    "metric",
    "unit",
    "a",
    "b",
    "n_a",
    "n_b",
    "difference",
    "difference_pct",
    "ci_low",
    "ci_high",
    "verdict",
    "runs_needed",
)


def comparison_to_csv(comparison: Comparison) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for pair in comparison_to_dict(comparison)["pairs"]:
        for m in pair["metrics"]:
            row = {
                "a_source": pair["a"]["source"],
                "a_model": pair["a"]["model"],
                "b_source": pair["b"]["source"],
                "b_model": pair["b"]["model"],
                **m,
            }
            writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


_HEADER = ("Metric", "A", "B", "B - A", "B - A %", "CI of B - A", "n A/B", "Verdict")
#: the columns of :func:`comparison_rows`
COMPARISON_HEADER = _HEADER


def comparison_rows(pair: PairComparison) -> list[list[str]]:
    """Per metric, the cells of :data:`COMPARISON_HEADER`, formatted as the exports
    format them."""
    return _rows(pair, DEFAULT_CONFIDENCE)


def _rows(pair: PairComparison, confidence: float) -> list[list[str]]:
    rows = []
    for m in pair.metrics:
        ci = "–" if m.ci_low is None else f"{_signed(m.ci_low)}..{_signed(m.ci_high)}"
        pct = m.difference_pct
        rows.append(
            [
                f"{m.spec.label} ({m.spec.unit})",
                _num(m.a),
                _num(m.b),
                _signed(m.difference),
                "–" if pct is None else f"{pct:+.1f}%",
                ci,
                f"{m.n_a}/{m.n_b}",
                verdict_text(m),
            ]
        )
    return rows


def pair_titles(pair: PairComparison) -> tuple[str, str]:
    """How each side is named: ``model (endpoint source, started_at[, simulated])``."""

    def side(s: Side) -> str:
        where = f"{s.endpoint} " if s.endpoint else ""
        when = f", {s.started_at}" if s.started_at else ""
        sim = ", simulated" if s.simulated and "simulated" not in (s.endpoint or "") else ""
        return f"{s.model} ({where}{s.source}{when}{sim})"

    return side(pair.a), side(pair.b)


def comparison_to_markdown(comparison: Comparison) -> str:
    lines = [f"# ometer-tui comparison ({_pct(comparison.confidence)} confidence)", ""]
    for pair in comparison.pairs:
        a, b = pair_titles(pair)
        lines += [f"## {_md(a)} → {_md(b)}", ""]
        for note in (*comparison.notes, *pair.notes):
            lines.append(f"> {_md(note)}")
        if pair.notes or comparison.notes:
            lines.append("")
        lines.append("| " + " | ".join(_HEADER) + " |")
        lines.append("|" + "|".join("---" for _ in _HEADER) + "|")
        for row in _rows(pair, comparison.confidence):
            lines.append("| " + " | ".join(_md(c) for c in row) + " |")
        lines.append("")
    lines.append(
        "Differences are B - A. An interval that excludes 0 is a significant difference; "
        "see the README (Comparison) for the method."
    )
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def comparison_to_table(comparison: Comparison) -> str:
    """Plain aligned text for a terminal."""
    out: list[str] = []
    for pair in comparison.pairs:
        a, b = pair_titles(pair)
        out += [f"A: {a}", f"B: {b}"]
        out += [f"  note: {n}" for n in (*comparison.notes, *pair.notes)]
        rows = [list(_HEADER), *_rows(pair, comparison.confidence)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
        for i, row in enumerate(rows):
            cells = [
                c.ljust(w) if j in (0, 7) else c.rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            out.append("  " + "  ".join(cells).rstrip())
            if i == 0:
                out.append("  " + "  ".join("-" * w for w in widths))
        out.append("")
    out.append(
        f"B - A with its {_pct(comparison.confidence)} confidence interval; "
        "an interval that excludes 0 is significant."
    )
    return "\n".join(out) + "\n"


#: the file formats a comparison is written in, by name (``--format``, the TUI's menu)
COMPARISON_FORMATS = {
    "json": comparison_to_json,
    "csv": comparison_to_csv,
    "md": comparison_to_markdown,
    "table": comparison_to_table,
}


def comparison_text(comparison: Comparison, fmt: str) -> str:
    """The comparison as ``fmt`` (json, csv, md or table)."""
    try:
        render = COMPARISON_FORMATS[fmt]
    except KeyError:
        known = ", ".join(COMPARISON_FORMATS)
        raise CompareError(f"unknown format {fmt!r} (one of: {known})") from None
    return render(comparison)


def _file_slug(text: str) -> str:
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return "-".join(p for p in slug.split("-") if p).strip(".")[:40] or "x"


def default_comparison_path(comparison: Comparison, fmt: str, folder: Path) -> Path:
    """``<folder>/ometer-compare-<A>-vs-<B>.<ext>``: the two models when they differ,
    else the two sources (``history-1-vs-history-4``)."""
    first = comparison.pairs[0] if comparison.pairs else None
    if first is None:
        name = "ometer-compare"
    elif first.a.model != first.b.model:
        name = f"ometer-compare-{_file_slug(first.a.model)}-vs-{_file_slug(first.b.model)}"
    else:
        name = f"ometer-compare-{_file_slug(first.a.source)}-vs-{_file_slug(first.b.source)}"
    suffix = {"table": ".txt"}.get(fmt, f".{fmt}")
    return Path(folder) / f"{name}{suffix}"
