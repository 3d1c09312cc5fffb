"""Writing the settings file (atomic, 0600, a backup kept) and showing it masked."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

from ometer_tui.core.api.custom_profile import api_options_to_table
from ometer_tui.core.atomic import named_os_error, write_atomic
from ometer_tui.core.bench.slo import slo_table
from ometer_tui.core.bench.workloads.options import options_values
from ometer_tui.core.history import history_table
from ometer_tui.core.models import Endpoint, EndpointDefaults, TimeoutPolicy
from ometer_tui.core.secrets import TokenRef, mask, redact_headers
from ometer_tui.core.settings.model import (
    SERVER_DEFAULT,
    Defaults,
    Settings,
    SettingsError,
    UiSettings,
)
from ometer_tui.core.settings.paths import display_path
from ometer_tui.core.settings.read import parse_toml, settings_from_dict
from ometer_tui.core.settings.validation import validate_settings
from ometer_tui.core.telemetry.config import telemetry_table


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
    if ep.metrics_url:
        out["metrics_url"] = _masked_url(ep.metrics_url) if masked else ep.metrics_url
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
        if f.name == "load":  # flat keys, as the flags name them: rate = 20
            defaults.update(options_values(value))
            continue
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
    history = history_table(settings.history)
    if history:
        out["history"] = history
    telemetry = telemetry_table(settings.telemetry, full=full)
    if telemetry:
        out["telemetry"] = telemetry
    slo = slo_table(settings.slo)
    if slo:
        out["slo"] = slo
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
    problems = validate_settings(settings)
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
            settings_from_dict(parse_toml(path, previous), path)
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
