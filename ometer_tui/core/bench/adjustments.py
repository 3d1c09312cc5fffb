"""What was changed in a request so the server would take it (issue #14, §4 and §5), in
words: a generation parameter the server refused and the request was sent without
(``RunRecord.dropped_params``), and a prompt cut to fit the model's context window
(``RunRecord.prompt_fit``, written by ``core/api/guard.py``).

A report or a dashboard shows these so a changed request is never silent: per run
(:func:`run_adjustment`) and per model (:func:`adjustment_lines`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ometer_tui.core.bench.records import RunRecord

__all__ = ["Truncation", "adjusted", "adjustment_lines", "parse_prompt_fit", "run_adjustment"]

#: ``truncated (middle): 5,000 -> 4,000 tokens to fit the window of 4,096 ...``
_FIT = re.compile(r"^truncated \((?P<mode>\w+)\): (?P<before>[\d,]+) -> (?P<after>[\d,]+) tokens")


@dataclass(frozen=True, slots=True)
class Truncation:
    """A prompt cut to fit: how (``start`` or ``middle``) and its tokens before and after."""

    mode: str
    before: int
    after: int


def parse_prompt_fit(note: str | None) -> Truncation | None:
    """The cut a ``prompt_fit`` note describes (``None``: no note, or not in that form)."""
    if not note:
        return None
    m = _FIT.match(note)
    if m is None:
        return None
    return Truncation(
        m["mode"], int(m["before"].replace(",", "")), int(m["after"].replace(",", ""))
    )


def adjusted(record: RunRecord) -> bool:
    """The request this run measured is not the one the plan asked for."""
    return bool(record.dropped_params or record.prompt_fit)


def run_adjustment(record: RunRecord) -> str | None:
    """One run's changes in a few words: ``dropped top_k; prompt cut (middle) 5,000 ->
    4,000 tokens`` (``None``: sent as planned)."""
    parts = []
    if record.dropped_params:
        parts.append(f"dropped {', '.join(record.dropped_params)}")
    if record.prompt_fit:
        cut = parse_prompt_fit(record.prompt_fit)
        parts.append(
            record.prompt_fit
            if cut is None
            else f"prompt cut ({cut.mode}) {cut.before:,} -> {cut.after:,} tokens"
        )
    return "; ".join(parts) or None


def _runs(n: int) -> str:
    return f"in {n} run{'' if n == 1 else 's'}"


def adjustment_lines(records: Iterable[RunRecord]) -> list[str]:
    """Per model: ``dropped top_k (the server refused it) in 5 runs``, ``prompt cut
    (middle) to 4,000 tokens in 2 runs`` (warm-up runs count: they were changed too)."""
    dropped: dict[str, int] = {}
    cuts: dict[str, list[int]] = {}
    other: dict[str, int] = {}
    for rec in records:
        for name in rec.dropped_params:
            dropped[name] = dropped.get(name, 0) + 1
        if rec.prompt_fit:
            cut = parse_prompt_fit(rec.prompt_fit)
            if cut is None:
                other[rec.prompt_fit] = other.get(rec.prompt_fit, 0) + 1
            else:
                cuts.setdefault(cut.mode, []).append(cut.after)
    lines = [f"dropped {name} (the server refused it) {_runs(n)}" for name, n in dropped.items()]
    for mode, afters in cuts.items():
        low, high = min(afters), max(afters)
        to = f"{high:,}" if low == high else f"{low:,}-{high:,}"
        lines.append(f"prompt cut ({mode}) to {to} tokens {_runs(len(afters))}")
    lines += [f"{note} {_runs(n)}" for note, n in other.items()]
    return lines
