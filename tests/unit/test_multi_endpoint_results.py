"""Results of several endpoints: export (JSON, CSV, Markdown, table), reading back,
the history store and compare's pairing; a one-endpoint export is unchanged and still
reads."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.bench.plan import combine_plans
from ometer_tui.core.bench.result import BenchmarkResult, row_key
from ometer_tui.core.compare import CompareError, compare_documents
from ometer_tui.core.export import SCHEMA_VERSION, to_csv, to_dict, to_json, to_markdown, to_table
from ometer_tui.core.export_read import ForeignDocumentError, check_document, result_from_dict
from ometer_tui.core.history import HistoryStore
from ometer_tui.core.models import ApiFlavour, ServerInfo
from tests.history_samples import CANARY, synthetic_result


def multi_result(
    models: tuple[str, ...] = ("llama3:8b",),
    *,
    ttft_ms: tuple[float, float] = (120.0, 150.0),
    names: tuple[str, str] = ("native", "v1"),
    seed: int = 1,
    with_canary: bool = False,
) -> BenchmarkResult:
    """One server through two endpoints (same URL, Ollama and OpenAI APIs): each model on
    both, the second endpoint with one pass more (its own plan)."""
    a = synthetic_result(
        runs=8, models=models, ttft_ms=ttft_ms[0], endpoint_name=names[0], seed=seed,
        with_canary=with_canary,
    )  # fmt: skip
    b = synthetic_result(runs=10, models=models, ttft_ms=ttft_ms[1], endpoint_name=names[1],
                         seed=seed + 1)  # fmt: skip
    b_plan = replace(b.plan, endpoint=replace(b.plan.endpoint, api=ApiFlavour.OPENAI))
    plan = combine_plans([a.plan, b_plan])
    result = BenchmarkResult(
        plan=plan,
        started_at=a.started_at,
        finished_at=b.finished_at,
        server=a.server,
        warmup_requests=a.warmup_requests + b.warmup_requests,
        servers={names[0]: a.server, names[1]: ServerInfo(flavour=ApiFlavour.OPENAI)},
    )
    for name, part in zip(names, (a, b), strict=True):
        for mr in part.models.values():
            mr.endpoint = name
            result.models[row_key(name, mr.info.name)] = mr
    return result


def test_json_names_each_rows_endpoint_and_describes_every_endpoint() -> None:
    doc = to_dict(multi_result(("llama3:8b", "qwen:7b")))
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert [(m["endpoint"], m["name"]) for m in doc["models"]] == [
        ("native", "llama3:8b"),
        ("native", "qwen:7b"),
        ("v1", "llama3:8b"),
        ("v1", "qwen:7b"),
    ]
    assert [(e["name"], e["api"], e["plan"]["passes"]) for e in doc["endpoints"]] == [
        ("native", "ollama", 4),
        ("v1", "openai", 5),
    ]
    assert doc["endpoint"]["name"] == "native"  # the first: older readers still find one
    assert doc["plan"]["endpoints_parallel"] is False
    assert doc["plan"]["models"] == ["llama3:8b", "qwen:7b"]


def test_one_endpoint_json_keeps_its_old_shape() -> None:
    doc = to_dict(synthetic_result())
    assert doc["schema_version"] == SCHEMA_VERSION  # 2 since sweeps; the shape is v1's
    assert "endpoints" not in doc and "endpoints_parallel" not in doc["plan"]
    assert all("endpoint" not in m for m in doc["models"])


def test_json_round_trip_keeps_rows_endpoints_and_plans() -> None:
    result = multi_result(("llama3:8b", "qwen:7b"))
    doc = to_dict(result)
    back = result_from_dict(json.loads(json.dumps(doc)))
    assert back.multi_endpoint
    assert list(back.models) == list(result.models)
    assert [p.passes for p in back.plan.parts] == [4, 5]
    assert [ep.api for ep in back.plan.endpoints] == [ApiFlavour.OLLAMA, ApiFlavour.OPENAI]
    assert _without_clock_diff(to_dict(back)) == _without_clock_diff(doc)


def _without_clock_diff(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the derived clock_diff figures (computed again from rounded
    fields when read back: their last digit may differ, see export_read)."""
    doc = json.loads(json.dumps(doc))
    for model in doc["models"]:
        for run in model["runs"]:
            run.pop("clock_diff", None)
    return doc


def test_no_secret_of_any_endpoint_is_exported() -> None:
    result = multi_result(with_canary=True)
    for text in (to_json(result), to_csv(result), to_markdown(result), to_table(result)):
        assert CANARY not in text


def test_an_old_one_endpoint_export_still_reads(tmp_path: Path) -> None:
    """A version-1 document as the previous release wrote it (no endpoint on its rows)."""
    old = to_dict(synthetic_result(models=("a:1b", "b:7b")))
    old["tool"]["version"] = "0.1.0"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    doc = check_document(json.loads(path.read_text(encoding="utf-8")))
    result = result_from_dict(doc)
    assert not result.multi_endpoint
    assert list(result.models) == ["a:1b", "b:7b"]
    assert all(mr.endpoint is None for mr in result.models.values())


def test_a_document_from_a_newer_schema_is_refused() -> None:
    doc = to_dict(multi_result())
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ForeignDocumentError, match="newer"):
        result_from_dict(doc)
    doc["schema_version"] = 2
    doc["endpoints"] = "native"
    with pytest.raises(ForeignDocumentError, match="endpoints"):
        result_from_dict(doc)


def test_csv_rows_carry_their_own_endpoint_url_and_api() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(multi_result()))))
    apis = {(r["endpoint"], r["api"]) for r in rows}
    assert apis == {("native", "ollama"), ("v1", "openai")}
    assert sum(r["endpoint"] == "v1" for r in rows) == 11  # 10 runs + 1 warm-up


def test_markdown_and_table_have_an_endpoint_column_only_with_several() -> None:
    md = to_markdown(multi_result())
    assert "| Endpoint | Model |" in md
    assert "| native | llama3:8b |" in md and "| v1 | llama3:8b |" in md
    assert "native (http://127.0.0.1:11434) + v1 (http://127.0.0.1:11434)" in md
    assert "Endpoints (one after the other):" in md
    table = to_table(multi_result())
    header = next(line for line in table.splitlines() if "ok/err" in line)
    assert header.split()[:2] == ["Endpoint", "Model"]
    assert "v1        llama3:8b" in table
    assert "Plan on native: 4 passes" in table and "Plan on v1: 5 passes" in table
    one = to_markdown(synthetic_result())
    assert "Endpoint" not in one.split("| Model |")[0].splitlines()[-1]
    assert "| Model |" in one


def test_history_round_trip_with_two_endpoints(tmp_path: Path) -> None:
    result = multi_result(("llama3:8b", "qwen:7b"))
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        rid = store.add_result(result)
        doc = store.document(rid)
        entry = store.entry(rid)
    assert doc == to_dict(result)
    assert entry.endpoint == "native + v1"
    back = result_from_dict(doc)
    assert {(mr.endpoint, mr.info.name) for mr in back.models.values()} == {
        ("native", "llama3:8b"),
        ("native", "qwen:7b"),
        ("v1", "llama3:8b"),
        ("v1", "qwen:7b"),
    }


def _pairs(
    a: dict[str, Any], b: dict[str, Any] | None, models: list[str] | None = None
) -> list[tuple[tuple[str | None, str], tuple[str | None, str]]]:
    comp = compare_documents(a, b, models or [])
    return [((p.a.endpoint, p.a.model), (p.b.endpoint, p.b.model)) for p in comp.pairs]


def test_compare_pairs_by_endpoint_and_model_when_both_have_several() -> None:
    a = to_dict(multi_result(seed=1))
    b = to_dict(multi_result(seed=5))
    assert _pairs(a, b) == [
        (("native", "llama3:8b"), ("native", "llama3:8b")),
        (("v1", "llama3:8b"), ("v1", "llama3:8b")),
    ]
    # the second endpoint renamed: nothing has the same (endpoint, model)
    c = to_dict(multi_result(seed=5, names=("native", "cloud")))
    assert _pairs(a, c) == [(("native", "llama3:8b"), ("native", "llama3:8b"))]


def test_compare_pairs_by_model_when_one_side_has_one_endpoint() -> None:
    multi = to_dict(multi_result())
    single = to_dict(synthetic_result(endpoint_name="lab"))
    assert _pairs(single, multi) == [
        (("lab", "llama3:8b"), ("native", "llama3:8b")),
        (("lab", "llama3:8b"), ("v1", "llama3:8b")),
    ]


def test_compare_the_two_endpoints_of_one_result() -> None:
    """Native API against /v1 for the same model: the two rows of one result."""
    doc = to_dict(multi_result(ttft_ms=(100.0, 200.0)))
    comp = compare_documents(doc, None)
    (pair,) = comp.pairs
    assert (pair.a.endpoint, pair.b.endpoint) == ("native", "v1")
    assert pair.a.url == pair.b.url == "http://127.0.0.1:11434"
    ttft = pair.metric("ttft_p50")
    assert ttft.verdict.value == "worse"  # 200 ms against 100 ms
    assert any("APIs differ: ollama vs openai" in n for n in pair.notes)
    assert _pairs(doc, None, ["llama3:8b"]) == [(("native", "llama3:8b"), ("v1", "llama3:8b"))]
    with pytest.raises(CompareError, match="a @ native, b @ native, a @ v1"):
        compare_documents(to_dict(multi_result(("a", "b"))), None)
