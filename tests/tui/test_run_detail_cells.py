"""Model detail's per-run cells for runs without a rate or a TTFT (issue #9)."""

from __future__ import annotations

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.tui.formatting import BUFFERED, NOT_STREAMED
from ometer_tui.tui.widgets.run_table import run_cells


def cells(rec: RunRecord) -> dict[str, str]:
    return {key: text.plain for key, text in run_cells(1, rec).items()}


def test_a_buffered_run_says_so_in_words() -> None:
    rec = RunRecord(
        model="m", pass_index=1, prompt_index=0, warmup=False, ok=True, status=200,
        ttft_s=0.36, e2e_s=0.36, output_tokens=32, tokens_source="usage",
        arrivals=1, tokens_per_arrival=32.0, buffered=True, first_output="content",
    )  # fmt: skip
    shown = cells(rec)
    assert shown["tps"] == BUFFERED and shown["ttft"] == "360 ms"
    assert shown["error"] == "buffered (32 tokens in 1 read)"


def test_a_not_streamed_run_has_no_ttft_but_its_e2e() -> None:
    rec = RunRecord(
        model="m", pass_index=1, prompt_index=0, warmup=False, ok=True, status=200,
        e2e_s=0.28, output_tokens=24, tokens_source="usage", not_streamed=True,
        first_output="content",
    )  # fmt: skip
    shown = cells(rec)
    assert shown["ttft"] == NOT_STREAMED and shown["e2e"] == "280 ms"
    assert shown["error"] == "not streamed"


def test_a_failed_run_keeps_its_error() -> None:
    rec = RunRecord(
        model="m", pass_index=1, prompt_index=0, warmup=False, ok=False, status=500,
        error="500 boom", error_kind="http", buffered=True,
    )  # fmt: skip
    assert cells(rec)["error"] == "500 boom"
