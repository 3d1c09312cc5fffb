"""``ometer-tui run``'s endpoint choice: one endpoint or several in one benchmark.

``--endpoint NAME`` and ``--url URL`` may each be given several times (in any mix; the
endpoints keep the command line's order); ``--api`` once applies to every endpoint, or
once per endpoint, the n-th to the n-th. ``--demo --api ollama --api openai`` gives the
demo through both of its APIs. ``--endpoints-parallel`` runs the endpoints at the same
time instead of one after the other.

With several endpoints, each keeps its own auth, flavour, defaults and rate limits; a
``--model`` is benchmarked on every chosen endpoint that serves it, and one that none
serves is bad input (:func:`select_per_endpoint`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the core loads when a run is planned, not for `run --help`
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.plan_builder import PlanOverrides
    from ometer_tui.core.models import Endpoint, ModelInfo
    from ometer_tui.core.settings import Defaults

__all__ = [
    "EndpointChoiceError",
    "add_endpoint_options",
    "apis_given",
    "endpoints_given",
    "plan_for_endpoints",
    "plan_header",
    "row_label",
    "select_per_endpoint",
]


class EndpointChoiceError(ValueError):
    """The endpoint flags ask for something impossible; the message names the flag."""


class _InOrder(argparse.Action):
    """Appends to its own list and to ``endpoints_given`` as (flag, value), in order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        order = list(getattr(namespace, "endpoints_given", None) or [])
        order.append((self.dest, values))
        namespace.endpoints_given = order


def add_endpoint_options(group: argparse._ArgumentGroup) -> None:
    """``--endpoint`` and ``--url`` (repeatable), ``--endpoints-parallel``."""
    group.add_argument(
        "--endpoint",
        metavar="NAME",
        action=_InOrder,
        help="a saved endpoint by name (repeatable: several endpoints in one benchmark)",
    )
    group.add_argument(
        "--url",
        action=_InOrder,
        help="base URL, e.g. http://localhost:11434 (repeatable)",
    )
    group.add_argument(
        "--endpoints-parallel",
        action="store_true",
        help="with several endpoints, run them at the same time (default: one after "
        "the other, so each is measured without the other's load)",
    )


def endpoints_given(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(``"endpoint"`` or ``"url"``, value) for each endpoint flag, in the order given."""
    order = getattr(args, "endpoints_given", None)
    if order is not None:
        return list(order)
    # a namespace built without the parser (a test, a caller): endpoints, then URLs
    out: list[tuple[str, str]] = []
    for dest in ("endpoint", "url"):
        value = getattr(args, dest, None)
        if isinstance(value, str):
            out.append((dest, value))
        elif value:
            out += [(dest, v) for v in value]
    return out


def apis_given(args: argparse.Namespace, endpoints: int) -> list[str | None]:
    """The ``--api`` of each of ``endpoints`` endpoints: one ``--api`` for all, or one
    per endpoint in order. Raises :class:`EndpointChoiceError` for another count."""
    apis: list[str] = list(getattr(args, "apis", None) or [])
    if not apis:
        return [getattr(args, "api", None)] * endpoints
    if len(apis) == 1:
        return [apis[0]] * endpoints
    if len(apis) != endpoints:
        raise EndpointChoiceError(
            f"--api: given {len(apis)} times for {endpoints} endpoint(s); give it once "
            "for all, or once per endpoint in the same order"
        )
    return list(apis)


def row_label(model: str, endpoint: str | None) -> str:
    """A row's name in a progress line: ``model`` or ``model @ endpoint``."""
    return model if endpoint is None else f"{model} @ {endpoint}"


def select_per_endpoint(
    patterns: Sequence[str],
    endpoints: Sequence[Endpoint],
    available: Sequence[Sequence[ModelInfo]],
) -> list[list[ModelInfo]]:
    """The models ``patterns`` (``--model``) pick on each endpoint: a model is taken on
    every endpoint that serves it. Raises :class:`EndpointChoiceError` (one line naming
    the model and the endpoints) for a pattern no endpoint serves, or that is ambiguous
    on one of them."""
    from ometer_tui.core.selection import AmbiguousModelName, select_models

    picked: list[list[ModelInfo]] = []
    unmatched_everywhere = set(patterns)
    for endpoint, models in zip(endpoints, available, strict=True):
        try:
            chosen, unmatched = select_models(list(models), list(patterns))
        except AmbiguousModelName as exc:
            raise EndpointChoiceError(f"--model: on {endpoint.name}: {exc}") from None
        unmatched_everywhere &= set(unmatched)
        picked.append(list(chosen))
    missing = [p for p in patterns if p in unmatched_everywhere]
    if missing:
        listed = "; ".join(
            f"{ep.name}: {', '.join(m.name for m in models) or 'none'}"
            for ep, models in zip(endpoints, available, strict=True)
        )
        raise EndpointChoiceError(
            f"--model: no chosen endpoint serves {', '.join(map(repr, missing))} ({listed})"
        )
    return picked


def plan_for_endpoints(
    args: argparse.Namespace,
    defaults: Defaults,
    endpoints: Sequence[Endpoint],
    availables: Sequence[Sequence[ModelInfo]],
    overrides: PlanOverrides,
    err: TextIO,
) -> BenchmarkPlan:
    """Several endpoints: each chosen model (``--model``, else each endpoint's default
    models) on every endpoint that serves it, each endpoint's plan from its own
    defaults (the one plan builder). An endpoint that serves none is skipped, said on
    ``err``. Raises :class:`EndpointChoiceError`."""
    from ometer_tui.core.bench.plan_builder import checked_plans
    from ometer_tui.core.discovery import default_models

    if args.model:
        picked = select_per_endpoint(args.model, endpoints, availables)
    else:
        picked = [default_models(ep, av) for ep, av in zip(endpoints, availables, strict=True)]
    chosen = [(ep, models) for ep, models in zip(endpoints, picked, strict=True) if models]
    if not args.quiet:
        for ep, models in zip(endpoints, picked, strict=True):
            if not models:
                print(f"ometer-tui: {ep.name} serves none of the models; skipped", file=err)
    if not chosen:
        names = ", ".join(ep.name for ep in endpoints)
        raise EndpointChoiceError(f"{names}: the servers list no models")
    plan, problems = checked_plans(
        defaults, chosen, overrides, parallel=bool(getattr(args, "endpoints_parallel", False))
    )
    if plan is None:
        raise EndpointChoiceError("; ".join(problems))
    return plan


def plan_header(plan: BenchmarkPlan) -> str:
    """What is about to run, on stderr before the first run (one endpoint: one line, as
    it always was)."""
    if not plan.multi_endpoint:
        endpoint = plan.endpoint
        label = " [SIMULATED demo endpoint]" if endpoint.simulated else ""
        return f"ometer-tui: {endpoint.name} ({endpoint.display_url}){label}: {_what(plan)}"
    how = "at the same time" if plan.endpoints_parallel else "one after the other"
    lines = [f"ometer-tui: {len(plan.parts)} endpoints, {how}:"]
    for part in plan.parts:
        ep = part.endpoint
        label = " [SIMULATED demo endpoint]" if ep.simulated else ""
        api = f", api {ep.api.value}" if ep.api is not None else ""
        lines.append(f"  {ep.name} ({ep.display_url}{api}){label}: {_what(part)}")
    return "\n".join(lines)


def _what(plan: BenchmarkPlan) -> str:
    """``2 model(s) x 3 run(s), warm-up 1, concurrency 4``; a load says its shape
    instead of passes (``1 model(s), open 4/s, 8 s, warm-up 1``), an open loop no
    concurrency (its rate is the load)."""
    load, models = plan.load, f"{len(plan.models)} model(s)"
    if load is None:
        text = f"{models} x {plan.runs_per_model} run(s), warm-up {plan.warmup}"
    else:
        text = f"{models}, {load.brief()}, warm-up {plan.warmup}"
    if load is None or load.arrival is None:
        text += f", concurrency {plan.concurrency}"
    return text
