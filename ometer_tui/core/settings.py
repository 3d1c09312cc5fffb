"""Typed settings: the endpoints, the global defaults and the UI options, in one TOML file.

Layout (every key optional)::

    [defaults]
    passes = 3
    warmup = 1
    temperature = 0.0          # "server": send none, use the server's own default
    max_tokens = 128
    concurrency = 1
    parallel_models = 1
    timeout_s = 120.0
    prompts = ["Write one paragraph about the sea."]
    top_p = 0.9                # absent: not sent
    top_k = 40
    seed = 42

    [ui]
    theme = "textual-dark"
    [ui.keymap]
    run = "ctrl+r"

    [[endpoints]]
    name = "gpu-box"
    url = "https://gpu-box:11434"
    api = "ollama"             # "openai", "auto" (or absent): detect
    token_env = "GPU_BOX_TOKEN"   # or token = "literal" (saved literally, 0600 file)
    api_key_env = "GPU_BOX_KEY"   # or api_key = "literal"
    api_key_header = "X-API-Key"
    allow_insecure_http = false
    headers = { "X-Team" = "bench" }
    [endpoints.timeouts]
    connect_s = 10.0
    read_s = 60.0
    total_s = 600.0
    [endpoints.defaults]
    passes = 5

Loading never resolves a token: an unset ``token_env`` variable is found when the
endpoint is used (:func:`ometer_tui.core.secrets.resolve`). No message produced here ever
contains a token, an api key, a header value or URL credentials.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import platformdirs
import tomli_w

from ometer_tui.core.api.custom_profile import (
    API_OPTION_KEYS,
    api_options_from_table,
    api_options_to_table,
)
from ometer_tui.core.atomic import named_os_error, write_atomic
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    EndpointDefaults,
    GenerationParams,
    TimeoutPolicy,
)
from ometer_tui.core.secrets import (
    SENSITIVE_HEADERS,
    Secret,
    TokenRef,
    mask,
    redact_headers,
    strip_url_credentials,
)

__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "Defaults",
    "Settings",
    "SettingsError",
    "UiSettings",
    "config_path",
    "display_path",
    "load_settings",
    "save_settings",
    "settings_dump",
    "settings_from_dict",
    "settings_to_toml",
    "validate_defaults",
    "validate_endpoint",
    "validate_url",
]

APP_NAME = "ometer-tui"
CONFIG_ENV = "OMETER_TUI_CONFIG"
SERVER_DEFAULT = "server"  # ``temperature = "server"``: send no temperature

DEFAULT_PROMPTS: tuple[str, ...] = ("Write one paragraph about the sea.",)

# Limits shared with BenchmarkPlan.validate.
MAX_CONCURRENCY = 4096
MAX_PARALLEL_MODELS = 64

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Defaults:
    """Global starting values for a plan.

    ``temperature`` defaults to 0.0 (greedy): benchmark numbers depend on how many tokens
    come out, and greedy decoding keeps the output, and so the timing, comparable between
    passes and between servers. ``None`` (``"server"`` in the file) sends no temperature.
    ``top_p`` / ``top_k`` / ``seed``: ``None`` is not sent.
    """

    passes: int = 3
    warmup: int = 1
    temperature: float | None = 0.0
    max_tokens: int = 128
    concurrency: int = 1
    parallel_models: int = 1
    timeout_s: float = 120.0
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None

    def for_endpoint(self, endpoint: Endpoint) -> Defaults:
        """These defaults with the endpoint's own overrides applied."""
        d = endpoint.defaults
        return replace(
            self,
            passes=self.passes if d.passes is None else d.passes,
            warmup=self.warmup if d.warmup is None else d.warmup,
            temperature=self.temperature if d.temperature is None else d.temperature,
            max_tokens=self.max_tokens if d.max_tokens is None else d.max_tokens,
            concurrency=self.concurrency if d.concurrency is None else d.concurrency,
            timeout_s=self.timeout_s if d.timeout_s is None else d.timeout_s,
        )

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            seed=self.seed,
        )


@dataclass(frozen=True, slots=True)
class UiSettings:
    theme: str = "textual-dark"
    #: binding id -> key(s), e.g. ``{"run": "ctrl+r"}`` (comma-separated alternatives)
    keymap: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    endpoints: list[Endpoint] = field(default_factory=list)
    defaults: Defaults = field(default_factory=Defaults)
    ui: UiSettings = field(default_factory=UiSettings)
    #: non-fatal problems found while loading (unknown keys...), each naming the key
    warnings: list[str] = field(default_factory=list, compare=False)

    def endpoint(self, name: str) -> Endpoint | None:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        return None

    def with_endpoint(self, endpoint: Endpoint, replace_name: str | None = None) -> Settings:
        """A copy with ``endpoint`` added, or put in place of the one named ``replace_name``.

        Raises ``KeyError`` when ``replace_name`` is not found and ``ValueError`` when
        another endpoint already has ``endpoint.name`` (message starts with ``name:``).
        """
        endpoints = list(self.endpoints)
        index: int | None = None
        if replace_name is not None:
            for i, ep in enumerate(endpoints):
                if ep.name == replace_name:
                    index = i
                    break
            else:
                raise KeyError(replace_name)
        for i, ep in enumerate(endpoints):
            if ep.name == endpoint.name and i != index:
                raise ValueError(f"name: an endpoint named {endpoint.name!r} already exists")
        if index is None:
            endpoints.append(endpoint)
        else:
            endpoints[index] = endpoint
        return replace(self, endpoints=endpoints, warnings=list(self.warnings))

    def without_endpoint(self, name: str) -> Settings:
        """A copy without the endpoint called ``name`` (unchanged when there is none)."""
        kept = [ep for ep in self.endpoints if ep.name != name]
        return replace(self, endpoints=kept, warnings=list(self.warnings))


class SettingsError(Exception):
    """The settings file cannot be read, parsed or validated, or must not be written.

    ``str()`` is ready to show: it names the file and, for each problem, the dotted key
    (or line and column for a syntax error). It never contains a secret value.
    """

    def __init__(
        self,
        path: Path,
        problems: list[str],
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.problems = list(problems)
        self.line = line
        self.column = column
        shown = display_path(path)
        if line is not None:
            where = f"{shown} line {line}" + (f", column {column}" if column else "")
            message = f"{where}: {problems[0]}" if problems else where
            message += "".join(f"\n  {p}" for p in problems[1:])
        elif len(problems) == 1:
            message = f"{shown}: {problems[0]}"
        else:
            message = f"{shown}: {len(problems)} problems\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(message)


# --------------------------------------------------------------------------- paths


def config_path(cli_path: str | Path | None = None) -> Path:
    """Where the settings live: ``--config``, else ``$OMETER_TUI_CONFIG``, else the
    platform's user config folder (``~/.config/ometer-tui/config.toml`` on Linux)."""
    if cli_path is not None and str(cli_path) != "":
        return Path(cli_path).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def display_path(path: Path) -> str:
    """``path`` with the home folder shown as ``~``."""
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        return str(path)
    try:
        rel = Path(path).relative_to(home)
    except ValueError:
        return str(path)
    return str(Path("~") / rel)


# --------------------------------------------------------------------------- validation


def _shown_value(value: object) -> str:
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


def _kind(value: object) -> str:
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
    d = endpoint.defaults
    _check_range(problems, "defaults.passes", d.passes, low=1)
    _check_range(problems, "defaults.warmup", d.warmup, low=0)
    _check_range(problems, "defaults.temperature", d.temperature, low=0.0, high=2.0)
    _check_range(problems, "defaults.max_tokens", d.max_tokens, low=1)
    _check_range(problems, "defaults.concurrency", d.concurrency, low=1, high=MAX_CONCURRENCY)
    _check_range(problems, "defaults.timeout_s", d.timeout_s, low=0.0, low_open=True)
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
    _check_range(problems, "top_p", defaults.top_p, low=0.0, high=1.0)
    _check_range(problems, "top_k", defaults.top_k, low=1)
    if not defaults.prompts or not any(p.strip() for p in defaults.prompts):
        problems.append("prompts: at least one non-empty prompt is needed")
    return problems


def _validate_settings(settings: Settings) -> list[str]:
    problems = [f"defaults.{p}" for p in validate_defaults(settings.defaults)]
    if not settings.ui.theme.strip():
        problems.append("ui.theme: must not be empty")
    seen: set[str] = set()
    for i, ep in enumerate(settings.endpoints):
        problems.extend(f"endpoints[{i}].{p}" for p in validate_endpoint(ep))
        if ep.name in seen:
            problems.append(f"endpoints[{i}].name: duplicate endpoint name {ep.name!r}")
        seen.add(ep.name)
    return problems


# --------------------------------------------------------------------------- loading

T = TypeVar("T")


class _Reader:
    """Typed access to one TOML table that records problems and unknown keys."""

    def __init__(
        self,
        table: Mapping[str, Any],
        prefix: str,
        problems: list[str],
        warnings: list[str],
        secret_keys: frozenset[str] = frozenset(),
    ) -> None:
        self.table = table
        self.prefix = prefix
        self.problems = problems
        self.warnings = warnings
        self.secret_keys = secret_keys
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _wrong(self, name: str, expected: str, value: object) -> None:
        got = _kind(value) if name in self.secret_keys else _shown_value(value)
        self.problems.append(f"{self.key(name)}: expected {expected}, got {got}")

    def _get(self, name: str, check: Callable[[object], bool], expected: str) -> Any:
        self.used.add(name)
        if name not in self.table:
            return None
        value = self.table[name]
        if not check(value):
            self._wrong(name, expected, value)
            return None
        return value

    def str_(self, name: str) -> str | None:
        value: str | None = self._get(name, lambda v: isinstance(v, str), "a string")
        return value

    def bool_(self, name: str) -> bool | None:
        value: bool | None = self._get(name, lambda v: isinstance(v, bool), "true or false")
        return value

    def int_(self, name: str) -> int | None:
        value: int | None = self._get(
            name, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"
        )
        return value

    def float_(self, name: str) -> float | None:
        value = self._get(
            name, lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"
        )
        if value is None:
            return None
        if not math.isfinite(value):
            self.problems.append(f"{self.key(name)}: must be a finite number (got {value})")
            return None
        return float(value)

    def table_(self, name: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._get(name, lambda v: isinstance(v, dict), "a table")
        return value

    def str_table(self, name: str, *, secret_values: bool = False) -> dict[str, str] | None:
        table = self.table_(name)
        if table is None:
            return None
        out: dict[str, str] = {}
        for k, v in table.items():
            if isinstance(v, str):
                out[k] = v
            else:
                hidden = secret_values or k.lower() in SENSITIVE_HEADERS
                got = _kind(v) if hidden else _shown_value(v)
                self.problems.append(f"{self.key(name)}.{k}: expected a string, got {got}")
        return out

    def unknown(self, extra_ok: frozenset[str] = frozenset()) -> None:
        for name in self.table:
            if name not in self.used and name not in extra_ok:
                self.warnings.append(
                    f"{self.key(name)}: unknown key, ignored (it is dropped when settings "
                    "are saved)"
                )


def _read_defaults(table: Mapping[str, Any], problems: list[str], warnings: list[str]) -> Defaults:
    r = _Reader(table, "defaults.", problems, warnings)
    base = Defaults()
    kwargs: dict[str, Any] = {}
    for name in ("passes", "warmup", "max_tokens", "concurrency", "parallel_models"):
        value = r.int_(name)
        if value is not None:
            kwargs[name] = value
    timeout = r.float_("timeout_s")
    if timeout is not None:
        kwargs["timeout_s"] = timeout
    r.used.add("temperature")
    if "temperature" in table:
        raw = table["temperature"]
        if isinstance(raw, str) and raw.strip().lower() == SERVER_DEFAULT:
            kwargs["temperature"] = None
        else:
            temp = r._get(
                "temperature",
                lambda v: isinstance(v, int | float) and not isinstance(v, bool),
                f'a number or "{SERVER_DEFAULT}"',
            )
            if temp is not None:
                kwargs["temperature"] = float(temp)
    for name in ("top_p",):
        fval = r.float_(name)
        if fval is not None:
            kwargs[name] = fval
    for name in ("top_k", "seed"):
        ival = r.int_(name)
        if ival is not None:
            kwargs[name] = ival
    prompts = r._get(
        "prompts",
        lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
        "an array of strings",
    )
    if prompts is not None:
        kwargs["prompts"] = tuple(prompts)
    r.unknown()
    return replace(base, **kwargs)


def _read_ui(table: Mapping[str, Any], problems: list[str], warnings: list[str]) -> UiSettings:
    r = _Reader(table, "ui.", problems, warnings)
    theme = r.str_("theme")
    keymap = r.str_table("keymap") or {}
    r.unknown()
    return UiSettings(theme=UiSettings().theme if theme is None else theme, keymap=keymap)


def _read_token(r: _Reader, key: str) -> TokenRef | None:
    literal = r.str_(key)
    env = r.str_(f"{key}_env")
    if literal is None and env is None:
        return None
    return TokenRef(value=None if literal is None else Secret(literal), env=env)


def _read_endpoint(
    raw: object, index: int, problems: list[str], warnings: list[str]
) -> Endpoint | None:
    prefix = f"endpoints[{index}]."
    if not isinstance(raw, dict):
        problems.append(f"endpoints[{index}]: expected a table, got {_shown_value(raw)}")
        return None
    secret = frozenset({"token", "token_env", "api_key", "api_key_env"})
    r = _Reader(raw, prefix, problems, warnings, secret_keys=secret)
    before = len(problems)

    name = r.str_("name")
    if "name" not in raw:
        problems.append(f"{prefix}name: missing (every endpoint needs a name)")
    url = r.str_("url")
    if "url" not in raw:
        problems.append(f'{prefix}url: missing, e.g. url = "http://localhost:11434"')

    api: ApiFlavour | None = None
    api_raw = r.str_("api")
    if api_raw is not None:
        lowered = api_raw.strip().lower()
        if lowered in {"", "auto"}:
            api = None
        elif lowered in {f.value for f in ApiFlavour}:
            api = ApiFlavour(lowered)
        else:
            problems.append(
                f'{prefix}api: expected "ollama", "openai", "custom" or "auto", got '
                f"{_shown_value(api_raw)}"
            )

    token = _read_token(r, "token")
    api_key = _read_token(r, "api_key")
    header = r.str_("api_key_header")
    headers = r.str_table("headers") or {}
    insecure = r.bool_("allow_insecure_http")
    simulated = r.bool_("simulated")

    timeouts = TimeoutPolicy()
    t_table = r.table_("timeouts")
    if t_table is not None:
        tr = _Reader(t_table, f"{prefix}timeouts.", problems, warnings)
        t_kwargs = {}
        for key in ("connect_s", "read_s", "total_s"):
            value = tr.float_(key)
            if value is not None:
                t_kwargs[key] = value
        tr.unknown()
        timeouts = replace(timeouts, **t_kwargs)

    defaults = EndpointDefaults()
    d_table = r.table_("defaults")
    if d_table is not None:
        dr = _Reader(d_table, f"{prefix}defaults.", problems, warnings)
        d_kwargs: dict[str, Any] = {}
        for key in ("passes", "warmup", "max_tokens", "concurrency"):
            ival = dr.int_(key)
            if ival is not None:
                d_kwargs[key] = ival
        for key in ("temperature", "timeout_s"):
            fval = dr.float_(key)
            if fval is not None:
                d_kwargs[key] = fval
        dr.unknown()
        defaults = replace(defaults, **d_kwargs)

    api_options, api_problems = api_options_from_table(raw, prefix)  # custom flavour (#14)
    problems += api_problems
    r.unknown(extra_ok=API_OPTION_KEYS)
    if len(problems) > before or name is None or url is None:
        return None
    return Endpoint(
        **api_options,
        name=name,
        url=url,
        api=api,
        token=token,
        api_key=api_key,
        api_key_header="X-API-Key" if header is None else header,
        headers=headers,
        timeouts=timeouts,
        defaults=defaults,
        allow_insecure_http=bool(insecure),
        simulated=bool(simulated),
    )


def _syntax_error(path: Path, exc: tomllib.TOMLDecodeError) -> SettingsError:
    message = str(exc)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if m:
        text = message[: m.start()]
        return SettingsError(path, [text], line=int(m.group(1)), column=int(m.group(2)))
    m = re.search(r"\s*\(at end of document\)\s*$", message)
    if m:
        return SettingsError(path, [f"{message[: m.start()]} at the end of the file"])
    return SettingsError(path, [message])


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(path, [f"not UTF-8 text (byte {exc.start})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, exc) from None


def settings_from_dict(data: Mapping[str, Any], path: Path) -> Settings:
    """Build settings from parsed TOML; raises :class:`SettingsError` naming each key."""
    problems: list[str] = []
    warnings: list[str] = []
    top = _Reader(data, "", problems, warnings)

    d_table = top.table_("defaults")
    defaults = _read_defaults(d_table or {}, problems, warnings)
    u_table = top.table_("ui")
    ui = _read_ui(u_table or {}, problems, warnings)

    endpoints: list[Endpoint] = []
    raw_eps = top._get("endpoints", lambda v: isinstance(v, list), "an array of tables")
    for i, raw in enumerate(raw_eps or []):
        ep = _read_endpoint(raw, i, problems, warnings)
        if ep is not None:
            endpoints.append(ep)
    top.unknown()

    if problems:
        raise SettingsError(path, problems)
    settings = Settings(endpoints=endpoints, defaults=defaults, ui=ui, warnings=warnings)
    # Indices in value problems match the file because no endpoint was dropped.
    problems = _validate_settings(settings)
    if problems:
        raise SettingsError(path, problems)
    return settings


def load_settings(path: Path) -> Settings:
    """Load settings; a missing file gives the defaults with no endpoints.

    Raises :class:`SettingsError` for a file that cannot be read, does not parse (with
    line and column) or has wrong values (naming each dotted key). Unknown keys become
    ``Settings.warnings``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise SettingsError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    return settings_from_dict(_parse(path, data), path)


# --------------------------------------------------------------------------- saving


def _token_fields(key: str, ref: TokenRef | None, *, masked: bool) -> dict[str, str]:
    if ref is None:
        return {}
    if ref.env is not None:
        return {f"{key}_env": ref.env}  # the reference, never the resolved value
    if ref.value is not None:
        raw = ref.value.reveal()
        return {key: (mask(raw) or "") if masked else raw}
    return {}


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"••••@{host}").geturl()


def _endpoint_dict(ep: Endpoint, *, full: bool, masked: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": ep.name, "url": _masked_url(ep.url) if masked else ep.url}
    if ep.api is not None:
        out["api"] = ep.api.value
    elif full:
        out["api"] = "auto"
    out.update(_token_fields("token", ep.token, masked=masked))
    out.update(_token_fields("api_key", ep.api_key, masked=masked))
    if full or ep.api_key_header != "X-API-Key":
        out["api_key_header"] = ep.api_key_header
    if full or ep.allow_insecure_http:
        out["allow_insecure_http"] = ep.allow_insecure_http
    if ep.simulated:
        out["simulated"] = True
    if ep.headers:
        out["headers"] = redact_headers(ep.headers) if masked else dict(ep.headers)
    base_t = TimeoutPolicy()
    timeouts = {
        f.name: getattr(ep.timeouts, f.name)
        for f in fields(TimeoutPolicy)
        if full or getattr(ep.timeouts, f.name) != getattr(base_t, f.name)
    }
    if timeouts:
        out["timeouts"] = timeouts
    defaults = {
        f.name: getattr(ep.defaults, f.name)
        for f in fields(EndpointDefaults)
        if getattr(ep.defaults, f.name) is not None
    }
    if defaults:
        out["defaults"] = defaults
    out.update(api_options_to_table(ep.custom, ep.drop_unsupported, ep.truncate, masked=masked))
    return out


def _settings_dict(settings: Settings, *, full: bool, masked: bool) -> dict[str, Any]:
    base = Defaults()
    defaults: dict[str, Any] = {}
    for f in fields(Defaults):
        value = getattr(settings.defaults, f.name)
        if not full and value == getattr(base, f.name):
            continue
        if f.name == "temperature" and value is None:
            value = SERVER_DEFAULT
        elif value is None:
            continue
        elif isinstance(value, tuple):
            value = list(value)
        defaults[f.name] = value
    ui: dict[str, Any] = {}
    if full or settings.ui.theme != UiSettings().theme:
        ui["theme"] = settings.ui.theme
    if settings.ui.keymap:
        ui["keymap"] = dict(settings.ui.keymap)
    out: dict[str, Any] = {}
    if defaults:
        out["defaults"] = defaults
    if ui:
        out["ui"] = ui
    if settings.endpoints:
        out["endpoints"] = [
            _endpoint_dict(ep, full=full, masked=masked) for ep in settings.endpoints
        ]
    return out


def settings_to_toml(settings: Settings) -> str:
    """The TOML text :func:`save_settings` writes (literal tokens included)."""
    return tomli_w.dumps(_settings_dict(settings, full=False, masked=False))


def settings_dump(settings: Settings, path: Path | None = None) -> str:
    """Every setting, defaults included, as TOML for display: literal tokens, api keys,
    sensitive header values and URL credentials are masked; env references are shown
    with whether the variable is set."""
    lines = []
    if path is not None:
        state = "" if Path(path).exists() else " (not created yet)"
        lines.append(f"# {display_path(Path(path))}{state}")
    for ep in settings.endpoints:
        for key, ref in (("token", ep.token), ("api_key", ep.api_key)):
            if ref is not None and ref.env is not None:
                lines.append(f"# {ep.name}: {key} from {ref.describe()}")
    body = tomli_w.dumps(_settings_dict(settings, full=True, masked=True))
    return "\n".join([*lines, body]) if lines else body


def _ensure_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not folder.is_dir():
            raise
    except OSError as exc:
        raise named_os_error(exc, f"cannot create {folder}") from None


def save_settings(settings: Settings, path: Path, *, overwrite_unparseable: bool = False) -> None:
    """Write settings atomically (mode 0600), keeping the previous file as ``<name>.bak``.

    The folder is created with mode 0700 when missing. A symlinked config file is
    followed (the link stays). An existing file that does not load (syntax or value
    errors) is never overwritten silently: :class:`SettingsError` is raised unless
    ``overwrite_unparseable`` (its backup is kept). Settings that would not load back
    raise :class:`SettingsError` too. File-system failures raise ``OSError`` naming the
    path.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    problems = _validate_settings(settings)
    if problems:
        raise SettingsError(path, ["not saved: " + problems[0], *problems[1:]])
    text = settings_to_toml(settings)

    try:
        previous: bytes | None = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        previous = None
    except OSError as exc:
        raise named_os_error(exc, f"cannot read {path}") from None

    if previous is not None and not overwrite_unparseable:
        try:
            settings_from_dict(_parse(path, previous), path)
        except SettingsError as exc:
            note = (
                "not saved: the file on disk has the errors above and would be lost; "
                "fix it, or overwrite it (a backup of it is kept)"
            )
            raise SettingsError(
                path, [*exc.problems, note], line=exc.line, column=exc.column
            ) from None

    _ensure_folder(path.parent)
    if previous is not None:
        write_atomic(path.with_name(path.name + ".bak"), previous, mode=0o600)
    write_atomic(path, text, mode=0o600)
