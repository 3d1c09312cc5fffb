"""A/B statistics on synthetic samples: a known difference is found, no difference gives
false positives near the stated 5%, too few runs is said, and the gate and exports."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from ometer_tui.core.compare import (
    METRICS,
    MIN_RUNS_P90,
    CompareError,
    Verdict,
    compare_documents,
    comparison_to_csv,
    comparison_to_json,
    comparison_to_markdown,
    comparison_to_table,
    diff_proportions,
    diff_quantiles,
    gate_failures,
    parse_fail_on,
    trend_line,
    trend_mark,
    wilson,
)
from ometer_tui.core.export import to_dict
from tests.history_samples import synthetic_result


def _doc(**kwargs: object) -> dict[str, object]:
    return to_dict(synthetic_result(**kwargs))  # type: ignore[arg-type]


def test_known_difference_is_found_with_its_direction() -> None:
    a = _doc(runs=30, seed=1, ttft_ms=120, tps=40)
    b = _doc(runs=30, seed=2, ttft_ms=160, tps=50)
    (pair,) = compare_documents(a, b).pairs
    ttft = pair.metric("ttft_p50")
    assert ttft.verdict is Verdict.WORSE
    assert ttft.ci_low is not None and ttft.ci_high is not None
    assert 0 < ttft.ci_low < 40 < ttft.ci_high  # the true shift, 40 ms, is inside
    assert ttft.difference_pct is not None and 20 < ttft.difference_pct < 45
    assert pair.metric("ttft_visible_p50").verdict is Verdict.WORSE
    assert pair.metric("decode_tps").verdict is Verdict.BETTER  # higher is better
    assert pair.metric("e2e_p50").verdict is Verdict.BETTER  # faster decode wins overall
    assert pair.metric("request_throughput").verdict is Verdict.BETTER
    assert pair.metric("ttft_p90").verdict is Verdict.WORSE
    assert pair.metric("error_rate").verdict is Verdict.SAME  # 0 vs 0


def test_values_match_the_result_summary() -> None:
    doc = _doc(runs=30)
    (pair,) = compare_documents(doc, doc).pairs
    summary = doc["models"][0]["summary"]  # type: ignore[index]
    ttft = pair.metric("ttft_p50")
    assert ttft.a == pytest.approx(summary["metrics"]["ttft_s"]["p50"] * 1000, rel=1e-5)
    assert pair.metric("request_throughput").a == pytest.approx(
        summary["request_throughput"], rel=1e-5
    )
    assert all(m.verdict is Verdict.SAME for m in pair.metrics)
    assert ttft.difference == 0


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_no_difference_false_positive_rate_is_near_5_percent(q: float) -> None:
    n = 30 if q == 0.5 else 40
    seeds = 400
    hits = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        a = [rng.lognormvariate(0, 0.3) for _ in range(n)]
        b = [rng.lognormvariate(0, 0.3) for _ in range(n)]
        _, _, low, high = diff_quantiles(a, b, q)
        hits += low > 0 or high < 0
    rate = hits / seeds
    assert 0.01 <= rate <= 0.09, rate


def test_power_for_a_real_shift() -> None:
    hits = 0
    for seed in range(100):
        rng = random.Random(seed)
        a = [rng.lognormvariate(0, 0.3) for _ in range(50)]
        b = [1.3 * rng.lognormvariate(0, 0.3) for _ in range(50)]
        _, _, low, _ = diff_quantiles(a, b, 0.5)
        hits += low > 0
    assert hits >= 85


def test_error_rates_two_proportions() -> None:
    assert wilson(0, 10)[0] == 0 and 0.25 < wilson(0, 10)[1] < 0.35
    low, high = diff_proportions(0, 30, 10, 30)
    assert 0 < low < 1 / 3 < high
    hits = 0
    for seed in range(400):
        rng = random.Random(seed)
        xa = sum(rng.random() < 0.2 for _ in range(60))
        xb = sum(rng.random() < 0.2 for _ in range(60))
        lo, hi = diff_proportions(xa, 60, xb, 60)
        hits += lo > 0 or hi < 0
    assert hits / 400 <= 0.09
    a = _doc(runs=30, seed=1)
    b = _doc(runs=30, seed=2, error_every=3)
    m = compare_documents(a, b).pairs[0].metric("error_rate")
    assert m.verdict is Verdict.WORSE
    assert m.a == 0 and m.b == pytest.approx(100 / 3)
    assert m.worse_by == pytest.approx(100 / 3)  # percentage points


def test_too_few_runs_and_runs_needed() -> None:
    a, b = _doc(runs=3, seed=1), _doc(runs=3, seed=2, ttft_ms=500)
    (pair,) = compare_documents(a, b).pairs
    m = pair.metric("ttft_p50")
    assert m.verdict is Verdict.TOO_FEW and m.runs_needed == 5
    assert m.a is not None and m.b is not None  # values still shown
    a, b = _doc(runs=12, seed=1), _doc(runs=12, seed=2)
    p90 = compare_documents(a, b).pairs[0].metric("ttft_p90")
    assert p90.verdict is Verdict.TOO_FEW and p90.runs_needed == MIN_RUNS_P90
    # a small real difference with few runs: not significant, and an estimate of how many
    a, b = _doc(runs=6, seed=3, ttft_ms=120), _doc(runs=6, seed=4, ttft_ms=125)
    m = compare_documents(a, b).pairs[0].metric("ttft_p50")
    if m.verdict is Verdict.SAME:
        assert m.runs_needed is not None and m.runs_needed > 6


def test_pairing_rules() -> None:
    ab = _doc(runs=6, models=("a", "b"))
    bc = _doc(runs=6, models=("b", "c"))
    comp = compare_documents(ab, bc)
    assert [(p.a.model, p.b.model) for p in comp.pairs] == [("b", "b")]
    # single models with different names pair with each other
    q4, q8 = _doc(runs=6, models=("m:q4",)), _doc(runs=6, models=("m:q8",))
    assert [(p.a.model, p.b.model) for p in compare_documents(q4, q8).pairs] == [("m:q4", "m:q8")]
    # two rows of one result, and an explicit cross pair
    rows = compare_documents(ab, None, ["b", "a"])
    assert [(p.a.model, p.b.model) for p in rows.pairs] == [("b", "a")]
    assert [(p.a.model, p.b.model) for p in compare_documents(ab, None).pairs] == [("a", "b")]
    assert [(p.a.model, p.b.model) for p in compare_documents(ab, bc, ["a", "c"]).pairs] == [
        ("a", "c")
    ]
    with pytest.raises(CompareError, match="nothing to pair"):
        compare_documents(ab, _doc(runs=6, models=("x", "y")))
    with pytest.raises(CompareError, match="not measured in both"):
        compare_documents(ab, bc, ["a"])
    with pytest.raises(CompareError, match="two models"):
        compare_documents(q4, None)


def test_workload_differences_are_noted() -> None:
    a = to_dict(synthetic_result(runs=6))
    b = to_dict(synthetic_result(runs=8))
    (pair,) = compare_documents(a, b).pairs
    assert any("passes 3 vs 4" in n for n in pair.notes)


def test_gate() -> None:
    a = _doc(runs=30, seed=1, ttft_ms=120)
    b = _doc(runs=30, seed=2, ttft_ms=180)  # about 50% worse
    comp = compare_documents(a, b)
    assert gate_failures(comp, [parse_fail_on("ttft_p50:10")])
    assert not gate_failures(comp, [parse_fail_on("ttft_p50:90")])
    assert not gate_failures(comp, [parse_fail_on("decode_tps:0")])  # not worse
    assert not gate_failures(compare_documents(b, a), [parse_fail_on("ttft_p50:0")])  # better
    (line,) = gate_failures(comp, [parse_fail_on("ttft_p50:10%")])
    assert line.startswith("ttft_p50 worse by ") and "llama3:8b" in line
    for bad, message in (
        ("ttft:10", "unknown metric"),
        ("ttft_p50", "METRIC:PCT"),
        ("ttft_p50:x", "not a number"),
        ("ttft_p50:-1", "0 or more"),
    ):
        with pytest.raises(CompareError, match=message):
            parse_fail_on(bad)


def test_exports() -> None:
    comp = compare_documents(
        _doc(runs=30, models=("a", "b")), _doc(runs=30, models=("a", "b"), seed=5, ttft_ms=200)
    )
    data = json.loads(comparison_to_json(comp))
    assert data["kind"] == "comparison" and len(data["pairs"]) == 2
    first = data["pairs"][0]["metrics"][0]
    assert first["metric"] == "ttft_p50" and first["verdict"] == "worse" and first["unit"] == "ms"
    assert first["ci_low"] > 0
    rows = list(csv.DictReader(io.StringIO(comparison_to_csv(comp))))
    assert len(rows) == 2 * len(METRICS)
    assert rows[0]["metric"] == "ttft_p50" and rows[0]["verdict"] == "worse"
    md = comparison_to_markdown(comp)
    assert "| Metric | A | B | B - A |" in md and "| TTFT p50 (ms) |" in md and "worse" in md
    table = comparison_to_table(comp)
    assert "TTFT p50 (ms)" in table and "worse" in table and "A: a (lab" in table


def test_whole_results_without_difference_rarely_differ() -> None:
    """Every metric, throughput included, over 150 pairs of same-distribution results."""
    seeds = 150
    hits = dict.fromkeys((m.key for m in METRICS), 0)
    for s in range(seeds):
        a = _doc(runs=30, seed=2 * s + 1)
        b = _doc(runs=30, seed=2 * s + 2)
        for m in compare_documents(a, b).pairs[0].metrics:
            hits[m.spec.key] += m.verdict in (Verdict.BETTER, Verdict.WORSE)
    rates = {k: v / seeds for k, v in hits.items()}
    assert all(rate <= 0.11 for rate in rates.values()), rates
    assert 0.01 <= sum(rates.values()) / (len(rates) - 1) <= 0.09, rates  # error rate is 0


def test_trend_marks() -> None:
    base = _doc(runs=30, seed=1, ttft_ms=120)
    slower = _doc(runs=30, seed=2, ttft_ms=180)
    (pair,) = compare_documents(base, slower).pairs
    assert trend_mark(pair.metric("ttft_p50")).startswith("▲ ")
    assert trend_mark(pair.metric("error_rate")) == "≈"
    (back,) = compare_documents(slower, base).pairs
    assert trend_mark(back.metric("ttft_p50")).startswith("▼ ")
    line = trend_line(pair)
    assert line.startswith("TTFT p50 ▲ ") and "(worse)" in line and "Error rate ≈" in line
    (few,) = compare_documents(_doc(runs=2), _doc(runs=2, seed=3)).pairs
    assert trend_mark(few.metric("ttft_p50")) == "" and trend_line(few) == "too few runs to tell"
    errors = compare_documents(_doc(runs=30), _doc(runs=30, seed=4, error_every=3)).pairs[0]
    assert trend_mark(errors.metric("error_rate")) == "▲ 33 pt"
