"""Reading our JSON exports back: foreign files refused, a result rebuilt from a document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.export import csv_from_dict, to_csv, to_dict, to_markdown
from ometer_tui.core.export_read import (
    ForeignDocumentError,
    check_document,
    read_document,
    result_from_dict,
)
from tests.history_samples import synthetic_result


def _without_derived(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    for model in doc["models"]:
        for run in model["runs"]:
            run.pop("clock_diff")
    return doc


def test_result_rebuilt_from_its_document_exports_the_same() -> None:
    result = synthetic_result(runs=9, models=("a", "b"), error_every=3, cancelled=True)
    doc = to_dict(result)
    rebuilt = result_from_dict(doc)
    assert _without_derived(to_dict(rebuilt)) == _without_derived(doc)
    assert to_markdown(rebuilt) == to_markdown(result)
    assert csv_from_dict(doc) == to_csv(result)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1, 2], "not an object"),
        ({"schema_version": 1, "models": []}, "no tool.name"),
        ({"tool": {"name": "guidellm"}, "schema_version": 1}, "no tool.name"),
        ({"tool": {"name": "ometer-tui"}, "schema_version": "1"}, "schema_version"),
        ({"tool": {"name": "ometer-tui"}, "schema_version": 99, "models": []}, "newer"),
        ({"tool": {"name": "ometer-tui"}, "schema_version": 1, "endpoint": {}}, "no models"),
        (
            {"tool": {"name": "ometer-tui"}, "schema_version": 1, "endpoint": {}, "models": [{}]},
            "without its runs",
        ),
    ],
)
def test_foreign_documents_are_refused(doc: object, message: str) -> None:
    with pytest.raises(ForeignDocumentError, match=message):
        check_document(doc, "x.json")


def test_read_document(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    doc = to_dict(synthetic_result(runs=2))
    good.write_text(json.dumps(doc))
    assert read_document(good) == doc
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ForeignDocumentError, match="not JSON"):
        read_document(bad)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ForeignDocumentError):
        read_document(binary)
    with pytest.raises(OSError):
        read_document(tmp_path / "missing.json")


def test_a_document_with_a_wrong_field_type_is_refused_not_crashed() -> None:
    doc = to_dict(synthetic_result(runs=2))
    doc["started_at"] = "yesterday"
    with pytest.raises(ForeignDocumentError, match="not as exported"):
        result_from_dict(doc)
    doc = to_dict(synthetic_result(runs=2))
    doc["models"][0]["runs"][0]["ttft_s"] = {"nested": 1}
    doc["plan"]["passes"] = "three"
    with pytest.raises(ForeignDocumentError):
        result_from_dict(doc)
