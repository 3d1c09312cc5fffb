"""The load figures the results table's load columns show (issue #11, section 3): the
core's one rule (``workloads/summary.py``), shared with the model detail and exports."""

from __future__ import annotations

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind, ArrivalSpec
from ometer_tui.core.bench.workloads.record import LoadStamp
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.bench.workloads.summary import live_load_summary, summarise_load

OPEN = LoadSpec(
    arrival=ArrivalSpec(20.0, ArrivalKind.CONSTANT), stop=StopConditions(max_requests=9)
)
CLOSED = LoadSpec(stop=StopConditions(max_requests=9))


def sent(i: int, *, lag: float | None, ok: bool = True) -> RunRecord:
    """Run ``i`` of an open loop at 20/s (``lag``: its schedule lag; ``None``: unknown)."""
    return RunRecord(
        model="m",
        pass_index=1,
        prompt_index=0,
        warmup=False,
        ok=ok,
        ttft_s=0.05 if ok else None,
        e2e_s=0.2 if ok else None,
        output_tokens=30 if ok else None,
        prompt_tokens=250 if ok else None,
        started_at_s=i * 0.05 + (lag or 0.0),
        load=LoadStamp(
            conversation=i,
            intended_at_s=None if lag is None else i * 0.05,
            schedule_lag_s=lag,
            input_tokens_asked=256,
            output_tokens_asked=32,
        ),
    )


def test_lag_p99_needs_five_sends() -> None:
    four = live_load_summary([sent(i, lag=0.001 * i) for i in range(4)], OPEN)
    five = live_load_summary([sent(i, lag=0.001 * i) for i in range(5)], OPEN)
    assert four is not None and four.schedule_lag_s is not None
    assert four.schedule_lag_p99_s is None  # too few: blank, not 0
    assert five is not None and five.schedule_lag_p99_s is not None
    assert 0.0039 < five.schedule_lag_p99_s <= 0.004


def test_lag_unknown_closed_loop_has_none() -> None:
    # a closed loop has no timetable: its runs carry no lag, and neither does the summary
    summary = live_load_summary([sent(i, lag=None) for i in range(8)], CLOSED)
    assert summary is not None and summary.mode == "closed"
    assert summary.schedule_lag_s is None and summary.schedule_lag_p99_s is None
    assert summary.achieved_rate is not None  # a closed loop still has a request rate


def test_achieved_rate_needs_two_sends_and_lengths_an_ok_run() -> None:
    one = live_load_summary([sent(0, lag=0.0)], OPEN)
    assert one is not None and one.achieved_rate is None and one.offered_rate == 20.0
    failed = live_load_summary([sent(0, lag=0.0, ok=False)], OPEN)
    assert failed is not None
    assert failed.input_tokens_actual_mean is None and failed.output_tokens_actual_mean is None
    ten = live_load_summary([sent(i, lag=0.0) for i in range(10)], OPEN)
    assert ten is not None and ten.achieved_rate is not None
    assert abs(ten.achieved_rate - 20.0) < 1e-9
    assert (ten.input_tokens_actual_mean, ten.input_tokens_asked_mean) == (250, 256)
    assert (ten.output_tokens_actual_mean, ten.output_tokens_asked_mean) == (30, 32)


def test_peak_in_flight_is_known_at_the_end_only() -> None:
    records = [sent(i, lag=0.0) for i in range(6)]
    live = live_load_summary(records, OPEN)
    assert live is not None and live.peak_in_flight is None  # runs in flight have no record
    final = summarise_load(
        records, mode="open", offered_rate=20.0, max_in_flight=3, stop_reason="6 requests sent"
    )
    shown = live_load_summary(records, OPEN, final)
    assert shown is final and shown.peak_in_flight == 3


def test_a_saved_summary_is_shown_without_the_plans_load() -> None:
    # a result opened from the history keeps no load in its plan: its saved figures count
    final = summarise_load(
        [sent(i, lag=0.0) for i in range(6)],
        mode="open",
        offered_rate=20.0,
        max_in_flight=2,
        stop_reason=None,
    )
    assert live_load_summary([], None, final) is final
    assert live_load_summary([sent(0, lag=0.0)], None) is None  # no load at all
