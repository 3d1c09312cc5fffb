"""Inter-token gaps as chart data: the distribution of every kept gap of a model's runs,
and each run's own gaps in order (for a sparkline).

A record keeps its gaps as whole microseconds (``RunRecord.itl_gaps_us``, see
``metrics.kept_gaps``): the gaps between consecutive reads that carried token chunks.
The histogram counts every kept gap of the ok measured runs (warm-up and failed runs
excluded). Counting goes through a tally of gap -> count (:class:`GapTally`), so
millions of gaps cost one pass in C and a few thousand distinct values, not a sorted
list of millions of floats; the bins are those :func:`series.histogram` gives the same
values (tested).

Records without kept gaps (an export written before they were kept) have only their
summaries: when no run of the model kept its gaps, the histogram counts each run's mean
gap instead and its title says so; runs without gaps beside runs with them are left out,
and the note says how many.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ometer_tui.core.bench.records import MAX_KEPT_GAPS, RunRecord
from ometer_tui.core.bench.series import Histogram, auto_bins, bin_edges, histogram

__all__ = [
    "EVERY_GAP",
    "MEAN_PER_RUN",
    "GapTally",
    "ItlSequence",
    "itl_histogram",
    "itl_sequence",
    "run_gaps_ms",
]

US = 1e6
#: The gap histogram's name when it counts every kept gap ...
EVERY_GAP = "ITL, every gap"
#: ... and when no run kept its gaps (older exports): one mean gap per run.
MEAN_PER_RUN = "ITL, mean per run (gaps not kept)"


def _measured_ok(record: RunRecord) -> bool:
    return record.ok and not record.warmup


class GapTally:
    """Every kept gap of the ok measured runs folded so far, counted by value (us).

    :meth:`add` folds records once each (a live chart adds the new ones as they come);
    :meth:`histogram` draws the distribution from the counts.
    """

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        #: ok measured runs that kept gaps, and those of them that kept every k-th only
        self.runs = 0
        self.sampled_runs = 0
        #: mean gaps of the ok measured runs that have an ITL but no kept gaps
        self.means_without: list[float] = []

    @property
    def n(self) -> int:
        """Gaps counted."""
        return self.counts.total()

    def add(self, records: Iterable[RunRecord]) -> None:
        for r in records:
            if not _measured_ok(r):
                continue
            gaps = r.itl_gaps_us
            if gaps:
                self.counts.update(gaps)
                self.runs += 1
                self.sampled_runs += r.gaps_sampled
            elif r.itl_mean_s is not None:
                self.means_without.append(r.itl_mean_s)

    def histogram(self, bins: int | None = None) -> Histogram:
        """Every counted gap in seconds, binned as :func:`series.histogram` bins them
        (min to p99, the rest ``above``); without any, each run's mean gap."""
        if not self.counts:
            means = self.means_without
            h = histogram(means, name=MEAN_PER_RUN, unit="s", bins=bins or auto_bins(len(means)))
            note = "records without kept gaps: one mean gap per run" if means else ""
            return Histogram(h.name, h.unit, h.edges, h.counts, h.above, of="runs", note=note)
        keys = sorted(self.counts)
        cum = list(itertools.accumulate(self.counts[k] for k in keys))
        total = cum[-1]
        values = [k / US for k in keys]
        hi = values[-1]
        if total >= 20:
            hi = _percentile_of_counts(values, cum, 99.0)
        edges = bin_edges(values[0], hi, bins or auto_bins(total))
        counts = [0] * (len(edges) - 1)
        above = 0
        top, step = edges[-1], edges[1] - edges[0]
        for key, v in zip(keys, values, strict=True):
            if v > top:
                above += self.counts[key]
                continue
            counts[min(int((v - edges[0]) / step), len(counts) - 1)] += self.counts[key]
        notes = []
        if self.sampled_runs:
            notes.append(f"{_runs(self.sampled_runs)} over {MAX_KEPT_GAPS} gaps: every k-th kept")
        if self.means_without:
            notes.append(f"{_runs(len(self.means_without))} without kept gaps left out")
        return Histogram(
            EVERY_GAP, "s", edges, tuple(counts), above, of="gaps", note="; ".join(notes)
        )


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def _percentile_of_counts(values: Sequence[float], cum: Sequence[int], q: float) -> float:
    """:func:`metrics.percentile` of the sorted multiset where ``values[i]`` occurs
    ``cum[i] - cum[i-1]`` times, without expanding it."""
    total = cum[-1]

    def at(rank: int) -> float:  # the value at 0-based position ``rank``
        return values[bisect.bisect_right(cum, rank)]

    if total == 1:
        return values[0]
    pos = (total - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, total - 1)
    a, b = at(lo), at(hi)
    return a + (b - a) * (pos - lo)  # as metrics.percentile interpolates


def itl_histogram(records: Iterable[RunRecord], bins: int | None = None) -> Histogram:
    """Every kept inter-token gap of the ok measured runs (``bins``: default
    :func:`series.auto_bins` of the number of gaps); see :class:`GapTally`."""
    tally = GapTally()
    tally.add(records)
    return tally.histogram(bins)


def run_gaps_ms(record: RunRecord) -> list[float]:
    """One run's kept gaps in milliseconds, in order (empty when none were kept)."""
    gaps = record.itl_gaps_us
    return [] if gaps is None else [g / 1000.0 for g in gaps]


@dataclass(frozen=True, slots=True)
class ItlSequence:
    """Per measured run in plan order (pass, then prompt): its mean and p99 gap as its
    record summarised them when it was measured (``None``: failed, or too few chunks for
    a gap). For a sparkline with one cell per run."""

    mean_s: tuple[float | None, ...]
    p99_s: tuple[float | None, ...]

    @property
    def runs(self) -> int:
        return len(self.mean_s)


def itl_sequence(records: Iterable[RunRecord]) -> ItlSequence:
    """Each measured run's mean and p99 gap in plan order."""
    runs = sorted(
        (r for r in records if not r.warmup), key=lambda r: (r.pass_index, r.prompt_index)
    )
    return ItlSequence(
        tuple(r.itl_mean_s if r.ok else None for r in runs),
        tuple(r.itl_p99_s if r.ok else None for r in runs),
    )
