"""Telemetry settings: the ``[telemetry]`` table and an endpoint's ``metrics_url``.

``[telemetry]`` holds ``enabled`` (default true) and ``interval_s`` (default 1.0, at
least 0.25). ``metrics_url`` is per endpoint: a Prometheus ``/metrics`` served apart
from the endpoint (vLLM deployments often serve it on another port). Headless flags
(``--telemetry``, ``--telemetry-interval``, ``--metrics-url``) override these. Problems
name their key, the way the rest of the settings reader does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ometer_tui.core.secrets import strip_url_credentials
from ometer_tui.core.telemetry import DEFAULT_INTERVAL_S, MIN_INTERVAL_S

_KEYS = ("enabled", "interval_s")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Whether benchmarks sample the server's telemetry, and how often (seconds)."""

    enabled: bool = True
    interval_s: float = DEFAULT_INTERVAL_S


def validate_telemetry(settings: TelemetrySettings) -> list[str]:
    """Problems with the table's values, each ``"<key>: <problem>"``."""
    value = settings.interval_s
    if not math.isfinite(value):
        return [f"interval_s: must be a finite number (got {value})"]
    if value < MIN_INTERVAL_S:
        return [f"interval_s: must be at least {MIN_INTERVAL_S:g} s (got {value:g})"]
    return []


def read_telemetry_table(
    table: Mapping[str, Any], problems: list[str], warnings: list[str]
) -> TelemetrySettings:
    """The ``[telemetry]`` table; problems and unknown keys are appended, each named
    ``telemetry.<key>``."""
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"telemetry.enabled: expected true or false, got {enabled!r}")
        enabled = True
    interval = table.get("interval_s", DEFAULT_INTERVAL_S)
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        problems.append(f"telemetry.interval_s: expected a number of seconds, got {interval!r}")
        interval = DEFAULT_INTERVAL_S
    settings = TelemetrySettings(enabled=enabled, interval_s=float(interval))
    problems.extend(f"telemetry.{p}" for p in validate_telemetry(settings))
    for key in table:
        if key not in _KEYS:
            warnings.append(
                f"telemetry.{key}: unknown key, ignored (it is dropped when settings are saved)"
            )
    return settings


def telemetry_table(settings: TelemetrySettings, *, full: bool = False) -> dict[str, Any]:
    """The ``[telemetry]`` table to write: only what differs from the defaults, or
    every key when ``full`` (for display)."""
    out: dict[str, Any] = {}
    if full or not settings.enabled:
        out["enabled"] = settings.enabled
    if full or settings.interval_s != DEFAULT_INTERVAL_S:
        out["interval_s"] = settings.interval_s
    return out


def validate_metrics_url(url: str) -> str | None:
    """The problem with a ``metrics_url`` (no key prefix), or ``None`` when fine. Unlike
    an endpoint's URL it names the page itself, so a path is expected."""
    if not url.strip() or url != url.strip() or any(c.isspace() for c in url):
        return "must be a URL without spaces, e.g. http://gpu-box:8001/metrics"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"is not a valid URL ({strip_url_credentials(url)!r})"
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return "must start with http:// or https:// and name a host"
    if port == 0:
        return "port must be 1..65535"
    if parts.username or parts.password:
        return "must not carry credentials (the endpoint's own go to its own host only)"
    return None
