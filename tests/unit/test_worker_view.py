"""The workers' load board: latest report per worker, stale ones, totals, the warning."""

from __future__ import annotations

from ometer_tui.core.bench.events import WorkerLoad
from ometer_tui.core.bench.worker_view import WorkerBoard, overload_advice, overload_text


def load(
    worker: int,
    *,
    workers: int = 2,
    lag: float = 1.0,
    in_flight: int = 10,
    chunks: float = 5000.0,
    cpu: float = 80.0,
    node: str = "host-a",
) -> WorkerLoad:
    return WorkerLoad(
        worker=worker, workers=workers, node=node, pid=100 + worker, interval_s=1.0,
        chunks_per_s=chunks, cpu_percent=cpu, lag_p99_ms=lag, in_flight=in_flight,
    )  # fmt: skip


def test_an_empty_board_shows_nothing() -> None:
    board = WorkerBoard()
    assert board.empty and board.rows(0.0) == []
    assert board.in_flight(0.0) is None
    assert board.warning(0.0) is None and board.warning() is None


def test_latest_report_per_worker_and_totals() -> None:
    board = WorkerBoard()
    board.apply(load(0, in_flight=3, chunks=1000, cpu=50), now=10.0)
    board.apply(load(1, in_flight=4, chunks=2000, cpu=60), now=10.1)
    board.apply(load(0, in_flight=7, chunks=1500, cpu=55), now=11.0)  # replaces the first
    rows = board.rows(11.2)
    assert [r.worker for r in rows] == [0, 1]
    assert rows[0].live is not None and rows[0].live.in_flight == 7
    assert board.in_flight(11.2) == 11
    assert board.layout() == "2 workers on 1 node"
    assert board.summary_line(11.2) == (
        "2 workers on 1 node · lag p99 1.0 ms (worker 1) · 11 in flight · 3,500 chunks/s · CPU 115%"
    )
    assert board.warning(11.2) is None


def test_one_worker_says_so_without_nodes() -> None:
    board = WorkerBoard()
    board.apply(load(0, workers=1, lag=0.4, in_flight=2), now=1.0)
    assert board.summary_phrases(1.5)[:3] == ["1 worker", "lag p99 0.4 ms", "2 in flight"]


def test_nodes_and_ray_in_the_layout() -> None:
    board = WorkerBoard(ray=True)
    for w in range(4):
        board.apply(load(w, workers=4, node="a" if w < 2 else "b"), now=1.0)
    assert board.layout() == "4 workers on 2 nodes (ray)"


def test_an_overloaded_worker_warns_in_words_once() -> None:
    board = WorkerBoard()
    assert board.apply(load(0, lag=0.8), now=1.0) is False
    assert board.apply(load(1, lag=7.2), now=1.0) is True  # first time past 3 ms
    assert board.apply(load(1, lag=9.0), now=2.0) is False  # said already
    assert board.warning(2.0) == "the client is the bottleneck here (worker 2 lag p99 9.0 ms)"
    worst = board.worst(2.0)
    assert worst is not None and worst.worker == 1 and worst.overloaded
    # 3 ms exactly is not past the limit
    assert board.apply(load(0, lag=3.0), now=2.0) is False
    assert not board.rows(2.0)[0].overloaded


def test_several_overloaded_workers_name_the_worst_and_count_the_rest() -> None:
    board = WorkerBoard()
    board.apply(load(0, lag=4.0), now=1.0)
    board.apply(load(1, lag=6.5), now=1.0)
    assert board.warning(1.0) == (
        "the client is the bottleneck here (worker 2 lag p99 6.5 ms, 1 more)"
    )


def test_a_silent_worker_goes_stale_and_leaves_the_totals() -> None:
    board = WorkerBoard(stale_after_s=3.0)
    board.apply(load(0, in_flight=5, lag=8.0), now=0.0)
    board.apply(load(1, in_flight=6), now=0.0)
    board.apply(load(1, in_flight=6), now=3.0)
    rows = board.rows(3.5)  # worker 1 last spoke 3.5 s ago
    assert rows[0].stale and rows[0].live is None and not rows[0].overloaded
    assert rows[0].state() == "stale (no report for 4 s)"
    assert not rows[1].stale and rows[1].state() == "live"
    assert board.in_flight(3.5) == 6
    assert board.warning(3.5) is None  # a stale report warns of nothing live
    assert board.summary_phrases(3.5)[-1] == "1 stale"
    assert board.summary_phrases(10.0)[-1] == "no live report"
    assert board.in_flight(10.0) is None
    # exactly at the limit: still live
    assert not board.rows(3.0)[0].stale


def test_a_worker_not_heard_from_is_shown_waiting_then_stale() -> None:
    board = WorkerBoard()
    board.apply(load(0, workers=3), now=0.0)
    rows = board.rows(1.0)
    assert len(rows) == 3 and rows[2].report is None
    assert rows[2].state() == "no report yet" and not rows[2].stale
    assert board.rows(4.0)[2].stale


def test_after_the_end_the_latest_reports_are_final_and_the_peak_is_told() -> None:
    board = WorkerBoard()
    board.apply(load(0, lag=0.5, in_flight=9), now=0.0)
    board.apply(load(1, lag=7.2), now=0.0)
    board.apply(load(1, lag=1.0, in_flight=0), now=1.0)  # recovered
    assert board.warning(1.0) is None
    assert not any(r.stale for r in board.rows())  # however old: final, never stale
    assert board.in_flight() == 9
    assert board.rows()[1].peak_lag_ms == 7.2
    assert board.warning() == (
        "the client was the bottleneck at times (worker 2 lag p99 up to 7.2 ms)"
    )


def test_overload_text_counts_the_others() -> None:
    assert overload_text(load(2, workers=4, lag=5.25), more=2) == (
        "the client is the bottleneck here (worker 3 lag p99 5.2 ms, 2 more)"
    )


def test_headless_progress_warns_once_per_overloaded_worker_and_not_when_quiet() -> None:
    import io

    from ometer_tui.headless import _Progress

    out = io.StringIO()
    progress = _Progress(out, quiet=False)
    progress(load(0, lag=0.9))
    assert out.getvalue() == ""  # fine: nothing said
    progress(load(1, lag=7.2))
    progress(load(1, lag=8.0))  # still overloaded: said once
    progress(load(0, lag=4.5))
    assert out.getvalue().splitlines() == [
        "  warning: the client is the bottleneck here (worker 2 lag p99 7.2 ms)",
        "  warning: the client is the bottleneck here (worker 1 lag p99 4.5 ms)",
    ]
    quiet = io.StringIO()
    progress = _Progress(quiet, quiet=True)
    progress(load(1, lag=7.2))
    assert quiet.getvalue() == ""  # --quiet: errors only


def test_after_the_end_the_summary_tells_the_layout_and_the_peak_lag() -> None:
    board = WorkerBoard()
    board.apply(load(0, lag=0.5), now=0.0)
    board.apply(load(1, lag=4.4), now=0.0)
    board.apply(load(1, lag=0.7), now=1.0)
    assert board.summary_line() == "2 workers on 1 node · lag p99 peak 4.4 ms (worker 2)"


def test_a_worker_lagging_at_low_cpu_says_the_machine_is_busy_not_the_client() -> None:
    """A loop late while its worker uses 2% CPU is other processes' doing: the warning
    says so, and its advice is not "more workers" (that would not help)."""
    board = WorkerBoard()
    board.apply(load(0, workers=1, lag=4.0, cpu=2.0, chunks=49.0), 1.0)
    assert (
        board.warning(1.5) == "the machine is busy: worker 1 runs late (lag p99 4.0 ms at 2% CPU)"
    )
    assert board.advice(1.5) == "its timings may run late: other processes hold the cores"
    board.apply(load(0, workers=1, lag=4.0, cpu=95.0), 2.0)
    assert board.warning(2.5) == "the client is the bottleneck here (worker 1 lag p99 4.0 ms)"
    assert board.advice(2.5) == "its timings run late: fewer streams or more workers"
    assert board.advice(2.5) == overload_advice(load(0, lag=4.0, cpu=95.0))
    # a third of a core: the engine's own waves of work (the calibration saw 9.7 ms at
    # 34% with nothing else running), not other processes
    board.apply(load(0, workers=1, lag=9.7, cpu=34.0), 3.0)
    assert board.warning(3.5) == "the client is the bottleneck here (worker 1 lag p99 9.7 ms)"


def test_after_the_end_a_peak_at_low_cpu_says_the_machine_was_busy() -> None:
    """The end's warning follows the worst report's CPU as the live one does: a loop late
    at 7% CPU was other processes' doing (seen in tmux: 10 req/s, 6.4 ms at 7% CPU was
    called "the client was the bottleneck")."""
    board = WorkerBoard()
    board.apply(load(0, workers=1, lag=6.4, cpu=7.0, chunks=288.0), 1.0)
    board.apply(load(0, workers=1, lag=1.1, cpu=60.0), 2.0)  # later, busier, not late
    assert board.warning() == (
        "the machine was busy at times: worker 1 ran late (lag p99 up to 6.4 ms at 7% CPU)"
    )
    board.apply(load(0, workers=1, lag=8.0, cpu=80.0), 3.0)  # a worse peak, its own doing
    assert (
        board.warning() == "the client was the bottleneck at times (worker 1 lag p99 up to 8.0 ms)"
    )
