"""The demo endpoint in a child process, for ``--demo``.

In the same process as the dashboard, the simulated server would share the interpreter
(and its GIL) with the UI and the engine: a repaint could delay a token the schedule says
is due, and the demo would then show numbers that are the client's fault, not the
"server's". A child process keeps the simulation's timing its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

READY_PREFIX = "ometer-tui demo endpoint (simulated) at "


class DemoProcessError(RuntimeError):
    """The demo endpoint's process did not start."""


@dataclass(frozen=True, slots=True)
class DemoProcess:
    url: str
    pid: int


def _read_url(proc: subprocess.Popen[str], timeout_s: float) -> str:
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                found.append(line[len(READY_PREFIX) :].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found:
        raise DemoProcessError(
            f"the demo endpoint did not start within {timeout_s:.0f} s (exit code {proc.poll()})"
        )
    return found[0]


@contextlib.contextmanager
def demo_process(host: str = "127.0.0.1", timeout_s: float = 15.0) -> Iterator[DemoProcess]:
    """Start ``ometer-tui demo-server`` on a free loopback port; stop it on exit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ometer_tui",
            "demo-server",
            "--host",
            host,
            "--port",
            "0",
            "--exit-with-parent",
        ],
        # we hold its stdin open: if we die without stopping it (killed, crashed,
        # terminal closed), it reads EOF and exits instead of keeping the port
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,  # a ctrl+c in the terminal goes to us, not to it
    )
    try:
        yield DemoProcess(url=_read_url(proc, timeout_s), pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
