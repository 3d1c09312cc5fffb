"""Reading the TOML settings file: types checked, unknown keys warned about, every
problem naming its key (or line and column), never a secret value."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ometer_tui.core.api.custom_profile import API_OPTION_KEYS, api_options_from_table
from ometer_tui.core.bench.slo import read_slo_table
from ometer_tui.core.bench.workloads.options import LOAD_KEYS, check_option, options_from_values
from ometer_tui.core.history import read_history_table
from ometer_tui.core.models import ApiFlavour, Endpoint, EndpointDefaults, TimeoutPolicy
from ometer_tui.core.secrets import SENSITIVE_HEADERS, Secret, TokenRef
from ometer_tui.core.settings.model import (
    SERVER_DEFAULT,
    Defaults,
    Settings,
    SettingsError,
    UiSettings,
)
from ometer_tui.core.settings.validation import kind_of, shown_value, validate_settings
from ometer_tui.core.telemetry.config import read_telemetry_table

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
        got = kind_of(value) if name in self.secret_keys else shown_value(value)
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
                got = kind_of(v) if hidden else shown_value(v)
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
    for name in ("passes", "warmup", "max_tokens", "concurrency", "parallel_models", "workers"):
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
    load: dict[str, Any] = {}
    for name in LOAD_KEYS:  # the load flags' names, one rule each (workloads.options)
        r.used.add(name)
        if name in table:
            problem = check_option(name, table[name], r.key(name))
            if problem is None:
                load[name] = table[name]
            else:
                problems.append(problem)
    kwargs["load"] = options_from_values(load)
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
        problems.append(f"endpoints[{index}]: expected a table, got {shown_value(raw)}")
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
                f"{shown_value(api_raw)}"
            )

    token = _read_token(r, "token")
    api_key = _read_token(r, "api_key")
    header = r.str_("api_key_header")
    headers = r.str_table("headers") or {}
    insecure = r.bool_("allow_insecure_http")
    simulated = r.bool_("simulated")
    metrics_url = r.str_("metrics_url")  # telemetry: a /metrics served elsewhere

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
        metrics_url=metrics_url,
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


def parse_toml(path: Path, data: bytes) -> dict[str, Any]:
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
    history = read_history_table(top.table_("history") or {}, problems, warnings)
    telemetry = read_telemetry_table(top.table_("telemetry") or {}, problems, warnings)
    slo = read_slo_table(top.table_("slo") or {}, problems, warnings)

    endpoints: list[Endpoint] = []
    raw_eps = top._get("endpoints", lambda v: isinstance(v, list), "an array of tables")
    for i, raw in enumerate(raw_eps or []):
        ep = _read_endpoint(raw, i, problems, warnings)
        if ep is not None:
            endpoints.append(ep)
    top.unknown()

    if problems:
        raise SettingsError(path, problems)
    settings = Settings(
        endpoints=endpoints, defaults=defaults, ui=ui, history=history, warnings=warnings,
        telemetry=telemetry, slo=slo,
    )  # fmt: skip
    # Indices in value problems match the file because no endpoint was dropped.
    problems = validate_settings(settings)
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
    return settings_from_dict(parse_toml(path, data), path)
