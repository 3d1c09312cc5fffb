"""The first screen: saved endpoints with a live reachability check per row.

Wiring only: the table and banner are :mod:`ometer_tui.tui.widgets.endpoint_table`; the
endpoint list comes from above (:class:`SetupHost`), and changes to it arrive as
:class:`EndpointsChanged` messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ometer_tui.core.models import Endpoint
from ometer_tui.core.settings import display_path
from ometer_tui.tui.endpoint_actions import confirm_delete, open_picker
from ometer_tui.tui.host import EndpointsChanged, SetupHost, host_of
from ometer_tui.tui.probe import Probed, probe_endpoint
from ometer_tui.tui.widgets.cells import failure_text, server_status_text
from ometer_tui.tui.widgets.endpoint_table import (
    CHECKING,
    STARTING,
    EndpointTable,
    ProbeState,
    banner_text,
)
from ometer_tui.tui.widgets.server_info_panel import ServerInfoPanel


class EndpointsScreen(Screen[None]):
    """A table of endpoints: name, flavour, URL, token, status."""

    HELP_TITLE = "Endpoints"
    AUTO_FOCUS = "#endpoints"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "pick", "Pick", id="endpoints.pick", priority=True,
                tooltip="Choose models on the highlighted endpoint, or on every marked one"),
        Binding("space", "mark", "Mark", id="endpoints.mark",
                tooltip="Mark the endpoint: enter then picks models on every marked one"),
        Binding("n", "add", "Add", id="endpoints.add", tooltip="Add an endpoint"),
        Binding("e", "edit", "Edit", id="endpoints.edit",
                tooltip="Edit the highlighted endpoint in settings"),
        Binding("delete,x", "delete", "Delete", id="endpoints.delete",
                tooltip="Delete the highlighted endpoint (asks first)"),
        Binding("r", "recheck", "Re-check", id="endpoints.recheck",
                tooltip="Check every endpoint's reachability again"),
        Binding("D", "add_demo", "Demo", id="endpoints.demo",
                tooltip="Add the built-in simulated endpoint (not saved)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._endpoints: dict[str, Endpoint] = {}
        self._states: dict[str, ProbeState] = {}
        self._generation = 0
        #: put the cursor on this endpoint once the list holds it (the demo, once added)
        self._cursor_to: str | None = None

    @property
    def omapp(self) -> SetupHost:
        return host_of(self)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner")
        yield EndpointTable(id="endpoints")
        yield Static(id="endpoints-hint")
        yield ServerInfoPanel(id="server-info")  # the highlighted endpoint's server
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # rows first (each "checking…"); the checks start once the screen is drawn
        self.reload(check=False)
        self.table.focus()
        self.call_after_refresh(self.action_recheck)

    @property
    def table(self) -> EndpointTable:
        return self.query_one("#endpoints", EndpointTable)

    @on(EndpointsChanged)
    def _endpoints_changed(self, message: EndpointsChanged) -> None:
        if message.ready is not None:
            self.endpoint_ready(message.ready)
        else:
            self.reload()

    # ------------------------------------------------------------------- rows
    def reload(self, *, check: bool = True) -> None:
        """Rebuild the rows from the app's endpoints and check each again."""
        app = self.omapp
        previous = self._cursor_to or self.highlighted_name()
        self._cursor_to = None
        endpoints = app.all_endpoints()
        self._endpoints = {e.name: e for e in endpoints}
        self._states = {e.name: self._unchecked(e) for e in endpoints}
        self._fill_table(keep=previous)
        self.refresh_bindings()
        if check:
            self.action_recheck()
        else:
            self._update_texts()

    def endpoint_ready(self, name: str) -> None:
        """One endpoint changed in the app (the demo's process answered): show its row
        again and check only it."""
        app = self.omapp
        endpoint = next((e for e in app.all_endpoints() if e.name == name), None)
        if endpoint is None or name not in self._endpoints:
            self.reload()
            return
        self._endpoints[name] = endpoint
        self._states[name] = self._unchecked(endpoint)
        self._fill_table()
        self._check(endpoint)
        self._update_texts()

    def _starting(self, endpoint: Endpoint) -> bool:
        return endpoint.simulated and self.omapp.demo_starting

    def _unchecked(self, endpoint: Endpoint) -> ProbeState:
        return ProbeState(None, STARTING if self._starting(endpoint) else CHECKING)

    def _fill_table(self, *, keep: str | None = None) -> None:
        """Every row with its current status (the cursor on ``keep`` if given)."""
        self.table.show(list(self._endpoints.values()), self._states, self.omapp.is_saved)
        if keep is not None:
            self.table.move_to(keep)

    def highlighted_name(self) -> str | None:
        return self.table.highlighted_key

    def highlighted(self) -> Endpoint | None:
        name = self.highlighted_name()
        return self._endpoints.get(name) if name else None

    def _update_texts(self) -> None:
        """The banner, and the highlighted endpoint's full status under the table."""
        self._update_detail()
        app = self.omapp
        offered = [
            (e, self._states.get(e.name), self._starting(e))
            for e in self._endpoints.values()
            if not app.is_saved(e)
        ]
        text = banner_text(
            settings_error=app.settings_error,
            first_launch=app.first_launch,
            config_shown=display_path(app.config_path),
            offered=offered,
            empty=not self._endpoints,
        )
        banner = self.query_one("#banner", Static)
        banner.update(text)
        banner.display = bool(text.plain)

    # ----------------------------------------------------------------- probing
    def action_recheck(self) -> None:
        self.workers.cancel_group(self, "probe")
        self.query_one(ServerInfoPanel).forget()  # asked again for the highlighted one
        self._generation += 1
        for endpoint in self._endpoints.values():
            self._check(endpoint)
        self._update_texts()

    def _check(self, endpoint: Endpoint) -> None:
        """Mark the row unchecked and probe it (a starting demo is probed once ready)."""
        state = self._unchecked(endpoint)
        self._states[endpoint.name] = state
        self.table.set_state(endpoint.name, state)
        if not self._starting(endpoint):
            self._probe(endpoint, self._generation)

    @work(group="probe", exit_on_error=False)
    async def _probe(self, endpoint: Endpoint, generation: int) -> None:
        info, error = await probe_endpoint(endpoint)
        self.post_message(Probed(endpoint.name, generation, info, error))

    @on(Probed)
    def _on_probed(self, message: Probed) -> None:
        if message.generation != self._generation or message.name not in self._endpoints:
            return
        if message.info is not None:
            state = ProbeState(True, server_status_text(message.info))
        else:
            state = ProbeState(False, failure_text(message.error or "unreachable"))
        self._states[message.name] = state
        self.table.set_state(message.name, state)
        self._update_texts()

    @on(DataTable.RowHighlighted, "#endpoints")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._update_detail()

    def _update_detail(self) -> None:
        endpoint = self.highlighted()
        detail = Text()
        if endpoint is not None:
            state = self._states.get(endpoint.name)
            detail.append(f"{endpoint.name}: ", style="bold")
            detail.append_text(state.text if state is not None else CHECKING)
        if marked := self.table.marked:
            detail.append(f"\n{len(marked)} marked: enter picks models on ", style="dim")
            detail.append(" + ".join(marked), style="dim bold")
        self.query_one("#endpoints-hint", Static).update(detail)
        starting = endpoint is not None and self._starting(endpoint)
        self.query_one(ServerInfoPanel).show_for(endpoint, starting=starting)

    def status_of(self, name: str) -> ProbeState | None:
        return self._states.get(name)

    # ----------------------------------------------------------------- actions
    @on(DataTable.RowSelected, "#endpoints")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_pick()

    def action_pick(self) -> None:
        endpoint = self.highlighted()
        if endpoint is None:
            self.notify("No endpoint to pick: n adds one.", severity="warning")
            return
        chosen = [self._endpoints[n] for n in self.table.marked] or [endpoint]
        if any(self._starting(e) for e in chosen):
            self.notify("The demo endpoint is still starting; pick it in a moment.")
            return
        open_picker(self, chosen)

    def action_mark(self) -> None:
        name = self.highlighted_name()
        if name is not None:
            self.table.toggle_mark(name)
            self._update_detail()

    def action_add(self) -> None:
        from ometer_tui.tui.screens.settings import SettingsScreen

        self.app.push_screen(SettingsScreen(new=True))

    def action_edit(self) -> None:
        endpoint = self.highlighted()
        if endpoint is None:
            return
        if endpoint.simulated:
            self.notify("The built-in demo endpoint is not saved; there is nothing to edit.")
            return
        from ometer_tui.tui.screens.settings import SettingsScreen

        if self.omapp.is_saved(endpoint):
            self.app.push_screen(SettingsScreen(endpoint_name=endpoint.name))
        else:
            self.app.push_screen(SettingsScreen(offered=endpoint))

    def action_delete(self) -> None:
        endpoint = self.highlighted()
        if endpoint is not None:
            confirm_delete(self, self.omapp, endpoint)

    def action_add_demo(self) -> None:
        demo = self.omapp.add_demo_endpoint()
        if demo is not None:
            if demo.name in self._endpoints:
                self.table.move_to(demo.name)
            else:
                self._cursor_to = demo.name  # once the list with it arrives

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action in {"pick", "edit", "delete", "mark"} and not self._endpoints:
            return None  # shown dimmed in the footer
        return True
