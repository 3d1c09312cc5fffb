"""One rule for a number typed as text or read from a file: finite, within bounds.

The command line's argparse types (``arg_types.number``), the load options
(``bench.workloads.options``: the same rule for a flag, a run-panel field and a settings
key) use it, so a value refused in one place is refused, with the same words, in all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


class NumberError(ValueError):
    """A value outside the rule; ``str()`` is the problem without the field's name,
    e.g. ``must be more than 0, got 0``."""


def number_problem(
    value: float, *, minimum: float, inclusive: bool, maximum: float | None = None
) -> str | None:
    """The problem with ``value`` (no field name), or ``None`` when it is fine. NaN and
    infinity are refused."""
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    if maximum is not None:
        low = f"{minimum:g}" if inclusive else f"more than {minimum:g} and"
        rule = f"must be {low}..{maximum:g}" if inclusive else f"must be {low} at most {maximum:g}"
    else:
        rule = f"must be {minimum:g} or more" if inclusive else f"must be more than {minimum:g}"
    if not math.isfinite(value):
        return f"{rule}, got {shown}"
    if not (value >= minimum if inclusive else value > minimum):
        return f"{rule}, got {shown}"
    if maximum is not None and value > maximum:
        return f"{rule}, got {shown}"
    return None


def parse_number(
    text: str,
    parse: Callable[[str], N],
    *,
    minimum: float,
    inclusive: bool,
    maximum: float | None = None,
) -> N:
    """``text`` as ``parse`` (``int`` or ``float``) within the bounds; raises
    :class:`NumberError` (``expected a whole number, got 'x'``, ``must be ...``)."""
    kind = "a whole number" if parse is int else "a number"
    try:
        value = parse(text.strip())
    except ValueError:
        raise NumberError(f"expected {kind}, got {text!r}") from None
    problem = number_problem(value, minimum=minimum, inclusive=inclusive, maximum=maximum)
    if problem is not None:
        raise NumberError(problem.rsplit(", got ", 1)[0] + f", got {text.strip()}")
    return value


def whole_number(value: object) -> int | None:
    """``value`` as an int when a JSON document holds a whole number there (``3`` or
    ``3.0``), else ``None`` (booleans, other floats, strings: not counts)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
