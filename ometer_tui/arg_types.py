"""Argparse value types shared by the command line's modules (one rule for every flag)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def number(parse: Callable[[str], N], *, minimum: float, inclusive: bool) -> Callable[[str], N]:
    """An argparse type: ``parse`` the text, then require a finite value ``>= minimum``
    (or ``>`` when not ``inclusive``); NaN and infinity are refused."""
    kind = "a whole number" if parse is int else "a number"
    rule = f"must be {minimum:g} or more" if inclusive else f"must be more than {minimum:g}"

    def convert(text: str) -> N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(value) or not (value >= minimum if inclusive else value > minimum):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return convert
