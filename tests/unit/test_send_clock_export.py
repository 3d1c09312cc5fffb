"""``send_clock`` (what stamped a run's send) in the exports, and exports without it."""

from __future__ import annotations

from ometer_tui.core.export import to_csv, to_dict
from ometer_tui.core.export_read import result_from_dict
from tests.unit.test_export import _result


def test_the_send_clock_is_exported_and_read_back() -> None:
    result = _result()
    records = next(iter(result.models.values())).records
    records[0].send_clock = "kernel"
    doc = to_dict(result)
    runs = doc["models"][0]["runs"]
    assert runs[0]["send_clock"] == "kernel"
    assert all(r["send_clock"] == "loop" for r in runs[1:])
    again = next(iter(result_from_dict(doc).models.values())).records
    assert again[0].send_clock == "kernel" and again[1].send_clock == "loop"
    header = to_csv(result).splitlines()[0].split(",")
    assert header[-1] == "send_clock"  # a new last column: the others keep their places


def test_an_export_from_before_it_reads_as_loop_stamped() -> None:
    result = _result()
    next(iter(result.models.values())).records[0].send_clock = "kernel"
    doc = to_dict(result)
    for run in doc["models"][0]["runs"]:
        del run["send_clock"]
    again = next(iter(result_from_dict(doc).models.values())).records
    assert {r.send_clock for r in again} == {"loop"}
