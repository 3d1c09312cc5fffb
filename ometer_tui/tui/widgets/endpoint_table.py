"""The endpoints table (on the shared :class:`FittedTable`) and the banner above it.

State flows down: :meth:`EndpointTable.show` gets the endpoints and each one's probe
state; :meth:`EndpointTable.set_state` changes one row's status. The table keeps the
marks of several endpoints picked for one benchmark (:meth:`EndpointTable.toggle_mark`,
:attr:`EndpointTable.marked`), shown in the first column. :func:`banner_text`
says what a first launch offers, or why the settings file was not loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

from ometer_tui.core.models import Endpoint
from ometer_tui.tui.widgets.cells import cell, endpoint_auth_text
from ometer_tui.tui.widgets.fitted_table import FitColumn, FittedTable

CHECKING = Text("checking…", style="dim italic")
MARKED = Text("✓", style="bold green")
UNMARKED = Text(" ")
STARTING = Text("starting…", style="dim italic")

#: In display order. Status is kept: at 80 columns it stays (the line under the table
#: shows it in full); the URL is cut before Token and API are dropped.
ENDPOINT_COLUMNS: tuple[FitColumn, ...] = (
    FitColumn("mark", " ", width=1),
    FitColumn("name", "Name", minimum=12, cap=28, cut="middle"),
    # the status changes as checks answer: it keeps its full width when it can
    FitColumn("status", "Status", width=36, minimum=20),
    FitColumn("url", "URL", minimum=16, cap=40, priority=1),
    FitColumn("token", "Token", cap=24, priority=2),
    FitColumn("api", "API", cap=6, priority=3),
)


@dataclass(frozen=True, slots=True)
class ProbeState:
    """One endpoint's reachability: ``ok`` None while checking (or starting)."""

    ok: bool | None
    text: Text


def endpoint_cells(endpoint: Endpoint, status: Text, *, saved: bool) -> dict[str, Text]:
    name = Text(endpoint.name)
    if endpoint.simulated:
        name.append(" ★", style="yellow")
    elif not saved:
        name.append(" (offered)", style="dim")
    return {
        "name": name,
        "status": status,
        "url": cell(endpoint.display_url),
        "api": cell(str(endpoint.api) if endpoint.api else "auto"),
        "token": cell(endpoint_auth_text(endpoint)),
    }


class EndpointTable(FittedTable):
    """Endpoints with their status, columns fitted to the table's width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(ENDPOINT_COLUMNS, id=id)
        self._marked: set[str] = set()
        self._order: list[str] = []

    def show(
        self,
        endpoints: Sequence[Endpoint],
        states: Mapping[str, ProbeState],
        is_saved: Callable[[Endpoint], bool],
    ) -> None:
        self._order = [e.name for e in endpoints]
        self._marked &= set(self._order)  # an endpoint gone takes its mark with it
        self.show_rows({
            e.name: {
                "mark": MARKED if e.name in self._marked else UNMARKED,
                **endpoint_cells(e, _status(states, e.name), saved=is_saved(e)),
            }
            for e in endpoints
        })  # fmt: skip

    def toggle_mark(self, name: str) -> None:
        """Mark the endpoint for a benchmark of several, or unmark it."""
        if name not in self._order:
            return
        self._marked ^= {name}
        self.update_row(name, {"mark": MARKED if name in self._marked else UNMARKED})

    @property
    def marked(self) -> list[str]:
        """The marked endpoints' names, in the table's order."""
        return [name for name in self._order if name in self._marked]

    def set_state(self, name: str, state: ProbeState) -> None:
        self.update_row(name, {"status": state.text})


def _status(states: Mapping[str, ProbeState], name: str) -> Text:
    state = states.get(name)
    return state.text if state is not None else CHECKING


def banner_text(
    *,
    settings_error: str | None,
    first_launch: bool,
    config_shown: str,
    offered: Sequence[tuple[Endpoint, ProbeState | None, bool]],
    empty: bool,
) -> Text:
    """What the banner says (empty: no banner). ``offered``: (endpoint, its state,
    starting) of each endpoint offered on a first launch."""
    text = Text()
    if settings_error:
        text.append("Settings file not loaded: ", style="bold red")
        text.append(settings_error)
        text.append(
            "\nNo saved endpoints are shown. Fix the file; or save from settings (ctrl+s), "
            "which asks before replacing it and keeps the old file as a .bak backup.",
            style="dim",
        )
    elif first_launch:
        text.append("First launch: ", style="bold")
        text.append(f"no settings file yet ({config_shown}). Offered: ")
        for i, (endpoint, state, starting) in enumerate(offered):
            if i:
                text.append("; ")
            label = "the built-in demo" if endpoint.simulated else endpoint.display_url
            text.append(label, style="bold")
            if state is None or state.ok is None:
                text.append(f" ({'starting…' if starting else 'checking…'})", style="dim")
            elif state.ok:
                text.append(" answers", style="green")
            else:
                text.append(" does not answer", style="red")
        text.append(".\nenter picks one; e saves an offer; n adds your own.", style="dim")
    elif empty:
        text.append("No endpoints yet: n adds one, D adds the built-in demo.")
    return text
