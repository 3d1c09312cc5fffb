"""A small SVG chart writer for the HTML report: line, step, scatter and histogram charts.

Why our own rather than a charting library: the report must open with no network and be
readable without JavaScript, in light and dark mode and on paper. The SVG written here is
plain elements with classes (``s0``..``s7`` for the series' colours, ``axis``, ``grid``)
that the page's stylesheet colours through CSS custom properties, so one chart follows
``prefers-color-scheme`` and print without being drawn twice. Every chart is an
``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (its text alternative); every
string is escaped. Nothing here fetches, links or scripts anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

__all__ = ["PALETTE_SIZE", "Chart", "Series", "nice_ticks", "render_chart"]

#: Series colours cycle through this many classes (``s0``..``s7``), set by the page's CSS.
PALETTE_SIZE = 8

Kind = Literal["line", "step", "points", "bars"]
Formatter = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One series: ``points`` as (x, y). ``kind``: ``line`` (joined), ``step`` (a
    histogram outline over ``edges``-style points, drawn as horizontal steps), ``points``
    (a dot per point), ``bars`` (each point is (left edge, height), with ``width``)."""

    name: str
    points: Sequence[tuple[float, float]]
    kind: Kind = "line"
    width: float = 0.0  # bars only: the bar width in x units
    colour: int | None = None  # palette index; default: the series' place
    markers: bool = False  # line only: a dot on each point
    dashed: bool = False  # line only


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw: a title, axis labels, series and formatters for the tick labels."""

    title: str
    desc: str
    series: Sequence[Series]
    x_label: str
    y_label: str
    x_format: Formatter = field(default=lambda v: f"{v:g}")
    y_format: Formatter = field(default=lambda v: f"{v:g}")
    width: int = 600
    height: int = 250
    y_from_zero: bool = True
    x_range: tuple[float, float] | None = None
    #: horizontal reference lines: (y, label)
    marks: Sequence[tuple[float, str]] = ()
    #: vertical reference lines: (x, label), e.g. where each sweep step started
    x_marks: Sequence[tuple[float, str]] = ()
    legend: bool = True
    #: y values are counts: ticks at whole numbers only
    y_integer: bool = False


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 × 10^k apart; whole numbers with
    ``integer``) covering [low, high]; the first tick is <= low and the last >= high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * magnitude:
            step = mult * magnitude
            break
    if integer:
        step = max(1.0, math.ceil(step))
    first = math.floor(low / step + 1e-9) * step
    ticks: list[float] = []
    value = first
    while value < high + step * 1e-9 or not ticks:
        ticks.append(round(value, 12))
        value = first + step * len(ticks)
    if ticks[-1] < high:
        ticks.append(round(first + step * len(ticks), 12))
    return ticks


def _ticks_within(low: float, high: float, count: int) -> list[float]:
    """Round ticks inside a fixed range: at least two (finer steps when too few fall
    inside; the range's ends as a last resort)."""
    eps = (high - low) * 1e-6
    for n in (count, count * 2):
        inside = [t for t in nice_ticks(low, high, n) if low - eps <= t <= high + eps]
        if len(inside) >= 2:
            return inside
    return [low, high]


def _num(x: float) -> str:
    """A coordinate: two decimals, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _bounds(chart: Chart) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for s in chart.series:
        for x, y in s.points:
            if math.isfinite(x) and math.isfinite(y):
                xs.append(x)
                ys.append(y)
                if s.kind == "bars":
                    xs.append(x + s.width)
    ys += [y for y, _ in chart.marks if math.isfinite(y)]
    if not xs:
        return None
    x0, x1 = chart.x_range if chart.x_range is not None else (min(xs), max(xs))
    y0, y1 = min(ys), max(ys)
    if chart.y_from_zero:
        y0 = min(0.0, y0)
        if y0 == y1 == 0.0:
            y1 = 1.0  # all zero: a flat line at the bottom, no negative axis
    return x0, x1, y0, y1


def render_chart(chart: Chart) -> str:
    """The chart as one ``<svg>`` element (inline in HTML: no XML declaration, no
    namespace links). A chart with no finite point says so in place of axes."""
    w, h = chart.width, chart.height
    title = escape(chart.title)
    desc = escape(chart.desc)
    head = (
        f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{title}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{title}</title><desc>{desc}</desc>"
    )
    bounds = _bounds(chart)
    if bounds is None:
        return (
            f'{head}<text class="empty" x="{w / 2:g}" y="{h / 2:g}" text-anchor="middle">'
            "no data</text></svg>"
        )
    x0, x1, y0, y1 = bounds
    yt = nice_ticks(y0, y1, 4, integer=chart.y_integer)
    x_count = max(3, (w - 60) // 70)  # about one tick label per 70 px: they never touch
    if chart.x_range is not None:
        xt = _ticks_within(x0, x1, x_count)
    else:
        xt = nice_ticks(x0, x1, x_count)
        x0, x1 = xt[0], xt[-1]
    y0, y1 = yt[0], yt[-1]
    legend_rows = _legend_rows(chart, w)
    left, right, top = _LEFT, 22.0, 10.0
    bottom = 40.0 + 16.0 * legend_rows
    pw, ph = w - left - right, h - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1.0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / ((y1 - y0) or 1.0) * ph

    out = [head, '<g class="grid">']
    for t in yt:
        out.append(
            f'<line x1="{_num(left)}" x2="{_num(left + pw)}" y1="{_num(py(t))}" '
            f'y2="{_num(py(t))}"/>'
        )
    out.append('</g><g class="axis">')
    out.append(
        f'<line x1="{_num(left)}" x2="{_num(left + pw)}" y1="{_num(top + ph)}" '
        f'y2="{_num(top + ph)}"/>'
    )
    out.append(
        f'<line x1="{_num(left)}" x2="{_num(left)}" y1="{_num(top)}" y2="{_num(top + ph)}"/>'
    )
    for t in yt:
        out.append(
            f'<text x="{_num(left - 6)}" y="{_num(py(t) + 4)}" text-anchor="end">'
            f"{escape(chart.y_format(t))}</text>"
        )
    for t in xt:
        out.append(
            f'<text x="{_num(px(t))}" y="{_num(top + ph + 15)}" text-anchor="middle">'
            f"{escape(chart.x_format(t))}</text>"
        )
    out.append(
        f'<text class="label" x="{_num(left + pw / 2)}" y="{_num(top + ph + 31)}" '
        f'text-anchor="middle">{escape(chart.x_label)}</text>'
    )
    out.append(
        f'<text class="label" transform="translate(13 {_num(top + ph / 2)}) rotate(-90)" '
        f'text-anchor="middle">{escape(chart.y_label)}</text>'
    )
    out.append("</g>")
    for y, label in chart.marks:
        if math.isfinite(y):
            # the label above its line, or below it when the line is at the top
            label_y = py(y) - 3 if py(y) - 3 >= top + 11 else py(y) + 12
            out.append(
                f'<g class="mark"><line x1="{_num(left)}" x2="{_num(left + pw)}" '
                f'y1="{_num(py(y))}" y2="{_num(py(y))}"/>'
                f'<text x="{_num(left + pw - 2)}" y="{_num(label_y)}" '
                f'text-anchor="end">{escape(label)}</text></g>'
            )
    for x, label in chart.x_marks:
        if math.isfinite(x) and x0 <= x <= x1:
            out.append(
                f'<g class="xmark"><line x1="{_num(px(x))}" x2="{_num(px(x))}" '
                f'y1="{_num(top)}" y2="{_num(top + ph)}"/>'
                f'<text x="{_num(px(x) + 3)}" y="{_num(top + 9)}">{escape(label)}</text></g>'
            )
    for i, s in enumerate(chart.series):
        cls = f"s{(s.colour if s.colour is not None else i) % PALETTE_SIZE}"
        out.append(_series(s, cls, px, py, y0))
    out.append(_legend(chart, w, top + ph + 44))
    out.append("</svg>")
    return "".join(out)


def _finite(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def _series(
    s: Series,
    cls: str,
    px: Callable[[float], float],
    py: Callable[[float], float],
    y0: float,
) -> str:
    points = _finite(s.points)
    name = escape(s.name)
    if not points:
        return ""
    if s.kind == "points":
        dots = "".join(
            f'<circle cx="{_num(px(x))}" cy="{_num(py(y))}" r="2.2"/>' for x, y in points
        )
        return f'<g class="dots {cls}"><title>{name}</title>{dots}</g>'
    if s.kind == "bars":
        base = py(max(y0, 0.0))
        bars = "".join(
            f'<rect x="{_num(px(x))}" y="{_num(py(y))}" '
            f'width="{_num(max(px(x + s.width) - px(x) - 1, 0.5))}" '
            f'height="{_num(max(base - py(y), 0))}"/>'
            for x, y in points
        )
        return f'<g class="bars {cls}"><title>{name}</title>{bars}</g>'
    if s.kind == "step":
        path: list[str] = []
        for i, (x, y) in enumerate(points):
            if i == 0:
                path.append(f"M{_num(px(x))} {_num(py(y))}")
            else:
                path.append(f"H{_num(px(x))}V{_num(py(y))}")
        d = "".join(path)
    else:
        d = "M" + "L".join(f"{_num(px(x))} {_num(py(y))}" for x, y in points)
    dotted = points if s.markers or len(points) == 1 else []
    dots = "".join(f'<circle cx="{_num(px(x))}" cy="{_num(py(y))}" r="2.8"/>' for x, y in dotted)
    kind = "line dash" if s.dashed else "line"
    return f'<g class="{kind} {cls}"><title>{name}</title><path d="{d}"/>{dots}</g>'


_LEFT = 58.0  # room for the y tick labels
_LEGEND_ITEM_CHARS = 7.5  # approximate pixel width of a legend character


def _legend_items(chart: Chart) -> list[tuple[str, str, float]]:
    items = []
    for i, s in enumerate(chart.series):
        if not s.name:
            continue
        cls = f"s{(s.colour if s.colour is not None else i) % PALETTE_SIZE}"
        items.append((s.name, cls, 30 + len(s.name) * _LEGEND_ITEM_CHARS))
    return items


def _legend_layout(chart: Chart, width: int) -> list[tuple[str, str, float, int]]:
    """(name, colour class, x, row) of each legend entry; none for a single series."""
    items = _legend_items(chart)
    if not chart.legend or len(items) <= 1:
        return []
    out: list[tuple[str, str, float, int]] = []
    x, row = _LEFT, 0
    for name, cls, iw in items:
        if x > _LEFT and x + iw > width - 2:
            x, row = _LEFT, row + 1
        out.append((name, cls, x, row))
        x += iw
    return out


def _legend_rows(chart: Chart, width: int) -> int:
    layout = _legend_layout(chart, width)
    return layout[-1][3] + 1 if layout else 0


def _legend(chart: Chart, width: int, y: float) -> str:
    layout = _legend_layout(chart, width)
    if not layout:
        return ""
    out = ['<g class="legend">']
    for name, cls, x, row in layout:
        yy = y + row * 16
        out.append(
            f'<g class="{cls}"><rect class="key" x="{_num(x)}" y="{_num(yy - 8)}" '
            f'width="12" height="8"/><text x="{_num(x + 16)}" y="{_num(yy)}">'
            f"{escape(name)}</text></g>"
        )
    out.append("</g>")
    return "".join(out)
