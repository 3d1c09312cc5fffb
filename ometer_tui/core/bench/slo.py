"""Service-level objectives (SLOs), attainment and goodput.

An SLO is a limit in milliseconds on one per-request metric. The names are vLLM's
(``bench serve --goodput``) plus two of ours:

========================  ============================  ==================================
SLO name                  the request's figure          (metrics.md)
========================  ============================  ==================================
``ttft``                  ``ttft_s``                    first generated output (reasoning too)
``ttft_visible``          ``ttft_visible_s``            first visible content
``tpot``                  ``tpot_s``                    mean time per output token after the first
``itl``                   ``itl_p99_s``                 the request's p99 gap between token chunks
``e2el``                  ``e2e_s``                     request sent -> last token
========================  ============================  ==================================

A request **meets the SLOs** when it succeeded and each limited figure is at or below its
limit. A failed request is a miss. A figure the request does not have is a miss too (a
response that was not streamed has no TTFT: it cannot show it met one), except ``tpot``
and ``itl`` for an answer of fewer than 2 tokens (no gap, nothing to miss).

Per model and per step (:func:`slo_figures`): **attainment** = requests meeting every SLO
/ measured requests; **goodput** = requests meeting every SLO / the measured window
(first send to last finish, the window of ``ModelSummary.request_throughput``);
**token goodput** = output tokens of those requests / the same window.

The SLO search (``sweep.find_max``) asks instead whether a load's chosen **percentile**
of each figure is within its limit (:func:`percentile_check`; default p90). Failed
requests count as infinitely slow, so that check is the same as "at least p % of the
requests met this SLO", judged metric by metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ometer_tui.core.bench.records import RunRecord

#: SLO name -> the RunRecord field it limits (seconds), in display order.
SLO_METRICS: dict[str, str] = {
    "ttft": "ttft_s",
    "ttft_visible": "ttft_visible_s",
    "tpot": "tpot_s",
    "itl": "itl_p99_s",
    "e2el": "e2e_s",
}
#: Figures that need 2 or more output tokens to exist (an answer of 1 token meets them).
_GAP_METRICS = frozenset({"tpot", "itl"})
#: The percentile the SLO search judges by when none is given.
DEFAULT_PERCENTILE = 90.0


class SloError(ValueError):
    """A bad SLO; the message is one line naming the flag or the settings key."""


@dataclass(frozen=True, slots=True)
class SloTargets:
    """Limits in milliseconds by SLO name (``ttft``...), and the search's percentile."""

    limits_ms: tuple[tuple[str, float], ...] = ()
    percentile: float = DEFAULT_PERCENTILE

    @property
    def empty(self) -> bool:
        return not self.limits_ms

    def limit_s(self, name: str) -> float | None:
        for key, value in self.limits_ms:
            if key == name:
                return value / 1000.0
        return None

    def with_limit(self, name: str, ms: float) -> SloTargets:
        """These targets with ``name`` set to ``ms`` (replacing an earlier limit)."""
        kept = tuple((k, v) for k, v in self.limits_ms if k != name)
        ordered = sorted((*kept, (name, ms)), key=lambda kv: list(SLO_METRICS).index(kv[0]))
        return SloTargets(tuple(ordered), self.percentile)

    def describe(self) -> str:
        """``ttft <= 500 ms, tpot <= 50 ms``."""
        return ", ".join(f"{k} <= {v:g} ms" for k, v in self.limits_ms) or "no SLO"

    def as_dict(self) -> dict[str, Any]:
        return {"limits_ms": dict(self.limits_ms), "percentile": self.percentile}


def _check_limit(name: str, value: object, where: str) -> float:
    """``value`` as a limit in ms for SLO ``name``; :class:`SloError` naming ``where``."""
    if name not in SLO_METRICS:
        known = ", ".join(SLO_METRICS)
        raise SloError(f"{where}: unknown SLO {name!r} (known: {known})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SloError(f"{where}: expected a number of milliseconds, got {value!r}")
    ms = float(value)
    if not (math.isfinite(ms) and ms > 0):
        raise SloError(f"{where}: must be more than 0 ms, got {value:g}")
    return ms


def parse_slo(text: str, flag: str = "--slo") -> tuple[str, float]:
    """``ttft:500`` -> ``("ttft", 500.0)``; :class:`SloError` naming ``flag`` otherwise."""
    name, sep, number = text.partition(":")
    name = name.strip().lower()
    if not sep or not name:
        raise SloError(f"{flag}: expected NAME:MILLISECONDS (e.g. ttft:500), got {text!r}")
    if name not in SLO_METRICS:
        return name, _check_limit(name, 0, f"{flag} {text}")  # raises: unknown name
    try:
        value = float(number.strip().removesuffix("ms"))
    except ValueError:
        raise SloError(f"{flag} {text}: expected a number of milliseconds") from None
    return name, _check_limit(name, value, f"{flag} {text}")


def parse_percentile(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SloError(f"{where}: expected a number from 1 to 100, got {value!r}")
    p = float(value)
    if not (math.isfinite(p) and 0 < p <= 100):
        raise SloError(f"{where}: must be more than 0 and at most 100, got {value:g}")
    return p


def targets_from_args(
    texts: Sequence[str], base: SloTargets | None = None, percentile: float | None = None
) -> SloTargets:
    """``base`` (the settings' ``[slo]``) with each ``--slo NAME:MS`` applied over it."""
    targets = base or SloTargets()
    for text in texts:
        name, ms = parse_slo(text)
        targets = targets.with_limit(name, ms)
    if percentile is not None:
        targets = SloTargets(targets.limits_ms, parse_percentile(percentile, "--slo-percentile"))
    return targets


def read_slo_table(
    table: Mapping[str, Any], problems: list[str], warnings: list[str]
) -> SloTargets:
    """The settings file's ``[slo]`` table (``ttft = 500``, ``percentile = 90``...):
    problems are appended naming ``slo.<key>``, as the settings reader does."""
    del warnings  # every key is either known or a problem (an SLO name misspelt)
    targets = SloTargets()
    for key, value in table.items():
        try:
            if key == "percentile":
                p = parse_percentile(value, "slo.percentile")
                targets = SloTargets(targets.limits_ms, p)
            else:
                targets = targets.with_limit(key, _check_limit(key, value, f"slo.{key}"))
        except SloError as exc:
            problems.append(str(exc))
    return targets


def slo_table(targets: SloTargets) -> dict[str, Any]:
    """The ``[slo]`` table to write back (only what differs from the defaults)."""
    out: dict[str, Any] = {k: v for k, v in targets.limits_ms}
    if targets.percentile != DEFAULT_PERCENTILE:
        out["percentile"] = targets.percentile
    return out


# --------------------------------------------------------------------------- judging


def _figure(record: RunRecord, name: str) -> float | None:
    """The request's figure for SLO ``name`` (seconds), ``0.0`` for a gap figure of an
    answer with fewer than 2 tokens, ``None`` when it has none (a miss)."""
    value = getattr(record, SLO_METRICS[name])
    if value is None and name in _GAP_METRICS and (record.output_tokens or 0) < 2:
        return 0.0
    return None if value is None else float(value)


def meets_metric(record: RunRecord, name: str, limit_s: float) -> bool:
    if not record.ok:
        return False
    value = _figure(record, name)
    return value is not None and value <= limit_s


def meets(record: RunRecord, targets: SloTargets) -> bool:
    """The request succeeded and met every SLO of ``targets``."""
    return record.ok and all(
        meets_metric(record, name, ms / 1000.0) for name, ms in targets.limits_ms
    )


@dataclass(frozen=True, slots=True)
class SloFigures:
    """What the SLOs say of one model's measured requests (one step, or a whole run).

    ``attainment`` is a fraction (0..1; the reports show %), ``None`` with no request.
    ``goodput_rps`` / ``token_goodput_tps`` are over ``window_s``; ``None`` with no window.
    ``per_metric``: the fraction meeting each SLO alone (failures are misses).
    """

    requests: int
    met: int
    attainment: float | None
    goodput_rps: float | None
    token_goodput_tps: float | None
    window_s: float | None
    per_metric: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")

        return {
            "requests": self.requests,
            "met": self.met,
            "attainment": num(self.attainment),
            "goodput_rps": num(self.goodput_rps),
            "token_goodput_tps": num(self.token_goodput_tps),
            "window_s": None if self.window_s is None else round(self.window_s, 6),
            "per_metric": {k: num(v) for k, v in self.per_metric.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SloFigures:
        def f(x: object) -> float | None:
            return None if x is None else float(x)  # type: ignore[arg-type]

        return cls(
            requests=int(d.get("requests") or 0),
            met=int(d.get("met") or 0),
            attainment=f(d.get("attainment")),
            goodput_rps=f(d.get("goodput_rps")),
            token_goodput_tps=f(d.get("token_goodput_tps")),
            window_s=f(d.get("window_s")),
            per_metric={str(k): float(v) for k, v in (d.get("per_metric") or {}).items()},
        )


def measured_window(records: Sequence[RunRecord]) -> float | None:
    """First send to last finish of the records (the summary's window), or None."""
    if not records:
        return None
    window = max(r.finished_at_s for r in records) - min(r.started_at_s for r in records)
    return window if window > 0 else None


def slo_figures(records: Iterable[RunRecord], targets: SloTargets) -> SloFigures:
    """Attainment, goodput and token goodput of the measured (non-warm-up) records."""
    measured = [r for r in records if not r.warmup]
    window = measured_window(measured)
    good = [r for r in measured if meets(r, targets)]
    n = len(measured)
    tokens = sum(r.output_tokens or 0 for r in good)
    per_metric = {
        name: sum(1 for r in measured if meets_metric(r, name, ms / 1000.0)) / n
        for name, ms in targets.limits_ms
        if n
    }
    return SloFigures(
        requests=n,
        met=len(good),
        attainment=len(good) / n if n else None,
        goodput_rps=None if window is None else len(good) / window,
        token_goodput_tps=None if window is None else tokens / window,
        window_s=window,
        per_metric=per_metric,
    )


def nearest_rank(values: Sequence[float], p: float) -> float:
    """The p-th percentile by nearest rank: the smallest value with at least p % of the
    values at or below it (``inf`` stays ``inf``)."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(p / 100.0 * len(data)))
    return data[rank - 1]


@dataclass(frozen=True, slots=True)
class PercentileCheck:
    """A load judged by the search: each SLO's percentile figure (s, ``inf`` when more
    than 100-p % failed or lacked it) against its limit."""

    percentile: float
    figures_s: dict[str, float]
    limits_s: dict[str, float]
    requests: int

    @property
    def ok(self) -> bool:
        return self.requests > 0 and all(
            self.figures_s[name] <= limit for name, limit in self.limits_s.items()
        )

    def describe(self) -> str:
        """``ttft p90 412 ms <= 500 ms ok, tpot p90 61 ms > 50 ms MISS``."""
        parts = []
        for name, limit in self.limits_s.items():
            value = self.figures_s[name]
            shown = "failed" if math.isinf(value) else f"{value * 1000:.1f} ms"
            verdict = "ok" if value <= limit else "MISS"
            sign = "<=" if value <= limit else ">"
            parts.append(
                f"{name} p{self.percentile:g} {shown} {sign} {limit * 1000:g} ms {verdict}"
            )
        return ", ".join(parts) if self.requests else "no request finished"


def percentile_check(records: Iterable[RunRecord], targets: SloTargets) -> PercentileCheck:
    """Each SLO's chosen percentile over the measured requests, failures as ``inf``."""
    measured = [r for r in records if not r.warmup]
    figures: dict[str, float] = {}
    limits: dict[str, float] = {}
    for name, ms in targets.limits_ms:
        values = []
        for r in measured:
            value = _figure(r, name) if r.ok else None
            values.append(math.inf if value is None else value)
        figures[name] = nearest_rank(values, targets.percentile) if values else math.inf
        limits[name] = ms / 1000.0
    return PercentileCheck(targets.percentile, figures, limits, len(measured))
