"""Workers through the one plan builder: a run-panel field or an override to the plan."""

from __future__ import annotations

from ometer_tui.core.bench.plan_builder import PlanOverrides, checked_plan, overrides_from_fields
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.settings import Defaults

ENDPOINT = Endpoint(name="e", url="http://127.0.0.1:9")
MODELS = [ModelInfo("m")]


def test_the_workers_field_reaches_the_plan_and_blank_is_automatic() -> None:
    for text, workers in (("4", 4), ("", None), ("  ", None), ("1", 1)):
        overrides, problems = overrides_from_fields({"workers": text})
        assert problems == [] and overrides.workers == workers
        plan, problems = checked_plan(Defaults(), ENDPOINT, MODELS, overrides)
        assert problems == [] and plan is not None and plan.workers == workers


def test_bad_workers_are_one_line_naming_the_field() -> None:
    _, problems = overrides_from_fields({"workers": "2.5"})
    assert problems == ["workers: '2.5' is not a whole number"]
    plan, problems = checked_plan(Defaults(), ENDPOINT, MODELS, PlanOverrides(workers=0))
    assert plan is None and problems == ["workers: must be 1..64 (got 0)"]
