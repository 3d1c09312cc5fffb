"""The server-vs-client comparison of one run (core/bench/clocks.py), issue 8 defect 4."""

from __future__ import annotations

from ometer_tui.core.bench.clocks import ClockRow, clock_rows
from ometer_tui.core.bench.records import RunRecord, ServerTimings


def slow_run() -> RunRecord:
    """demo-slow as the issue saw it: 24 tokens, eval 1440 ms for all of them."""
    ttft, e2e = 0.2525, 1.6335
    return RunRecord(
        model="demo-slow:70b",
        pass_index=1,
        prompt_index=0,
        warmup=False,
        ok=True,
        ttft_s=ttft,
        e2e_s=e2e,
        output_tokens=24,
        decode_tps=23 / (e2e - ttft),
        server_decode_tps=24 / 1.44,
        server_timings=ServerTimings(
            load_s=0.0,
            prompt_eval_s=0.0085,
            eval_s=1.44,
            total_s=1.6295,
            eval_count=24,
            prompt_eval_count=17,
        ),
    )


def compared(rows: list[ClockRow]) -> list[ClockRow]:
    return [r for r in rows if r.diff is not None]


def test_every_difference_is_the_client_minus_the_server_shown() -> None:
    rows = compared(clock_rows(slow_run()))
    assert len(rows) == 3  # TTFT, decode, e2e
    for row in rows:
        assert row.client is not None and row.server is not None
        assert row.diff == row.client - row.server, row.label


def test_decode_is_compared_with_the_eval_of_the_tokens_after_the_first() -> None:
    rows = {r.label: r for r in clock_rows(slow_run())}
    decode = rows["decode ~ eval of 23"]
    assert decode.server is not None and abs(decode.server - 1.44 * 23 / 24) < 1e-12
    assert rows["eval (all tokens)"].server == 1.44 and rows["eval (all tokens)"].diff is None


def test_llama_cpp_and_no_timings_and_embeddings() -> None:
    rec = slow_run()
    rec.server_timings = ServerTimings(prompt_ms=10.0, predicted_ms=1300.0)
    for row in compared(clock_rows(rec)):
        assert row.diff == row.client - row.server  # type: ignore[operator]
    rec.server_timings = None
    assert compared(clock_rows(rec)) == []
    emb = RunRecord(
        model="e",
        pass_index=1,
        prompt_index=0,
        warmup=False,
        ok=True,
        latency_s=0.02,
        input_tokens=9,
    )
    labels = [r.label for r in clock_rows(emb)]
    assert labels[0].startswith("latency") and not any("TTFT" in x for x in labels)
