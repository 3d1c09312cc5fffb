"""Static checks run as part of the test command: ruff, mypy (strict on the core), and the
import-linter contract that keeps Textual out of the core."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run(
        sys.executable, "-m", "ruff", "check", "ometer_tui", "tests", "benchmarks", "screenshots"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run(sys.executable, "-m", "mypy", "ometer_tui", "benchmarks", "screenshots")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_textual() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    result = run(lint_imports)
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_core_loads_no_ui_library() -> None:
    # (rich may still be loaded by httpx itself, which imports its optional CLI when rich
    # is installed; the import-linter contract checks that our own code never does.)
    code = (
        "import sys, ometer_tui.core.bench.runner, ometer_tui.core.export, "
        "ometer_tui.core.settings, ometer_tui.headless; "
        "bad = [m for m in sys.modules if m.startswith(('textual', 'ometer_tui.tui'))]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
