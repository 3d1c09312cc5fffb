"""benchmarks/peer_guidellm.py: what guidellm is asked, and how its report is read.

The reports under tests/unit/data/ are guidellm 0.8.1's own (``guidellm run ... --output
kind=json``) against benchmarks/stamping_server.py (4 tokens, 10 ms apart, TTFT 50 ms),
with only its statistics sections removed for size.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def load_peer() -> ModuleType:
    path = ROOT / "benchmarks" / "peer_guidellm.py"
    spec = importlib.util.spec_from_file_location("peer_guidellm", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("peer_guidellm", module)
    spec.loader.exec_module(module)
    return module


peer = load_peer()


def report(name: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((DATA / f"guidellm-0.8.1-{name}.json").read_text())
    return doc


@pytest.mark.parametrize(("name", "rids"), [("constant", [1, 2, 3]), ("concurrent", [4, 5, 6])])
def test_a_saved_report_is_read_request_by_request(name: str, rids: list[int]) -> None:
    doc = report(name)
    raw = doc["benchmarks"][0]["requests"]["successful"]  # type: ignore[index]
    got = peer.parse_report(doc)
    assert [r["rid"] for r in got] == rids
    for mine, theirs in zip(got, raw, strict=True):
        timings = theirs["info"]["timings"]
        assert mine["ttft_s"] == pytest.approx(theirs["time_to_first_token_ms"] / 1000)
        assert mine["decode_tps"] == pytest.approx(1000 / theirs["inter_token_latency_ms"])
        # wall-clock ns, as the packet capture's
        assert mine["sent_ns"] == pytest.approx(timings["request_start"] * 1e9, abs=1000)
        assert mine["first_wall_ns"] == pytest.approx(
            timings["first_token_iteration"] * 1e9, abs=1000
        )
        assert mine["last_wall_ns"] == pytest.approx(
            timings["last_token_iteration"] * 1e9, abs=1000
        )
        # the peer's TTFT is its own first token minus its own request start
        ttft_ns = mine["first_wall_ns"] - mine["sent_ns"]
        assert ttft_ns / 1e9 == pytest.approx(mine["ttft_s"], abs=1e-5)
        # the stamping server's schedule: TTFT 50 ms, tokens 10 ms apart (the peer's view)
        assert 0.045 < mine["ttft_s"] < 0.5
        assert 20 < mine["decode_tps"] < 200


def test_the_saved_reports_ran_the_profiles_this_module_asks_for() -> None:
    constant = report("constant")["benchmarks"][0]["config"]["strategy"]  # type: ignore[index]
    assert constant["type_"] == "constant" and constant["max_concurrency"] == 4
    assert constant["rate"] == 20.0
    concurrent = report("concurrent")["benchmarks"][0]["config"]["strategy"]  # type: ignore[index]
    assert concurrent["type_"] == "concurrent" and concurrent["streams"] == 2
    # and the module asks for them in the words that produced these reports
    assert peer.PeerLoad(4, 3, rate_per_s=20.0, max_concurrency=4).profile() == (
        "kind=constant,rate=20.0000,max_concurrency=4"
    )
    assert peer.PeerLoad(2, 3).profile() == "kind=concurrent,streams=2"


def test_requests_without_the_servers_id_are_left_out() -> None:
    doc = report("constant")
    doc["benchmarks"][0]["requests"]["successful"][1]["output"] = "w w w "  # type: ignore[index]
    assert [r["rid"] for r in peer.parse_report(doc)] == [1, 3]


@pytest.mark.parametrize(
    "broken",
    [
        {"benchmarks": []},
        {"benchmarks": [{"requests": [{"output": "r000001"}]}]},  # an older list shape
        {"report": {}},
    ],
)
def test_a_report_in_another_shape_is_an_error_not_an_empty_column(broken: object) -> None:
    with pytest.raises(peer.PeerFormatError):
        peer.parse_report(broken)


def test_a_request_without_its_timings_is_an_error() -> None:
    doc = report("concurrent")
    del doc["benchmarks"][0]["requests"]["successful"][0]["info"]["timings"]  # type: ignore[index]
    with pytest.raises(peer.PeerFormatError, match="r000004"):
        peer.parse_report(doc)


def test_closed_and_open_loop_are_asked_as_the_peers_own_profiles(tmp_path: Path) -> None:
    closed = peer.PeerLoad(streams=100, requests=400)
    open_loop = peer.PeerLoad(streams=100, requests=400, rate_per_s=73.8, max_concurrency=200)
    cmd = peer.command("guidellm", "http://127.0.0.1:1", closed, tmp_path / "d", tmp_path / "o")
    assert cmd[cmd.index("--profile") + 1] == "kind=concurrent,streams=100"
    assert cmd[cmd.index("--constraint") + 1] == "kind=max_requests,count=400"
    assert cmd[cmd.index("--output") + 1] == f"kind=json,path={tmp_path / 'o'}"
    cmd = peer.command("guidellm", "http://127.0.0.1:1", open_loop, tmp_path / "d", tmp_path / "o")
    assert cmd[cmd.index("--profile") + 1] == "kind=constant,rate=73.8000,max_concurrency=200"
    assert closed.describe() == "concurrent, streams=100, max_requests=400"
    assert open_loop.describe() == "constant, rate=73.8/s, max_concurrency=200, max_requests=400"
    peer.write_prompts(tmp_path / "d", 3, 64)
    lines = [json.loads(x) for x in (tmp_path / "d").read_text().splitlines()]
    assert lines == [{"prompt": peer.PROMPT, "output_tokens_count": 64}] * 3
