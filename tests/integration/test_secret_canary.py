"""A canary token, literal in a settings file and in an environment variable, must never
come out: not on stdout or stderr of any headless run (every --format, to stdout and to
--output), not in the TUI (screens, SVG screenshots, the debug log, exports), not in a
settings save or dump, ``--help``, error messages for a refused token, exception text,
nor the traceback of a crashed Textual app, which prints local variables.

Tokens go only to the endpoint's own origin (see ``test_fault_matrix`` for redirects) and
only over HTTPS unless the host is loopback or plain HTTP is explicitly allowed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ometer_tui.core.api import ClientError, open_client
from ometer_tui.core.api.base import ErrorKind, GenerationRequest
from ometer_tui.core.bench.plan import BenchmarkPlan, RetryPolicy
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import load_settings, save_settings, settings_dump
from ometer_tui.demo.server import DemoServerThread, run_in_thread

CANARY_LITERAL = f"sk-CANARY-{secrets.token_hex(8)}"
CANARY_ENV = f"sk-CANARY-{secrets.token_hex(8)}"
CANARIES = (CANARY_LITERAL, CANARY_ENV)
TOKEN_VAR = "OMETER_CANARY_TOKEN"
OTHER_TOKEN = "sk-not-the-canary-0123456789abcdef"


def assert_clean(*texts: str, root: Path | None = None, skip: tuple[Path, ...] = ()) -> int:
    """No canary in any text nor in any file under ``root``; returns files searched."""
    for i, text in enumerate(texts):
        for canary in CANARIES:
            assert canary not in text, f"canary in text #{i}: {text[:2000]}"
    searched = 0
    if root is not None:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path in skip:
                continue
            data = path.read_bytes()
            for canary in CANARIES:
                assert canary.encode() not in data, f"canary in {path}"
            searched += 1
    return searched


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, DemoServerThread]]:
    with (
        run_in_thread(require_token=CANARY_LITERAL) as literal,
        run_in_thread(require_token=CANARY_ENV) as from_env,
        run_in_thread(require_token=OTHER_TOKEN) as refusing,
    ):
        yield {"literal": literal, "fromenv": from_env, "refused": refusing}


@pytest.fixture
def config(tmp_path: Path, servers: dict[str, DemoServerThread]) -> Path:
    path = tmp_path / "settings" / "config.toml"
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent(
            f"""\
            [[endpoints]]
            name = "literal"
            url = "{servers["literal"].url}"
            api = "ollama"
            token = "{CANARY_LITERAL}"

            [[endpoints]]
            name = "fromenv"
            url = "{servers["fromenv"].url}"
            api = "openai"
            token_env = "{TOKEN_VAR}"

            [[endpoints]]
            name = "refused"
            url = "{servers["refused"].url}"
            api = "ollama"
            token = "{CANARY_LITERAL}"

            [[endpoints]]
            name = "remote"
            url = "http://gpu-box.invalid:11434"
            api = "ollama"
            token = "{CANARY_LITERAL}"
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(TOKEN_VAR, CANARY_ENV)
    return {**os.environ, TOKEN_VAR: CANARY_ENV}


def ometer(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ometer_tui", *args],
        capture_output=True,
        text=True,
        env={**env, "OMETER_TUI_CONFIG": str(config)},
        timeout=60,
    )


RUN = ("run", "--passes", "1", "--warmup", "0", "--max-tokens", "4", "--retries", "0")


def test_headless_every_format_and_output(
    config: Path, env: dict[str, str], tmp_path: Path, servers: dict[str, DemoServerThread]
) -> None:
    outputs: list[str] = []
    models = ("--model", "demo-fast:1b", "--model", "fault-server-error")
    cases = [
        ("literal", "json", None),
        ("literal", "csv", "out-literal.csv"),
        ("literal", "md", "out-literal.md"),
        ("fromenv", "csv", None),
        ("fromenv", "md", None),
        ("fromenv", "json", "out-env.json"),
        ("literal", "html", "out-literal.html"),
        ("fromenv", "html", None),
    ]
    for name, fmt, output in cases:
        where = ["--output", str(tmp_path / output)] if output else []
        proc = ometer(config, env, *RUN, "--endpoint", name, *models, "--format", fmt, *where)
        assert proc.returncode == 1, proc.stderr  # the fault model's run failed, on purpose
        assert "demo-fast:1b" in (proc.stdout or (tmp_path / str(output)).read_text())
        outputs += [proc.stdout, proc.stderr]
    data = json.loads((tmp_path / "out-env.json").read_text())
    assert data["models"][0]["runs"][0]["ok"] is True  # the env token was accepted

    # the CLI's own --token-env, and a token the server refuses (401 with its message)
    proc = ometer(
        config, env, *RUN, "--url", servers["fromenv"].url, "--api", "openai",
        "--token-env", TOKEN_VAR, "--model", "demo-fast:1b",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    outputs += [proc.stdout, proc.stderr]
    proc = ometer(config, env, *RUN, "--endpoint", "refused", "--model", "demo-fast")
    assert proc.returncode != 0 and "401" in proc.stderr and "unauthorized" in proc.stderr
    outputs += [proc.stdout, proc.stderr]
    # a token over plain http to a host that is not loopback: refused before sending
    proc = ometer(config, env, *RUN, "--endpoint", "remote", "--model", "x")
    assert proc.returncode == 2 and "allow_insecure_http" in proc.stderr, proc.stderr
    outputs += [proc.stdout, proc.stderr]
    for help_args in (["--help"], ["run", "--help"], ["demo-server", "--help"]):
        proc = ometer(config, env, *help_args)
        assert proc.returncode == 0
        outputs += [proc.stdout, proc.stderr]
    searched = assert_clean(*outputs, root=tmp_path, skip=(config,))
    assert searched >= 3


def test_settings_save_and_dump(config: Path, env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(config)
    dump = settings_dump(settings, config)
    assert "literal" in dump and f"${TOKEN_VAR} (set)" in dump
    saved = tmp_path / "saved" / "config.toml"
    save_settings(settings, saved)
    text = saved.read_text()
    # a literal the user typed is saved (0600); an env reference stays a reference
    assert CANARY_LITERAL in text and CANARY_ENV not in text
    assert f'token_env = "{TOKEN_VAR}"' in text
    save_settings(settings, config)  # over the original: a backup is kept
    reprs = [repr(settings), str(settings), *(repr(e) for e in settings.endpoints)]
    reprs += [repr(e.resolve_auth()) for e in settings.endpoints if e.name != "remote"]
    skip = (config, saved, *config.parent.glob("*.bak*"), *config.parent.glob("*~"))
    assert_clean(dump, *reprs, root=tmp_path, skip=skip)
    for backup in config.parent.iterdir():  # backups hold what the user wrote: no env value
        assert CANARY_ENV.encode() not in backup.read_bytes()


async def test_error_and_exception_messages(
    config: Path, env: dict[str, str], servers: dict[str, DemoServerThread]
) -> None:
    settings = load_settings(config)
    texts: list[str] = []
    refused = settings.endpoint("refused")
    assert refused is not None
    async with open_client(refused) as client:  # type: ignore[attr-defined]
        obs = await client.generate(
            GenerationRequest(model="demo-fast:1b", prompt="hi", params=GenerationParams())
        )
        assert obs.error is not None and str(obs.error) == "401 unauthorized"
        texts += [str(obs.error), repr(obs.error), repr(obs)]
        try:
            await client.list_models()
        except ClientError as exc:
            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        else:
            raise AssertionError("a refused token listed models")
    # a server (a proxy) that echoes the request headers in its error page
    echoed = await _echo_error(servers)
    texts += echoed
    assert any("Bearer" in t for t in echoed)  # the header did come back, masked
    # the engine's record of a refused run, and a remote plain-http endpoint
    remote = settings.endpoint("remote")
    assert remote is not None
    for endpoint in (refused, remote):
        plan = BenchmarkPlan(
            endpoint=endpoint,
            models=(ModelInfo(name="demo-fast:1b"),),
            passes=1,
            warmup=0,
            retry=RetryPolicy(max_retries=0),
        )
        try:
            result = await BenchmarkRunner(plan, _collect(texts)).run()
        except ClientError as exc:  # EndpointUnreachable for the refused remote token
            assert exc.error.kind is ErrorKind.CONFIG
            texts += [str(exc), "".join(traceback.format_exception(exc))]
        else:
            texts += [repr(result)]
    assert_clean(*texts)


def _collect(texts: list[str]) -> Callable[[object], None]:
    return lambda event: texts.append(repr(event))


async def _echo_error(servers: dict[str, DemoServerThread]) -> list[str]:
    """A loopback server answering 400 with the request it got (headers included)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(v) for k, _, v in (ln.partition(b": ") for ln in head.split(b"\r\n"))
             if k.lower() == b"content-length"),
            0,
        )  # fmt: skip
        await reader.readexactly(length)
        body = b"bad request; you sent:\n" + head
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        endpoint = Endpoint(
            name="echo",
            url=f"http://127.0.0.1:{port}",
            api=ApiFlavour.OPENAI,
            token=TokenRef(env=TOKEN_VAR),
        )
        async with open_client(endpoint) as client:  # type: ignore[attr-defined]
            obs = await client.generate(
                GenerationRequest(model="m", prompt="hi", params=GenerationParams())
            )
    finally:
        server.close()
        await server.wait_closed()
    assert obs.error is not None and obs.error.status == 400
    return [str(obs.error), repr(obs)]


def test_plain_http_only_to_loopback_or_when_allowed() -> None:
    token = TokenRef(value=Secret(CANARY_LITERAL))
    cases = {
        "http://gpu-box.invalid:11434": False,  # refused: plain http, not loopback
        "https://gpu-box.invalid": True,
        "http://127.0.0.1:11434": True,
        "http://localhost:11434": True,
        "http://[::1]:11434": True,
    }
    for url, allowed in cases.items():
        client = open_client(Endpoint(name="e", url=url, api=ApiFlavour.OLLAMA, token=token))
        error = client._config_error  # type: ignore[attr-defined]
        assert (error is None) is allowed, url
        if error is not None:
            assert "allow_insecure_http" in error.message
            assert_clean(str(error), repr(error))
    insecure = Endpoint(
        name="e", url="http://gpu-box.invalid", api=ApiFlavour.OLLAMA, token=token,
        allow_insecure_http=True,
    )  # fmt: skip
    assert open_client(insecure)._config_error is None  # type: ignore[attr-defined]


async def test_tui_screens_exports_and_debug_log(
    config: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input, RichLog

    from ometer_tui.tui.app import OmeterApp
    from ometer_tui.tui.screens.debug_log import DebugLogScreen
    from ometer_tui.tui.screens.export_menu import ExportMenu
    from ometer_tui.tui.screens.results import ResultsScreen
    from ometer_tui.tui.screens.run_detail import RunDetailScreen

    monkeypatch.chdir(tmp_path)
    shots = tmp_path / "shots"
    shots.mkdir()
    app = OmeterApp(config_path=config)
    texts: list[str] = []

    async def until(cond: object, what: str) -> None:
        deadline = time.monotonic() + 30
        while not cond():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await pilot.pause(0.05)

    def shot(name: str) -> None:
        (shots / f"{name}.svg").write_text(app.export_screenshot(), encoding="utf-8")

    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()  # the endpoints' live checks
        await pilot.pause()
        shot("endpoints")
        await pilot.press("ctrl+s")
        await pilot.pause()
        shot("settings")
        await pilot.press("escape")
        await pilot.pause()
        for name in ("literal", "fromenv"):
            endpoint = app.settings.endpoint(name)
            assert endpoint is not None
            plan = BenchmarkPlan(
                endpoint=endpoint,
                models=(ModelInfo(name="demo-fast:1b"), ModelInfo(name="fault-server-error")),
                passes=1,
                warmup=0,
                params=GenerationParams(max_tokens=8),
                retry=RetryPolicy(max_retries=0),
            )
            app.start_benchmark(plan)
            await until(lambda: isinstance(app.screen, ResultsScreen), "results")
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            await until(
                lambda s=screen: not s.benchmark_running and s.result.finished_at, "the benchmark"
            )
            await pilot.pause()
            assert screen.result.models["demo-fast:1b"].records[0].ok  # the token worked
            shot(f"results-{name}")
            for downs, ext in ((0, "json"), (1, "csv"), (2, "md"), (3, "html")):
                await pilot.press("e")
                await until(lambda: isinstance(app.screen, ExportMenu), "export menu")
                await pilot.press(*(["down"] * downs))
                path_input = app.screen.query_one("#export-path", Input)
                path_input.value = str(tmp_path / f"tui-{name}.{ext}")
                path_input.focus()
                await pilot.press("enter")
                await until(lambda: isinstance(app.screen, ResultsScreen), "export written")
                assert (tmp_path / f"tui-{name}.{ext}").exists()
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, RunDetailScreen), "detail")
            shot(f"detail-{name}")
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, ResultsScreen), "results again")
            await pilot.press("d")
            await until(lambda: isinstance(app.screen, DebugLogScreen), "debug log")
            log = app.screen.query_one("#debug-log", RichLog)
            await until(lambda log=log: len(log.lines) > 0, "log lines")
            text = "\n".join(line.text for line in log.lines)
            assert "authorization" in text.lower()
            texts.append(text)
            shot(f"debug-{name}")
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, ResultsScreen), "results")
            screen.dismiss()
            await pilot.pause()
        app.save_settings(app.settings)  # the app's own save
    assert len(list(shots.glob("*.svg"))) == 8
    skip = (config, *config.parent.glob("*.bak*"), *config.parent.glob("*~"))
    assert_clean(*texts, root=tmp_path, skip=skip)  # every file: exports, SVGs, settings
    assert CANARY_ENV not in config.read_text()  # noqa: ASYNC240 (a test's last look)


_CRASH = r"""
import sys
from pathlib import Path
from ometer_tui.core.api import open_client
from ometer_tui.core.settings import load_settings
from ometer_tui.tui.app import OmeterApp
from ometer_tui.tui.widgets import endpoint_table

original = endpoint_table.endpoint_cells

def crashing_cells(endpoint, status, *, saved):
    # what a bug deep in request code would hold as locals when it raised: the
    # settings, the endpoint, its resolved secrets, a client and the wire headers
    settings = load_settings(Path(sys.argv[1]))
    resolved = endpoint.resolve_auth() if endpoint.name != "remote" else None
    client = open_client(endpoint)
    wire = client._auth_headers({"content-type": "application/json"})
    if endpoint.name == "fromenv":
        raise RuntimeError(f"forced crash while drawing {endpoint.name}")
    return original(endpoint, status, saved=saved)

endpoint_table.endpoint_cells = crashing_cells
app = OmeterApp(config_path=Path(sys.argv[1]))
app.run(headless=True, size=(120, 36))
sys.exit(app.return_code or 0)
"""


def test_forced_crash_of_the_app_prints_no_secret(config: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, str(config)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "160", "TERM": "xterm-256color"},
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "forced crash while drawing fromenv" in out
    assert "RuntimeError" in out and "Traceback" in out
    # the locals were printed, masked
    assert "wire" in out and "WireHeaders" in out and "resolved" in out
    assert_clean(out)
