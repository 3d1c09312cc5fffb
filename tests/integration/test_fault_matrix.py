"""Every fault a server can throw at a run, for both API flavours, over real loopback HTTP.

Each fault becomes a readable error on that run only (the status and the server's own
message, never a library's generic text alone); the other runs and models go on, and
the summary counts errors per kind. Most cases go through the engine
(:class:`BenchmarkRunner`); a representative subset goes through the headless command
(a subprocess) and the TUI (Pilot) too.

Nothing here leaves loopback: the DNS case resolves a ``.invalid`` name through a
patched resolver that fails like a real one (the machine's resolver may be remote).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.api._http import HttpClient
from ometer_tui.core.bench.events import BenchmarkEvent, ModelPhase
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo, TimeoutPolicy
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.demo.server import DemoServerThread, run_in_thread

FLAVOURS = [ApiFlavour.OLLAMA, ApiFlavour.OPENAI]
STATUSES = (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503)
STYLES = ("json", "detail", "text", "html", "empty")
RETRYABLE = {408, 409, 429, 500, 502, 503}
TOKEN = "sk-fault-matrix-0123456789abcdef"
#: Phrases httpx / httpcore use on their own; a run's error must never be only that.
LIBRARY_TEXT = ("Client error", "Server error", "For more information check", "httpx")


def endpoint_for(url: str, flavour: ApiFlavour, **changes: Any) -> Endpoint:
    ep = Endpoint(name=f"faults-{flavour}", url=url, api=flavour, simulated=True)
    return replace(ep, **changes)


def plan_for(endpoint: Endpoint, *names: str, **changes: Any) -> BenchmarkPlan:
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=tuple(ModelInfo(name=n) for n in names),
        passes=1,
        warmup=0,
        parallel_models=min(64, len(names)),
        params=GenerationParams(max_tokens=8),
        retry=RetryPolicy(max_retries=0),
    )
    return replace(plan, **changes)


async def run_plan(plan: BenchmarkPlan) -> tuple[BenchmarkResult, list[BenchmarkEvent]]:
    events: list[BenchmarkEvent] = []
    result = await BenchmarkRunner(plan, events.append).run()
    return result, events


def phrase(status: int) -> str:
    return HTTPStatus(status).phrase


# -- HTTP statuses x body shapes ---------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_every_status_and_body_shape_shows_status_and_server_message(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    names = [f"fault-http-{s}-{style}" for s in STATUSES for style in STYLES]
    endpoint = endpoint_for(demo.url, flavour)
    plan = plan_for(
        endpoint,
        "demo-fast:1b",
        *names,
        parallel_models=64,
        retry=RetryPolicy(max_retries=1, base_delay_s=0.01, max_delay_s=0.05),
    )
    result, _ = await run_plan(plan)
    assert not result.cancelled
    good = result.models["demo-fast:1b"]
    assert good.records[0].ok and good.phase is ModelPhase.DONE  # the others went on
    for status in STATUSES:
        for style in STYLES:
            name = f"fault-http-{status}-{style}"
            entry = result.models[name]
            assert len(entry.records) == 1, name
            record = entry.records[0]
            assert not record.ok and record.status == status, (name, record.error)
            assert record.error_kind == "http", name
            error = record.error or ""
            assert error.startswith(f"{status} "), (name, error)
            if style == "empty":
                assert error == f"{status} {phrase(status)}", name  # the reason phrase
            else:
                assert f"simulated HTTP {status} {phrase(status)}" in error, (name, error)
            assert not any(text in error for text in LIBRARY_TEXT), (name, error)
            assert len(error) <= 320, name  # truncated sensibly
            # retried before the first byte exactly when the policy says so
            assert record.attempts == (2 if status in RETRYABLE else 1), name
            assert entry.summary is not None and entry.summary.errors_by_kind == {"http": 1}
            assert entry.phase is ModelPhase.FAILED


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_retry_after_forms_are_honoured_then_reported_with_attempts(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    waits = {"s": 0.9, "date": 0.4, "ms": 0.15}  # lower bounds of the advertised waits
    names = [f"fault-http-{s}-json-retry-after-{form}" for s in (429, 503) for form in waits]
    plan = plan_for(
        endpoint_for(demo.url, flavour),
        *names,
        # a long backoff: a retry that came sooner than it did honoured the header
        retry=RetryPolicy(max_retries=1, base_delay_s=20.0, max_delay_s=5.0),
    )
    started = time.monotonic()
    result, _ = await run_plan(plan)
    assert time.monotonic() - started < 15
    for name in names:
        status, form = int(name.split("-")[2]), name.rsplit("-", 1)[1]
        record = result.models[name].records[0]
        assert record.attempts == 2, name
        assert record.status == status and record.error_kind == "http", name
        assert f"simulated HTTP {status}" in (record.error or ""), name
        # the last attempt was sent after the advertised wait, which is not in its TTFT
        assert record.started_at_s >= waits[form], (name, record.started_at_s)
        assert record.ttft_s is None and record.queue_s < waits[form]


# -- network faults ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A loopback port that listens but never accepts, its accept queue already full:
    a further connect hangs in SYN-SENT until the client's connect timeout fires."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """``*.invalid`` fails to resolve as a resolver says it must (RFC 6761), without a
    query leaving the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_network_faults_fail_the_start_readably(
    demo: DemoServerThread,
    flavour: ApiFlavour,
    full_backlog: int,
    no_dns: None,
) -> None:
    port = _free_port()
    demo_port = demo.server.port
    cases = {
        f"http://127.0.0.1:{port}": f"connection refused by 127.0.0.1:{port}",
        "http://ometer-fault-matrix.invalid:11434": (
            "DNS lookup failed for host ometer-fault-matrix.invalid"
        ),
        f"https://127.0.0.1:{demo_port}": f"TLS handshake failed with 127.0.0.1:{demo_port}",
        f"http://127.0.0.1:{full_backlog}": (
            f"connect to 127.0.0.1:{full_backlog} timed out after 0.3 s"
        ),
    }
    timeouts = TimeoutPolicy(connect_s=0.3, read_s=2.0, total_s=5.0)
    for url, message in cases.items():
        plan = plan_for(endpoint_for(url, flavour, timeouts=timeouts), "demo-fast:1b")
        started = time.monotonic()
        with pytest.raises(EndpointUnreachable) as raised:
            await run_plan(plan)
        assert time.monotonic() - started < 10, url  # never hangs
        assert raised.value.error.kind.value == "connect", url
        assert message in str(raised.value), (url, str(raised.value))


# -- faults inside a 200 -----------------------------------------------------------------

#: model -> (error kind, tokens kept)
STREAM_FAULTS: dict[str, tuple[str, int | None]] = {
    "fault-error-mid-stream": ("stream", 3),
    "fault-malformed-line": ("protocol", 16),
    "fault-truncated": ("incomplete", 3),
    "fault-reset": ("reset", 3),
    "fault-stall": ("timeout", 3),
    "fault-html-page": ("protocol", 0),
    "fault-not-a-stream": ("protocol", 0),
    "fault-not-json": ("protocol", 0),
    "fault-endless": ("too_large", None),
    "fault-endless-line": ("too_large", 0),
}


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_faults_inside_a_200_each_fail_only_their_run(
    demo: DemoServerThread, flavour: ApiFlavour, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HttpClient, "max_token_chunks", 5000)
    endpoint = endpoint_for(
        demo.url, flavour, timeouts=TimeoutPolicy(connect_s=2, read_s=0.5, total_s=20)
    )
    plan = plan_for(
        endpoint,
        "demo-fast:1b",
        "fault-redirect-same",
        *STREAM_FAULTS,
        params=GenerationParams(max_tokens=16),
        retry=RetryPolicy(max_retries=2, base_delay_s=0.01),
    )
    result, _ = await run_plan(plan)
    for ok_name in ("demo-fast:1b", "fault-redirect-same"):  # the redirect was followed
        record = result.models[ok_name].records[0]
        assert record.ok and record.output_tokens == 16, (ok_name, record.error)
    kinds: dict[str, int] = {}
    for name, (kind, tokens) in STREAM_FAULTS.items():
        entry = result.models[name]
        record = entry.records[0]
        assert not record.ok, name
        assert record.error_kind == kind, (name, record.error)
        assert record.status == 200 and record.error, name
        assert record.attempts == 1, name  # never retried after the first byte
        if tokens is not None:
            assert (record.output_tokens or 0) == tokens, (name, record.output_tokens)
        assert entry.summary is not None and entry.summary.errors_by_kind == {kind: 1}
        kinds[kind] = kinds.get(kind, 0) + 1
    messages = {n: result.models[n].records[0].error or "" for n in STREAM_FAULTS}
    assert "simulated failure mid-stream" in messages["fault-error-mid-stream"]
    assert "malformed stream line" in messages["fault-malformed-line"]
    assert "after 3 tokens" in messages["fault-truncated"]
    assert result.models["fault-truncated"].records[0].incomplete
    assert "mid-stream after 3 tokens" in messages["fault-reset"]
    assert messages["fault-stall"] == "no data for 0.5 s between chunks (after 3 tokens)"
    assert "Welcome to nginx!" in messages["fault-html-page"]
    expected = "an NDJSON stream" if flavour is ApiFlavour.OLLAMA else "an SSE stream"
    assert f"expected {expected}" in messages["fault-not-a-stream"]
    assert (
        "not an " in messages["fault-not-json"] and "<b>The</b> sea" in messages["fault-not-json"]
    )
    assert "more than 5000 token chunks" in messages["fault-endless"]
    assert result.models["fault-endless"].records[0].output_tokens
    assert "exceeded" in messages["fault-endless-line"]
    # the per-kind counts, summed over the models, as a summary shows them
    assert kinds == {
        "stream": 1,
        "protocol": 4,
        "incomplete": 1,
        "reset": 1,
        "timeout": 1,
        "too_large": 2,
    }


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_whole_request_timeout_fires_on_a_stall(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    endpoint = endpoint_for(
        demo.url, flavour, timeouts=TimeoutPolicy(connect_s=2, read_s=30, total_s=0.6)
    )
    started = time.monotonic()
    result, _ = await run_plan(plan_for(endpoint, "fault-stall", "demo-fast:1b"))
    assert time.monotonic() - started < 10
    stalled = result.models["fault-stall"].records[0]
    assert stalled.error == "request exceeded 0.6 s" and stalled.error_kind == "timeout"
    assert stalled.output_tokens == 3
    assert result.models["demo-fast:1b"].records[0].ok


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_wrong_flavour_suggests_the_other(flavour: ApiFlavour) -> None:
    other = ApiFlavour.OPENAI if flavour is ApiFlavour.OLLAMA else ApiFlavour.OLLAMA
    with run_in_thread(flavours=frozenset({other.value})) as server:
        plan = plan_for(endpoint_for(server.url, flavour), "demo-fast:1b")
        with pytest.raises(EndpointUnreachable) as raised:
            await run_plan(plan)
    message = str(raised.value)
    assert f'set api = "{other.value}"' in message, message
    assert "404" in message


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_redirects_only_to_the_same_origin_and_the_token_stays_home(
    flavour: ApiFlavour,
) -> None:
    with run_in_thread(require_token=TOKEN) as home, run_in_thread() as elsewhere:
        endpoint = endpoint_for(home.url, flavour, token=TokenRef(value=Secret(TOKEN)))
        cross = f"fault-redirect-port-{elsewhere.server.port}"
        result, _ = await run_plan(plan_for(endpoint, "fault-redirect-same", cross))
        # followed on the same origin, with the token (the home server demands it)
        same = result.models["fault-redirect-same"].records[0]
        assert same.ok and same.output_tokens == 8, same.error
        refused = result.models[cross].records[0]
        assert not refused.ok and refused.error_kind == "protocol" and refused.status == 307
        assert 0 <= refused.started_at_s <= refused.finished_at_s  # stamped though refused
        assert refused.error == (
            f"307 redirected to another origin (http://127.0.0.1:{elsewhere.server.port}); "
            f"not followed so the token stays with {home.url}"
        )
        seen = elsewhere.stats()
        assert seen.requests == 0 and "authorization" not in seen.last_headers


# -- the same faults through the headless command and the TUI ------------------------------

HEADLESS_FAULTS = {
    "fault-forbidden": (403, "http", "forbidden"),
    "fault-server-error": (500, "http", "simulated internal server error"),
    "fault-error-mid-stream": (200, "stream", "mid-stream"),
    "fault-truncated": (200, "incomplete", "after 3 tokens"),
    "fault-reset": (200, "reset", "after 3 tokens"),
    "fault-malformed-line": (200, "protocol", "malformed stream line"),
}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_headless_reports_each_fault_on_its_run(
    demo_server: DemoServerThread, flavour: ApiFlavour, tmp_path: Path
) -> None:
    args = [
        sys.executable, "-m", "ometer_tui", "run", "--url", demo_server.url,
        "--api", flavour.value, "--passes", "1", "--warmup", "0", "--retries", "0",
        "--max-tokens", "16", "--parallel-models", "8", "--format", "json",
        "--model", "demo-fast:1b", *(a for n in HEADLESS_FAULTS for a in ("--model", n)),
    ]  # fmt: skip
    env = {**os.environ, "OMETER_TUI_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1, proc.stderr  # some runs failed
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["demo-fast:1b"]["runs"][0]["ok"] is True
    for name, (status, kind, text) in HEADLESS_FAULTS.items():
        run = by_name[name]["runs"][0]
        assert (run["status"], run["error_kind"]) == (status, kind), (name, run)
        assert text in run["error"], (name, run["error"])
        assert by_name[name]["summary"]["errors_by_kind"] == {kind: 1}
        assert f"{name} " in proc.stderr and text in proc.stderr  # progress shows it too
    assert "errors: http 1" in proc.stderr


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_tui_shows_the_status_and_message_of_each_fault(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    from textual.app import App
    from textual.widgets import DataTable

    from ometer_tui.tui.screens.results import ResultsScreen
    from ometer_tui.tui.screens.run_detail import RunDetailScreen
    from ometer_tui.tui.session import BenchmarkSession

    faults = ("fault-http-422-detail", "fault-http-503-html", "fault-not-json")
    plan = plan_for(endpoint_for(demo.url, flavour), "demo-fast:1b", *faults)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ResultsScreen(BenchmarkSession.started(self, plan)))

    app = Host()
    async with app.run_test(size=(120, 36)) as pilot:
        deadline = time.monotonic() + 30
        while not (
            isinstance(app.screen, ResultsScreen)
            and not app.screen.benchmark_running
            and all(
                m.phase in (ModelPhase.DONE, ModelPhase.FAILED)
                for m in app.screen.result.models.values()
            )
        ):
            assert time.monotonic() < deadline, "the benchmark did not finish"
            await pilot.pause(0.05)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        for name, expected in (
            ("fault-http-422-detail", ("422", "simulated HTTP 422 Unprocessable Entity")),
            ("fault-http-503-html", ("503", "simulated HTTP 503 Service Unavailable")),
            ("fault-not-json", ("200", "<b>The</b> sea")),
        ):
            screen.table.move_cursor(row=screen.row_order().index(name))
            await pilot.press("enter")
            while not isinstance(app.screen, RunDetailScreen):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
            row = [c.plain for c in app.screen.query_one("#detail-runs", DataTable).get_row_at(0)]
            assert row[2] == expected[0], (name, row)
            assert expected[1] in " ".join(row) or expected[1] in app.export_screenshot(), name
            await pilot.press("escape")
            while not isinstance(app.screen, ResultsScreen):
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
        assert screen.result.models["demo-fast:1b"].records[0].ok


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_server_that_never_answers_times_out_every_run(flavour: ApiFlavour) -> None:
    """It accepts the connection, reads the request and says nothing, ever."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        endpoint = endpoint_for(
            f"http://127.0.0.1:{port}",
            flavour,
            timeouts=TimeoutPolicy(connect_s=1, read_s=0.4, total_s=5),
        )
        started = time.monotonic()
        result, _ = await run_plan(plan_for(endpoint, "a", "b"))
        assert time.monotonic() - started < 15
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    for name in ("a", "b"):
        record = result.models[name].records[0]
        assert record.error == "no response for 0.4 s" and record.error_kind == "timeout"
        assert record.attempts == 1
