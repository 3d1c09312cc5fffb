"""The Ray path without a cluster: the clock-offset estimate, a shard's shared times
moved onto a worker's clock, the tokens' crossing, and what ``--ray`` does where Ray
cannot be imported."""

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
    on_worker_clock,
    ray_available,
    split_credentials,
)
from ometer_tui.core.bench.shards import split_plan
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


def test_a_shards_shared_times_move_onto_the_workers_clock() -> None:
    """The shard's origin and start (driver's clock) read ``offset`` more on the worker;
    a plan that is no shard, or a shard without shared times, is left as it is."""
    endpoint = Endpoint(name="e", url="http://127.0.0.1:9")
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name="m"),), concurrency=2)
    assert on_worker_clock(plan, 5_000) is plan
    shard = split_plan(plan, 2, origin_ns=1_000_000, start_ns=3_000_000)[1]
    assert shard.shard is not None
    moved = on_worker_clock(shard, -250_000)
    assert moved.shard is not None
    assert (moved.shard.origin_ns, moved.shard.start_ns) == (750_000, 2_750_000)
    assert (moved.shard.index, moved.shard.count) == (shard.shard.index, shard.shard.count)
    unset = split_plan(plan, 2)[0]
    assert on_worker_clock(unset, 5_000) is unset


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
