"""Trends against the history, two rows of one result, and the comparison's files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.compare import (
    CompareError,
    Verdict,
    compare_documents,
    compare_rows,
    comparison_text,
    comparison_to_csv,
    comparison_to_json,
    comparison_to_markdown,
    default_comparison_path,
    trend_mark,
    verdict_text,
)
from ometer_tui.core.export import to_dict
from ometer_tui.core.history import HistoryStore, load_of
from ometer_tui.core.trends import find_trends
from tests.history_samples import synthetic_result


def _at(minutes: int, **kwargs: Any) -> Any:
    result = synthetic_result(**kwargs)
    result.started_at += timedelta(minutes=minutes)
    return result


def _with_load(doc: dict[str, Any], **load: Any) -> dict[str, Any]:
    summary = {
        "mode": "open",
        "offered_rate": 10.0,
        "input_tokens_asked_mean": 512.3,
        "output_tokens_asked_mean": 128.0,
        "turns": [],
    }
    summary.update(load)
    for model in doc["models"]:
        model["summary"]["load"] = summary
    return doc


def test_a_different_load_is_not_comparable(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    current = _with_load(to_dict(_at(60, runs=6)))
    with HistoryStore(db) as store:
        store.add_document(to_dict(_at(0, runs=6)))  # no load at all
        store.add_document(_with_load(to_dict(_at(10, runs=6)), offered_rate=20.0))
        store.add_document(_with_load(to_dict(_at(20, runs=6)), input_tokens_asked_mean=128))
        assert store.latest_comparable(current, "llama3:8b") is None
        same = store.add_document(_with_load(to_dict(_at(30, runs=6)), input_tokens_asked_mean=512))
        store.add_document(_with_load(to_dict(_at(40, runs=6)), mode="closed"))
        found = store.latest_comparable(current, "llama3:8b")
        assert found is not None and found[0].id == same
    # without a load the result is compared with the one that had none
    assert load_of(to_dict(_at(0)), "llama3:8b") is None
    plain = to_dict(_at(60, runs=6))
    with HistoryStore(db) as store:
        found = store.latest_comparable(plain, "llama3:8b")
        assert found is not None and found[0].id == 1


def test_find_trends_marks_a_change_beyond_noise_and_noise(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    assert find_trends(db, _at(60, runs=30)) == {}
    assert not db.exists()  # looking never creates the history
    models = ("fast:1b", "steady:8b")
    with HistoryStore(db) as store:
        before = store.add_result(_at(0, runs=30, models=models, ttft_ms=200, seed=1))
        store.set_label(before, "before upgrade")
    now = _at(60, runs=30, models=models, ttft_ms=200, seed=2)
    # fast:1b got faster: its runs are replaced by those of a 120 ms result
    now.models["fast:1b"] = _at(60, runs=30, models=("fast:1b",), ttft_ms=120).models["fast:1b"]
    trends = find_trends(db, now)
    assert set(trends) == set(models)
    fast, steady = trends["fast:1b"], trends["steady:8b"]
    assert fast.metric("ttft_p50").verdict is Verdict.BETTER
    assert fast.mark("ttft_p50").startswith("▼ ") and fast.mark("ttft_p50", compact=True)[1] != " "
    assert steady.mark("ttft_p50") == "≈"
    assert fast.baseline.id == before
    assert fast.baseline_name == '#1 (2026-11-30 05:00, "before upgrade")'
    assert fast.pair.a.source == "history #1" and fast.pair.b.source == "this result"
    # a result opened from the history compares with an older one, never with itself
    with HistoryStore(db) as store:
        store.add_result(now)
    assert set(find_trends(db, now)) == set(models)
    assert find_trends(db, _at(0, runs=30, models=models)) == {}


def test_find_trends_never_fails_on_a_damaged_history(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    assert find_trends(db, _at(0, runs=6)) == {}
    assert db.read_bytes() == b"this is not a database" * 100


def test_compact_trend_marks() -> None:
    base = to_dict(synthetic_result(runs=30, seed=1, ttft_ms=20))
    slow = to_dict(synthetic_result(runs=30, seed=2, ttft_ms=400))
    (pair,) = compare_documents(base, slow).pairs
    assert trend_mark(pair.metric("ttft_p50"), compact=True) == "▲>999%"
    assert trend_mark(pair.metric("ttft_p50")).startswith("▲ 1")
    errors = to_dict(synthetic_result(runs=30, seed=4, error_every=3))
    (pair,) = compare_documents(base, errors).pairs
    assert trend_mark(pair.metric("error_rate"), compact=True) == "▲33pt"
    assert trend_mark(pair.metric("error_rate")) == "▲ 33 pt"


def test_compare_two_rows_of_one_result() -> None:
    result = synthetic_result(runs=30, models=("a:1b", "b:8b"))
    comparison = compare_rows(result, "b:8b", "a:1b", source="history #3")
    (pair,) = comparison.pairs
    assert (pair.a.model, pair.b.model) == ("b:8b", "a:1b")
    assert pair.a.source == pair.b.source == "history #3"
    assert pair.notes == ()  # one plan: no workload difference to note
    # the same figures as the headless two-model compare of the export
    headless = compare_documents(to_dict(result), None, ["b:8b", "a:1b"], source_a="history #3")
    assert comparison_to_csv(comparison) == comparison_to_csv(headless)
    with pytest.raises(CompareError, match="two different rows"):
        compare_rows(result, "a:1b", "a:1b")
    with pytest.raises(CompareError, match="no row"):
        compare_rows(result, "a:1b", "nope")


def test_too_few_runs_says_how_many_are_needed() -> None:
    result = synthetic_result(runs=3, models=("a:1b", "b:8b"))
    (pair,) = compare_rows(result, "a:1b", "b:8b").pairs
    m = pair.metric("ttft_p50")
    assert m.verdict is Verdict.TOO_FEW
    assert verdict_text(m) == "too few runs (need 5 per side)"
    assert verdict_text(m, short=True) == "too few runs (need 5)"


def test_comparison_files() -> None:
    result = synthetic_result(runs=10, models=("demo-fast:1b", "demo-medium:8b"))
    comparison = compare_rows(result, "demo-fast:1b", "demo-medium:8b")
    assert comparison_text(comparison, "json") == comparison_to_json(comparison)
    assert comparison_text(comparison, "csv") == comparison_to_csv(comparison)
    assert comparison_text(comparison, "md") == comparison_to_markdown(comparison)
    with pytest.raises(CompareError, match="unknown format"):
        comparison_text(comparison, "xml")
    folder = Path("/tmp/x")
    assert default_comparison_path(comparison, "md", folder) == (
        folder / "ometer-compare-demo-fast-1b-vs-demo-medium-8b.md"
    )
    same_model = compare_documents(to_dict(result), to_dict(result), ["demo-fast:1b"],
                                   source_a="history #1", source_b="history #4")  # fmt: skip
    assert default_comparison_path(same_model, "csv", folder).name == (
        "ometer-compare-history-1-vs-history-4.csv"
    )
