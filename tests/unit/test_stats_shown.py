"""What a summary figure may show for the n it rests on (defect 8 of #8): the median
and the range at any n, the spread from 2, p90 and p99 from 5."""

from __future__ import annotations

import pytest

from ometer_tui.core.bench.metrics import FEW_VALUES, stats_of, summarise
from ometer_tui.core.bench.records import MIN_N_FOR_PERCENTILES, RunRecord
from ometer_tui.core.settings import Defaults


def test_a_first_run_at_the_defaults_shows_a_median_and_a_range() -> None:
    n = Defaults().passes * len(Defaults().prompts)  # the measured runs of a first run
    st = stats_of([0.030 + i / 1000 for i in range(n)])
    assert st is not None and st.n == n
    assert st.shown("median") == st.p50 == pytest.approx(0.031)
    assert st.shown("min") == 0.030 and st.shown("max") == pytest.approx(0.030 + (n - 1) / 1000)
    assert st.shown("stdev") is not None


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9])
def test_tail_percentiles_need_five_values(n: int) -> None:
    st = stats_of([float(i) for i in range(1, n + 1)])
    assert st is not None
    assert st.shown("p50") is not None and st.shown("mean") is not None
    assert (st.shown("p90") is None) == (n < MIN_N_FOR_PERCENTILES)
    assert (st.shown("p99") is None) == (n < MIN_N_FOR_PERCENTILES)
    assert st.has_percentiles == (n >= 5)
    assert (st.shown("stdev") is None) == (n < 2)
    assert st.p90 is not None  # the JSON export keeps every figure with its n
    assert FEW_VALUES == MIN_N_FOR_PERCENTILES


def test_unknown_figure_is_refused() -> None:
    st = stats_of([1.0])
    assert st is not None
    with pytest.raises(ValueError, match="p95"):
        st.shown("p95")


def test_summaries_carry_the_n_of_each_figure() -> None:
    records = [
        RunRecord(model="m", pass_index=i, prompt_index=0, warmup=False, ok=True,
                  ttft_s=0.01 * i, ttft_visible_s=0.02 if i < 3 else None, e2e_s=0.1 * i,
                  output_tokens=4)
        for i in range(1, 5)
    ]  # fmt: skip
    summary = summarise("m", records)
    assert summary.ok == 4
    assert summary.metrics["ttft_s"].n == 4
    assert summary.metrics["ttft_visible_s"].n == 2
