"""What the endpoints screen does with its rows beyond showing them: delete one (asks
first), and open the model picker on one endpoint or on several marked ones.

Kept out of the screen so that it stays wiring (and under its size limit).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.screen import Screen

from ometer_tui.core.models import Endpoint
from ometer_tui.tui.host import SetupHost
from ometer_tui.tui.screens.confirm import ConfirmScreen


def confirm_delete(screen: Screen[None], app: SetupHost, endpoint: Endpoint) -> None:
    """Ask, then delete ``endpoint`` from the settings file (or from this session's list
    when it is not saved)."""
    saved = app.is_saved(endpoint)

    def answered(yes: bool | None) -> None:
        if not yes:
            return
        if saved:
            try:
                path = app.save_settings(app.settings.without_endpoint(endpoint.name))
            except Exception as exc:
                screen.notify(f"Not deleted: {exc}", severity="error", markup=False)
                return
            screen.notify(f"Deleted {endpoint.name!r}; saved to {path}", markup=False)
        else:
            app.remove_session_endpoint(endpoint.name)

    question = (
        f"Delete the endpoint {endpoint.name!r} ({endpoint.display_url}) from the settings file?"
        if saved
        else f"Remove {endpoint.name!r} from this session's list?"
    )
    screen.app.push_screen(
        ConfirmScreen(question, title="Delete endpoint?", yes="Delete", danger=True), answered
    )


def open_picker(screen: Screen[None], endpoints: Sequence[Endpoint]) -> None:
    """The model picker on ``endpoints`` (several: the union of their models, each
    marked with the endpoints that serve it)."""
    from ometer_tui.tui.screens.model_picker import ModelPickerScreen

    first, *more = endpoints
    screen.app.push_screen(ModelPickerScreen(first, also=tuple(more)))
