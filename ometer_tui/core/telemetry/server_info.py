"""What a server says about itself, for the endpoints screen: its kind and version, the
models it has loaded (with their memory and context), slots, uptime, health.

Where each item comes from, where the server has it:

=========== ===================================================================
Ollama      ``/api/version``; ``/api/ps`` (loaded models, ``size_vram``, context,
            keep-alive expiry)
llama.cpp   ``/props`` (``build_info``, ``model_alias``, ``n_ctx``, ``total_slots``);
            ``/health``
vLLM        ``/version``; ``/v1/models`` (``max_model_len``); ``/health``
TGI         ``/info`` (``model_id``, ``version``, ``max_total_tokens``)
Prometheus  ``process_start_time_seconds`` (uptime); the metric names tell the kind
=========== ===================================================================

Every source is asked at once, with the endpoint's credentials (to its own host only,
as the sampler does), each with a short deadline and a size cap. A source the server
does not have (404, 405, 501) is simply absent; one that fails otherwise (no answer,
other credentials, too large, not JSON) is listed in ``unavailable`` with its reason.
:func:`fetch_server_details` never raises for what a server answers, and no reason
carries a credential.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.numbers import whole_number
from ometer_tui.core.telemetry.sampler import (
    MAX_BODY_BYTES,
    FetchFailed,
    endpoint_auth,
    fetch_capped,
    request_headers,
)

#: each source's deadline (the endpoints screen must not wait long for any)
SERVER_INFO_TIMEOUT_S = 2.0
#: a JSON page larger than this is refused (``/metrics`` keeps the sampler's cap)
MAX_JSON_BYTES = 512 * 1024
#: statuses that mean "this server has no such page": the item is absent, not failing
ABSENT_STATUSES = frozenset({404, 405, 501})

OLLAMA_PATHS = ("/api/version", "/api/ps")
OTHER_PATHS = ("/props", "/health", "/version", "/v1/models", "/info", "/metrics")

#: metric name prefixes and the server that publishes them
_METRIC_KINDS = (("vllm:", "vLLM"), ("sglang:", "SGLang"), ("tgi_", "TGI"),
                 ("llamacpp:", "llama.cpp"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model the server has loaded (Ollama ``/api/ps``) or serves."""

    name: str
    size_bytes: int | None = None  # in memory, all of it
    vram_bytes: int | None = None  # of which in GPU memory
    context_length: int | None = None  # tokens
    expires_at: str | None = None  # ISO 8601: Ollama unloads it then (keep-alive)


@dataclass(frozen=True, slots=True)
class ServerDetails:
    """What the server told about itself; ``None`` / empty where it did not say."""

    kind: str | None = None  # "Ollama", "llama.cpp", "vLLM", "SGLang", "TGI"
    version: str | None = None
    models: tuple[LoadedModel, ...] = ()
    #: True: ``models`` are loaded in memory (Ollama /api/ps, llama.cpp); else served
    models_loaded: bool = False
    context_size: int | None = None  # tokens, server-wide (TGI max_total_tokens)
    slots: int | None = None
    uptime_s: float | None = None
    healthy: bool | None = None  # /health answered 200
    answered: tuple[str, ...] = ()  # the paths that gave something
    unavailable: tuple[tuple[str, str], ...] = ()  # (path, reason)

    @property
    def empty(self) -> bool:
        return not self.answered

    def problems(self) -> list[str]:
        """``unavailable`` grouped by reason: ``"<reason> (/a, /b)"``."""
        grouped: dict[str, list[str]] = {}
        for path, reason in self.unavailable:
            grouped.setdefault(reason, []).append(path)
        return [f"{reason} ({', '.join(paths)})" for reason, paths in grouped.items()]


# -- parsing: pure functions over decoded answers --------------------------------------


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def ollama_models(body: Any) -> tuple[LoadedModel, ...]:
    """``/api/ps``'s models (size, size in VRAM, context length, expiry)."""
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        return ()
    out = []
    for m in body["models"]:
        if isinstance(m, dict) and _str(m.get("name")):
            out.append(
                LoadedModel(
                    name=str(m["name"]),
                    size_bytes=whole_number(m.get("size")),
                    vram_bytes=whole_number(m.get("size_vram")),
                    context_length=whole_number(m.get("context_length")),
                    expires_at=_str(m.get("expires_at")),
                )
            )
    return tuple(out)


def served_models(body: Any) -> tuple[LoadedModel, ...]:
    """``/v1/models``: ids, with vLLM's ``max_model_len`` (llama.cpp: ``meta.n_ctx``...)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return ()
    out = []
    for m in body["data"]:
        if isinstance(m, dict) and _str(m.get("id")):
            ctx = whole_number(m.get("max_model_len"))
            out.append(LoadedModel(name=str(m["id"]), context_length=ctx))
    return tuple(out)


def metrics_facts(text: str) -> tuple[str | None, float | None]:
    """(the server kind its metric names tell, ``process_start_time_seconds``)."""
    kind: str | None = None
    started: float | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if kind is None:
            kind = next((k for prefix, k in _METRIC_KINDS if line.startswith(prefix)), None)
        if line.startswith("process_start_time_seconds"):
            parts = line.split()
            try:
                value = float(parts[1]) if len(parts) > 1 else math.nan
            except ValueError:
                value = math.nan
            if math.isfinite(value) and value > 0:
                started = value
        if kind is not None and started is not None:
            break
    return kind, started


Answers = Mapping[str, Any]


def details_from(
    answers: Answers,
    unavailable: list[tuple[str, str]],
    *,
    prefer_ollama: bool = True,
    now: float | None = None,
) -> ServerDetails:
    """Assemble :class:`ServerDetails` from the decoded answers that came (path -> JSON,
    or text for ``/metrics``). ``now``: the wall clock, for the uptime."""
    props = answers.get("/props")
    props = props if isinstance(props, dict) else {}
    info = answers.get("/info")
    info = info if isinstance(info, dict) else {}
    metrics_kind, started = metrics_facts(answers.get("/metrics") or "")
    ollama_version = _version(answers.get("/api/version"))
    candidates: list[str] = []
    if ollama_version is not None:
        candidates.append("Ollama")
    if props.get("build_info") is not None or isinstance(
        props.get("default_generation_settings"), dict
    ):
        candidates.append("llama.cpp")
    if metrics_kind is not None:
        candidates.append(metrics_kind)
    if _version(answers.get("/version")) is not None:
        candidates.append("vLLM")
    if _str(info.get("model_id")):
        candidates.append("TGI")
    if not prefer_ollama and len(candidates) > 1 and candidates[0] == "Ollama":
        candidates.append(candidates.pop(0))
    kind = candidates[0] if candidates else None

    version = {
        "Ollama": ollama_version,
        "llama.cpp": _str(props.get("build_info")),
        "vLLM": _version(answers.get("/version")),
        "SGLang": _version(answers.get("/version")),
        "TGI": _str(info.get("version")),
    }.get(kind or "")
    models: tuple[LoadedModel, ...] = ()
    loaded = False
    context_size: int | None = None
    settings = props.get("default_generation_settings")
    n_ctx = whole_number(settings.get("n_ctx")) if isinstance(settings, dict) else None
    if kind == "Ollama" and "/api/ps" in answers:
        models, loaded = ollama_models(answers["/api/ps"]), True
    elif kind == "llama.cpp":
        alias = _str(props.get("model_alias"))
        models = (LoadedModel(alias, context_length=n_ctx),) if alias else ()
        loaded = True
    elif kind == "TGI":
        models = (LoadedModel(str(info["model_id"])),)
        context_size = whole_number(info.get("max_total_tokens"))
    if not models and kind != "Ollama":
        models = served_models(answers.get("/v1/models"))
    uptime = None
    if started is not None:
        uptime = max(0.0, (time.time() if now is None else now) - started)
    return ServerDetails(
        kind=kind,
        version=version,
        models=models,
        models_loaded=loaded,
        context_size=context_size,
        slots=whole_number(props.get("total_slots")) if kind == "llama.cpp" else None,
        uptime_s=uptime,
        healthy=True if "/health" in answers else None,
        answered=tuple(answers),
        unavailable=tuple(unavailable),
    )


def _version(body: Any) -> str | None:
    return _str(body.get("version")) if isinstance(body, dict) else None


# -- fetching ---------------------------------------------------------------------------


def paths_for(endpoint: Endpoint) -> tuple[str, ...]:
    """The pages asked: an Ollama endpoint is asked Ollama's (and ``/metrics`` when a
    ``metrics_url`` is set); any other endpoint all of them."""
    if endpoint.api is ApiFlavour.OLLAMA:
        return (*OLLAMA_PATHS, "/metrics") if endpoint.metrics_url else OLLAMA_PATHS
    return (*OLLAMA_PATHS, *OTHER_PATHS)


async def fetch_server_details(
    endpoint: Endpoint, *, timeout_s: float = SERVER_INFO_TIMEOUT_S
) -> ServerDetails:
    """Ask ``endpoint`` about itself (every page at once, each within ``timeout_s``)."""
    base = endpoint.base_url.rstrip("/")
    urls = {p: base + p for p in paths_for(endpoint)}
    if endpoint.metrics_url and "/metrics" in urls:
        urls["/metrics"] = endpoint.metrics_url
    auth = endpoint_auth(endpoint)
    connect = min(endpoint.timeouts.connect_s, timeout_s)
    answers: dict[str, Any] = {}
    unavailable: list[tuple[str, str]] = []
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(connect, read=None),
        limits=httpx.Limits(max_connections=len(urls)),
        follow_redirects=False,
    ) as client:

        async def one(path: str, url: str) -> None:
            cap = MAX_BODY_BYTES if path == "/metrics" else MAX_JSON_BYTES
            headers = request_headers(endpoint, auth, url)
            try:
                body = await fetch_capped(client, url, headers, timeout_s, cap)
            except FetchFailed as exc:
                if exc.status not in ABSENT_STATUSES:
                    unavailable.append((path, str(exc)))
                return
            except Exception as exc:  # a bug here must not break the screen
                unavailable.append((path, f"internal error ({type(exc).__name__})"))
                return
            if path == "/metrics":
                answers[path] = body.decode("utf-8", errors="replace")
                return
            if path == "/health" and not body.strip():
                answers[path] = {}  # vLLM and TGI answer 200 with no body
                return
            try:
                answers[path] = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                unavailable.append((path, "not JSON"))

        await asyncio.gather(*(one(p, u) for p, u in urls.items()))
    order = list(urls)
    ordered = {p: answers[p] for p in order if p in answers}
    unavailable.sort(key=lambda item: order.index(item[0]))
    return details_from(
        ordered, unavailable, prefer_ollama=endpoint.api in (None, ApiFlavour.OLLAMA)
    )
