"""``ometer-tui run --preset NAME`` (issue #11): the run panel's load presets fill the
load flags, explicit flags win, and an unknown name is one line listing the names."""

from __future__ import annotations

import pytest

from ometer_tui.cli import build_parser
from ometer_tui.core.bench.workloads.datasets import BUILTIN
from ometer_tui.core.bench.workloads.lengths import Fixed, Normal
from ometer_tui.core.bench.workloads.options import LoadOptions
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.settings import Defaults, Settings
from ometer_tui.headless import _plan
from ometer_tui.preset_args import load_options

ENDPOINT = Endpoint(name="e", url="http://127.0.0.1:9", api="openai")
MODELS = [ModelInfo("m")]


def options(*argv: str) -> LoadOptions:
    return load_options(build_parser().parse_args(["run", *argv]))


def test_a_preset_fills_the_load_flags() -> None:
    chat = options("--preset", "chat")
    assert chat.closed_loop and chat.requests == 90 and chat.turns == 3
    assert chat.input_tokens == Normal(256.0, 64.0, 32, 1024) and chat.output_tokens == Fixed(128)
    load = options("--preset", "LOAD")  # names are case-blind
    assert (load.rate, load.duration_s, load.max_concurrency) == (2.0, 60.0, 64)
    assert options() == LoadOptions()  # no preset: the flags alone


def test_explicit_flags_win_over_the_preset() -> None:
    load = options("--preset", "load", "--rate", "5", "--output-tokens", "8")
    assert load.rate == 5.0 and load.output_tokens == Fixed(8)
    assert load.duration_s == 60.0 and load.input_tokens == Fixed(256)  # the preset's
    open_chat = options("--preset", "chat", "--rate", "3")  # a rate opens the closed preset
    assert not open_chat.closed_loop and open_chat.rate == 3.0 and open_chat.turns == 3
    rag = options("--preset", "rag", "--dataset", "builtin")  # a dataset replaces its lengths
    assert rag.dataset == BUILTIN and rag.input_tokens is None and rag.requests == 30


def test_a_closed_loop_preset_stays_closed_over_a_settings_rate() -> None:
    settings = Settings(defaults=Defaults(load=LoadOptions(rate=7.0, duration_s=5.0)))
    args = build_parser().parse_args(["run", "--preset", "rag", "--max-tokens", "8"])
    plan = _plan(args, settings, ENDPOINT, MODELS)
    assert plan.load is not None and plan.load.arrival is None  # closed loop
    assert plan.load.stop.max_requests == 30
    settings_only = _plan(build_parser().parse_args(["run"]), settings, ENDPOINT, MODELS)
    assert settings_only.load is not None and settings_only.load.arrival is not None


def test_an_unknown_preset_is_one_line_listing_the_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["run", "--preset", "speedy"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert (
        "argument --preset: unknown preset 'speedy' "
        "(known: chat, rag, summarization, prefix, load)" in err
    )
