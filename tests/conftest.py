"""Shared fixtures: the demo endpoint over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ometer_tui.demo.server import DemoServerThread, run_in_thread


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServerThread]:
    """One demo server for the session, in its own thread and event loop."""
    with run_in_thread() as server:
        yield server


@pytest.fixture
def demo(demo_server: DemoServerThread) -> DemoServerThread:
    """The session's demo server with its counters (and cold-load state) reset."""
    demo_server.reset()
    return demo_server


@pytest.fixture(autouse=True)
def _private_history(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test (and the subprocesses it starts) saves results to a history of its
    own, never to the user's."""
    path = tmp_path_factory.mktemp("history") / "history.sqlite3"
    monkeypatch.setenv("OMETER_TUI_HISTORY", str(path))


@pytest.fixture(autouse=True)
def _private_calibration(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test (and its subprocesses) caches self-calibration in a file of its own,
    never in the user's cache folder."""
    path = tmp_path_factory.mktemp("calibration") / "calibration.json"
    monkeypatch.setenv("OMETER_TUI_CALIBRATION", str(path))
