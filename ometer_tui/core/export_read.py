"""Reading our JSON exports back: check a document is ours, and rebuild a result from it.

:func:`result_from_dict` is the inverse of :func:`export.to_dict` as far as the export
holds the result: ``to_dict(result_from_dict(doc))`` equals ``doc`` except for the
plan's images (the export keeps only their count and size, not their bytes), the
endpoint's credentials (never exported) and the derived ``clock_diff`` figures (computed
again from the rounded fields, so their last digit may differ). The ``telemetry``
section comes back whole (``core/telemetry/restore.py``). Use the document itself
for JSON and :func:`export.csv_from_dict` for CSV; the rebuilt result for the rest (the
Markdown report, opening a stored result like a live one).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ometer_tui import TOOL_NAME
from ometer_tui.core import sweep_doc
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.plan import (
    BenchmarkPlan,
    Prices,
    RateLimit,
    RetryPolicy,
    combine_plans,
)
from ometer_tui.core.bench.records import ModelSummary, RunRecord, ServerTimings, Stats
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult, row_key
from ometer_tui.core.bench.workloads.summary import LoadSummary, TurnFigures
from ometer_tui.core.export import SCHEMA_VERSION
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    ResponseFormat,
    ServerInfo,
)
from ometer_tui.core.telemetry.restore import recording_from_dict

__all__ = ["ForeignDocumentError", "check_document", "read_document", "result_from_dict"]


class ForeignDocumentError(ValueError):
    """The file or data is not one of our JSON exports (or not one this version reads)."""


def check_document(doc: object, source: str = "document") -> dict[str, Any]:
    """``doc`` itself when it is an ometer-tui JSON export this version can read;
    :class:`ForeignDocumentError` naming ``source`` otherwise."""
    if not isinstance(doc, dict):
        raise ForeignDocumentError(f"{source}: not an ometer-tui JSON export (not an object)")
    tool = doc.get("tool")
    if not isinstance(tool, dict) or tool.get("name") != TOOL_NAME:
        raise ForeignDocumentError(f"{source}: not an ometer-tui JSON export (no tool.name)")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ForeignDocumentError(f"{source}: no valid schema_version")
    if version > SCHEMA_VERSION:
        raise ForeignDocumentError(
            f"{source}: written by a newer ometer-tui (schema {version}; this version "
            f"reads up to {SCHEMA_VERSION})"
        )
    if not isinstance(doc.get("models"), list) or not isinstance(doc.get("endpoint"), dict):
        raise ForeignDocumentError(f"{source}: not an ometer-tui JSON export (no models)")
    for model in doc["models"]:
        if not isinstance(model, dict) or not isinstance(model.get("runs"), list):
            raise ForeignDocumentError(f"{source}: a model without its runs")
    endpoints = doc.get("endpoints")
    if endpoints is not None and (
        not isinstance(endpoints, list) or not all(isinstance(e, dict) for e in endpoints)
    ):
        raise ForeignDocumentError(f"{source}: endpoints is not a list of endpoints")
    return doc


def read_document(path: Path | str) -> dict[str, Any]:
    """Read and check a JSON export file. ``OSError`` when it cannot be read,
    :class:`ForeignDocumentError` when it is not ours."""
    path = Path(path).expanduser()
    data = path.read_bytes()
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ForeignDocumentError(f"{path}: not JSON ({exc})") from None
    return check_document(doc, str(path))


# --------------------------------------------------------------------------- rebuild


def _dt(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _f(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


def _stats(d: Mapping[str, Any]) -> Stats:
    def g(k: str) -> float:
        v = d.get(k)
        if v is None:
            return float("nan")
        return v if isinstance(v, int) else float(v)  # whole counts stay ints

    return Stats(
        n=int(d.get("n") or 0),
        mean=g("mean"),
        p50=g("p50"),
        p90=g("p90"),
        p99=g("p99"),
        min=g("min"),
        max=g("max"),
        stdev=g("stdev"),
        values=tuple(float(v) for v in d.get("values") or () if v is not None),
    )


def _summary(name: str, d: Mapping[str, Any]) -> ModelSummary:
    return ModelSummary(
        model=name,
        runs=int(d.get("runs") or 0),
        ok=int(d.get("ok") or 0),
        errors=int(d.get("errors") or 0),
        errors_by_kind={str(k): int(v) for k, v in (d.get("errors_by_kind") or {}).items()},
        metrics={str(k): _stats(v) for k, v in (d.get("metrics") or {}).items()},
        output_tokens=int(d.get("output_tokens") or 0),
        prompt_tokens=int(d.get("prompt_tokens") or 0),
        window_s=_f(d.get("window_s")),
        request_throughput=_f(d.get("request_throughput")),
        output_tps_aggregate=_f(d.get("output_tps_aggregate")),
        cost_usd=_f(d.get("cost_usd")),
        cold_runs=int(d.get("cold_runs") or 0),
        warmup_runs=int(d.get("warmup_runs") or 0),
        tokens_estimated=bool(d.get("tokens_estimated")),
        buffered_runs=int(d.get("buffered_runs") or 0),
        not_streamed_runs=int(d.get("not_streamed_runs") or 0),
        load=_load(d.get("load")),
    )


def _load(d: object) -> LoadSummary | None:
    """A load's figures (``summary.load``, written by ``LoadSummary.as_dict``)."""
    if not isinstance(d, Mapping):
        return None
    names = {f.name for f in fields(LoadSummary)}
    kwargs: dict[str, Any] = {k: v for k, v in d.items() if k in names}
    for key in ("schedule_lag_s", "ttft_from_intended_s", "e2e_from_intended_s"):
        value = kwargs.get(key)
        kwargs[key] = _stats(value) if isinstance(value, Mapping) else None
    kwargs["turns"] = [
        TurnFigures(**t) for t in kwargs.get("turns") or [] if isinstance(t, Mapping)
    ]
    return LoadSummary(**kwargs)


_RUN_FIELDS = {f.name for f in fields(RunRecord)}
_KEY_TO_FIELD = {"pass": "pass_index"}


def _run(model: str, d: Mapping[str, Any]) -> RunRecord:
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        name = _KEY_TO_FIELD.get(key, key)
        if name not in _RUN_FIELDS or name == "model":
            continue  # derived keys (clock_diff) and unknown additions
        if name == "server_timings":
            value = None if not value else ServerTimings.from_mapping(value)
        elif name == "dropped_params":
            value = tuple(value or ())
        elif name == "itl_gaps_us":
            value = _gaps(value)
        kwargs[name] = value
    kwargs.setdefault("pass_index", 0)
    kwargs.setdefault("prompt_index", 0)
    kwargs.setdefault("warmup", False)
    kwargs.setdefault("ok", False)
    if kwargs.get("queue_s") is None:
        kwargs["queue_s"] = 0.0
    for name in ("started_at_s", "finished_at_s"):
        if kwargs.get(name) is None:
            kwargs[name] = 0.0
    return RunRecord(model=model, **kwargs)


def _gaps(value: object) -> array[int] | None:
    """A run's kept inter-token gaps (whole microseconds); absent in older exports. Not
    a list of whole numbers: ``TypeError`` (array's own check, in C)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("itl_gaps_us is not a list")
    try:
        return array("i", value) if value else None
    except OverflowError:
        raise ValueError("itl_gaps_us holds a gap past 35 minutes") from None


def _params(d: Mapping[str, Any]) -> GenerationParams:
    kwargs: dict[str, Any] = {}
    names = {f.name for f in fields(GenerationParams)}
    for key, value in d.items():
        if key not in names:
            continue
        if key == "stop":
            value = tuple(value)
        elif key == "response_format":
            value = ResponseFormat(value)
        kwargs[key] = value
    kwargs.setdefault("max_tokens", None)  # absent means it was not sent
    return GenerationParams(**kwargs)


def _model_info(d: Mapping[str, Any]) -> ModelInfo:
    meta = d.get("metadata") or {}
    return ModelInfo(
        name=str(d.get("name")),
        size_bytes=meta.get("size_bytes"),
        parameter_size=meta.get("parameter_size"),
        quantization=meta.get("quantization"),
        context_length=meta.get("context_length"),
        family=meta.get("family"),
        capabilities=tuple(meta.get("capabilities") or ()),
        modified_at=meta.get("modified_at"),
        owned_by=meta.get("owned_by"),
    )


def result_from_dict(doc: Mapping[str, Any]) -> BenchmarkResult:
    """Rebuild a :class:`BenchmarkResult` from an export document;
    :class:`ForeignDocumentError` when it is not ours or a field has the wrong type."""
    check_document(doc)
    try:
        return _rebuild(doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ForeignDocumentError(f"a field of the document is not as exported ({exc})") from None


def _endpoint(ep: Mapping[str, Any], simulated: bool) -> Endpoint:
    api = ep.get("api")
    return Endpoint(
        name=str(ep.get("name") or ""),
        url=str(ep.get("url") or ""),
        api=ApiFlavour(api) if api in ("ollama", "openai") else None,
        simulated=simulated,
    )


def _server(ep: Mapping[str, Any], flavour: ApiFlavour | None) -> ServerInfo | None:
    if flavour is not None and (ep.get("server_version") or ep.get("backend")):
        return ServerInfo(
            flavour=flavour, version=ep.get("server_version"), backend=ep.get("backend")
        )
    return None


def _rebuild(doc: Mapping[str, Any]) -> BenchmarkResult:
    models_d = doc["models"]
    infos = {str(m.get("name")): _model_info(m) for m in models_d}
    endpoints_d = doc.get("endpoints") or []
    endpoint = _endpoint(doc["endpoint"], bool(doc.get("simulated")))
    plan = _plan(doc.get("plan") or {}, endpoint, infos)
    servers: dict[str, ServerInfo | None] = {}
    if endpoints_d:  # several endpoints (schema 2): each with its own plan and server
        parts = []
        for ep_d in endpoints_d:
            part_ep = _endpoint(ep_d, bool(ep_d.get("simulated")))
            own = {  # a model's metadata as this endpoint listed it
                str(m.get("name")): _model_info(m)
                for m in models_d
                if m.get("endpoint") == part_ep.name
            }
            parts.append(_plan(ep_d.get("plan") or {}, part_ep, {**infos, **own}))
            servers[part_ep.name] = _server(ep_d, part_ep.api)
        parallel = bool((doc.get("plan") or {}).get("endpoints_parallel"))
        plan = combine_plans(parts, parallel=parallel)
    started = _dt(doc.get("started_at"))
    result = BenchmarkResult(
        plan=plan,
        started_at=started if started is not None else datetime.fromtimestamp(0, UTC),
        server=_server(doc["endpoint"], endpoint.api),
        finished_at=_dt(doc.get("finished_at")),
        cancelled=bool(doc.get("cancelled")),
        warmup_requests=int(doc.get("warmup_requests") or 0),
        servers=servers,
    )
    multi = plan.multi_endpoint
    for m in models_d:
        name = str(m.get("name"))
        on = str(m.get("endpoint") or endpoint.name) if multi else None
        summary = m.get("summary")
        try:
            phase = ModelPhase(m.get("phase"))
        except ValueError:
            phase = ModelPhase.DONE if summary else ModelPhase.QUEUED
        result.models[row_key(on, name)] = ModelResult(
            info=_model_info(m),
            records=[_run(name, r) for r in m["runs"]],
            summary=None if summary is None else _summary(name, summary),
            phase=phase,
            backend={str(k): str(v) for k, v in (m.get("backend") or {}).items()},
            endpoint=on,
        )
    # schema 2: a sweep's steps (their runs are ranges of the models' runs)
    records = {key: mr.records for key, mr in result.models.items()}
    result.sweep = sweep_doc.sweep_from_doc(doc, records, _summary)
    result.telemetry = recording_from_dict(doc.get("telemetry"))  # issue #13
    return result


def _plan(
    plan_d: Mapping[str, Any], endpoint: Endpoint, infos: Mapping[str, ModelInfo]
) -> BenchmarkPlan:
    plan_models = tuple(
        infos.get(str(name), ModelInfo(name=str(name))) for name in plan_d.get("models") or []
    )
    rl = plan_d.get("rate_limit") or {}
    retry = plan_d.get("retry") or {}
    prices = plan_d.get("prices")
    return BenchmarkPlan(
        endpoint=endpoint,
        models=plan_models,
        prompts=tuple(str(p) for p in plan_d.get("prompts") or ()),
        passes=int(plan_d.get("passes") or 0),
        warmup=int(plan_d.get("warmup") or 0),
        concurrency=int(plan_d.get("concurrency") or 1),
        parallel_models=int(plan_d.get("parallel_models") or 1),
        params=_params(plan_d.get("params") or {}),
        rate_limit=RateLimit(_f(rl.get("requests_per_minute")), _f(rl.get("tokens_per_minute"))),
        retry=RetryPolicy(
            max_retries=int(retry.get("max_retries", 2)),
            base_delay_s=float(retry.get("base_delay_s", 0.5)),
            max_delay_s=float(retry.get("max_delay_s", 30.0)),
        ),
        prices=None
        if not prices
        else Prices(
            float(prices.get("input_per_million") or 0.0),
            float(prices.get("output_per_million") or 0.0),
        ),
        keep_text_chars=int(plan_d.get("keep_text_chars") or 0),
        completion_api=bool(plan_d.get("completion_api")),
    )
