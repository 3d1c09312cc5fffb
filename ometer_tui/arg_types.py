"""Argparse value types shared by the command line's modules (one rule for every flag)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from ometer_tui.core.numbers import NumberError, parse_number

N = TypeVar("N", int, float)


def number(parse: Callable[[str], N], *, minimum: float, inclusive: bool) -> Callable[[str], N]:
    """An argparse type: ``parse`` the text, then require a finite value ``>= minimum``
    (or ``>`` when not ``inclusive``); NaN and infinity are refused (the core's rule,
    :func:`ometer_tui.core.numbers.parse_number`)."""

    def convert(text: str) -> N:
        try:
            return parse_number(text, parse, minimum=minimum, inclusive=inclusive)
        except NumberError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert
