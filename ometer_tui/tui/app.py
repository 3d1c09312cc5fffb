"""The Textual app: owns settings, the optional demo server and app-wide keys.

Screens do the work; this file only holds state that outlives a screen.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, SettingsError, load_settings, save_settings
from ometer_tui.tui.host import EndpointsChanged
from ometer_tui.tui.messages import BenchmarkRequested, ResultOpened
from ometer_tui.tui.plan_memory import PlanMemory, state_path
from ometer_tui.tui.screens.endpoints import EndpointsScreen

if TYPE_CHECKING:
    from textual.command import Provider

    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.sweep_form import StepsRequest
    from ometer_tui.demo.process import DemoProcess
    from ometer_tui.tui.bench_bridge import RunnerFactory
    from ometer_tui.tui.session import BenchmarkSession
    from ometer_tui.tui.widgets.results_table import ResultsTable

# Start-up: only what the first (endpoints) screen needs is imported here; other
# screens, the palette's provider and the HTTP clients load when first used.

DEMO_ENDPOINT_NAME = "demo (simulated)"
#: the demo's row while its process starts (never probed, never picked)
DEMO_STARTING_URL = "http://127.0.0.1:0"
LOCAL_OLLAMA = Endpoint(name="local ollama", url="http://localhost:11434", api=ApiFlavour.OLLAMA)


def _actions_provider() -> type[Provider]:
    from ometer_tui.tui.commands import ActionsProvider

    return ActionsProvider


class OmeterApp(App[None]):
    """ometer-tui: benchmark LLM serving endpoints from the terminal."""

    TITLE = "ometer"
    SUB_TITLE = "LLM endpoint benchmark"
    CSS_PATH: ClassVar[Any] = ["app.tcss"]
    COMMANDS: ClassVar[Any] = App.COMMANDS | {_actions_provider}
    HELP_TITLE = "app"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="app.quit",
            priority=True,
            show=False,
            tooltip="Quit (asks first while a benchmark runs)",
        ),
        Binding("q", "quit", "Quit", id="app.quit_q", tooltip="Quit (outside text inputs)"),
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            id="app.help",
            tooltip="Show every key of this screen",
        ),
        Binding(
            "ctrl+s,comma",
            "open_settings",
            "Settings",
            id="app.settings",
            tooltip="Endpoints, tokens and default run values",
        ),
        Binding(
            "h",
            "open_history",
            "History",
            id="app.history",
            show=False,
            tooltip="Saved results: open, label, delete",
        ),
    ]

    def __init__(
        self,
        *,
        config_path: Path,
        demo: bool = False,
        demo_server_url: str | None = None,
        history: str | None = None,
        no_history: bool = False,
    ) -> None:
        """``demo_server_url``: use an already-running demo server (tests) instead of
        starting one in-process when the built-in demo is needed. ``history`` /
        ``no_history``: the command line's ``--history PATH`` / ``--no-history``."""
        super().__init__()
        self.config_path = config_path
        self.demo = demo
        self._history_option = history
        self._no_history = no_history
        self._demo_server_url = demo_server_url
        self._exit_stack = ExitStack()
        self._demo_lock = threading.Lock()
        self._closed = False
        #: the demo endpoint's process is starting (its row says "starting…")
        self.demo_starting = False
        self.settings_error: str | None = None
        self.first_launch = False
        self.settings = self._load_settings()
        #: endpoints of this session only (never saved): the demo, first-launch offers
        self.session_endpoints: list[Endpoint] = []
        #: the run panel's last draft per endpoint (a state file beside the settings)
        self.plan_memory = PlanMemory(state_path(config_path))
        #: the benchmark the results screens show (running or finished), if any
        self.session: BenchmarkSession | None = None
        #: the results table's sort (column key, descending), kept from run to run
        self.results_sort: tuple[str | None, bool] = (None, False)

    # ---------------------------------------------------------------- settings
    def _load_settings(self) -> Settings:
        path = self.config_path
        self.first_launch = not path.exists()
        try:
            return load_settings(path)
        except SettingsError as exc:
            self.settings_error = str(exc)
        except OSError as exc:
            self.settings_error = f"{path}: {exc.strerror or exc}"
        return Settings()

    def save_settings(self, settings: Settings, *, overwrite_unparseable: bool = False) -> Path:
        """Write ``settings`` to the config path and make them current.

        Raises ``SettingsError`` (e.g. the file on disk does not parse and
        ``overwrite_unparseable`` is false) or ``OSError``."""
        save_settings(settings, self.config_path, overwrite_unparseable=overwrite_unparseable)
        self.settings = settings
        self.settings_error = None
        self.first_launch = False
        self.session_endpoints = [e for e in self.session_endpoints if e.simulated]
        self._endpoints_changed()
        return self.config_path

    def history_file(self) -> Path:
        """The history database: ``--history``, ``$OMETER_TUI_HISTORY``, the settings'
        ``[history] path`` or the user data folder."""
        from ometer_tui.core.history import history_path

        return history_path(self._history_option, self.settings.history)

    def history_target(self) -> Path | None:
        """Where results are saved (``None``: ``--no-history`` or ``[history] enabled =
        false``)."""
        if self._no_history or not self.settings.history.enabled:
            return None
        return self.history_file()

    def all_endpoints(self) -> list[Endpoint]:
        """The demo (if any) first, then first-launch offers, then saved endpoints."""
        saved_names = {e.name for e in self.settings.endpoints}
        session = [e for e in self.session_endpoints if e.name not in saved_names]
        session.sort(key=lambda e: not e.simulated)
        return [*session, *self.settings.endpoints]

    def is_saved(self, endpoint: Endpoint) -> bool:
        return any(e.name == endpoint.name for e in self.settings.endpoints)

    def remove_session_endpoint(self, name: str) -> None:
        self.session_endpoints = [e for e in self.session_endpoints if e.name != name]
        self._endpoints_changed()

    # ------------------------------------------------------------ demo server
    def demo_endpoint(self) -> Endpoint:
        """The built-in simulated endpoint, added to the session's endpoints.

        With a known server URL it is ready at once. Otherwise its process starts in a
        thread worker (never on the UI thread) once the screen is drawn (on the first
        screen, ~0.2 s sooner with --demo): until it answers, the row stands in with
        ``DEMO_STARTING_URL`` and ``demo_starting`` is true; then the row is replaced and
        the screens are told (``EndpointsChanged(ready=...)``) so it is checked."""
        for endpoint in self.session_endpoints:
            if endpoint.simulated:
                return endpoint
        url = self._demo_server_url
        endpoint = Endpoint(
            name=DEMO_ENDPOINT_NAME, url=url or DEMO_STARTING_URL, api=ApiFlavour.OLLAMA,
            simulated=True,
        )  # fmt: skip
        if url is None:
            self.demo_starting = True
            # after the frame being drawn: the child's start would slow the first screen
            self.call_after_refresh(self._start_demo_process)
        self.session_endpoints.insert(0, endpoint)
        self._endpoints_changed()
        return endpoint

    @work(thread=True, group="demo", exclusive=True, exit_on_error=False)
    def _start_demo_process(self) -> None:
        # its own process, so the UI never delays the simulation's token schedule
        from ometer_tui.demo.process import demo_process

        manager = demo_process()
        try:
            process = manager.__enter__()
        except Exception as exc:
            self.post_message(self.DemoStarted(None, exc))
            return
        with self._demo_lock:
            closed = self._closed
            if not closed:
                self._exit_stack.push(manager)
        if closed:  # the app stopped while it started
            manager.__exit__(None, None, None)
            return
        # a message, not call_from_thread: that would wait forever if the app stopped
        # meanwhile (post_message is thread-safe; on_unmount stops the process)
        self.post_message(self.DemoStarted(process, None))

    class DemoStarted(Message):
        """The demo endpoint's process answered (``process``) or failed (``error``)."""

        def __init__(self, process: DemoProcess | None, error: Exception | None) -> None:
            super().__init__()
            self.process = process
            self.error = error

    @on(DemoStarted)
    def _demo_started(self, message: DemoStarted) -> None:
        if message.process is not None:
            self._demo_ready(message.process)
        else:
            self._demo_failed(message.error or RuntimeError("unknown error"))

    def _demo_ready(self, process: DemoProcess) -> None:
        self.demo_starting = False
        self._demo_server_url = process.url
        self.session_endpoints = [
            Endpoint(name=e.name, url=process.url, api=e.api, simulated=True)
            if e.simulated else e
            for e in self.session_endpoints
        ]  # fmt: skip
        self._endpoints_changed(ready=DEMO_ENDPOINT_NAME)

    def _demo_failed(self, exc: Exception) -> None:
        self.demo_starting = False
        self.session_endpoints = [e for e in self.session_endpoints if not e.simulated]
        self._endpoints_changed()
        # the demo is a convenience: never fatal
        self.notify(f"Could not start the demo endpoint: {exc}", severity="error",
                    markup=False)  # fmt: skip

    def _endpoints_changed(self, ready: str | None = None) -> None:
        """Tell every screen (state flows down as a message; screens that do not show
        endpoints ignore it)."""
        for screen in self.screen_stack:
            screen.post_message(EndpointsChanged(ready))

    # --------------------------------------------------------------- lifecycle
    def on_mount(self) -> None:
        theme = getattr(getattr(self.settings, "ui", None), "theme", None)
        if theme and theme in self.available_themes:
            self.theme = theme
        if self.settings.ui.keymap:
            # [ui.keymap] binding id -> keys, e.g. "endpoints.recheck" = "f5"
            self.set_keymap(dict(self.settings.ui.keymap))
        if self.demo or (self.first_launch and self.settings_error is None):
            try:
                self.demo_endpoint()
            except Exception as exc:  # the demo is a convenience: never fatal
                self.notify(
                    f"Could not start the demo endpoint: {exc}", severity="error", markup=False
                )
        if (
            self.first_launch
            and self.settings_error is None
            and not any(e.name == LOCAL_OLLAMA.name for e in self.session_endpoints)
        ):
            self.session_endpoints.append(LOCAL_OLLAMA)
        self.push_screen(EndpointsScreen())
        if self.settings_error is not None:
            self.notify(
                f"{self.settings_error}\nStarted with no saved endpoints; the file is left "
                "as it is (saving from settings asks first and keeps a .bak).",
                title="Settings file not loaded",
                severity="error",
                timeout=20,
                markup=False,
            )

    def on_unmount(self) -> None:
        from ometer_tui.tui.bench_bridge import shut_down_engines

        if self.session is not None:
            self.session.close()
        shut_down_engines()
        with self._demo_lock:
            self._closed = True
        self._exit_stack.close()

    # -------------------------------------------------------------- benchmarks
    def start_benchmark(
        self,
        plan: BenchmarkPlan,
        *,
        runner_factory: RunnerFactory | None = None,
        steps: StepsRequest | None = None,
    ) -> BenchmarkSession:
        """Run ``plan`` as the app's session and show it on a new results screen (with
        the sort the last results had); ``steps``: as a sweep, with SLOs or repeats."""
        from ometer_tui.tui import bench_bridge as bridge
        from ometer_tui.tui.screens.results import ResultsScreen
        from ometer_tui.tui.session import BenchmarkSession

        if self.session is not None:
            self.session.close()
        self.session = BenchmarkSession(  # server telemetry per [telemetry] (not with fakes)
            self, plan, runner_factory=runner_factory or bridge.default_runner_factory,
            telemetry=None if runner_factory else bridge.telemetry_factory(
                self.settings.telemetry),
            history=self.history_target(), steps=steps,
        )  # fmt: skip
        self.push_screen(ResultsScreen(self.session, sort=self.results_sort))
        self.session.start()
        return self.session

    @on(BenchmarkRequested)
    def _benchmark_requested(self, message: BenchmarkRequested) -> None:
        self.start_benchmark(message.plan, steps=message.steps)

    @on(ResultOpened)
    def _result_opened(self, message: ResultOpened) -> None:
        """Show a saved result as a loaded session (it becomes the app's session unless
        that one runs or holds a result that would be lost)."""
        from ometer_tui.tui.screens.results import ResultsScreen
        from ometer_tui.tui.session import BenchmarkSession

        session = BenchmarkSession.of_result(
            self, message.result, history=self.history_target(), history_id=message.history_id
        )
        if self.session is None or not (self.session.running or self.session.unsaved):
            self.session = session
        self.push_screen(ResultsScreen(session, sort=self.results_sort, show_clock=False))

    def on_results_table_sort_changed(self, message: ResultsTable.SortChanged) -> None:
        self.results_sort = (message.key, message.descending)

    # ----------------------------------------------------------------- actions
    async def action_quit(self) -> None:
        """Quit; ask first while a benchmark runs or a finished result was not exported."""
        from ometer_tui.tui.screens.confirm import ConfirmScreen

        session = self.session
        if session is None or not (session.running or session.unsaved):
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                session.close()
                self.exit()

        if isinstance(self.screen, ConfirmScreen):
            return
        if session.running:
            question = ("A benchmark is running. Quit and cancel it? Finished runs are lost "
                        "unless exported.")  # fmt: skip
            no = "Keep running"
        else:
            question = (f"The results were not exported{session.kept_note()}. "
                        "Quit and discard them?")  # fmt: skip
            no = "Keep"
        self.push_screen(
            ConfirmScreen(question, title="Quit?", yes="Quit", no=no, danger=True), answered
        )

    def action_help(self) -> None:
        from ometer_tui.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_open_settings(self, endpoint: str | None = None, new: bool = False) -> None:
        from ometer_tui.tui.screens.settings import SettingsScreen

        if isinstance(self.screen, SettingsScreen):
            return
        self.push_screen(SettingsScreen(endpoint_name=endpoint, new=new))

    def action_open_history(self) -> None:
        from ometer_tui.tui.screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen(self.history_file()))

    def add_demo_endpoint(self) -> Endpoint | None:
        """The demo endpoint, added when missing (None, with a notice, if it fails)."""
        try:
            return self.demo_endpoint()
        except Exception as exc:
            self.notify(f"Could not start the demo endpoint: {exc}", severity="error", markup=False)
            return None

    def action_add_demo_endpoint(self) -> None:
        self.add_demo_endpoint()
