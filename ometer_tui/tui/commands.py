"""Command palette provider and binding introspection shared with the help screen.

The palette offers every binding action of the active screen and of the app, derived
from their ``BINDINGS`` (so a new binding shows up here without extra work), plus a
few app actions that have no key of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

#: Actions that are plumbing rather than commands (never offered in the palette).
_HIDDEN_ACTIONS = frozenset(
    {"command_palette", "help_quit", "app.focus_next", "focus_next", "focus_previous"}
)


@dataclass(frozen=True, slots=True)
class BindingInfo:
    """One binding as the help screen and the palette show it."""

    keys: str  # display form, e.g. "ctrl+s, ,"
    action: str
    description: str
    tooltip: str
    show: bool


def binding_infos(
    node_type: type[DOMNode], display: DOMNode | None = None, *, own_only: bool = True
) -> list[BindingInfo]:
    """The bindings a node class declares, merged by action.

    ``own_only``: only those of this project's classes (not Textual's generic
    focus / copy keys)."""
    seen: dict[str, BindingInfo] = {}
    for klass in reversed(node_type.__mro__):
        bindings = klass.__dict__.get("BINDINGS")
        if not bindings:
            continue
        if own_only and klass.__module__.startswith("textual."):
            continue
        for binding in Binding.make_bindings(bindings):
            if binding.system or binding.action in _HIDDEN_ACTIONS:
                continue
            key = binding.key_display or binding.key
            if display is not None:
                try:
                    key = display.app.get_key_display(binding)
                except Exception:  # pragma: no cover - display only
                    key = binding.key
            previous = seen.get(binding.action)
            if previous is None:
                keys = key
            elif key in previous.keys.split(", "):
                keys = previous.keys
            else:
                keys = f"{previous.keys}, {key}"
            seen[binding.action] = BindingInfo(
                keys=keys,
                action=binding.action,
                description=binding.description
                or (previous.description if previous else binding.action),
                tooltip=binding.tooltip or (previous.tooltip if previous else ""),
                show=binding.show or (previous.show if previous else False),
            )
    return list(seen.values())


def _extra_app_commands() -> Iterator[tuple[str, str, str]]:
    """App actions without a key: (name, action, help)."""
    yield ("Toggle dark mode", "toggle_dark", "Switch between the light and dark theme")
    yield ("Add the built-in demo endpoint", "add_demo_endpoint", "Simulated, not saved")


class ActionsProvider(Provider):
    """Every action of the active screen and the app, by the names the footer shows."""

    def _commands(self) -> list[tuple[str, DOMNode, str, str]]:
        """(name, node, action, help) for the active screen, then the app."""
        screen = self.screen
        app = self.app
        out: list[tuple[str, DOMNode, str, str]] = []
        names: set[str] = set()
        actions: set[str] = set()
        for node in (screen, app):
            for info in binding_infos(type(node), display=node):
                name = info.tooltip or info.description
                if name in names:
                    continue
                names.add(name)
                actions.add(info.action)
                out.append((name, node, info.action, f"{info.keys} · {info.description}"))
        for name, action, helptext in _extra_app_commands():
            if any(action.startswith(a) for a in actions):
                continue
            if name not in names and hasattr(app, f"action_{action}"):
                out.append((name, app, action, helptext))
        return out

    async def _run(self, node: DOMNode, action: str) -> None:
        await self.app.run_action(action, default_namespace=node)

    async def discover(self) -> Hits:
        for name, node, action, helptext in self._commands():
            yield DiscoveryHit(name, partial(self._run, node, action), help=helptext)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, node, action, helptext in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self._run, node, action),
                    text=name,
                    help=helptext,
                )
