"""The model picker's endpoints: one, or several marked on the endpoints screen.

With several endpoints the picker lists the union of their models, each marked with the
endpoints that serve it (:class:`Listing`), and the plan takes each selected model on
every endpoint that serves it, each endpoint's part built from its own defaults by the
one plan builder (:func:`plan_on`). Kept out of the screen so that it stays wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.text import Text

from ometer_tui.core.api.base import ClientError
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.plan_builder import (
    checked_plans,
    overrides_from_fields,
    plan_defaults,
    plan_endpoint,
)
from ometer_tui.core.bench.sweep_form import StepsRequest, steps_from_fields
from ometer_tui.core.bench.workloads.options import key_name
from ometer_tui.core.models import Endpoint, ModelInfo
from ometer_tui.core.settings import Defaults, Settings
from ometer_tui.tui.widgets.run_panel import RunDraft


@dataclass(frozen=True, slots=True)
class Listing:
    """What the endpoints list: the union of their models (by name, the first
    endpoint's description first), which endpoints serve each, and each one's own."""

    models: list[ModelInfo] = field(default_factory=list)
    served: dict[str, tuple[str, ...]] = field(default_factory=dict)
    per_endpoint: dict[str, list[ModelInfo]] = field(default_factory=dict)


def union(endpoints: Sequence[Endpoint], listed: Sequence[Sequence[ModelInfo]]) -> Listing:
    """The :class:`Listing` of ``endpoints``, each with its ``listed`` models."""
    models: dict[str, ModelInfo] = {}
    served: dict[str, tuple[str, ...]] = {}
    for endpoint, infos in zip(endpoints, listed, strict=True):
        for info in infos:
            models.setdefault(info.name, info)
            served[info.name] = (*served.get(info.name, ()), endpoint.name)
    per = {ep.name: list(infos) for ep, infos in zip(endpoints, listed, strict=True)}
    return Listing(list(models.values()), served, per)


async def list_models(
    endpoints: Sequence[Endpoint], defaults: Defaults
) -> tuple[Listing, str | None]:
    """Every endpoint's models, listed at the same time (each waits no longer than a run
    on it would: the plan's timeouts); or the first failure, naming its endpoint when
    there are several."""

    from ometer_tui.core import discovery  # looked up at call time (tests replace it)

    async def one(endpoint: Endpoint) -> list[ModelInfo]:
        return await discovery.discover_models(plan_endpoint(defaults, endpoint))

    outcomes = await asyncio.gather(*(one(ep) for ep in endpoints), return_exceptions=True)
    for endpoint, outcome in zip(endpoints, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome
            text = str(outcome) if isinstance(outcome, ClientError) else None
            text = text or str(outcome) or type(outcome).__name__
            return Listing(), text if len(endpoints) == 1 else f"{endpoint.name}: {text}"
    listed = [o for o in outcomes if not isinstance(o, BaseException)]
    return union(endpoints, listed), None


def several_fields(fields: Mapping[str, str], fresh: Mapping[str, str]) -> dict[str, str]:
    """The run panel's fields for several endpoints: a field still showing the first
    endpoint's default (``fresh``) is "not given", so each endpoint's own default
    applies; what the user changed applies to every endpoint."""
    return {k: ("" if fresh.get(k) == v else v) for k, v in fields.items()}


def plan_on(
    defaults: Defaults,
    endpoints: Sequence[Endpoint],
    listing: Listing,
    selected: Sequence[ModelInfo],
    fields: Mapping[str, str],
    *,
    completion_api: bool,
    parallel: bool,
    fresh: Mapping[str, str],
) -> tuple[BenchmarkPlan | None, list[str]]:
    """The plan from the picker, validated (its load too), or ``None`` and the
    problems, each naming its run-panel field.

    One endpoint: the plan builder's plan, as always. Several: each selected model on
    every endpoint that serves it, each endpoint from its own defaults where the panel
    was left at the first endpoint's (:func:`several_fields`). ``selected``: the models
    in the order they run."""
    several = len(endpoints) > 1
    overrides, problems = overrides_from_fields(
        several_fields(fields, fresh) if several else fields, completion_api=completion_api
    )
    chosen: list[tuple[Endpoint, Sequence[ModelInfo]]] = [(endpoints[0], selected)]
    if several:
        order = [m.name for m in selected]
        chosen = []
        for endpoint in endpoints:
            own = {m.name: m for m in listing.per_endpoint.get(endpoint.name, [])}
            models = [own[name] for name in order if name in own]
            if models:
                chosen.append((endpoint, models))
        if not chosen:  # nothing selected: the plan says "pick at least one model"
            chosen = [(endpoints[0], [])]
    plan, more = checked_plans(defaults, chosen, overrides, parallel=parallel, names=key_name)
    problems += more
    return (None if problems else plan), problems


def subtitle(endpoints: Sequence[Endpoint]) -> str:
    """The picker's sub-title: the endpoint and its URL, or the endpoints' names."""
    if len(endpoints) == 1:
        return f"{endpoints[0].name} · {endpoints[0].display_url}"
    return " + ".join(e.name for e in endpoints)


def endpoints_note(count: int, parallel: bool) -> Text:
    """After the picker's status with several endpoints: how they will run."""
    if count < 2:
        return Text()
    how = "at the same time" if parallel else "one after the other"
    return Text(f" · {count} endpoints, {how} (p)", style="dim")


def fresh_draft(settings: Settings, endpoint: Endpoint) -> RunDraft:
    """The run panel of a first visit: the endpoint's defaults and the settings' SLOs."""
    return RunDraft.from_defaults(plan_defaults(settings.defaults, endpoint), settings.slo)


def steps_on(
    fields: Mapping[str, str], endpoints: Sequence[Endpoint], settings: Settings
) -> tuple[StepsRequest | None, list[str]]:
    """The run panel's sweep, search, SLOs and repeats (``None``: a plain run without
    SLOs), or the problems, each naming its field; with several endpoints a series of
    steps is refused (as headless does)."""
    steps, problems = steps_from_fields(fields, percentile=settings.slo.percentile)
    if steps is not None and steps.series and len(endpoints) > 1:
        problems.append(f"sweep: one endpoint at a time (got {len(endpoints)})")
        return None, problems
    return steps, problems
