"""The engine's event loop: uvloop where installed (a dependency outside Windows)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from ometer_tui.core.bench.loop import engine_loop_factory, run_engine


async def loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_the_engine_runs_on_uvloop() -> None:
    assert engine_loop_factory() is not None
    assert run_engine(loop_type()).startswith("uvloop")


def test_run_engine_returns_the_result_and_closes_its_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> int:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return 42

    assert run_engine(main()) == 42
    assert loops[0].is_closed()
