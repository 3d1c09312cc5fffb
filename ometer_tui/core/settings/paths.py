"""Where the settings file lives, and how a path is shown."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ometer-tui"
CONFIG_ENV = "OMETER_TUI_CONFIG"


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
