"""The Ray path without a cluster: the clock-offset estimate, the shift of a record onto
the driver's time axis, and what ``--ray`` does where Ray cannot be imported."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from ometer_tui.cli import main
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.ray_shards import (
    RAY_INSTALL_HINT,
    clock_offset,
    ray_available,
    shifted,
    split_credentials,
)
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.workloads.record import LoadStamp
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.exit_codes import EXIT_USAGE


def test_the_shortest_round_trip_sets_the_offset_and_its_uncertainty() -> None:
    """A worker clock 5 ms ahead: a slow ping (asymmetric, 4 ms) misleads by ~1.5 ms; the
    fast one (200 µs) gives the offset within 100 µs, and says so."""
    ahead = 5_000_000
    slow = (1_000_000, 1_000_000 + 500_000 + ahead, 5_000_000)  # answered early in the trip
    fast = (10_000_000, 10_100_000 + ahead + 30_000, 10_200_000)  # 30 µs off the middle
    est = clock_offset([slow, fast, slow])
    assert est.round_trip_ns == 200_000 and est.uncertainty_ns == 100_000 and est.pings == 3
    assert est.offset_ns == ahead + 30_000
    assert abs(est.offset_ns - ahead) <= est.uncertainty_ns
    assert "± 100.0 µs" in est.describe()
    with pytest.raises(ValueError):
        clock_offset([])
    with pytest.raises(ValueError):
        clock_offset([(10, 0, 5)])


def test_a_shift_moves_a_run_on_the_time_axis_not_its_durations() -> None:
    rec = RunRecord(
        model="m",
        pass_index=1,
        prompt_index=0,
        warmup=False,
        ok=True,
        ttft_s=0.1,
        e2e_s=0.5,
        started_at_s=2.0,
        finished_at_s=2.5,
        load=LoadStamp(conversation=0, intended_at_s=1.9, schedule_lag_s=0.1),
    )
    moved = shifted(rec, 0.25)
    assert (moved.started_at_s, moved.finished_at_s) == (2.25, 2.75)
    assert moved.load is not None and moved.load.intended_at_s == pytest.approx(2.15)
    assert moved.load.schedule_lag_s == 0.1 and moved.ttft_s == 0.1 and moved.e2e_s == 0.5
    assert rec.started_at_s == 2.0  # the original is untouched
    assert shifted(rec, 0.0) is rec


def test_without_ray_the_flag_fails_in_one_line_and_the_rest_works(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    why = ray_available()
    assert why is not None and RAY_INSTALL_HINT in why and "\n" not in why
    monkeypatch.setenv("OMETER_TUI_CONFIG", str(tmp_path / "config.toml"))
    args = ["run", "--demo", "--model", "demo-fast:1b", "--passes", "1", "--warmup", "0"]
    assert main([*args, "--max-tokens", "4", "--ray", "auto", "--format", "json"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray" in err[0] and RAY_INSTALL_HINT in err[0]
    assert main([*args, "--max-tokens", "4", "--format", "json", "--quiet"]) == 0
    assert '"demo-fast:1b"' in capsys.readouterr().out


def test_tokens_travel_beside_the_plan_and_come_back_in_the_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Secret refuses pickling: the plan crosses without its tokens (a literal and an
    environment reference resolved here), the credentials beside it, masked in repr."""
    monkeypatch.setenv("OMETER_RAY_UNIT_KEY", "key-from-env-4242")
    endpoint = Endpoint(
        name="e",
        url="http://127.0.0.1:9",
        token=TokenRef(value=Secret("sk-literal-canary-9876")),
        api_key=TokenRef(env="OMETER_RAY_UNIT_KEY"),
    )
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name="m"),))
    with pytest.raises(TypeError):
        pickle.dumps(plan)
    bare, credentials = split_credentials(plan)
    assert bare.endpoint.token is None and bare.endpoint.api_key is None
    assert "canary" not in repr(credentials) and "4242" not in repr(credentials)
    bare, credentials = pickle.loads(pickle.dumps((bare, credentials)))
    monkeypatch.delenv("OMETER_RAY_UNIT_KEY")  # the worker's node has no such variable
    token, key = credentials.restore(bare).endpoint.resolve_auth()
    assert token is not None and token.reveal() == "sk-literal-canary-9876"
    assert key is not None and key.reveal() == "key-from-env-4242"
