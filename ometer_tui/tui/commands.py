"""Command palette provider and binding introspection shared with the help screen.

The palette offers every binding action of the active screen and of the app, derived
from their ``BINDINGS`` (so a new binding shows up here without extra work), plus a
few app actions that have no key of their own, and the commands a screen adds with a
``palette_commands()`` method ((name, action, help) tuples; the results screen offers
"Sort by <column>").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
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


def keymap_of(node: DOMNode) -> Mapping[str, str]:
    """The app's ``[ui.keymap]`` (binding id -> keys) as Textual applied it."""
    keymap = getattr(node.app, "_keymap", None)
    return keymap if isinstance(keymap, Mapping) else {}


def rebound(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[Binding]:
    """``bindings`` with the keys of any binding whose id is in ``keymap`` replaced, as
    Textual does when it applies a keymap (so help shows the keys that work)."""
    out: list[Binding] = []
    done: set[str] = set()
    for binding in bindings:
        keys = keymap.get(binding.id) if binding.id else None
        if keys is None:
            out.append(binding)
            continue
        if binding.id in done:  # "a,b" made two bindings with one id
            continue
        done.add(binding.id or "")
        out.extend(
            replace(binding, key=key.strip(), key_display=None)
            for key in keys.split(",")
            if key.strip()
        )
    return out


def binding_infos(
    node_type: type[DOMNode], display: DOMNode | None = None, *, own_only: bool = True
) -> list[BindingInfo]:
    """The bindings a node class declares, merged by action.

    ``own_only``: only those of this project's classes (not Textual's generic
    focus / copy keys). With ``display``, keys are shown as its app shows them and a
    ``[ui.keymap]`` rebinding replaces the declared keys."""
    seen: dict[str, BindingInfo] = {}
    keymap = keymap_of(display) if display is not None else {}
    for klass in reversed(node_type.__mro__):
        bindings = klass.__dict__.get("BINDINGS")
        if not bindings:
            continue
        if own_only and klass.__module__.startswith("textual."):
            continue
        for binding in rebound(Binding.make_bindings(bindings), keymap):
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
        """(name, node, action, help) for the focused widget when it has keys of its own
        (the results table's Mark and Compare), the active screen, then the app."""
        screen = self.screen
        app = self.app
        out: list[tuple[str, DOMNode, str, str]] = []
        names: set[str] = set()
        actions: set[str] = set()
        focused = screen.focused
        own = focused is not None and type(focused).__module__.startswith("ometer_tui.")
        for node in (*((focused,) if own and focused is not None else ()), screen, app):
            for info in binding_infos(type(node), display=node):
                name = info.tooltip or info.description
                if name in names:
                    continue
                names.add(name)
                actions.add(info.action)
                out.append((name, node, info.action, f"{info.keys} · {info.description}"))
        # a screen may add commands of its own (the results: "Sort by <column>")
        extra = getattr(screen, "palette_commands", None)
        if callable(extra):
            for name, action, helptext in extra():
                if name not in names:
                    names.add(name)
                    out.append((name, screen, action, helptext))
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
