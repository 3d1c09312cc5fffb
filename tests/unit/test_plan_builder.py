"""The one plan builder: defaults, endpoint defaults and overrides; the run panel's
fields and ``ometer-tui run``'s flags give the same plan for the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ometer_tui.cli import build_parser
from ometer_tui.core import settings as settings_mod
from ometer_tui.core.bench import plan as plan_mod
from ometer_tui.core.bench.plan import MAX_CONCURRENCY, MAX_PARALLEL_MODELS, BenchmarkPlan
from ometer_tui.core.bench.plan_builder import (
    SIMULATED_TIMEOUT_S,
    PlanOverrides,
    build_plan,
    checked_plan,
    overrides_from_fields,
    plan_endpoint,
)
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.options import LoadOptions, key_name, options_texts
from ometer_tui.core.models import Endpoint, EndpointDefaults, ModelInfo, TimeoutPolicy
from ometer_tui.core.settings import Defaults, Settings, validate_defaults, validate_endpoint
from ometer_tui.headless import _plan

MODELS = [ModelInfo("alpha:1b", family="alpha"), ModelInfo("beta:7b", family="beta")]
ENDPOINT = Endpoint(
    name="box",
    url="http://127.0.0.1:11434",
    defaults=EndpointDefaults(passes=4, temperature=0.7, timeout_s=42.0),
)
DEFAULTS = Defaults(
    passes=3,
    warmup=2,
    max_tokens=64,
    concurrency=6,
    parallel_models=2,
    top_p=0.8,
    top_k=40,
    seed=7,
    prompts=("one", "two"),
)


def _headless_plan(argv: list[str], settings: Settings, endpoint: Endpoint) -> BenchmarkPlan:
    args = build_parser().parse_args(["run", *argv])
    return _plan(args, settings, endpoint, MODELS)


def _panel_plan(fields: dict[str, str], defaults: Defaults, endpoint: Endpoint) -> BenchmarkPlan:
    overrides, problems = overrides_from_fields(fields)
    assert problems == []
    return build_plan(defaults, endpoint, MODELS, overrides)


def test_no_overrides_gives_the_defaults_with_the_endpoint_s_applied() -> None:
    plan = build_plan(DEFAULTS, ENDPOINT, MODELS)
    assert plan.passes == 4  # the endpoint's
    assert plan.warmup == 2 and plan.concurrency == 6 and plan.parallel_models == 2
    assert plan.prompts == ("one", "two")
    p = plan.params
    assert (p.max_tokens, p.temperature, p.top_p, p.top_k, p.seed) == (64, 0.7, 0.8, 40, 7)
    assert plan.endpoint.timeouts.total_s == 42.0  # the endpoint's timeout_s
    assert plan.validate() == []


def test_defaults_top_k_reaches_the_plan_from_the_run_panel() -> None:
    # the TUI's copy of the plan assembly dropped [defaults] top_k
    plan = _panel_plan({"passes": "3", "top_k": ""}, DEFAULTS, ENDPOINT)
    assert plan.params.top_k == 40


def test_empty_concurrency_falls_back_to_the_defaults_not_to_one() -> None:
    plan = _panel_plan({"concurrency": "", "parallel_models": "  "}, DEFAULTS, ENDPOINT)
    assert plan.concurrency == 6
    assert plan.parallel_models == 2


def test_the_same_inputs_give_equal_plans_from_the_panel_and_from_headless() -> None:
    settings = Settings(endpoints=[ENDPOINT], defaults=DEFAULTS)
    cases: list[tuple[list[str], dict[str, str]]] = [
        ([], {}),
        (
            ["--passes", "5", "--concurrency", "3", "--temperature", "0.2", "--seed", "9"],
            {"passes": "5", "concurrency": "3", "temperature": "0.2", "seed": "9", "top_k": ""},
        ),
        (
            ["--prompt", "a", "--prompt", "b", "--warmup", "0", "--parallel-models", "1",
             "--max-tokens", "16", "--top-p", "0.5", "--top-k", "3", "--rpm", "60",
             "--tpm", "1000", "--timeout", "9"],
            {"prompts": "a\n\nb\n", "warmup": "0", "parallel_models": "1", "max_tokens": "16",
             "top_p": "0.5", "top_k": "3", "rpm": "60", "tpm": "1000", "timeout_s": "9"},
        ),
    ]  # fmt: skip
    for argv, fields in cases:
        headless = _headless_plan(argv, settings, ENDPOINT)
        panel = _panel_plan(fields, settings.defaults, ENDPOINT)
        assert headless == panel, argv


def test_prompts_file_from_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("first\n\nsecond\n", encoding="utf-8")
    settings = Settings(defaults=DEFAULTS)
    headless = _headless_plan(["--prompts", str(path)], settings, ENDPOINT)
    panel = _panel_plan({"prompts_file": str(path), "prompts": "ignored"}, DEFAULTS, ENDPOINT)
    assert headless == panel
    assert panel.prompts == ("first", "second")


def test_field_problems_name_the_field_and_server_sends_none() -> None:
    overrides, problems = overrides_from_fields(
        {"passes": "three", "temperature": "hot", "image": "/nonexistent/x.png"}
    )
    assert problems[0] == "passes: 'three' is not a whole number"
    assert problems[1] == "temperature: 'hot' is not a number"
    assert "x.png" in problems[2]
    overrides, problems = overrides_from_fields({"temperature": "server", "top_k": "Server"})
    assert problems == []
    plan = build_plan(DEFAULTS, ENDPOINT, MODELS, overrides)
    assert plan.params.temperature is None and plan.params.top_k is None
    assert plan.params.top_p == 0.8  # untouched


def test_limits_have_one_home() -> None:
    assert settings_mod.MAX_CONCURRENCY is plan_mod.MAX_CONCURRENCY
    assert settings_mod.MAX_PARALLEL_MODELS is plan_mod.MAX_PARALLEL_MODELS
    over = Defaults(concurrency=MAX_CONCURRENCY + 1, parallel_models=MAX_PARALLEL_MODELS + 1)
    assert len(validate_defaults(over)) == 2
    assert len(build_plan(over, Endpoint("x", "http://h"), MODELS).validate()) == 2
    at = Defaults(concurrency=MAX_CONCURRENCY, parallel_models=MAX_PARALLEL_MODELS)
    assert validate_defaults(at) == []
    assert build_plan(at, Endpoint("x", "http://h"), MODELS).validate() == []
    ep = Endpoint("x", "http://h", defaults=EndpointDefaults(concurrency=MAX_CONCURRENCY + 1))
    assert any(p.startswith("defaults.concurrency") for p in validate_endpoint(ep))


def test_plan_validate_checks_top_p_and_top_k() -> None:
    plan = build_plan(DEFAULTS, ENDPOINT, MODELS, PlanOverrides(top_p=1.5, top_k=0))
    assert plan.validate() == ["top_p: must be 0..1 (got 1.5)", "top_k: must be at least 1 (got 0)"]


@pytest.mark.parametrize(
    ("defaults_t", "endpoint_t", "override_t", "expected_total"),
    [
        (None, None, None, 600.0),  # nothing set: the endpoint's own timeouts
        (30.0, None, None, 30.0),  # [defaults] timeout_s is applied
        (30.0, 20.0, None, 20.0),  # the endpoint's defaults beat the global ones
        (30.0, 20.0, 90.0, 90.0),  # the user's beats both
    ],
)
def test_timeout_s_is_applied(
    defaults_t: float | None,
    endpoint_t: float | None,
    override_t: float | None,
    expected_total: float,
) -> None:
    endpoint = Endpoint("x", "http://h", defaults=EndpointDefaults(timeout_s=endpoint_t))
    plan = build_plan(
        Defaults(timeout_s=defaults_t), endpoint, MODELS, PlanOverrides(timeout_s=override_t)
    )
    t = plan.endpoint.timeouts
    assert t.total_s == expected_total
    assert t.read_s == min(60.0, expected_total)
    assert t.connect_s == min(10.0, expected_total)


def test_a_timeout_caps_connect_and_read_but_keeps_shorter_ones() -> None:
    endpoint = Endpoint("x", "http://h", timeouts=TimeoutPolicy(1.0, 3.0, 900.0))
    assert plan_endpoint(Defaults(timeout_s=20.0), endpoint).timeouts == TimeoutPolicy(
        1.0, 3.0, 20.0
    )
    assert plan_endpoint(Defaults(), endpoint) is endpoint


def test_the_simulated_endpoint_gets_a_short_timeout_unless_one_is_set() -> None:
    demo = Endpoint("demo", "http://127.0.0.1:1", simulated=True)
    plan = build_plan(Defaults(timeout_s=300.0), demo, MODELS)
    assert plan.endpoint.timeouts.total_s == SIMULATED_TIMEOUT_S
    assert plan.endpoint.timeouts.read_s == SIMULATED_TIMEOUT_S
    plan = build_plan(Defaults(), demo, MODELS, PlanOverrides(timeout_s=2.0))
    assert plan.endpoint.timeouts.total_s == 2.0


def test_models_keep_the_order_given() -> None:
    plan = build_plan(DEFAULTS, ENDPOINT, list(reversed(MODELS)))
    assert [m.name for m in plan.models] == ["beta:7b", "alpha:1b"]


# ----------------------------------------------------------------------------- load
def _panel_load_plan(
    fields: dict[str, str], defaults: Defaults, endpoint: Endpoint
) -> tuple[BenchmarkPlan | None, list[str]]:
    """What the run panel builds: its fields (Load section included) through the core."""
    overrides, problems = overrides_from_fields(fields)
    plan, more = checked_plan(defaults, endpoint, MODELS, overrides, key_name)
    return (None if problems else plan), problems + more


def _headless_load_plan(argv: list[str], settings: Settings) -> BenchmarkPlan:
    return _headless_plan(argv, settings, ENDPOINT)


def test_the_same_load_from_flags_and_from_the_panel_s_load_fields() -> None:
    settings = Settings(endpoints=[ENDPOINT], defaults=DEFAULTS)
    start = options_texts(DEFAULTS.load)  # what the panel's Load section starts from
    cases: list[tuple[list[str], dict[str, str]]] = [
        (["--rate", "20", "--arrival", "gamma", "--burstiness", "0.5", "--max-concurrency",
          "8", "--ramp-up", "5", "--duration", "30", "--requests", "500", "--max-errors", "10",
          "--max-error-rate", "0.2", "--input-tokens", "uniform:100,900", "--output-tokens",
          "128", "--shared-prefix", "50", "--turns", "2", "--seed", "4"],
         {**start, "load_mode": "open", "rate": "20", "arrival": "gamma", "burstiness": "0.5",
          "max_concurrency": "8", "ramp_up_s": "5", "duration_s": "30", "requests": "500",
          "max_errors": "10", "max_error_rate": "0.2", "input_tokens": "uniform:100,900",
          "output_tokens": "128", "shared_prefix": "50", "turns": "2", "seed": "4"}),
        (["--requests", "40", "--dataset", "builtin", "--dataset-lengths", "100,",
          "--concurrency", "3"],
         {**start, "requests": "40", "dataset": "builtin", "dataset_lengths": "100,",
          "concurrency": "3"}),
        # a closed loop keeps its rate field's text but does not send it
        (["--requests", "7"], {**start, "load_mode": "closed", "rate": "9", "requests": "7"}),
    ]  # fmt: skip
    for argv, fields in cases:
        headless = _headless_load_plan(argv, settings)
        panel, problems = _panel_load_plan(fields, settings.defaults, ENDPOINT)
        assert problems == []
        assert headless.load is not None
        assert headless == panel, argv


def test_defaults_load_keys_start_both_front_ends_and_flags_override_them() -> None:
    loaded = Defaults(
        prompts=("one",),
        seed=11,
        load=LoadOptions(rate=5.0, duration_s=20.0, output_tokens=Fixed(16), turns=2),
    )
    settings = Settings(endpoints=[ENDPOINT], defaults=loaded)
    plain = _headless_load_plan([], settings)
    panel, problems = _panel_load_plan(options_texts(loaded.load), loaded, ENDPOINT)
    assert problems == [] and plain == panel
    assert plain.load is not None and plain.load.arrival is not None
    assert (plain.load.arrival.rate, plain.load.stop.duration_s, plain.load.turns) == (5, 20, 2)
    assert plain.load.seed == 11  # the plan's seed seeds the load
    # a flag beats the key; the other keys stay
    faster = _headless_load_plan(["--rate", "9", "--seed", "2"], settings)
    assert faster.load is not None and faster.load.arrival is not None
    assert faster.load.arrival.rate == 9 and faster.load.stop.duration_s == 20
    assert faster.load.seed == 2
    # --closed-loop drops the defaults' rate; the panel's closed mode does the same
    closed = _headless_load_plan(["--closed-loop"], settings)
    fields = {**options_texts(loaded.load), "load_mode": "closed"}
    panel_closed, problems = _panel_load_plan(fields, loaded, ENDPOINT)
    assert problems == [] and closed == panel_closed
    assert closed.load is not None and closed.load.arrival is None
    # in the panel an emptied field is "none", not the default
    emptied = {**options_texts(loaded.load), "turns": ""}
    panel_one_turn, _ = _panel_load_plan(emptied, loaded, ENDPOINT)
    assert panel_one_turn is not None and panel_one_turn.load is not None
    assert panel_one_turn.load.turns == 1


def test_panel_load_problems_name_the_fields_and_build_no_plan() -> None:
    start = options_texts(LoadOptions())
    plan, problems = _panel_load_plan(
        {**start, "load_mode": "open", "rate": "0", "turns": "x"}, DEFAULTS, ENDPOINT
    )
    assert plan is None
    assert problems == [
        "rate: must be more than 0, got 0",
        "turns: expected a whole number, got 'x'",
    ]
    plan, problems = _panel_load_plan({**start, "load_mode": "open"}, DEFAULTS, ENDPOINT)
    assert plan is None and problems[0] == "rate: an open loop needs a rate in requests/s"
    plan, problems = _panel_load_plan({**start, "turns": "3"}, DEFAULTS, ENDPOINT)
    assert plan is None
    assert problems == ["requests or duration_s: a load needs one to know when to stop"]
    # no load field set: the plain closed loop, as before
    plan, problems = _panel_load_plan(start, DEFAULTS, ENDPOINT)
    assert problems == [] and plan is not None and plan.load is None


def test_the_ray_field_is_checked_by_the_ray_flags_rule() -> None:
    """The run panel's Ray field: blank is this machine, ``auto`` or ``host:port`` reach
    the plan (``BenchmarkPlan.ray_address``), anything else is one line naming it."""
    from ometer_tui.core.bench.plan_builder import build_plan, overrides_from_fields
    from ometer_tui.core.settings import Defaults

    endpoint = Endpoint(name="e", url="http://127.0.0.1:1")
    for text, address in (("", None), (" auto ", "auto"), ("10.0.0.5:6379", "10.0.0.5:6379")):
        overrides, problems = overrides_from_fields({"ray": text})
        assert problems == [] and overrides.ray_address == address
        plan = build_plan(Defaults(), endpoint, [ModelInfo("m")], overrides)
        assert plan.ray_address == address
    _, problems = overrides_from_fields({"ray": "head"})
    assert problems == ["ray: expected 'auto' or the cluster head's host:port, got 'head'"]
