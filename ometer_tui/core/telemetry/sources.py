"""How each source's answer becomes series: pure functions over parsed bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ometer_tui.core.telemetry.prometheus import BY_KEY, Histogram, Scrape
from ometer_tui.core.telemetry.recording import (
    SourceKind,
    TelemetryEvent,
    TelemetryRecording,
)

PROM = SourceKind.PROMETHEUS


class BadAnswer(ValueError):
    """The body is not what this source sends (the message says what was wrong)."""


@dataclass(slots=True)
class PrometheusState:
    last: Scrape | None = None
    last_ns: int = 0


def apply_prometheus(
    rec: TelemetryRecording, state: PrometheusState, scrape: Scrape, t_ns: int
) -> None:
    """Gauges as they are; counters as rates since the previous scrape; histograms as the
    mean of what they observed since the previous scrape; first and last kept."""
    prev, prev_ns = state.last, state.last_ns
    for key, value in scrape.gauges.items():
        known = BY_KEY[key]
        rec.series_for(PROM, key, known.unit, scrape.names[key]).add(t_ns, value)
    dt = (t_ns - prev_ns) / 1e9
    for key, value in scrape.counters.items():
        # a series that appears after the first scrape started from zero since then
        first = rec.counters.get(key, (value if prev is None else 0.0, value))[0]
        rec.counters[key] = (first, value)
        if prev is None or dt <= 0:
            continue
        delta = value - prev.counters.get(key, 0.0)
        if delta < 0:  # the server restarted: its counters began again
            delta = value
        known = BY_KEY[key]
        rec.series_for(PROM, key, known.unit, scrape.names[key]).add(t_ns, delta / dt)
    if prev is not None and dt > 0:
        hits = _delta(scrape, prev, "prefix_cache_hits")
        queries = _delta(scrape, prev, "prefix_cache_queries")
        if hits is not None and queries:
            rec.series_for(
                PROM, "prefix_cache_hit_rate", "%", scrape.names["prefix_cache_hits"]
            ).add(t_ns, 100.0 * hits / queries)
    folded: dict[str, tuple[float, float]] = {}
    for (key, model), hist in scrape.histograms.items():
        first_hist = rec.histograms.get(
            (key, model), (hist if prev is None else Histogram(), hist)
        )[0]
        rec.histograms[(key, model)] = (first_hist, hist)
        earlier = prev.histograms.get((key, model)) if prev is not None else None
        if prev is None:
            continue
        since = hist.minus(earlier)
        s, n = folded.get(key, (0.0, 0.0))
        folded[key] = (s + since.sum, n + since.count)
    for key, (total, count) in folded.items():
        if count > 0:
            rec.series_for(PROM, key, "s", scrape.names[key]).add(t_ns, total / count)
    state.last, state.last_ns = scrape, t_ns


def _delta(now: Scrape, prev: Scrape, key: str) -> float | None:
    if key not in now.counters or key not in prev.counters:
        return None
    return max(0.0, now.counters[key] - prev.counters[key])


def check_prometheus(scrape: Scrape) -> None:
    if not (scrape.gauges or scrape.counters or scrape.histograms or scrape.declared):
        raise BadAnswer("no metric ometer-tui knows (vllm:, sglang:, tgi_, llamacpp:)")


# -- llama.cpp ---------------------------------------------------------------------------

#: keys llama.cpp versions have used for the prompt tokens a slot reused from its cache
_SLOT_CACHE_KEYS = ("n_prompt_tokens_cache", "tokens_cached", "n_cache_tokens")


def _count(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def apply_slots(rec: TelemetryRecording, body: Any, t_ns: int) -> None:
    """``/slots``: busy and idle slots, context per slot, tokens cached and the context in
    use (prompt + decoded tokens of busy slots) where the server gives them."""
    if not isinstance(body, list) or not all(isinstance(s, dict) for s in body):
        raise BadAnswer("not a list of slots")
    busy = [s for s in body if s.get("is_processing")]
    src = SourceKind.LLAMACPP_SLOTS
    rec.series_for(src, "slots_busy", "slots", "is_processing").add(t_ns, float(len(busy)))
    rec.series_for(src, "slots_idle", "slots", "is_processing").add(
        t_ns, float(len(body) - len(busy))
    )
    rec.server["slots"] = len(body)
    ctx = {s.get("n_ctx") for s in body if isinstance(s.get("n_ctx"), int)}
    if len(ctx) == 1:
        rec.server["n_ctx_per_slot"] = int(ctx.pop())
    cached: float | None = None
    cache_key = ""
    used: float | None = None
    for slot in busy:
        for key in _SLOT_CACHE_KEYS:
            value = _count(slot.get(key))
            if value is not None:
                cached, cache_key = (cached or 0.0) + value, key
                break
        prompt = _count(slot.get("n_prompt_tokens"))
        if prompt is None:
            prompt = _count(slot.get("n_past"))  # older servers: tokens in the context
        nxt = slot.get("next_token")
        decoded = None
        if isinstance(nxt, list) and nxt and isinstance(nxt[0], dict):
            decoded = _count(nxt[0].get("n_decoded"))
        elif isinstance(nxt, dict):
            decoded = _count(nxt.get("n_decoded"))
        if prompt is not None:
            used = (used or 0.0) + prompt + (decoded or 0.0)
    if cached is not None or any(k in s for s in body for k in _SLOT_CACHE_KEYS):
        rec.series_for(src, "tokens_cached", "tokens", cache_key or _SLOT_CACHE_KEYS[0]).add(
            t_ns, cached or 0.0
        )
    if used is not None or not busy:
        rec.series_for(src, "context_used", "tokens", "n_prompt_tokens + n_decoded").add(
            t_ns, used or 0.0
        )


_PROPS_KEPT = ("total_slots", "model_alias", "build_info", "model_ftype")


def apply_props(rec: TelemetryRecording, body: Any) -> None:
    """``/props``: slots, context size, model alias, build (never the model's file path)."""
    if not isinstance(body, dict):
        raise BadAnswer("not a JSON object")
    for key in _PROPS_KEPT:
        value = body.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            rec.server[key] = value
    settings = body.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        rec.server["n_ctx"] = settings["n_ctx"]


# -- Ollama ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    size: int
    size_vram: int
    context_length: int | None


@dataclass(slots=True)
class OllamaState:
    last: dict[str, Loaded] | None = None
    last_ns: int = 0
    ever: set[str] = field(default_factory=set)


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def apply_ps(rec: TelemetryRecording, state: OllamaState, body: Any, t_ns: int) -> None:
    """``/api/ps``: what is loaded, in VRAM and in RAM; loads and reloads as events."""
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise BadAnswer("no models list")
    src = SourceKind.OLLAMA_PS
    now: dict[str, Loaded] = {}
    for entry in body["models"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        name = entry["name"]
        size = _int(entry.get("size")) or 0
        vram = _int(entry.get("size_vram")) or 0
        now[name] = Loaded(size, vram, _int(entry.get("context_length")))
        rec.series_for(src, "size_vram", "bytes", "size_vram", name).add(t_ns, float(vram))
        rec.series_for(src, "size_ram", "bytes", "size - size_vram", name).add(
            t_ns, float(max(0, size - vram))
        )
        ctx = now[name].context_length
        if ctx is not None:
            rec.series_for(src, "context_length", "tokens", "context_length", name).add(
                t_ns, float(ctx)
            )
        expires = _expiry_s(entry.get("expires_at"))
        if expires is not None:
            rec.server[f"keep_alive_expires_at:{name}"] = expires
    rec.series_for(src, "models_loaded", "models", "models").add(t_ns, float(len(now)))
    _ollama_events(rec, state, now, t_ns)
    state.last, state.last_ns = now, t_ns
    state.ever.update(now)


def _expiry_s(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _ollama_events(
    rec: TelemetryRecording, state: OllamaState, now: dict[str, Loaded], t_ns: int
) -> None:
    before = state.last
    if before is None:  # the first look: what was loaded when we started
        return
    src = SourceKind.OLLAMA_PS

    def note(kind: str, model: str, detail: str = "") -> None:
        rec.events.append(TelemetryEvent(t_ns, state.last_ns, src, kind, model, detail))

    for model, loaded in now.items():
        was = before.get(model)
        if was is None:
            note("reloaded" if model in state.ever else "loaded", model)
        elif (was.size_vram, was.context_length) != (loaded.size_vram, loaded.context_length):
            note(
                "reloaded",
                model,
                f"size in VRAM {was.size_vram} -> {loaded.size_vram} bytes, "
                f"context {was.context_length} -> {loaded.context_length}",
            )
    for model in before:
        if model not in now:
            note("unloaded", model)
