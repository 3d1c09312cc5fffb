"""The one plan builder: the run panel and ``ometer-tui run`` both build plans here.

A plan's values come, from the least to the most specific, from the settings'
``[defaults]``, the endpoint's ``[endpoints.defaults]`` and what the user gave for this
run (:class:`PlanOverrides`, where ``None`` means "not given"). Nothing else decides a
plan value, so the two front ends cannot disagree::

    overrides, problems = overrides_from_fields({"passes": "5", "concurrency": ""})
    plan, problems = checked_plan(settings.defaults, endpoint, models, overrides)

The load (``BenchmarkPlan.load``: open loop, stop conditions, datasets...) comes the same
way: the user's load options (flags, or the run panel's Load fields) over the settings'
``[defaults]`` load keys, resolved by the core's one rule (``workloads.options``);
:func:`checked_plan` reads the dataset and reports a bad load as a problem naming the
option.

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
from ometer_tui.core.bench.workloads.errors import WorkloadError
from ometer_tui.core.bench.workloads.options import (
    LOAD_KEYS,
    OPEN_LOOP_KEYS,
    LoadOptions,
    Names,
    flag_name,
    key_name,
    options_from_texts,
    resolve_load,
)
from ometer_tui.core.bench.workloads.spec import LoadSpec
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
    "checked_plan",
    "checked_plans",
    "overrides_from_fields",
    "plan_defaults",
    "plan_endpoint",
    "plan_load",
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
    #: the load options given (flags, or the run panel's Load fields); ``None``: none
    load: LoadOptions | None = None
    #: ``load`` is the whole load (the run panel shows the defaults' load keys in its
    #: fields, so an emptied field means "none"); else it falls back on the defaults'
    load_complete: bool = False
    #: engine workers to split the load across (``--workers``, the run panel's Workers);
    #: ``None``: chosen automatically
    workers: int | None = None
    #: the Ray cluster to run the workers on (``--ray``, the run panel's Ray field):
    #: ``auto`` or the head's ``host:port``; ``None``: this machine
    ray_address: str | None = None


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


def plan_load(
    defaults: Defaults,
    endpoint: Endpoint,
    overrides: PlanOverrides | None = None,
    names: Names = flag_name,
) -> LoadSpec | None:
    """The plan's load: the given load options over the settings' ``[defaults]`` load
    keys (unless ``load_complete``), seeded with the plan's seed (0 when none is sent).
    Reads the dataset; raises ``WorkloadError`` naming the option (``names``)."""
    o = overrides or PlanOverrides()
    d = plan_defaults(defaults, endpoint)
    given = o.load or LoadOptions()
    base = d.load
    if o.prompts is not None and given.dataset is None:  # the user's prompts replace
        base = replace(base, dataset=None, dataset_lengths=None)  # the defaults' dataset
    options = given if o.load_complete else given.over(base)
    seed = None if "seed" in o.not_sent else (d.seed if o.seed is None else o.seed)
    prompts_given = o.prompts is not None and not o.load_complete
    return resolve_load(options, seed=seed or 0, prompts_given=prompts_given, names=names)


def checked_plan(
    defaults: Defaults,
    endpoint: Endpoint,
    models: Sequence[ModelInfo],
    overrides: PlanOverrides | None = None,
    names: Names = flag_name,
) -> tuple[BenchmarkPlan | None, list[str]]:
    """The plan with its load (:func:`plan_load`) and validated, or ``None`` and the
    problems, each naming its field or option (``names``: ``--rate`` for the command
    line, ``rate`` for the run panel). Both front ends build their plans here."""
    try:
        load = plan_load(defaults, endpoint, overrides, names)
    except WorkloadError as exc:
        return None, [str(exc)]
    plan = build_plan(defaults, endpoint, models, overrides, load=load)
    problems = plan.validate()
    return (None if problems else plan), problems


def build_plan(
    defaults: Defaults,
    endpoint: Endpoint,
    models: Sequence[ModelInfo],
    overrides: PlanOverrides | None = None,
    *,
    load: LoadSpec | None = None,
) -> BenchmarkPlan:
    """The plan for ``models`` (run in the order given) on ``endpoint``.

    ``defaults`` is the settings' ``[defaults]`` (``Settings.defaults``); the endpoint's
    own defaults are applied here. The plan is not validated: call
    ``plan.validate()`` for the problems, each naming its field. ``load`` is the plan's
    load as :func:`plan_load` resolves it (:func:`checked_plan` does both).
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
        load=load,
        workers=o.workers,
        ray_address=o.ray_address,
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
    ``parallel``: the endpoints run at the same time rather than one after the other.
    Each endpoint's load is resolved over its own defaults (:func:`plan_load`; raises
    ``WorkloadError`` naming the option)."""
    parts = [
        build_plan(
            defaults, endpoint, models, overrides, load=plan_load(defaults, endpoint, overrides)
        )
        for endpoint, models in chosen
    ]
    return combine_plans(parts, parallel=parallel)


def checked_plans(
    defaults: Defaults,
    chosen: Sequence[tuple[Endpoint, Sequence[ModelInfo]]],
    overrides: PlanOverrides | None = None,
    *,
    parallel: bool = False,
    names: Names = flag_name,
) -> tuple[BenchmarkPlan | None, list[str]]:
    """:func:`checked_plan` for several endpoints (one: exactly :func:`checked_plan`):
    the plan with each endpoint's load, validated, or ``None`` and the problems."""
    if len(chosen) == 1:
        endpoint, models = chosen[0]
        return checked_plan(defaults, endpoint, models, overrides, names)
    try:
        parts = [
            build_plan(
                defaults,
                endpoint,
                models,
                overrides,
                load=plan_load(defaults, endpoint, overrides, names),
            )
            for endpoint, models in chosen
        ]
    except WorkloadError as exc:
        return None, [str(exc)]
    plan = combine_plans(parts, parallel=parallel)
    problems = plan.validate()
    return (None if problems else plan), problems


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
    "workers": (int, "workers"),
}


def overrides_from_fields(
    fields: Mapping[str, str], *, completion_api: bool | None = None
) -> tuple[PlanOverrides, list[str]]:
    """Overrides from a run panel's text fields, and the problems (each naming its field).

    Keys (all optional): ``prompts`` (one prompt per line), ``prompts_file``, ``image``,
    ``ray`` (blank: this machine; ``auto`` or ``host:port``: a Ray cluster) and the
    number fields of :data:`NUMBER_FIELDS`. An empty (or blank) field is "not
    given". In a generation field (:data:`NOT_SENDABLE`) the word ``server`` means "send
    none". Files named by ``prompts_file`` and ``image`` are read here.

    With ``load_mode`` (``closed`` or ``open``: the run panel's Load section), the load
    option fields (``LOAD_KEYS``) are the whole load (``load_complete``): an empty one
    is "none"; in a closed loop the open-loop ones (``rate``...) are left out.
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
    ray = fields.get("ray", "").strip()
    if ray:
        from ometer_tui.core.bench.ray_shards import ray_address_problem

        problem = ray_address_problem(ray)
        if problem is None:
            values["ray_address"] = ray
        else:
            problems.append(f"ray: {problem}")
    image = fields.get("image", "").strip()
    if image:
        try:
            values["images"] = (read_image(Path(image).expanduser()),)
        except InputFileError as exc:
            problems.append(str(exc))
    mode = fields.get("load_mode")
    if mode is not None:
        closed = mode != "open"
        texts = {k: fields.get(k, "") for k in LOAD_KEYS if not (closed and k in OPEN_LOOP_KEYS)}
        load, load_problems = options_from_texts(texts, key_name, closed_loop=closed)
        if not closed and not fields.get("rate", "").strip():
            load_problems.insert(0, "rate: an open loop needs a rate in requests/s")
        problems += load_problems
        values.update(load=load, load_complete=True)
    overrides = PlanOverrides(**values, not_sent=frozenset(not_sent), completion_api=completion_api)
    return overrides, problems
