"""Comparing tables of shown figures across a save: the JSON export rounds (seconds to
the microsecond, other figures to 6 significant digits: docs/json-schema.md), so a
figure shown from a saved result can differ from the live one by one unit of its last
digit when the value sat on a rounding boundary (338.695 -> "338.69" live, "338.70"
saved). Everything else (text, verdicts, counts) must be equal."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _close(a: str, b: str) -> bool:
    numbers_a, numbers_b = _NUMBER.findall(a), _NUMBER.findall(b)
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b) or len(numbers_a) != len(numbers_b):
        return False
    for x, y in zip(numbers_a, numbers_b, strict=True):
        if x == y:
            continue
        places = len(x.partition(".")[2])
        if places == 0 or places != len(y.partition(".")[2]):
            return False  # counts and whole numbers are exact
        if abs(float(x) - float(y)) > 1.5 * 10.0**-places:
            return False
    return True


def same_figures(shown: Sequence[Sequence[str]], again: Sequence[Sequence[str]]) -> bool:
    """Every cell equal, a figure within one unit of its last shown digit."""
    return len(shown) == len(again) and all(
        len(r) == len(s) and all(_close(a, b) for a, b in zip(r, s, strict=True))
        for r, s in zip(shown, again, strict=True)
    )
