"""Metric definitions from metrics.md, on hand-made observations (no clock involved)."""

from __future__ import annotations

import math

import pytest

from ometer_tui.core.api.base import ErrorKind, GenerationObservation, RequestError
from ometer_tui.core.bench.metrics import (
    RunContext,
    arrivals,
    clock_diff,
    generation_record,
    percentile,
    stats_of,
    stream_note,
    summarise,
    summary_stream_note,
)
from ometer_tui.core.bench.plan import Prices
from ometer_tui.core.bench.records import ServerTimings

MS = 1_000_000


def observation(
    ttft_ms: int, gap_ms: int, tokens: int, *, usage: int | None = None, visible_from: int = 0
) -> GenerationObservation:
    sent = 1_000 * MS
    times = [sent + ttft_ms * MS + i * gap_ms * MS for i in range(tokens)]
    return GenerationObservation(
        sent_ns=sent,
        first_token_ns=times[0],
        first_visible_ns=times[visible_from],
        last_token_ns=times[-1],
        finished_ns=times[-1] + MS,
        token_times_ns=times,
        token_chunks=tokens,
        first_output="content",
        status=200,
        done=True,
        output_tokens=usage,
        prompt_tokens=10,
    )


def record(obs: GenerationObservation, *, warmup: bool = False, prices: Prices | None = None):
    ctx = RunContext(
        model="m",
        pass_index=0 if warmup else 1,
        prompt_index=0,
        warmup=warmup,
        attempts=1,
        queue_s=0.0,
        bench_start_ns=0,
        prices=prices,
    )
    return generation_record(obs, ctx)


def test_decode_rate_divides_tokens_after_the_first_by_the_time_after_the_first() -> None:
    r = record(observation(ttft_ms=50, gap_ms=20, tokens=64, usage=64))
    assert r.ttft_s == pytest.approx(0.050)
    assert r.e2e_s == pytest.approx(0.050 + 63 * 0.020)
    assert r.decode_tps == pytest.approx(50.0)  # not 64/63 * 50: n-1 tokens over n-1 gaps
    assert r.tpot_s == pytest.approx(0.020)
    assert r.itl_mean_s == pytest.approx(0.020)
    assert r.tokens_source == "usage"


def test_chunk_count_is_used_and_flagged_without_usage() -> None:
    r = record(observation(ttft_ms=10, gap_ms=5, tokens=8))
    assert r.output_tokens == 8 and r.tokens_source == "chunks"


def test_visible_ttft_is_kept_apart_from_reasoning_ttft() -> None:
    r = record(observation(ttft_ms=50, gap_ms=10, tokens=30, visible_from=16))
    assert r.ttft_s == pytest.approx(0.050)
    assert r.ttft_visible_s == pytest.approx(0.050 + 16 * 0.010)


def test_one_token_has_no_decode_rate() -> None:
    r = record(observation(ttft_ms=10, gap_ms=5, tokens=1, usage=1))
    assert r.decode_tps is None and r.tpot_s is None


def test_ollama_server_timings_give_server_rate_prefill_and_cold_flag() -> None:
    obs = observation(ttft_ms=500, gap_ms=20, tokens=10, usage=10)
    obs.server_timings = {
        "load_s": 0.4,
        "prompt_eval_s": 0.05,
        "prompt_eval_count": 100.0,
        "eval_s": 0.2,
        "eval_count": 10.0,
    }
    r = record(obs)
    assert r.server_decode_tps == pytest.approx(50.0)
    assert r.prefill_tps == pytest.approx(2000.0)
    assert r.load_s == pytest.approx(0.4) and r.cold
    diff = clock_diff(r)
    assert diff is not None
    assert diff["ttft_minus_server_prefill_s"] == pytest.approx(0.05)
    # decode 9 gaps x 20 ms = 0.18 s; server eval 0.2 s x 9/10 tokens = 0.18 s
    assert diff["decode_minus_server_eval_s"] == pytest.approx(0.0)
    assert r.server_timings is not None
    assert r.server_timings.as_dict() == obs.server_timings  # nothing lost


def test_llama_cpp_timings_kept_verbatim_and_clock_diff_derived() -> None:
    obs = observation(ttft_ms=100, gap_ms=20, tokens=10, usage=10)
    obs.server_timings = {
        "cache_n": 3.0,
        "prompt_n": 12.0,
        "prompt_ms": 80.0,
        "prompt_per_token_ms": 6.6667,
        "prompt_per_second": 150.0,
        "predicted_n": 10.0,
        "predicted_ms": 190.0,
        "predicted_per_token_ms": 19.0,
        "predicted_per_second": 52.6,
        "draft_n": 4.0,  # not a field: kept in extra
        "draft_n_accepted": 2.5,
    }
    r = record(obs)
    assert r.server_timings is not None
    assert r.server_timings.as_dict() == obs.server_timings
    assert r.server_timings.extra == (("draft_n", 4.0), ("draft_n_accepted", 2.5))
    assert r.server_decode_tps == pytest.approx(52.6)
    assert r.prefill_tps == pytest.approx(150.0)
    assert r.load_s is None and not r.cold
    diff = clock_diff(r)
    assert diff == {
        "ttft_minus_server_prompt_s": pytest.approx(0.1 - 0.08),
        "e2e_minus_server_total_s": pytest.approx(0.1 + 0.18 - 0.27),
    }


def test_no_server_timings_no_clock_diff() -> None:
    r = record(observation(ttft_ms=10, gap_ms=5, tokens=3, usage=3))
    assert r.server_timings is None and clock_diff(r) is None
    assert ServerTimings.from_mapping({}) is None


def test_server_timings_keep_fractional_counts_and_other_names() -> None:
    t = ServerTimings.from_mapping({"eval_count": 2.5, "eval_s": 1.0, "x": 7.0})
    assert t is not None
    assert t.as_dict() == {"eval_count": 2.5, "eval_s": 1.0, "x": 7.0}
    assert all(isinstance(v, float) for v in t.as_dict().values())


def test_error_run_is_not_ok_and_keeps_partial_tokens() -> None:
    obs = observation(ttft_ms=10, gap_ms=5, tokens=3)
    obs.error = RequestError(
        ErrorKind.RESET, "connection closed mid-stream", before_first_byte=False
    )
    r = record(obs)
    assert not r.ok and r.error_kind == "reset" and r.output_tokens == 3


def test_percentiles_interpolate_linearly() -> None:
    data = [float(v) for v in range(1, 101)]
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 99) == pytest.approx(99.01)
    s = stats_of([3.0, 1.0, 2.0])
    assert s is not None and s.values == (1.0, 2.0, 3.0) and s.p50 == 2.0
    assert stats_of([]) is None
    assert stats_of([math.nan]) is None


def test_summary_excludes_warmup_and_counts_errors_by_kind() -> None:
    warm = record(observation(ttft_ms=900, gap_ms=20, tokens=10, usage=10), warmup=True)
    good = [record(observation(ttft_ms=50 + i, gap_ms=20, tokens=10, usage=10)) for i in range(5)]
    bad_obs = observation(ttft_ms=10, gap_ms=5, tokens=2)
    bad_obs.error = RequestError(ErrorKind.HTTP, "boom", status=500)
    bad = record(bad_obs)
    s = summarise("m", [warm, *good, bad], Prices(1.0, 2.0))
    assert s.runs == 6 and s.ok == 5 and s.errors == 1 and s.warmup_runs == 1
    assert s.errors_by_kind == {"http": 1}
    assert s.metrics["ttft_s"].n == 5
    assert s.metrics["ttft_s"].max == pytest.approx(0.054)  # the 0.9 s warm-up is excluded
    assert s.output_tokens == 50
    assert s.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in [*good, bad]))


def test_a_completed_stream_without_tokens_is_an_error() -> None:
    obs = GenerationObservation(sent_ns=0, finished_ns=5 * MS, status=200, done=True)
    r = record(obs)
    assert not r.ok and r.error_kind == "empty" and r.ttft_s is None
    assert r.error == "the server completed the response without generating any token"


# -- stream shape: bursts, buffering, tool calls, whole answers (issue #9) ---------------


def read_by_read(
    ttft_ms: float, reads: list[tuple[float, int]], *, usage: int | None = None
) -> GenerationObservation:
    """An observation whose token chunks came in reads: (ms after the first, chunks)."""
    sent = 1_000 * MS
    times = [sent + round((ttft_ms + at_ms) * MS) for at_ms, chunks in reads for _ in range(chunks)]
    return GenerationObservation(
        sent_ns=sent,
        first_token_ns=times[0],
        first_visible_ns=times[0],
        last_token_ns=times[-1],
        finished_ns=times[-1] + MS,
        token_times_ns=times,
        token_chunks=len(times),
        first_output="content",
        status=200,
        done=True,
        output_tokens=usage,
    )


def test_arrivals_group_the_chunks_of_one_read_by_their_stamp() -> None:
    assert arrivals([5, 5, 5, 9, 12, 12]) == ([5, 9, 12], [3, 1, 2])
    assert arrivals([]) == ([], [])


def test_bursty_server_reads_its_sustained_rate() -> None:
    """Bursts of 8 every 160 ms are 50 tokens/s; (n - 1) / (e2e - ttft) said 64.6."""
    r = record(read_by_read(50, [(i * 160.0, 8) for i in range(4)], usage=32))
    assert r.decode_tps == pytest.approx(50.0)  # 24 tokens after the first read / 0.48 s
    assert r.arrivals == 4 and r.tokens_per_arrival == pytest.approx(8.0)
    assert not r.buffered and r.itl_p50_s == 0.0 and r.itl_p99_s == pytest.approx(0.160)
    assert r.tpot_s == pytest.approx(0.48 / 31)  # vLLM's TPOT, as defined


def test_usage_is_shared_by_the_chunks_when_chunks_carry_several_tokens() -> None:
    # 10 reads of one chunk each, 40 ms apart; the server counted 40 tokens (4 a chunk)
    r = record(read_by_read(20, [(i * 40.0, 1) for i in range(10)], usage=40))
    assert r.decode_tps == pytest.approx(40 * 9 / 10 / 0.36)  # 100 tokens/s
    assert r.tokens_per_arrival == pytest.approx(4.0) and not r.buffered


def test_two_reads_2_ms_apart_are_buffered_not_31500_tokens_per_second() -> None:
    r = record(read_by_read(300, [(0.0, 32), (2.0, 32)], usage=64))
    assert r.ok and r.buffered and r.decode_tps is None
    assert r.tpot_s is None and r.itl_mean_s is None
    assert stream_note(r) == "buffered (64 tokens in 2 reads)"


def test_the_whole_answer_in_one_read_is_buffered() -> None:
    r = record(read_by_read(800, [(0.0, 40)]))
    assert r.buffered and r.decode_tps is None and r.ttft_s == r.e2e_s
    assert stream_note(r) == "buffered (40 tokens in 1 read)" and r.tokens_source == "chunks"


def test_many_reads_in_a_few_ms_are_buffered_too() -> None:
    r = record(read_by_read(100, [(0.0, 20), (1.0, 20), (3.0, 24)], usage=64))
    assert r.buffered and r.decode_tps is None


def test_short_token_by_token_answers_are_not_buffered() -> None:
    one = record(read_by_read(10, [(0.0, 1)], usage=1))
    assert not one.buffered and one.decode_tps is None and stream_note(one) is None
    two = record(read_by_read(10, [(0.0, 1), (5.0, 1)], usage=2))
    assert not two.buffered and two.decode_tps == pytest.approx(200.0)


def test_buffered_and_not_streamed_runs_are_counted_in_the_summary() -> None:
    buffered = record(read_by_read(300, [(0.0, 32), (2.0, 32)], usage=64))
    streamed = record(observation(ttft_ms=50, gap_ms=20, tokens=10, usage=10))
    s = summarise("m", [buffered, streamed])
    assert s.buffered_runs == 1 and s.metrics["decode_tps"].n == 1
    assert s.metrics["tokens_per_arrival"].n == 2
    assert summary_stream_note(s) == "buffered in 1 of 2 ok runs"


def test_tool_call_output_is_a_token_and_says_so() -> None:
    obs = read_by_read(100, [(i * 10.0, 1) for i in range(32)], usage=32)
    obs.first_output = "tool_call"
    obs.first_visible_ns = None
    r = record(obs)
    assert r.ok and r.error is None and r.first_output == "tool_call"
    assert r.ttft_s == pytest.approx(0.100) and r.ttft_visible_s is None


def test_a_usage_count_without_any_output_chunk_never_says_no_token() -> None:
    obs = GenerationObservation(sent_ns=0, finished_ns=5 * MS, status=200, done=True)
    obs.output_tokens = 32
    r = record(obs)
    assert not r.ok and r.error_kind == "protocol" and r.output_tokens == 32
    assert r.error is not None and "no token" not in r.error and "32 output tokens" in r.error


def test_a_whole_answer_has_no_ttft_but_keeps_e2e_and_tokens() -> None:
    obs = GenerationObservation(
        sent_ns=0, last_token_ns=280 * MS, finished_ns=281 * MS, status=200, done=True
    )
    obs.not_streamed = True
    obs.first_output = "content"
    obs.output_tokens = 24
    r = record(obs)
    assert r.ok and r.not_streamed and r.ttft_s is None and r.ttft_visible_s is None
    assert r.e2e_s == pytest.approx(0.280) and r.output_tokens == 24
    assert r.decode_tps is None and not r.buffered and r.arrivals is None
    assert stream_note(r) == "not streamed"
    no_usage = GenerationObservation(sent_ns=0, last_token_ns=MS, finished_ns=MS, done=True)
    no_usage.not_streamed = True
    no_usage.first_output = "content"
    r = record(no_usage)
    assert r.ok and r.output_tokens is None and r.tokens_source == "none"
