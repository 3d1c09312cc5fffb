"""How the TUI writes numbers: times, rates, counts, money, sizes, context lengths.

Every formatter returns ``DASH`` for a missing (or non-finite) value.
"""

from __future__ import annotations

import math

from ometer_tui.core.units import format_rate, format_seconds

DASH = "—"
#: Short cell texts for runs that have no rate (buffered) or no TTFT (not streamed);
#: the model detail and the exports say it in full.
BUFFERED = "buffrd"
NOT_STREAMED = "no strm"


def fmt_seconds(value: float | None) -> str:
    """Milliseconds below 10 s (``"30.4 ms"``, ``"812 ms"``), seconds above (``"12.3 s"``):
    the core's rule (``core.units``), so the TUI and the reports never disagree."""
    return format_seconds(value, DASH)


def fmt_signed_seconds(value: float | None) -> str:
    """A difference of times with its sign: ``+0.9 ms``, ``−59 ms``."""
    if value is None or not math.isfinite(value):
        return DASH
    sign = "+" if value >= 0 else "−"
    return f"{sign}{fmt_seconds(abs(value))}"


def fmt_rate(value: float | None) -> str:
    """Tokens per second with one decimal (the core's rule, ``core.units``)."""
    return format_rate(value, DASH)


def fmt_count(value: int | None) -> str:
    return DASH if value is None else str(value)


def fmt_money(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:.2f}"


def fmt_bytes(value: int | None) -> str:
    """Decimal units, as model registries show them (``"4.9 GB"``)."""
    if value is None:
        return DASH
    if value >= 1_000_000_000:
        return f"{value / 1e9:.1f} GB"
    if value >= 1_000_000:
        return f"{value / 1e6:.0f} MB"
    if value >= 1_000:
        return f"{value / 1e3:.0f} kB"
    return f"{value} B"


def fmt_context(value: int | None) -> str:
    """``131072`` -> ``"128k"``."""
    if value is None:
        return DASH
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}k"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return str(value)
