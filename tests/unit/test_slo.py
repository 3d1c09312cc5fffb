"""SLOs, attainment and goodput computed by hand on fixed records."""

from __future__ import annotations

import math

import pytest

from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.slo import (
    SloError,
    SloTargets,
    meets,
    nearest_rank,
    parse_slo,
    percentile_check,
    read_slo_table,
    slo_figures,
    slo_table,
    targets_from_args,
)


def rec(
    start: float,
    end: float,
    ttft: float | None,
    tpot: float | None,
    tokens: int = 10,
    *,
    ok: bool = True,
    warmup: bool = False,
) -> RunRecord:
    return RunRecord(
        model="m",
        pass_index=0 if warmup else 1,
        prompt_index=0,
        warmup=warmup,
        ok=ok,
        ttft_s=ttft,
        ttft_visible_s=ttft,
        tpot_s=tpot,
        e2e_s=None if ttft is None else end - start,
        output_tokens=tokens if ok else None,
        itl_p99_s=tpot,
        started_at_s=start,
        finished_at_s=end,
    )


#: Five measured requests over the window 0..4 s, one warm-up before it.
RECORDS = [
    rec(-5.0, -4.0, 9.9, 9.9, warmup=True),  # warm-up: ignored even though it misses
    rec(0.0, 1.0, 0.200, 0.040, tokens=20),  # meets both
    rec(0.5, 2.0, 0.600, 0.030, tokens=30),  # ttft miss
    rec(1.0, 2.5, 0.400, 0.060, tokens=40),  # tpot miss
    rec(2.0, 3.0, 0.100, 0.010, tokens=50),  # meets both
    rec(3.0, 4.0, None, None, ok=False),  # failed: a miss
]


def test_attainment_and_goodput_match_the_hand_computation() -> None:
    targets = targets_from_args(["ttft:500", "tpot:50"])
    fig = slo_figures(RECORDS, targets)
    # by hand: 2 of 5 measured requests met both; window 0..4 s; their tokens 20 + 50
    assert fig.requests == 5 and fig.met == 2
    assert fig.attainment == pytest.approx(2 / 5)
    assert fig.window_s == pytest.approx(4.0)
    assert fig.goodput_rps == pytest.approx(2 / 4.0)
    assert fig.token_goodput_tps == pytest.approx(70 / 4.0)
    # each SLO alone: ttft met by 3 (0.2, 0.4, 0.1), tpot by 3 (0.04, 0.03, 0.01)
    assert fig.per_metric == {"ttft": pytest.approx(3 / 5), "tpot": pytest.approx(3 / 5)}


def test_a_failed_request_is_a_miss_and_a_missing_figure_too() -> None:
    targets = targets_from_args(["ttft:500"])
    assert not meets(rec(0, 1, None, None, ok=False), targets)
    assert not meets(rec(0, 1, None, 0.01), targets)  # not streamed: no TTFT to show
    one_token = rec(0, 1, 0.1, None, tokens=1)  # no gap: tpot/itl cannot be missed
    assert meets(one_token, targets_from_args(["tpot:1", "itl:1"]))
    assert not meets(rec(0, 1, 0.1, None, tokens=5), targets_from_args(["tpot:1"]))


def test_e2el_and_visible_ttft_limit_their_own_figures() -> None:
    r = rec(0.0, 0.8, 0.1, 0.01)
    r.ttft_visible_s = 0.7  # a reasoning model: visible content came late
    assert meets(r, targets_from_args(["ttft:200", "e2el:900"]))
    assert not meets(r, targets_from_args(["ttft_visible:500"]))
    assert not meets(r, targets_from_args(["e2el:700"]))


def test_percentile_check_counts_failures_as_infinitely_slow() -> None:
    targets = SloTargets((("ttft", 500.0),), percentile=60)
    check = percentile_check(RECORDS, targets)
    # ttft values 0.1, 0.2, 0.4, 0.6, inf: nearest rank p60 of 5 = the 3rd = 0.4
    assert check.figures_s["ttft"] == pytest.approx(0.4)
    assert check.ok
    strict = percentile_check(RECORDS, SloTargets((("ttft", 500.0),), percentile=90))
    assert math.isinf(strict.figures_s["ttft"]) and not strict.ok
    assert "MISS" in strict.describe()


def test_nearest_rank() -> None:
    assert nearest_rank([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert nearest_rank([3.0, 1.0, 2.0, 4.0], 75) == 3.0
    assert nearest_rank([1.0], 99) == 1.0


def test_no_requests_gives_no_figures() -> None:
    fig = slo_figures([], targets_from_args(["ttft:1"]))
    assert fig.requests == 0 and fig.attainment is None and fig.goodput_rps is None
    assert not percentile_check([], targets_from_args(["ttft:1"])).ok


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo:1", "--slo foo:1: unknown SLO 'foo'"),
        ("ttft:-5", "--slo ttft:-5: must be more than 0 ms, got -5"),
        ("ttft:0", "--slo ttft:0: must be more than 0 ms"),
        ("ttft:abc", "--slo ttft:abc: expected a number of milliseconds"),
        ("ttft", "--slo: expected NAME:MILLISECONDS"),
        ("ttft:nan", "--slo ttft:nan: must be more than 0 ms"),
    ],
)
def test_bad_slo_names_the_flag(text: str, message: str) -> None:
    with pytest.raises(SloError) as caught:
        parse_slo(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_parse_slo_takes_names_case_blind_and_an_ms_suffix() -> None:
    assert parse_slo("TTFT:500ms") == ("ttft", 500.0)
    assert parse_slo("e2el:2500") == ("e2el", 2500.0)


def test_flags_override_the_settings_table() -> None:
    base = SloTargets((("ttft", 800.0), ("e2el", 3000.0)), percentile=95)
    targets = targets_from_args(["ttft:500", "tpot:50"], base)
    assert targets.limits_ms == (("ttft", 500.0), ("tpot", 50.0), ("e2el", 3000.0))
    assert targets.percentile == 95
    assert targets.describe() == "ttft <= 500 ms, tpot <= 50 ms, e2el <= 3000 ms"


def test_settings_table_is_validated_naming_the_key() -> None:
    problems: list[str] = []
    targets = read_slo_table({"ttft": 500, "tpot": -1, "speed": 3, "percentile": 101}, problems, [])
    assert targets.limits_ms == (("ttft", 500.0),)
    assert problems == [
        "slo.tpot: must be more than 0 ms, got -1",
        "slo.speed: unknown SLO 'speed' (known: ttft, ttft_visible, tpot, itl, e2el)",
        "slo.percentile: must be more than 0 and at most 100, got 101",
    ]
    ok: list[str] = []
    back = read_slo_table(slo_table(SloTargets((("e2el", 900.0),), 99.0)), ok, [])
    assert not ok and back == SloTargets((("e2el", 900.0),), 99.0)


def test_settings_file_slo_table_loads_round_trips_and_names_a_bad_key(tmp_path: object) -> None:
    import tomllib
    from pathlib import Path

    from ometer_tui.core.settings import SettingsError, settings_from_dict, settings_to_toml

    where = Path(str(tmp_path)) / "config.toml"
    settings = settings_from_dict({"slo": {"ttft": 500, "tpot": 50.5, "percentile": 95}}, where)
    assert settings.slo == SloTargets((("ttft", 500.0), ("tpot", 50.5)), 95.0)
    again = settings_from_dict(tomllib.loads(settings_to_toml(settings)), where)
    assert again.slo == settings.slo  # saving the settings never drops the [slo] table
    assert "[slo]" not in settings_to_toml(settings_from_dict({}, where))
    with pytest.raises(SettingsError, match=r"slo\.ttft: must be more than 0 ms, got -5"):
        settings_from_dict({"slo": {"ttft": -5}}, where)
    with pytest.raises(SettingsError, match=r"slo\.latency: unknown SLO"):
        settings_from_dict({"slo": {"latency": 5}}, where)
