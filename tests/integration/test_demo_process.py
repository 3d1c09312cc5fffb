"""The --demo endpoint's child process never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import httpx

from ometer_tui.demo.process import demo_process

PARENT = """
import sys, time
from ometer_tui.demo.process import demo_process
with demo_process() as demo:
    print(demo.pid, demo.url, flush=True)
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def port_closed(url: str, tries: int = 3) -> bool:
    """Nobody listens on the URL's port.

    A connect to a free loopback port in the ephemeral range can succeed by connecting the
    socket to itself (TCP simultaneous open), and another test process may bind the freed
    port a moment later: neither is the demo, so a self-connection counts as closed and a
    refused connect in any of a few tries settles it.
    """
    parts = urlsplit(url)
    address = (parts.hostname or "", parts.port or 0)
    for _ in range(tries):
        with socket.socket() as s:
            if s.connect_ex(address) != 0 or s.getsockname() == s.getpeername():
                return True
        time.sleep(0.2)
    return False


def test_leaving_the_context_stops_the_child() -> None:
    with demo_process() as demo:
        assert httpx.get(f"{demo.url}/api/version").status_code == 200
    assert wait_gone(demo.pid)
    assert port_closed(demo.url)


def test_a_killed_parent_takes_the_child_with_it() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid_text, url = parent.stdout.readline().split()
    child = int(pid_text)
    assert alive(child)
    parent.send_signal(signal.SIGKILL)  # no chance to stop the child itself
    parent.wait(timeout=10)
    parent.stdout.close()
    assert wait_gone(child), "the demo endpoint outlived its parent"
    assert port_closed(url)
