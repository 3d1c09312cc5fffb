"""Typed settings: the endpoints, the global defaults and the UI options, in one TOML file.

Layout (every key optional)::

    [defaults]
    passes = 3
    warmup = 1
    temperature = 0.0          # "server": send none, use the server's own default
    max_tokens = 128
    concurrency = 1
    parallel_models = 1
    timeout_s = 120.0          # whole-request timeout; absent: each endpoint's [timeouts]
    workers = 2                # `run`: engine workers the load is split across (--workers)
    prompts = ["Write one paragraph about the sea."]
    top_p = 0.9                # absent: not sent
    top_k = 40
    seed = 42

    [telemetry]                # the server's own metrics beside a benchmark
    enabled = true
    interval_s = 1.0           # at least 0.25

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
    metrics_url = "http://gpu-box:8001/metrics"   # telemetry: /metrics served elsewhere
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

The package: :mod:`.model` (the dataclasses and the error type), :mod:`.paths` (where
the file lives), :mod:`.validation` (value rules, each problem naming its key),
:mod:`.read` (TOML to settings) and :mod:`.write` (settings to TOML, atomically). Import
from ``ometer_tui.core.settings``: the names below are its public interface.
"""

from __future__ import annotations

from ometer_tui.core.bench.limits import MAX_CONCURRENCY, MAX_PARALLEL_MODELS
from ometer_tui.core.settings.model import (
    DEFAULT_PROMPTS,
    SERVER_DEFAULT,
    Defaults,
    Settings,
    SettingsError,
    UiSettings,
)
from ometer_tui.core.settings.paths import APP_NAME, CONFIG_ENV, config_path, display_path
from ometer_tui.core.settings.read import load_settings, settings_from_dict
from ometer_tui.core.settings.validation import (
    validate_defaults,
    validate_endpoint,
    validate_settings,
    validate_url,
)
from ometer_tui.core.settings.write import save_settings, settings_dump, settings_to_toml

__all__ = [
    "APP_NAME",
    "CONFIG_ENV",
    "DEFAULT_PROMPTS",
    "MAX_CONCURRENCY",
    "MAX_PARALLEL_MODELS",
    "SERVER_DEFAULT",
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
    "validate_settings",
    "validate_url",
]
