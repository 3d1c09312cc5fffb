"""What the results screen's header says about a session: its state, the requests done,
the requests in flight (the engine workers' reports), the elapsed time, the overall
rate, and where the result was kept."""

from __future__ import annotations

from rich.text import Text

from ometer_tui.core.bench.steps import StepStarted
from ometer_tui.tui.session import BenchmarkSession
from ometer_tui.tui.widgets.results_header import Phrase


def state_text(session: BenchmarkSession) -> Text:
    """``running 12/40 requests``, ``done 40/40 requests``, ``cancelled``... (coloured):
    the fold's :meth:`~ometer_tui.core.bench.fold.ResultFold.counts` (a running series:
    ``running 12/40 requests in this step``; a run for a duration: ``running 43
    requests``; a finished series: ``done 181 requests``, every step's)."""
    fold = session.fold
    if session.stopping:
        state = Text("stopping…", style="bold yellow")
    elif session.running:
        state = Text("running", style="bold cyan")
    elif session.error:
        state = Text("failed", style="bold red")
    elif session.result.cancelled:
        state = Text("cancelled", style="bold yellow")
    elif fold.requests_done:
        state = Text("done", style="bold green")
    else:
        state = Text("ready", style="dim")
    done, total = fold.counts()
    counted = f" {done}" if total is None else f" {done}/{total}"
    step = " in this step" if session.running and session.series else ""
    state.append(f"{counted} requests{step}", style="")
    return state


def step_phrase(step: StepStarted, repeat: int) -> str:
    """``step 2/4 · concurrency 4`` (``· repeat 1/3`` with repeats)."""
    loads = step.planned // max(repeat, 1) if step.planned else None
    text = f"step {step.index + 1}" + (f"/{loads}" if loads else "")
    if step.role in ("anchor", "probe"):
        text += f" ({step.role})"
    if repeat > 1:
        text += f" · repeat {step.repeat + 1}/{repeat}"
    return f"{text} · {step.load.label()}"


def header_phrases(session: BenchmarkSession, *, show_clock: bool = True) -> list[Phrase]:
    """The header's second line, most important first (:func:`fit_phrases` drops the
    rest on a narrow terminal)."""
    fold = session.fold
    phrases = [Phrase(state_text(session))]
    if session.step_now is not None and session.running:
        repeat = session.steps.job.repeat if session.steps is not None else 1
        phrases.append(Phrase(Text(step_phrase(session.step_now, repeat), style="bold"), 1))
    if session.running and (flight := session.workers.in_flight(session.clock())) is not None:
        phrases.append(Phrase(Text(f"{flight} in flight"), 1))
    if session.error and not session.running:
        phrases.append(Phrase(Text(session.error, style="red"), 1))
    elapsed = session.elapsed_s if show_clock else None
    if elapsed is not None:
        minutes, seconds = divmod(int(elapsed), 60)
        phrases.append(Phrase(Text(f"elapsed {minutes}:{seconds:02d}"), 3))
    agg = fold.aggregate_tps()
    if agg is not None:
        phrases.append(Phrase(Text(f"{agg:.1f} output tok/s overall"), 2))
    if session.exported_to is not None:
        phrases.append(Phrase(Text(f"exported {session.exported_to.name}", style="dim"), 4))
    if session.history_id is not None:
        phrases.append(Phrase(Text(f"history #{session.history_id}", style="dim"), 4))
    elif session.history_reason is not None:
        phrases.append(Phrase(Text("not in history", style="yellow"), 4))
    return phrases
