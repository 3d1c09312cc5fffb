"""SVG snapshots of the results screens at 120x36, from a hand-built result.

Nothing measured and no clock is in the picture: the result is built here with fixed
values, the elapsed time is hidden, and the endpoint URL is fixed. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from ometer_tui.core.api.base import ClientError, ErrorKind, ExchangeLogged, RequestError
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord, ServerTimings
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo, ServerInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import Settings, UiSettings, save_settings
from ometer_tui.core.telemetry.server_info import LoadedModel, ServerDetails
from ometer_tui.demo.catalogue import BY_NAME, CATALOGUE
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.screens.debug_log import DebugLogScreen
from ometer_tui.tui.screens.export_menu import ExportMenu
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen
from ometer_tui.tui.session import BenchmarkSession

SIZE = (120, 36)
SnapCompare = Callable[..., bool]

WORDS = "The sea keeps its own time and every wave arrives exactly when the schedule says"


def info(name: str) -> ModelInfo:
    m = BY_NAME[name]
    return ModelInfo(
        name=m.name,
        size_bytes=m.size_bytes,
        parameter_size=m.parameter_size,
        quantization=m.quantization,
        context_length=m.context_length,
        family=m.family,
        capabilities=m.capabilities,
    )


def record(
    model: str,
    i: int,
    *,
    ttft: float,
    interval: float,
    tokens: int,
    warmup: bool = False,
    visible_delay: float = 0.0,
    fail: bool = False,
    embed: bool = False,
) -> RunRecord:
    start = float(i) * 2.0
    if fail:
        return RunRecord(
            model=model,
            pass_index=0 if warmup else i,
            prompt_index=0,
            warmup=warmup,
            ok=False,
            status=500,
            error="500 simulated internal error (fault: server_error)",
            error_kind="http",
            started_at_s=start,
            finished_at_s=start + 0.02,
        )
    if embed:
        latency = ttft + 0.001 * i
        return RunRecord(
            model=model,
            pass_index=0 if warmup else i,
            prompt_index=0,
            warmup=warmup,
            ok=True,
            status=200,
            latency_s=latency,
            input_tokens=9,
            input_tps=9 / latency,
            started_at_s=start,
            finished_at_s=start + latency,
        )
    jitter = 0.001 * i
    t = ttft + jitter
    e2e = t + interval * (tokens - 1)
    decode = (tokens - 1) / (e2e - t)
    eval_s = interval * tokens
    return RunRecord(
        model=model,
        pass_index=0 if warmup else i,
        prompt_index=0,
        warmup=warmup,
        ok=True,
        status=200,
        ttft_s=t,
        ttft_visible_s=t + visible_delay,
        e2e_s=e2e,
        output_tokens=tokens,
        tokens_source="usage",
        decode_tps=decode,
        tpot_s=1 / decode,
        server_decode_tps=tokens / eval_s,
        prefill_tps=2000.0,
        prompt_tokens=17,
        load_s=0.0,
        server_timings=ServerTimings(
            load_s=0.0,
            prompt_eval_s=0.0085,
            eval_s=eval_s,
            total_s=e2e - 0.004,
            eval_count=tokens,
            prompt_eval_count=17,
        ),
        started_at_s=start,
        finished_at_s=start + e2e,
        text=" ".join(WORDS.split()[: min(tokens, 14)]) + " …",
    )


def fixed_result(passes: int = 5) -> BenchmarkResult:
    names = (
        "demo-fast:1b",
        "demo-think:7b",
        "demo-slow:70b",
        "demo-embed:335m",
        "fault-server-error",
    )
    endpoint = Endpoint(
        name="demo (simulated)", url="http://127.0.0.1:11434", api=ApiFlavour.OLLAMA, simulated=True
    )
    plan = BenchmarkPlan(
        endpoint=endpoint, models=tuple(info(n) for n in names), passes=passes, warmup=1
    )
    result = BenchmarkResult(
        plan=plan,
        started_at=datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC),
        server=ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.12.0"),
        warmup_requests=len(names),
    )
    specs: dict[str, dict[str, Any]] = {
        "demo-fast:1b": {"ttft": 0.031, "interval": 0.005, "tokens": 64},
        "demo-think:7b": {"ttft": 0.052, "interval": 0.010, "tokens": 40, "visible_delay": 0.16},
        "demo-slow:70b": {"ttft": 0.252, "interval": 0.060, "tokens": 24},
        "demo-embed:335m": {"ttft": 0.021, "interval": 0.0, "tokens": 0, "embed": True},
        "fault-server-error": {"ttft": 0.0, "interval": 0.0, "tokens": 0, "fail": True},
    }
    for name in names:
        spec = specs[name]
        runs = 2 if name == "demo-slow:70b" else passes  # the slow one was cancelled
        records = [record(name, 0, warmup=True, **spec)]
        records += [record(name, i, **spec) for i in range(1, runs + 1)]
        mr = ModelResult(info=info(name), records=records)
        mr.summary = summarise(name, records, None)
        if name == "demo-slow:70b":
            mr.phase = ModelPhase.CANCELLED
        elif name == "fault-server-error":
            mr.phase = ModelPhase.FAILED
        else:
            mr.phase = ModelPhase.DONE
        result.models[name] = mr
    result.cancelled = True
    return result


class SnapHost(App[None]):
    """Shows screens made by ``factory(app)``, in order (the last on top)."""

    def __init__(self, factory: Callable[[App[None]], Any]) -> None:
        super().__init__()
        self._factory = factory

    def on_mount(self) -> None:
        screens = self._factory(self)
        for screen in screens if isinstance(screens, list) else [screens]:
            self.push_screen(screen)


def loaded(app: App[Any], result: BenchmarkResult | None = None) -> BenchmarkSession:
    return BenchmarkSession.of_result(app, result or fixed_result())


def results_app(passes: int = 5) -> SnapHost:
    return SnapHost(lambda app: ResultsScreen(loaded(app, fixed_result(passes)), show_clock=False))


def test_results_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(results_app(), terminal_size=SIZE)


def test_results_sorted_by_rate_per_run_view(snap_compare: SnapCompare) -> None:
    async def sort_and_expand(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("v")
        await pilot.app.run_action("screen.sort_by('tps1')")  # best first
        await pilot.pause()

    assert snap_compare(results_app(), terminal_size=SIZE, run_before=sort_and_expand)


def test_results_screen_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(results_app(), terminal_size=(80, 24))


def test_results_screen_60x20(snap_compare: SnapCompare) -> None:
    """err kept beside ok, names cut in the middle, whole header phrases, no stale
    character after the footer's last key."""
    assert snap_compare(results_app(), terminal_size=(60, 20))


def test_results_per_run_view_of_three_passes(snap_compare: SnapCompare) -> None:
    """Every run's TTFT and TPS at 120 columns, and a legend of the columns shown."""
    assert snap_compare(results_app(passes=3), terminal_size=SIZE, press=["v"])


def test_run_detail(snap_compare: SnapCompare) -> None:
    app = SnapHost(lambda app: RunDetailScreen(loaded(app), "demo-think:7b"))

    async def highlight_second_run(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=highlight_second_run)


def test_run_detail_60x20(snap_compare: SnapCompare) -> None:
    """Stacked, full width: the server-vs-client panel is readable."""
    app = SnapHost(lambda app: RunDetailScreen(loaded(app), "demo-slow:70b"))
    assert snap_compare(app, terminal_size=(60, 20), press=["down"])


def test_run_detail_of_a_failing_model(snap_compare: SnapCompare) -> None:
    app = SnapHost(lambda app: RunDetailScreen(loaded(app), "fault-server-error"))

    async def highlight_first_measured(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=highlight_first_measured)


def test_export_menu(snap_compare: SnapCompare) -> None:
    def screens(app: App[None]) -> list[Any]:
        session = loaded(app)
        return [
            ResultsScreen(session, show_clock=False),
            ExportMenu(session, folder=Path("/home/me/benchmarks")),
        ]

    async def settle(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")  # CSV: the path follows the format
        await pilot.pause()

    assert snap_compare(SnapHost(screens), terminal_size=SIZE, run_before=settle)


def test_export_menu_60x20(snap_compare: SnapCompare) -> None:
    """The buttons are inside the dialog."""

    def screens(app: App[None]) -> list[Any]:
        session = loaded(app)
        return [
            ResultsScreen(session, show_clock=False),
            ExportMenu(session, folder=Path("/home/me/benchmarks")),
        ]

    assert snap_compare(SnapHost(screens), terminal_size=(60, 20))


# --------------------------------------------------------------------------------------
# The other screens, driven through the real app with the network calls replaced.
#
# Nothing is contacted: the reachability probe and the model discovery are fakes that
# answer from the tables below, so every status cell and every model row is fixed. The
# built-in demo endpoint gets a fixed URL (``DEMO_URL``), never a random port, and the
# settings file lives under a fake home so it is shown as ``~/.config/...``.

DEMO_URL = "http://127.0.0.1:11435"
SMALL = (80, 24)

#: probe answers by URL: a ServerInfo, or the reason the check failed
PROBES: dict[str, ServerInfo | RequestError] = {
    DEMO_URL: ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.12.0", model_count=15),
    "http://localhost:11434": RequestError(
        ErrorKind.CONNECT, "connection refused (localhost:11434)"
    ),
    "http://gpu-box.lan:11434": ServerInfo(
        flavour=ApiFlavour.OLLAMA, version="0.11.4", model_count=7
    ),
    "https://llm.example.com/v1": RequestError(
        ErrorKind.HTTP, "invalid API key provided", status=401
    ),
    "http://10.0.0.9:8080": RequestError(ErrorKind.CONNECT, "connect timeout after 5 s"),
}

SAVED = [
    Endpoint(name="gpu-box", url="http://gpu-box.lan:11434", api=ApiFlavour.OLLAMA),
    Endpoint(
        name="hosted",
        url="https://llm.example.com/v1",
        api=ApiFlavour.OPENAI,
        token=TokenRef(value=Secret("sk-live-0123456789abcdef")),
    ),
    Endpoint(name="llama.cpp box", url="http://10.0.0.9:8080", api=None),
]


#: server information by URL (the endpoints screen's panel under the table)
GB = 1_000_000_000
DETAILS: dict[str, ServerDetails] = {
    DEMO_URL: ServerDetails(kind="Ollama", version="0.12.0", models_loaded=True,
                            answered=("/api/version", "/api/ps")),
    "http://gpu-box.lan:11434": ServerDetails(
        kind="Ollama", version="0.11.4", models_loaded=True, answered=("/api/version", "/api/ps"),
        models=(LoadedModel("llama3.1:8b-instruct-q4_K_M", int(6.2 * GB), int(6.2 * GB), 8192),
                LoadedModel("qwen2.5:14b", int(10.1 * GB), int(7.3 * GB), 32768)),
    ),
    "https://llm.example.com/v1": ServerDetails(unavailable=tuple(
        (p, "401 Unauthorized: asks for other credentials")
        for p in ("/version", "/v1/models", "/metrics"))),
    "http://10.0.0.9:8080": ServerDetails(unavailable=tuple(
        (p, "no answer within 2 s") for p in ("/api/version", "/props", "/metrics"))),
}  # fmt: skip


async def fake_server_details(endpoint: Endpoint, **_: object) -> ServerDetails:
    found = DETAILS.get(endpoint.url.rstrip("/"))
    return found or ServerDetails(unavailable=(("/api/version", "cannot connect"),))


async def fake_probe(endpoint: Endpoint, *, flavour: ApiFlavour | None = None) -> ServerInfo:
    answer = PROBES.get(endpoint.url.rstrip("/"))
    if answer is None:
        raise ClientError(RequestError(ErrorKind.CONNECT, "name does not resolve"))
    if isinstance(answer, RequestError):
        raise ClientError(answer)
    return answer


def catalogue_models() -> list[ModelInfo]:
    return [
        ModelInfo(
            name=m.name,
            size_bytes=m.size_bytes,
            parameter_size=m.parameter_size,
            quantization=m.quantization,
            context_length=m.context_length,
            family=m.family,
            capabilities=m.capabilities,
            modified_at=m.modified_at,
        )
        for m in CATALOGUE
    ]


class FakeClient:
    """Answers ``list_models`` with the demo catalogue (fixed metadata, no server)."""

    def __init__(self, flavour: ApiFlavour) -> None:
        self.flavour = flavour

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        return catalogue_models()

    async def aclose(self) -> None:
        return None


def fake_open_client(
    endpoint: Endpoint, *, flavour: ApiFlavour | None = None, **_: object
) -> FakeClient:
    return FakeClient(flavour or ApiFlavour.OLLAMA)


async def fake_detect(endpoint: Endpoint) -> ApiFlavour:
    return ApiFlavour.OLLAMA


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake network calls and a fake home; returns the (absent) settings path."""
    import ometer_tui.core.api as api
    import ometer_tui.core.telemetry.server_info as server_info

    monkeypatch.setattr(api, "probe", fake_probe)
    monkeypatch.setattr(api, "open_client", fake_open_client)
    monkeypatch.setattr(api, "detect_flavour", fake_detect)
    monkeypatch.setattr(server_info, "fetch_server_details", fake_server_details)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / ".config" / "ometer-tui" / "config.toml"


def saved_config(path: Path, **ui: Any) -> Path:
    save_settings(Settings(endpoints=list(SAVED), ui=UiSettings(**ui)), path)
    return path


def omapp(path: Path, *, demo: bool = False) -> OmeterApp:
    return OmeterApp(config_path=path, demo=demo, demo_server_url=DEMO_URL)


async def settled(pilot: Pilot[Any]) -> None:
    """Workers done and their messages handled (never a sleep); text cursors steady
    (a blinking cursor would be in the picture or not, by the clock)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False
    await pilot.pause()


def then(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Settle, press ``keys`` one by one (settling after each)."""

    async def run(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        for key in keys:
            await pilot.press(key)
            await settled(pilot)

    return run


def test_help_of_results_with_a_rebound_key(snap_compare: SnapCompare, offline: Path) -> None:
    path = saved_config(offline, keymap={"results.export": "x", "app.help": "f2"})
    app = omapp(path)

    async def results_help(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.app.push_screen(ResultsScreen(loaded(pilot.app)))
        await settled(pilot)
        await pilot.press("f2")
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=results_help)


def exchanges() -> list[ExchangeLogged]:
    ok_body = (
        '{"model":"demo-fast:1b","messages":[{"role":"user","content":"Write one '
        'paragraph about the sea."}],"stream":true,"options":{"num_predict":64}}'
    )
    return [
        ExchangeLogged(
            model=None,
            method="GET",
            url="http://127.0.0.1:11434/api/version",
            request_headers={"Accept": "application/json"},
            request_body="",
            status=200,
            response_headers={"Content-Type": "application/json"},
            response_excerpt='{"version":"0.12.0"}',
            error=None,
            elapsed_s=0.002,
        ),
        ExchangeLogged(
            model="demo-fast:1b",
            method="POST",
            url="http://127.0.0.1:11434/api/chat",
            request_headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer sk-live-0123456789abcdef",
            },
            request_body=ok_body,
            status=200,
            response_headers={"Content-Type": "application/x-ndjson"},
            response_excerpt='{"model":"demo-fast:1b","message":{"role":"assistant",'
            '"content":"The"},"done":false}',
            error=None,
            elapsed_s=0.349,
        ),
        ExchangeLogged(
            model="fault-server-error",
            method="POST",
            url="http://127.0.0.1:11434/api/chat",
            request_headers={"Content-Type": "application/json"},
            request_body=ok_body.replace("demo-fast:1b", "fault-server-error"),
            status=500,
            response_headers={"Content-Type": "application/json"},
            response_excerpt='{"error":"simulated internal error (fault: server_error)"}',
            error="500 simulated internal error (fault: server_error)",
            elapsed_s=0.020,
        ),
    ]


def test_debug_log(snap_compare: SnapCompare) -> None:
    def screens(app: App[None]) -> list[Any]:
        session = loaded(app)
        session.fold.apply(exchanges())
        return [ResultsScreen(session), DebugLogScreen(session)]

    assert snap_compare(SnapHost(screens), terminal_size=SIZE)


def test_debug_log_errors_only(snap_compare: SnapCompare) -> None:
    """The header counts what is shown; bodies wrap under their indent."""

    def screens(app: App[None]) -> list[Any]:
        session = loaded(app)
        session.fold.apply(exchanges())
        return [ResultsScreen(session), DebugLogScreen(session)]

    assert snap_compare(SnapHost(screens), terminal_size=(80, 24), press=["x"])
