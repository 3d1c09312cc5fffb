"""The one plan builder: the run panel and ``ometer-tui run`` both build plans here.

A plan's values come, from the least to the most specific, from the settings'
``[defaults]``, the endpoint's ``[endpoints.defaults]`` and what the user gave for this
run (:class:`PlanOverrides`, where ``None`` means "not given"). Nothing else decides a
plan value, so the two front ends cannot disagree::

    overrides, problems = overrides_from_fields({"passes": "5", "concurrency": ""})
    plan = build_plan(settings.defaults, endpoint, models, overrides)
    problems += plan.validate()

Timeouts: the plan's whole-request timeout (``timeout_s``) is the user's, else the
endpoint's ``defaults.timeout_s``, else (for the simulated demo endpoint)
:data:`SIMULATED_TIMEOUT_S`, else the settings' ``[defaults] timeout_s``; when none is
set the endpoint's own ``[endpoints.timeouts]`` apply unchanged. A timeout caps the
connect and read (silence between chunks) timeouts too: see :func:`plan_endpoint`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.plan import (
    BenchmarkPlan,
    Prices,
    RateLimit,
    RetryPolicy,
    combine_plans,
)
from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import Endpoint, ModelInfo, ResponseFormat, TimeoutPolicy
from ometer_tui.core.settings import Defaults

__all__ = [
    "NOT_SENDABLE",
    "SERVER_WORD",
    "SIMULATED_TIMEOUT_S",
    "PlanOverrides",
    "build_plan",
    "build_plans",
    "overrides_from_fields",
    "plan_defaults",
    "plan_endpoint",
    "plan_timeout_s",
]

#: The whole-request timeout of a plan on the simulated demo endpoint, unless the user or
#: the endpoint's defaults set one. Its models answer on a known schedule within about
#: 2 s (demo-slow: 0.25 s + 24 tokens x 60 ms), so 5 s keeps a wide margin on a loaded
#: machine, while ``fault-stall`` costs 5 s a run instead of the 60 s read timeout.
SIMULATED_TIMEOUT_S = 5.0

#: Generation parameters that can be "not sent" (the server's own default) even when
#: the defaults have a value: name them in ``PlanOverrides.not_sent``.
NOT_SENDABLE: frozenset[str] = frozenset({"max_tokens", "temperature", "top_p", "top_k", "seed"})

#: Typed into a generation field of the run panel, this word means "not sent".
SERVER_WORD = "server"


@dataclass(frozen=True, slots=True)
class PlanOverrides:
    """What the user set for this run. ``None`` (or an empty run-panel field) is "not
    given": the endpoint's defaults, then the settings' ``[defaults]``, decide.

    ``not_sent`` names generation parameters (:data:`NOT_SENDABLE`) to send none of, so
    the server uses its own default, whatever the defaults say.
    """

    prompts: tuple[str, ...] | None = None
    passes: int | None = None
    warmup: int | None = None
    concurrency: int | None = None
    parallel_models: int | None = None
    # generation
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat | None = None
    json_schema: dict[str, object] | None = None
    keep_alive: str | None = None
    not_sent: frozenset[str] = field(default_factory=frozenset)
    # workload and load
    images: tuple[ImageInput, ...] | None = None
    completion_api: bool | None = None
    rpm: float | None = None
    tpm: float | None = None
    retries: int | None = None
    timeout_s: float | None = None
    prices: Prices | None = None


def plan_defaults(defaults: Defaults, endpoint: Endpoint) -> Defaults:
    """The starting values of a plan on ``endpoint`` (what a run panel shows before the
    user types): the settings' ``[defaults]`` with the endpoint's defaults applied, and
    the simulated endpoint's short timeout."""
    merged = defaults.for_endpoint(endpoint)
    if endpoint.simulated and endpoint.defaults.timeout_s is None:
        merged = replace(merged, timeout_s=SIMULATED_TIMEOUT_S)
    return merged


def plan_timeout_s(
    defaults: Defaults, endpoint: Endpoint, timeout_s: float | None = None
) -> float | None:
    """The whole-request timeout a plan on ``endpoint`` gets (see the module doc), or
    ``None`` when the endpoint's own timeouts apply unchanged."""
    if timeout_s is not None:
        return timeout_s
    return plan_defaults(defaults, endpoint).timeout_s


def plan_endpoint(
    defaults: Defaults, endpoint: Endpoint, timeout_s: float | None = None
) -> Endpoint:
    """``endpoint`` with the plan's timeouts: a whole-request timeout ``t`` (the user's
    ``timeout_s``, else the defaults', see :func:`plan_timeout_s`) sets ``total_s = t``
    and caps ``connect_s`` and ``read_s`` at ``t``. Use it for model discovery too, so
    listing the models waits no longer than a run would."""
    t = plan_timeout_s(defaults, endpoint, timeout_s)
    if t is None:
        return endpoint
    old = endpoint.timeouts
    timeouts = TimeoutPolicy(connect_s=min(old.connect_s, t), read_s=min(old.read_s, t), total_s=t)
    return endpoint if timeouts == old else replace(endpoint, timeouts=timeouts)


def build_plan(
    defaults: Defaults,
    endpoint: Endpoint,
    models: Sequence[ModelInfo],
    overrides: PlanOverrides | None = None,
) -> BenchmarkPlan:
    """The plan for ``models`` (run in the order given) on ``endpoint``.

    ``defaults`` is the settings' ``[defaults]`` (``Settings.defaults``); the endpoint's
    own defaults are applied here. The plan is not validated: call
    ``plan.validate()`` for the problems, each naming its field.
    """
    o = overrides or PlanOverrides()
    d = plan_defaults(defaults, endpoint)

    def pick(name: str) -> Any:
        given = getattr(o, name)
        return getattr(d, name) if given is None else given

    params = d.generation_params()
    generation: dict[str, Any] = {
        name: None if name in o.not_sent else pick(name) for name in sorted(NOT_SENDABLE)
    }
    for name in ("frequency_penalty", "presence_penalty", "keep_alive", "json_schema"):
        value = getattr(o, name)
        if value is not None:
            generation[name] = value
    if o.stop is not None:
        generation["stop"] = tuple(o.stop)
    if o.response_format is not None:
        generation["response_format"] = o.response_format
    return BenchmarkPlan(
        endpoint=plan_endpoint(defaults, endpoint, o.timeout_s),
        models=tuple(models),
        prompts=tuple(d.prompts if o.prompts is None else o.prompts),
        passes=pick("passes"),
        warmup=pick("warmup"),
        concurrency=pick("concurrency"),
        parallel_models=pick("parallel_models"),
        params=replace(params, **generation),
        images=() if o.images is None else tuple(o.images),
        rate_limit=RateLimit(requests_per_minute=o.rpm, tokens_per_minute=o.tpm),
        retry=RetryPolicy() if o.retries is None else RetryPolicy(max_retries=o.retries),
        prices=o.prices,
        completion_api=bool(o.completion_api),
    )


def build_plans(
    defaults: Defaults,
    chosen: Sequence[tuple[Endpoint, Sequence[ModelInfo]]],
    overrides: PlanOverrides | None = None,
    *,
    parallel: bool = False,
) -> BenchmarkPlan:
    """The plan for several endpoints, each with its models: one :func:`build_plan`
    per endpoint (its own defaults, timeouts, auth and flavour; the same ``overrides``),
    combined (``combine_plans``; one endpoint gives exactly :func:`build_plan`'s plan).
    ``parallel``: the endpoints run at the same time rather than one after the other."""
    parts = [build_plan(defaults, endpoint, models, overrides) for endpoint, models in chosen]
    return combine_plans(parts, parallel=parallel)


#: The run panel's one-line fields that hold numbers: field id -> (type, override name).
NUMBER_FIELDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "passes": (int, "passes"),
    "warmup": (int, "warmup"),
    "concurrency": (int, "concurrency"),
    "parallel_models": (int, "parallel_models"),
    "max_tokens": (int, "max_tokens"),
    "temperature": (float, "temperature"),
    "top_p": (float, "top_p"),
    "top_k": (int, "top_k"),
    "seed": (int, "seed"),
    "rpm": (float, "rpm"),
    "tpm": (float, "tpm"),
    "timeout_s": (float, "timeout_s"),
}


def overrides_from_fields(
    fields: Mapping[str, str], *, completion_api: bool | None = None
) -> tuple[PlanOverrides, list[str]]:
    """Overrides from a run panel's text fields, and the problems (each naming its field).

    Keys (all optional): ``prompts`` (one prompt per line), ``prompts_file``, ``image``
    and the number fields of :data:`NUMBER_FIELDS`. An empty (or blank) field is "not
    given". In a generation field (:data:`NOT_SENDABLE`) the word ``server`` means "send
    none". Files named by ``prompts_file`` and ``image`` are read here.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    not_sent: set[str] = set()
    for key, (kind, name) in NUMBER_FIELDS.items():
        raw = fields.get(key, "").strip()
        if not raw:
            continue
        if name in NOT_SENDABLE and raw.lower() == SERVER_WORD:
            not_sent.add(name)
            continue
        try:
            values[name] = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            problems.append(f"{key}: {raw!r} is not {what}")
    prompts_file = fields.get("prompts_file", "").strip()
    if prompts_file:
        try:
            values["prompts"] = read_prompts_file(Path(prompts_file).expanduser())
        except InputFileError as exc:
            problems.append(str(exc))
    else:
        lines = tuple(
            line.strip() for line in fields.get("prompts", "").splitlines() if line.strip()
        )
        if lines:
            values["prompts"] = lines
    image = fields.get("image", "").strip()
    if image:
        try:
            values["images"] = (read_image(Path(image).expanduser()),)
        except InputFileError as exc:
            problems.append(str(exc))
    overrides = PlanOverrides(**values, not_sent=frozenset(not_sent), completion_api=completion_api)
    return overrides, problems
