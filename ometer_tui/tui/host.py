"""What the set-up screens (endpoints, model picker, settings) need from above.

The app owns this state; the screens see it through :class:`SetupHost`, a protocol, so
they never import the app (no import cycle). Changes to the endpoint list reach the
screens as an :class:`EndpointsChanged` message posted by the app, never by the app
calling into a screen it recognised with ``isinstance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, cast

from textual.dom import DOMNode
from textual.message import Message

from ometer_tui.core.models import Endpoint
from ometer_tui.core.settings import Settings
from ometer_tui.tui.plan_memory import PlanMemory


class SetupHost(Protocol):
    """The app as the set-up screens use it."""

    config_path: Path
    settings: Settings
    #: the settings file could not be loaded (why), or None
    settings_error: str | None
    first_launch: bool
    #: the demo endpoint's process is starting (its row says "starting…")
    demo_starting: bool
    #: the run panel's last draft per endpoint
    plan_memory: PlanMemory

    def all_endpoints(self) -> list[Endpoint]: ...

    def is_saved(self, endpoint: Endpoint) -> bool: ...

    def save_settings(self, settings: Settings, *, overwrite_unparseable: bool = False) -> Path: ...

    def remove_session_endpoint(self, name: str) -> None: ...

    def add_demo_endpoint(self) -> Endpoint | None: ...


def host_of(node: DOMNode) -> SetupHost:
    """The app hosting ``node``, as a :class:`SetupHost`."""
    return cast(SetupHost, node.app)


class EndpointsChanged(Message):
    """The app's endpoint list changed (saved, removed, the demo added or ready).

    ``ready``: only that endpoint changed (the demo's process answered): re-check it alone.
    """

    def __init__(self, ready: str | None = None) -> None:
        super().__init__()
        self.ready = ready
