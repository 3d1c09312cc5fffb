"""The load options' one rule: the same value is refused with the same words as a flag,
a run panel field and a settings key; options merge over the defaults; text round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from ometer_tui.cli import build_parser
from ometer_tui.core.bench.workloads.arrivals import ArrivalKind
from ometer_tui.core.bench.workloads.errors import OptionError, WorkloadError
from ometer_tui.core.bench.workloads.lengths import (
    Fixed,
    Normal,
    Pairs,
    Uniform,
    length_text,
    parse_length_spec,
)
from ometer_tui.core.bench.workloads.options import (
    LOAD_KEYS,
    LoadOptions,
    check_option,
    flag_name,
    key_name,
    option_text,
    options_from_texts,
    parse_option,
    resolve_load,
)
from ometer_tui.core.settings import SettingsError, settings_from_dict


@pytest.mark.parametrize(
    ("key", "text", "body"),
    [
        ("rate", "0", "must be more than 0, got 0"),
        ("rate", "fast", "expected a number, got 'fast'"),
        ("rate", "inf", "must be more than 0, got inf"),
        ("burstiness", "-1", "must be more than 0, got -1"),
        ("max_concurrency", "0", "must be 1 or more, got 0"),
        ("ramp_up_s", "-2", "must be 0 or more, got -2"),
        ("duration_s", "0", "must be more than 0, got 0"),
        ("requests", "2.5", "expected a whole number, got '2.5'"),
        ("max_errors", "0", "must be 1 or more, got 0"),
        ("max_error_rate", "1.5", "must be more than 0 and at most 1, got 1.5"),
        ("shared_prefix", "-1", "must be 0 or more, got -1"),
        ("turns", "101", "must be 1..100, got 101"),
    ],
)
def test_a_bad_number_gets_the_same_words_everywhere(
    key: str, text: str, body: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # the run panel's field
    _, problems = options_from_texts({key: text})
    assert problems == [f"{key}: {body}"]
    # the command line's flag (argparse with the core's rule)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", flag_name(key), text])
    assert f"argument {flag_name(key)}: {body}" in capsys.readouterr().err
    # the settings key, when the file holds the same number
    if "got '" not in body:
        value = float(text) if "." in text or "inf" in text else int(text)
        assert check_option(key, value, f"defaults.{key}") == f"defaults.{key}: {body}"


@pytest.mark.parametrize(
    ("key", "text", "body"),
    [
        ("arrival", "bursty", "expected one of constant, poisson, gamma, got 'bursty'"),
        ("input_tokens", "normal:1,2",
         "'normal:1,2': expected 4 numbers (mean,stdev,min,max), got 2"),
        ("output_tokens", "pairs:1/2", "'pairs:1/2': pairs: give them as the input tokens"),
        ("dataset_lengths", "9,3", "expected MIN,MAX with MIN <= MAX, got '9,3'"),
    ],
)  # fmt: skip
def test_a_bad_text_option_names_its_field_and_key(key: str, text: str, body: str) -> None:
    _, problems = options_from_texts({key: text})
    assert problems == [f"{key}: {body}"]
    assert check_option(key, text, f"defaults.{key}") == f"defaults.{key}: {body}"
    with pytest.raises(OptionError) as info:
        parse_option(key, text, flag_name(key))
    assert str(info.value) == f"{flag_name(key)}: {body}"


def test_settings_name_the_key_of_a_bad_load_value() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from_dict(
            {"defaults": {"rate": 0, "turns": "3", "arrival": "fast", "input_tokens": 0}},
            Path("c.toml"),
        )
    assert info.value.problems == [
        "defaults.rate: must be more than 0, got 0",
        "defaults.arrival: expected one of constant, poisson, gamma, got 'fast'",
        "defaults.input_tokens: '0': the length must be 1..1000000, got 0",
        "defaults.turns: expected a whole number, got '3'",
    ]


def test_good_texts_parse_and_blank_fields_are_not_given() -> None:
    options, problems = options_from_texts(
        {"rate": "20", "arrival": "Gamma", "burstiness": "0.5", "requests": " ",
         "duration_s": "60", "input_tokens": "uniform:10,20", "dataset_lengths": ",300"}
    )  # fmt: skip
    assert problems == []
    assert options == LoadOptions(
        rate=20.0,
        arrival=ArrivalKind.GAMMA,
        burstiness=0.5,
        duration_s=60.0,
        input_tokens=Uniform(10, 20),
        dataset_lengths=(None, 300),
    )


@pytest.mark.parametrize(
    "spec", [Fixed(512), Normal(512.0, 128.0, 64, 1024), Uniform(1, 9), Pairs(((1, 2), (30, 4)))]
)
def test_length_specs_round_trip_through_their_text(spec: object) -> None:
    assert parse_length_spec(length_text(spec)) == spec  # type: ignore[arg-type]


def test_every_option_round_trips_through_its_field_text() -> None:
    options, _ = options_from_texts(
        {"rate": "2.5", "arrival": "constant", "burstiness": "1", "max_concurrency": "8",
         "ramp_up_s": "3", "duration_s": "30", "requests": "9", "max_errors": "2",
         "max_error_rate": "0.1", "dataset": "builtin", "dataset_lengths": "5,",
         "input_tokens": "normal:5,1,1,9", "output_tokens": "7", "shared_prefix": "0",
         "turns": "2"}
    )  # fmt: skip
    assert set(options.given()) == set(LOAD_KEYS)
    texts = {k: option_text(k, v) for k, v in options.given().items()}
    assert options_from_texts(texts) == (options, [])


def test_options_fall_back_on_the_defaults_and_a_closed_loop_drops_their_rate() -> None:
    defaults = LoadOptions(rate=20.0, max_concurrency=8, requests=100, turns=2)
    given = LoadOptions(requests=5)
    assert given.over(defaults) == LoadOptions(rate=20.0, max_concurrency=8, requests=5, turns=2)
    closed = LoadOptions(closed_loop=True).over(defaults)
    assert closed.rate is None and closed.max_concurrency is None
    assert (closed.requests, closed.turns) == (100, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (LoadOptions(rate=5.0), "requests or duration_s: a load needs one"),
        (LoadOptions(arrival=ArrivalKind.GAMMA, requests=3), "arrival: applies to an open loop"),
        (LoadOptions(max_concurrency=3, requests=3),
         "max_concurrency: applies to an open loop: give rate (the closed loop's streams "
         "are concurrency)"),
        (LoadOptions(rate=1.0, arrival=ArrivalKind.POISSON, burstiness=2.0, requests=3),
         "burstiness: applies to arrival gamma, not poisson"),
        (LoadOptions(dataset="builtin", input_tokens=Fixed(5), requests=3),
         "dataset and input_tokens: give one, not both"),
        (LoadOptions(dataset="/nonexistent/d.jsonl", requests=3),
         "dataset /nonexistent/d.jsonl: not found"),
        (LoadOptions(dataset_lengths=(1, 2), requests=3),
         "dataset_lengths: filters a dataset; none was given"),
        (LoadOptions(shared_prefix=200, input_tokens=Fixed(100), requests=3),
         "shared_prefix: 200 tokens is not shorter than the shortest prompt input_tokens "
         "asks (100 tokens"),
    ],
)  # fmt: skip
def test_combinations_are_checked_naming_the_panel_s_fields(
    options: LoadOptions, message: str
) -> None:
    with pytest.raises(WorkloadError) as info:
        resolve_load(options, seed=0, names=key_name)
    assert str(info.value).startswith(message)


def test_no_option_is_no_load() -> None:
    assert resolve_load(LoadOptions(), seed=3) is None
    assert resolve_load(LoadOptions(closed_loop=True), seed=3) is None
    spec = resolve_load(LoadOptions(requests=4, turns=2), seed=3)
    assert spec is not None and spec.arrival is None and spec.seed == 3 and spec.turns == 2


def test_defaults_load_keys_round_trip_through_the_file(tmp_path: Path) -> None:
    from ometer_tui.core.settings import Defaults, Settings, load_settings, save_settings

    path = tmp_path / "config.toml"
    options, _ = options_from_texts(
        {"rate": "20", "arrival": "gamma", "burstiness": "0.5", "duration_s": "60",
         "dataset": "builtin", "dataset_lengths": "5,400", "output_tokens": "normal:9,2,1,20",
         "input_tokens": "512", "max_error_rate": "0.25", "turns": "3"}
    )  # fmt: skip
    settings = Settings(defaults=Defaults(load=options))
    save_settings(settings, path)
    text = path.read_text()
    assert "rate = 20.0\n" in text and 'arrival = "gamma"\n' in text
    assert "input_tokens = 512\n" in text and 'dataset_lengths = "5,400"\n' in text
    assert load_settings(path) == settings
    # the settings screen's save keeps them (it replaces the other defaults only)
    assert load_settings(path).warnings == []


def test_equals_name_selects_a_model_the_server_does_not_list() -> None:
    from ometer_tui.core.models import ModelInfo
    from ometer_tui.core.selection import filter_models, select_models

    listed = [ModelInfo("demo-fast:1b", family="demo"), ModelInfo("demo-slow:3b")]
    picked, unmatched = select_models(listed, ["=cap-4slot:1b", "=demo-fast:1b", "demo-s"])
    assert unmatched == []
    assert picked == [ModelInfo("cap-4slot:1b"), listed[0], listed[1]]
    # without '=' an unknown name is still refused (a typo must not run)
    assert select_models(listed, ["cap-4slot:1b"]) == ([], ["cap-4slot:1b"])
    assert filter_models(listed, "=cap-4slot:1b") == [ModelInfo("cap-4slot:1b")]
    assert filter_models(listed, " =demo-fast:1b") == [listed[0]]
    assert filter_models(listed, "=") == []  # '=' alone names nothing


def test_every_preset_is_a_valid_load_and_the_load_test_sits_below_the_demo_knee() -> None:
    from ometer_tui.core.bench.workloads.presets import DEMO_CAPACITY_MODEL, PRESETS
    from ometer_tui.demo.capacity import CapacityParams
    from ometer_tui.demo.catalogue import BY_NAME

    for preset in PRESETS:
        spec = resolve_load(preset.options, seed=1, names=key_name)
        assert spec is not None, preset.id
        # the fields a preset fills read back into the same options
        texts = {k: option_text(k, v) for k, v in preset.options.given().items()}
        assert options_from_texts(texts)[0].given() == preset.options.given()
    load = next(p for p in PRESETS if p.id == "load")
    assert DEMO_CAPACITY_MODEL in BY_NAME and f"={DEMO_CAPACITY_MODEL}" in load.description
    o = load.options
    assert o.rate is not None and isinstance(o.input_tokens, Fixed)
    assert isinstance(o.output_tokens, Fixed)
    knee = CapacityParams().knee_rate(o.input_tokens.tokens, o.output_tokens.tokens)
    assert o.rate < knee < 2 * o.rate and round(knee) == 3  # "its knee: about 3 requests/s"


def test_what_is_sent_by_the_user_replaces_what_the_defaults_send() -> None:
    from ometer_tui.core.bench.plan_builder import PlanOverrides, checked_plan
    from ometer_tui.core.models import Endpoint, ModelInfo
    from ometer_tui.core.settings import Defaults

    base = LoadOptions(dataset="builtin", dataset_lengths=(1, None), requests=5)
    assert LoadOptions(input_tokens=Fixed(9)).over(base) == LoadOptions(
        input_tokens=Fixed(9), requests=5
    )
    assert LoadOptions(dataset="x.jsonl").over(LoadOptions(input_tokens=Fixed(9))) == (
        LoadOptions(dataset="x.jsonl")
    )
    # --prompt replaces a dataset from the defaults (it is not "both")
    defaults = Defaults(load=base)
    endpoint, models = Endpoint("e", "http://h"), [ModelInfo("m")]
    plan, problems = checked_plan(defaults, endpoint, models, PlanOverrides(prompts=("mine",)))
    assert problems == [] and plan is not None and plan.load is not None
    assert plan.load.dataset is None and plan.prompts == ("mine",)
    plan, problems = checked_plan(
        defaults, endpoint, models, PlanOverrides(prompts=("mine",), load=base)
    )
    assert plan is None and problems[0].startswith("--dataset: give a dataset or --prompt")
