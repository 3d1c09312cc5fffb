"""A sweep's steps in the exports: JSON schema 2 round trip, a version 1 document still
read, the step table in Markdown and in the terminal table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.bench.slo import percentile_check, slo_figures, targets_from_args
from ometer_tui.core.bench.steps import (
    LoadKind,
    ModelStep,
    SearchOutcome,
    StepLoad,
    StepResult,
    SweepRecord,
    knees,
)
from ometer_tui.core.export import SCHEMA_VERSION, to_dict, to_markdown, to_table
from ometer_tui.core.export_read import result_from_dict
from ometer_tui.core.models import Endpoint, ModelInfo

SLO = targets_from_args(["ttft:100", "e2el:1000"])


def runs(step: int, ttft: float, n: int = 6) -> list[RunRecord]:
    out = [
        RunRecord("m", 0, 0, True, True, ttft_s=ttft, e2e_s=0.5, output_tokens=8,
                  started_at_s=step * 10.0, finished_at_s=step * 10.0 + 0.5)
    ]  # fmt: skip
    for i in range(n):
        start = step * 10.0 + 1 + i * 0.25
        out.append(
            RunRecord("m", 1, 0, False, i != n - 1 or step == 0, ttft_s=ttft + i * 0.01,
                      e2e_s=0.5, output_tokens=8, tpot_s=0.05, started_at_s=start,
                      finished_at_s=start + 0.5)
        )  # fmt: skip
    return out


def sweep_result(repeat: int = 1) -> BenchmarkResult:
    plan = BenchmarkPlan(endpoint=Endpoint(name="e", url="http://127.0.0.1:9"),
                         models=(ModelInfo("m"),))  # fmt: skip
    result = BenchmarkResult(plan=plan, started_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    record = SweepRecord("sweep", LoadKind.CONCURRENCY, "concurrency=1,4", SLO, repeat)
    everything: list[RunRecord] = []
    for index, (value, ttft) in enumerate(((1, 0.05), (4, 0.2))):
        for rep in range(repeat):
            records = runs(index * repeat + rep, ttft + rep * 0.01)
            everything += records
            step = StepResult(index, StepLoad(LoadKind.CONCURRENCY, value), rep, "step",
                              index * 10.0, 4.0)  # fmt: skip
            step.models.append(
                ModelStep("m", summarise("m", records), ModelPhase.DONE, records,
                          slo_figures(records, SLO), percentile_check(records, SLO))
            )  # fmt: skip
            record.steps.append(step)
    record.knees = knees(record.steps)
    record.stop_reason = "saturated at concurrency 4: ..."
    record.steps[-1].saturated = ("m",)
    record.steps[-1].stop_reason = record.stop_reason
    result.models["m"] = ModelResult(ModelInfo("m"), everything, summarise("m", everything))
    result.models["m"].phase = ModelPhase.DONE
    result.sweep = record
    return result


def test_steps_are_exported_with_their_runs_points_and_slo_figures() -> None:
    doc = to_dict(sweep_result())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    sweep = doc["sweep"]
    assert sweep["mode"] == "sweep" and sweep["spec"] == "concurrency=1,4"
    assert sweep["slo"] == {"limits_ms": {"ttft": 100.0, "e2el": 1000.0}, "percentile": 90.0}
    assert sweep["rules"]["saturation_patience"] == 2
    assert sweep["meets_slo"] is True  # the first step: every TTFT under 100 ms
    assert [s["load"] for s in doc["steps"]] == [
        {"kind": "concurrency", "value": 1},
        {"kind": "concurrency", "value": 4},
    ]
    first, second = (s["models"][0] for s in doc["steps"])
    assert first["runs"] == {"from": 0, "count": 7} and second["runs"] == {"from": 7, "count": 7}
    assert len(doc["models"][0]["runs"]) == 14
    # by hand: step 0, 6 measured ok runs with TTFT 50..100 ms: all meet; window 1..2.75 s
    assert first["slo"]["met"] == 6 and first["slo"]["attainment"] == 1.0
    assert first["slo"]["goodput_rps"] == pytest.approx(6 / 1.75, rel=1e-5)
    assert first["point"]["goodput_rps"] == first["slo"]["goodput_rps"]
    assert first["check"]["ok"] is True and doc["steps"][0]["meets_slo"] is True
    # step 1: TTFT 200+ ms (all miss), one failed run
    assert second["slo"]["met"] == 0 and second["point"]["error_rate"] == pytest.approx(
        1 / 6, rel=1e-5
    )
    assert doc["steps"][1]["meets_slo"] is False
    assert doc["steps"][1]["saturated"] == ["m"] and doc["steps"][0]["saturated"] == []
    assert doc["steps"][1]["stop_reason"] == "saturated at concurrency 4: ..."
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, no NaN


def test_a_sweep_round_trips_through_the_document() -> None:
    doc = to_dict(sweep_result(repeat=2))
    back = result_from_dict(doc)
    assert back.sweep is not None and len(back.sweep.steps) == 4
    assert (
        back.sweep.steps[3].models[0].records[1].started_at_s
        == doc["models"][0]["runs"][22]["started_at_s"]
    )
    assert to_dict(back)["steps"] == doc["steps"]
    again = to_dict(back)["sweep"]
    # the repeats' intervals are computed again from the rounded figures: last digit
    assert {k: v for k, v in again.items() if k != "repeats"} == {
        k: v for k, v in doc["sweep"].items() if k != "repeats"
    }
    for new, old in zip(again["repeats"], doc["sweep"]["repeats"], strict=True):
        for name, ci in old["metrics"].items():
            assert new["metrics"][name] == pytest.approx(ci, rel=1e-3), name
    assert doc["sweep"]["repeats"][0]["metrics"]["throughput_rps"]["n"] == 2


def test_a_version_1_document_still_reads() -> None:
    doc = to_dict(sweep_result())
    old = {k: v for k, v in doc.items() if k not in ("sweep", "steps")}
    old["schema_version"] = 1
    back = result_from_dict(old)
    assert back.sweep is None and len(back.models["m"].records) == 14
    assert to_dict(back)["steps"] == [] and to_dict(back)["sweep"] is None


def test_markdown_and_terminal_table_carry_the_step_table() -> None:
    result = sweep_result(repeat=2)
    md = to_markdown(result)
    assert "Sweep: concurrency=1,4, 2 repeat(s) per step" in md
    assert "| Step | Load | Model | ok/err | req/s |" in md
    assert "| 0.1 | concurrency 1 | m | 6/0 |" in md and "| meets |" in md
    assert "| 1.2 saturated | concurrency 4 | m | 5/1 |" in md and "| misses |" in md
    assert "m: knee at concurrency" in md
    assert "Mean ± 95% confidence interval (Student t) across the repeats:" in md
    table = to_table(result)
    header = next(line for line in table.splitlines() if line.startswith("Step "))
    assert "Load  Model  ok/err  req/s" in header and "Goodput req/s" in header
    assert re.search(r"\n0\.2 +concurrency 1 +m +5/1 ", table)
    assert re.search(r"\n1\.2 saturated +concurrency 4 +m +5/1 ", table)
    assert "SLOs: ttft <= 100 ms, e2el <= 1000 ms (percentile p90)." in table
    assert "Stopped early: saturated at concurrency 4" in table


def test_a_search_says_its_answer() -> None:
    result = sweep_result()
    assert result.sweep is not None
    result.sweep.mode = "search"
    result.sweep.search = SearchOutcome(LoadKind.RATE, 12.5, 13.1, 0.05, 90.0)
    text = to_table(result)
    assert "SLO search:" in text
    assert "max rate meeting the SLOs at p90: 12.5 requests/s (13.1 requests/s missed)" in text
    doc = to_dict(result)
    assert doc["sweep"]["search"] == {
        "kind": "rate", "best": 12.5, "missed": 13.1, "precision": 0.05, "percentile": 90.0
    }  # fmt: skip
    assert result_from_dict(doc).sweep.search == result.sweep.search  # type: ignore[union-attr]


def test_the_history_store_keeps_a_sweep_and_still_reads_a_version_1_result(
    tmp_path: object,
) -> None:
    from pathlib import Path

    from ometer_tui.core.history import HistoryStore

    doc = to_dict(sweep_result())
    old = {k: v for k, v in doc.items() if k not in ("sweep", "steps")}
    old["schema_version"] = 1
    with HistoryStore(Path(str(tmp_path)) / "h.sqlite3") as store:
        new_id = store.add_document(doc)
        old_id = store.add_document(old)
        again = result_from_dict(store.document(new_id))
        assert again.sweep is not None and len(again.sweep.steps) == 2
        assert result_from_dict(store.document(old_id)).sweep is None
        assert store.entry(old_id).runs == store.entry(new_id).runs == 12
