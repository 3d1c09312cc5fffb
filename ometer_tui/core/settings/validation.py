"""Validation of settings values: each problem names its (dotted) key, never a secret."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from ometer_tui.core.api.custom_profile import endpoint_profile_problems
from ometer_tui.core.bench.limits import MAX_CONCURRENCY, MAX_PARALLEL_MODELS, MAX_WORKERS
from ometer_tui.core.bench.workloads.options import check_option, options_values
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.secrets import TokenRef, strip_url_credentials
from ometer_tui.core.settings.model import Defaults, Settings
from ometer_tui.core.telemetry.config import validate_metrics_url, validate_telemetry

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def shown_value(value: object) -> str:
    """A short description of a (non-secret) value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def kind_of(value: object) -> str:
    """The type of a value, without the value (for secret keys)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def validate_url(url: str) -> str | None:
    """The problem with an endpoint URL (no ``url:`` prefix), or ``None`` when fine."""
    if not url.strip():
        return "must not be empty"
    if url != url.strip() or any(c.isspace() for c in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"is not a valid URL ({strip_url_credentials(url)!r})"
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        shown = f"{scheme!r}" if scheme else "none"
        return f"scheme must be http or https (got {shown}), e.g. http://localhost:11434"
    if not parts.hostname:
        return "must include a host, e.g. http://localhost:11434"
    if port == 0:
        return "port must be 1..65535"
    if parts.query or parts.fragment:
        return "must not have a query string or a fragment"
    return None


def _check_range(
    problems: list[str],
    key: str,
    value: float | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{key}: must be a finite number (got {value})")
        return
    if low is not None and (value <= low if low_open else value < low):
        if high is not None:
            problems.append(f"{key}: must be {_fmt(low)}..{_fmt(high)} (got {_fmt(value)})")
        elif low_open:
            problems.append(f"{key}: must be greater than {_fmt(low)} (got {_fmt(value)})")
        else:
            problems.append(f"{key}: must be at least {_fmt(low)} (got {_fmt(value)})")
    elif high is not None and value > high:
        lo = _fmt(low) if low is not None else ""
        problems.append(f"{key}: must be {lo}..{_fmt(high)} (got {_fmt(value)})")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _check_token(problems: list[str], key: str, ref: TokenRef | None) -> None:
    if ref is None:
        return
    if ref.value is not None and ref.env is not None:
        problems.append(f"{key}: set either {key} or {key}_env, not both")
    if ref.value is not None and not ref.value.reveal().strip():
        problems.append(f"{key}: must not be empty (remove it for no {key})")
    if ref.env is not None and not _ENV_NAME.fullmatch(ref.env):
        # Never echo it: a token pasted into the wrong field must not be shown.
        problems.append(
            f"{key}_env: must be the name of an environment variable "
            "(letters, digits and _), not the token itself"
        )


def validate_endpoint(endpoint: Endpoint) -> list[str]:
    """Problems with an endpoint, each ``"<field>: <problem>"`` (dotted for nested
    fields, e.g. ``timeouts.read_s``). Empty when the endpoint is fine. The settings form
    shows these beside its fields; the loader prefixes them with ``endpoints[i].``."""
    problems: list[str] = []
    if not endpoint.name.strip():
        problems.append("name: must not be empty")
    elif endpoint.name != endpoint.name.strip():
        problems.append("name: must not start or end with spaces")
    elif any(ord(c) < 32 for c in endpoint.name):
        problems.append("name: must not contain control characters")
    url_problem = validate_url(endpoint.url)
    if url_problem:
        problems.append(f"url: {url_problem}")
    _check_token(problems, "token", endpoint.token)
    _check_token(problems, "api_key", endpoint.api_key)
    if not _HEADER_NAME.fullmatch(endpoint.api_key_header):
        problems.append("api_key_header: must be a header name (letters, digits, - and _)")
    for name, value in endpoint.headers.items():
        if not _HEADER_NAME.fullmatch(name):
            problems.append(f"headers: {name!r} is not a valid header name")
        elif any(c in value for c in "\r\n\0"):
            problems.append(f"headers.{name}: must not contain line breaks")
    t = endpoint.timeouts
    for key, seconds in (("connect_s", t.connect_s), ("read_s", t.read_s), ("total_s", t.total_s)):
        _check_range(problems, f"timeouts.{key}", seconds, low=0.0, low_open=True)
    if all(math.isfinite(v) and v > 0 for v in (t.read_s, t.total_s)) and t.read_s > t.total_s:
        problems.append(f"timeouts.read_s: must not exceed timeouts.total_s ({_fmt(t.total_s)})")
    problems += endpoint_profile_problems(endpoint.api is ApiFlavour.CUSTOM, endpoint.custom)
    d = endpoint.defaults
    _check_range(problems, "defaults.passes", d.passes, low=1)
    _check_range(problems, "defaults.warmup", d.warmup, low=0)
    _check_range(problems, "defaults.temperature", d.temperature, low=0.0, high=2.0)
    _check_range(problems, "defaults.max_tokens", d.max_tokens, low=1)
    _check_range(problems, "defaults.concurrency", d.concurrency, low=1, high=MAX_CONCURRENCY)
    _check_range(problems, "defaults.timeout_s", d.timeout_s, low=0.0, low_open=True)
    if endpoint.metrics_url is not None:
        metrics_problem = validate_metrics_url(endpoint.metrics_url)
        if metrics_problem:
            problems.append(f"metrics_url: {metrics_problem}")
    return problems


def validate_defaults(defaults: Defaults) -> list[str]:
    """Problems with the global defaults, each ``"<field>: <problem>"``."""
    problems: list[str] = []
    _check_range(problems, "passes", defaults.passes, low=1)
    _check_range(problems, "warmup", defaults.warmup, low=0)
    _check_range(problems, "temperature", defaults.temperature, low=0.0, high=2.0)
    _check_range(problems, "max_tokens", defaults.max_tokens, low=1)
    _check_range(problems, "concurrency", defaults.concurrency, low=1, high=MAX_CONCURRENCY)
    _check_range(
        problems, "parallel_models", defaults.parallel_models, low=1, high=MAX_PARALLEL_MODELS
    )
    _check_range(problems, "timeout_s", defaults.timeout_s, low=0.0, low_open=True)
    _check_range(problems, "workers", defaults.workers, low=1, high=MAX_WORKERS)
    _check_range(problems, "top_p", defaults.top_p, low=0.0, high=1.0)
    _check_range(problems, "top_k", defaults.top_k, low=1)
    if not defaults.prompts or not any(p.strip() for p in defaults.prompts):
        problems.append("prompts: at least one non-empty prompt is needed")
    for key, value in options_values(defaults.load).items():  # the load keys
        problem = check_option(key, value)
        if problem is not None:
            problems.append(problem)
    return problems


def validate_settings(settings: Settings) -> list[str]:
    """Every problem with ``settings``, each naming its dotted key (``endpoints[1].url``)."""
    problems = [f"defaults.{p}" for p in validate_defaults(settings.defaults)]
    if not settings.ui.theme.strip():
        problems.append("ui.theme: must not be empty")
    problems += [f"telemetry.{p}" for p in validate_telemetry(settings.telemetry)]
    seen: set[str] = set()
    for i, ep in enumerate(settings.endpoints):
        problems.extend(f"endpoints[{i}].{p}" for p in validate_endpoint(ep))
        if ep.name in seen:
            problems.append(f"endpoints[{i}].name: duplicate endpoint name {ep.name!r}")
        seen.add(ep.name)
    return problems
