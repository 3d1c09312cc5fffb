"""Repeats with confidence: a metric's mean across N repeats of the same plan (or of one
sweep step) with a 95% confidence interval from Student's t distribution.

``mean ± t(0.975, n-1) · s / √n`` where ``s`` is the sample standard deviation of the
repeats' values. With one repeat there is no interval (``low``/``high`` are ``None``).
The t quantiles are tabulated for 1..30 degrees of freedom (no SciPy); above 30 the
Cornish-Fisher expansion around the normal quantile 1.959964 is used (error < 0.001).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: t(0.975, df) for df = 1..30.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959964


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1 (got {df})")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True, slots=True)
class MeanCI:
    """The mean of ``n`` repeats' values and its 95% confidence interval."""

    n: int
    mean: float
    low: float | None
    high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean

    def as_dict(self) -> dict[str, Any]:
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")

        return {
            "n": self.n,
            "mean": num(self.mean),
            "ci95_low": num(self.low),
            "ci95_high": num(self.high),
        }

    def describe(self, scale: float = 1.0, digits: int = 2) -> str:
        """``12.30 ± 0.41`` (values times ``scale``), or just the mean with n = 1."""
        mean = f"{self.mean * scale:.{digits}f}"
        half = self.half_width
        return mean if half is None else f"{mean} ± {half * scale:.{digits}f}"


def mean_ci(values: Iterable[float | None]) -> MeanCI | None:
    """Mean and 95% CI of the finite values given (``None`` and NaN are left out); None
    when there is none."""
    data = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not data:
        return None
    mean = statistics.fmean(data)
    if len(data) < 2:
        return MeanCI(len(data), mean, None, None)
    half = t975(len(data) - 1) * statistics.stdev(data) / math.sqrt(len(data))
    return MeanCI(len(data), mean, mean - half, mean + half)
