"""How a figure is written for people: one rule for the TUI, the terminal table and
the Markdown report, so they never disagree on a number."""

from __future__ import annotations

import math

__all__ = ["format_rate", "format_seconds"]


def format_seconds(value: float | None, missing: str = "—") -> str:
    """Milliseconds below 10 s (``"25.8 ms"`` under 100 ms, ``"812 ms"`` above), seconds
    from there (``"12.3 s"``; whole seconds from 1000 s)."""
    if value is None or not math.isfinite(value):
        return missing
    if value < 10.0:
        ms = value * 1000.0
        return f"{ms:.1f} ms" if ms < 100.0 else f"{ms:.0f} ms"
    return f"{value:.1f} s" if value < 1000.0 else f"{value:.0f} s"


def format_rate(value: float | None, missing: str = "—") -> str:
    """Tokens (or requests) per second with one decimal; whole from 100 000."""
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:.0f}" if value >= 100_000 else f"{value:.1f}"
