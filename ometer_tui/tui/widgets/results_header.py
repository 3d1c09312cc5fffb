"""The results screen's header: what runs where, a progress bar and the run's status.

Both lines are made of phrases; when the width is short, whole phrases are dropped
(least important first) instead of cutting one in the middle (:func:`fit_phrases`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from ometer_tui.core.bench.plan import BenchmarkPlan

SEPARATOR = " · "


@dataclass(frozen=True, slots=True)
class Phrase:
    """A piece of a header line; ``priority`` 0 is kept longest."""

    text: Text
    priority: int = 0


def fit_phrases(phrases: Sequence[Phrase], width: int, *, separator: str = SEPARATOR) -> Text:
    """The phrases that fit in ``width`` cells, joined, in their order; the least
    important dropped first. The first phrase is always kept (cut at its end when even
    it does not fit)."""
    kept = list(phrases)

    def joined(items: Sequence[Phrase]) -> Text:
        out = Text()
        for i, phrase in enumerate(items):
            if i:
                out.append(separator, style="dim")
            out.append_text(phrase.text)
        return out

    while width > 0 and len(kept) > 1 and joined(kept).cell_len > width:
        worst = max(range(1, len(kept)), key=lambda i: (kept[i].priority, i))
        del kept[worst]
    text = joined(kept)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def title_phrases(plan: BenchmarkPlan, load_shape: tuple[str, bool] | None = None) -> list[Phrase]:
    """The title line: endpoints, models and runs (a load: its shape, ``load_shape`` as
    ``export.load_shape`` gives it, also for a result read back), warm-up, concurrency."""
    ep = plan.endpoint
    head = Text()
    head.append("Results ", style="bold")
    head.append(" + ".join(e.name for e in plan.endpoints), style="bold cyan")
    n, m = plan.runs_per_model, len(plan.models)
    models = f"{m} model{'s' if m != 1 else ''}"
    # a load's requests are its rate, duration or count, not passes
    shape, open_loop = load_shape or (f"× {n} run{'s' if n != 1 else ''}", False)
    runs = f"{models} {shape}" if load_shape is None else f"{models} · {shape}"
    phrases = [Phrase(head), Phrase(Text(runs), 0)]
    if plan.warmup:
        phrases.append(Phrase(Text(f"+{plan.warmup} warm-up"), 2))
    if plan.concurrency > 1 and not open_loop:  # open loop: its rate is the load
        phrases.append(Phrase(Text(f"concurrency {plan.concurrency}"), 1))
    if plan.parallel_models > 1:
        phrases.append(Phrase(Text(f"{plan.parallel_models} models at once"), 1))
    if plan.multi_endpoint:  # the endpoint column says which is which
        how = "at once" if plan.endpoints_parallel else "one after the other"
        phrases.append(Phrase(Text(f"endpoints {how}", style="dim"), 3))
        return phrases
    phrases.append(Phrase(Text(ep.display_url, style="dim"), 3))
    if ep.api:
        phrases.append(Phrase(Text(str(ep.api), style="dim"), 4))
    return phrases


class PhraseLine(Widget):
    """One line of phrases, fitted to its width each time it is drawn."""

    DEFAULT_CSS = """
    PhraseLine {
        width: 1fr;
        height: 1;
    }
    """

    def __init__(self, phrases: Sequence[Phrase] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._phrases = list(phrases)

    def set_phrases(self, phrases: Sequence[Phrase]) -> None:
        self._phrases = list(phrases)
        self.refresh()

    @property
    def plain(self) -> str:
        """Everything the line would show with room enough (tests, screen readers)."""
        return fit_phrases(self._phrases, 0).plain

    def render(self) -> Text:
        return fit_phrases(self._phrases, self.size.width)


class ResultsHeader(Vertical):
    """Title line (plan) and progress line (bar and status phrases), fitted to width."""

    DEFAULT_CSS = """
    ResultsHeader {
        height: auto;
        padding: 0 1;
    }
    ResultsHeader > Horizontal {
        height: 1;
    }
    ResultsHeader #results-simulated {
        width: auto;
        height: 1;
        background: $warning;
        color: $text;
    }
    ResultsHeader #results-progress {
        width: auto;
        height: 1;
        margin-right: 2;
    }
    ResultsHeader #results-progress Bar {
        width: 20;
    }
    """

    def __init__(
        self,
        plan: BenchmarkPlan,
        *,
        load_shape: tuple[str, bool] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._plan = plan
        self._load_shape = load_shape
        self._state: tuple[int, int | None, list[Phrase]] = (0, 1, [])

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield PhraseLine(title_phrases(self._plan, self._load_shape), id="results-title")
            if self._plan.endpoint.simulated:
                yield Static(Text(" SIMULATED ", style="bold"), id="results-simulated")
        with Horizontal():
            yield ProgressBar(total=1, show_eta=False, id="results-progress")
            yield PhraseLine(id="results-status")

    def show(self, done: int, total: int | None, status: Sequence[Phrase]) -> None:
        """The progress (requests done of total; ``None``: not known, no bar) and the
        status phrases."""
        self._state = (done, total, list(status))
        self._apply()

    def on_mount(self) -> None:
        self._apply()

    def _apply(self) -> None:
        # (before its children are mounted the state waits for on_mount)
        done, total, status = self._state
        for bar in self.query(ProgressBar):  # (no total: no bar, rather than a wrong one)
            bar.display = total is not None
            bar.update(total=max(total or 1, 1), progress=done)
        for line in self.query("#results-status").results(PhraseLine):
            line.set_phrases(status)
