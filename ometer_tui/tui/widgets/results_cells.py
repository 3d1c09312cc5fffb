"""The results table's building blocks: a column's spec and a cell with its raw value.

Kept apart from :mod:`results_table` so the modules that add columns to it (the load
columns, :mod:`load_columns`) can build cells without importing the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text

from ometer_tui.tui.widgets.fitted_table import FitColumn

#: The model column is never cut below this (it is cut in the middle: ends are kept).
MODEL_MIN_WIDTH = 10

Raw = float | int | str | None

GOOD, MIDDLE, BAD = "green", "yellow", "red"


class Kind(StrEnum):
    TEXT = "text"
    STATUS = "status"
    TIME = "time"  # seconds
    RATE = "rate"  # tokens per second
    COUNT = "count"
    ERRORS = "errors"
    MONEY = "money"
    BYTES = "bytes"
    CONTEXT = "context"


class Better(StrEnum):
    LOWER = "lower"
    HIGHER = "higher"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    key: str
    label: str
    width: int
    kind: Kind = Kind.TEXT
    better: Better = Better.NONE
    #: 0 = always shown; larger numbers are dropped first on narrow terminals
    priority: int = 0
    #: what the column means, for the legend ("" = needs no word)
    legend: str = ""
    #: cut the model name to make room for this column rather than drop it
    squeeze: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind not in (Kind.TEXT, Kind.STATUS)

    @property
    def render_width(self) -> int:
        """Width in cells: room for the content and for the label plus a sort arrow."""
        return max(self.width, len(self.label) + 2)

    def fit_column(self) -> FitColumn:
        model = self.key == "model"
        return FitColumn(
            self.key, self.label, width=self.width, priority=self.priority,
            minimum=min(MODEL_MIN_WIDTH, self.width) if model or self.key == "endpoint" else None,
            cut="middle" if model else "end", squeeze=self.squeeze,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cell:
    raw: Raw
    text: str
    style: str = ""
    right: bool = False

    def render(self) -> Text:
        """A ``Text`` (never markup-parsed: model names may contain ``[``)."""
        return Text(self.text, style=self.style, justify="right" if self.right else "left")


Row = dict[str, Cell]
