"""One terminal chart: a plain description (:class:`Figure`) drawn with plotext.

The charts use `textual-plotext <https://github.com/Textualize/textual-plotext>`_, the
Textualize-maintained wrapper of plotext: axes with ticks, several lines with a legend,
bars, horizontal reference lines (SLOs), braille resolution, all in pure Python. It
works with the pinned Textual (checked with 8.2.8); a chart of 120x9 cells builds in
about 10 ms, so the panels repaint at most once a second while a run goes.

State flows down: the owner calls :meth:`Chart.show` with a frozen :class:`Figure`; an
equal figure is not redrawn, and a chart is only drawn when it is on screen (in
``render``). With ``NO_COLOR`` (Textual's ``app.no_color``) the lines of a chart get
different marker glyphs as well as colours, so they stay apart in monochrome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from ometer_tui.core.bench.series import nice_step

#: Colours of a chart's lines, in order (plotext's names; readable on dark and light).
COLOURS: tuple[str, ...] = ("cyan", "orange", "magenta", "green")
#: Columns of a chart a title cannot use (the y axis' labels and a margin).
TITLE_MARGIN = 9
#: Markers of a chart's lines, in order, when colour is off (NO_COLOR).
MONO_MARKERS: tuple[str, ...] = ("braille", "•", "x", "+")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a chart: points (``xs``, ``ys``) and its legend ``label``."""

    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    bars: bool = False  # drawn as bars (counts per bucket, a histogram)
    width: float = 0.8  # bar width, a fraction of the space between two bars


@dataclass(frozen=True, slots=True)
class RefLine:
    """A horizontal reference line at ``y`` (an SLO), named in the chart's title."""

    label: str
    y: float


@dataclass(frozen=True, slots=True)
class Figure:
    """What a chart shows. ``empty``: the text shown when no line has a point."""

    title: str
    lines: tuple[Line, ...] = ()
    refs: tuple[RefLine, ...] = ()
    empty: str = "no data yet"
    #: lowest y shown (0 for counts and rates; ``None``: plotext's choice)
    y_from: float | None = 0.0
    #: the x axis' unit, written on its ticks ("s", "ms"); "" leaves plotext's ticks
    x_unit: str = ""
    #: the y values are counts: whole-number ticks
    y_counts: bool = False

    @property
    def has_data(self) -> bool:
        return any(line.xs for line in self.lines)


class Chart(PlotextPlot):
    """A chart of one :class:`Figure` (``None``: nothing to show)."""

    DEFAULT_CSS = """
    Chart {
        width: 1fr;
        height: 1fr;
        min-height: 5;
        min-width: 20;
    }
    """

    def __init__(
        self, figure: Figure | None = None, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.figure = figure
        #: times the chart was drawn (a test checks the budget with it)
        self.draws = 0

    def show(self, figure: Figure | None) -> bool:
        """Show ``figure``; ``False`` (no repaint) when it equals the one shown."""
        if figure == self.figure:
            return False
        self.figure = figure
        self.refresh()
        return True

    def render(self) -> RenderResult:
        figure = self.figure
        if figure is None or not figure.has_data:
            title = figure.title if figure is not None else ""
            text = Text(title + "\n", style="bold") if title else Text()
            text.append(figure.empty if figure is not None else "", style="dim")
            return text
        self.draws += 1
        plt = self.plt
        plt.clear_figure()
        try:
            self._draw(figure, plt)
            return super().render()
        except Exception as exc:  # a chart must never take the app (and a result) down
            return Text(f"{figure.title}\nchart not drawn: {exc}", style="dim")

    def _draw(self, figure: Figure, plt: Plot) -> None:
        mono = self.app.no_color
        title = figure.title
        if figure.refs:
            title += "  " + " ".join(f"── {r.label}" for r in figure.refs)
        # plotext centres the title on the canvas (right of the y labels) and drops it
        # when it does not fit there: cut it to what fits beside labels of 7 characters
        room = self.size.width - TITLE_MARGIN
        if self.size.width and len(title) > room:
            title = title[: max(room - 1, 0)] + "…"
        plt.title(title)
        many = len(figure.lines) > 1
        for i, line in enumerate(figure.lines):
            colour = COLOURS[i % len(COLOURS)]
            marker = MONO_MARKERS[i % len(MONO_MARKERS)] if mono else "braille"
            label = line.label if many else None
            if line.bars:
                plt.bar(
                    list(line.xs), list(line.ys), width=line.width, color=colour,
                    marker="sd" if mono and i == 0 else None, label=label,
                )  # fmt: skip
            elif len(line.xs) == 1:  # one point: a line of one point draws nothing
                plt.scatter(list(line.xs), list(line.ys), marker=marker, color=colour,
                            label=label)  # fmt: skip
            else:
                plt.plot(list(line.xs), list(line.ys), marker=marker, color=colour, label=label)
        for ref in figure.refs:
            plt.hline(ref.y, color="red")
        xs = [x for line in figure.lines for x in line.xs]
        if figure.x_unit and xs:
            ticks = x_ticks(min(xs), max(xs))
            plt.xticks(ticks, [f"{t:g}{figure.x_unit}" for t in ticks])
        ys = [y for line in figure.lines for y in line.ys] + [r.y for r in figure.refs]
        if figure.y_from is not None and ys:
            top = max(ys)
            plt.ylim(figure.y_from, top * 1.05 if top > figure.y_from else figure.y_from + 1)
        if figure.y_counts and ys:  # whole numbers: a count of 1.4 runs means nothing
            step = max(1, math.ceil(max(ys) / max(1, (self.size.height - 4) // 2)))
            ticks = list(range(0, int(max(ys)) + 1, step))
            plt.yticks(ticks, [str(t) for t in ticks])


def x_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Nice tick positions within ``[lo, hi]``, at most ``most`` of them."""
    if hi <= lo:
        return [lo]
    step = nice_step((hi - lo) / most)
    first = math.ceil(lo / step - 1e-9) * step
    count = int((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(count)]


def points(
    xs: Sequence[float], ys: Sequence[float | None]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (x, y) pairs where y has a value, as two tuples."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    return tuple(x for x, _ in pairs), tuple(y for _, y in pairs)
