"""Measure the measurer: ometer-tui's timing error against the wire, beside a peer tool.

    python benchmarks/accuracy.py            # the whole grid (~15 min), prints the table
    python benchmarks/accuracy.py --quick    # a few configurations, to try it out
    python benchmarks/accuracy.py --only grid --phases shift --intervals 20 \
        --concurrency 100 200 --waves 4 --open-loop   # several waves, and open-loop load
    python benchmarks/accuracy.py --only grid --modes tui tui-charts   # charts open or not
    python benchmarks/accuracy.py --only grid --modes tui tui-thread   # engine process or thread

Needs tcpdump (root, loopback only) and, for the peer column, guidellm installed in its
own venv (``python3 -m venv /tmp/guidellm-venv && /tmp/guidellm-venv/bin/pip install
guidellm==0.8.1``; ``--peer`` names another; skipped when missing). The peer runs every
load ometer-tui runs, as its own equivalent (benchmarks/peer_guidellm.py: closed loop =
its ``concurrent`` profile, open loop = its ``constant`` rate profile); the table says
what it was asked. Raw results go to ``benchmarks/out/accuracy-<time>.json``.

How a configuration runs: the stamping server (benchmarks/stamping_server.py) is pinned
to core 1, the client to core 0; tcpdump captures the loopback traffic; the client runs
in a fresh child process (ometer-tui's real engine, headless or inside the real app with
the results screen live, or the peer's CLI). Then, per request (matched by the request
id the server puts in the first token):

* TTFT error = the tool's reported TTFT - (first token packet - request's last packet)
* lag = the tool's arrival stamp of a chunk - that chunk's packet time (every chunk for
  ometer-tui through a recording client; first and last token for the peer, which
  saves no per-chunk stamps)
* decode error = the tool's decode tokens/s against the schedule (1 / interval)

Requests the server wrote more than 1 ms late are counted (``late``) and the rows that
have any are marked.

Load: by default one wave (as many requests as streams, all started together). With
``--waves W`` each configuration also runs W x streams requests closed-loop (each stream
sends its next request when the last ended: the waves overlap as runs finish and start).
With ``--open-loop`` it also runs them open-loop: requests sent at a fixed rate (the
engine's request rate limit) chosen so that about ``streams`` are in flight, whatever the
completions do; concurrency is capped at twice that. The ``clock`` column says how many
of ometer-tui's runs were stamped by the kernel, and ``tx`` how many had the kernel's
transmit stamp as their send time (``ACC_STAMPS=loop`` forces loop stamps, and
``ACC_TX_STAMPS=off`` the write call's send stamp, for an A/B of each).

Server telemetry (issue #13): ``--telemetry off 1 0.25`` runs every ometer-tui
configuration once per setting, back to back (off, then sampling every 1 s, then every
0.25 s; ``--repeat N`` alternates them N times), so a drift in the machine's load falls
on all of them alike. With telemetry on, the child samples the stamping server's
``/metrics`` (vLLM-style) and ``/api/ps`` as ``ometer-tui run`` and the app do; the
``telem`` column says the setting and how many polls the server answered, and a last
table puts each configuration's TTFT error with telemetry off and on side by side::

    python benchmarks/accuracy.py --only grid --telemetry off 1 0.25 --repeat 3 \
        --flavours openai --modes headless tui --concurrency 1 10 100 --no-peer --no-floor
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from peer_guidellm import PeerFormatError, PeerLoad, parse_report, write_prompts  # noqa: E402
from peer_guidellm import command as peer_command  # noqa: E402
from peer_guidellm import version as peer_version  # noqa: E402
from wire import Capture, clock_offset_ns, read_requests  # noqa: E402

SERVER_CPU = 1
CLIENT_CPU = 0
TTFT_MS = 50.0
TOKENS = 64
CONCURRENCY = (1, 10, 50, 100, 200)
INTERVALS = (20.0, 50.0)
PHASES = ("shift", "burst")
FLAVOURS = ("ollama", "openai")
MODES = ("headless", "tui")
#: the app with the results screen's chart panel open (``c``) while it runs; not in the
#: default grid: ask for it with ``--modes tui tui-charts``
CHART_MODE = "tui-charts"
#: the app with the engine on the bridge's thread (``OMETER_TUI_ENGINE=thread``), as
#: before the engine had its own process; ``tui`` and ``tui-charts`` run it as the app
#: does by default, in an engine process (core/bench/process_runner.py)
THREAD_MODE = "tui-thread"
LATE_NS = 1_000_000
CHILD_TIMEOUT_S = 120


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def pctl(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def triple(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": pctl(values, 50), "p90": pctl(values, 90), "p99": pctl(values, 99),
            "n": len(values)}  # fmt: skip


# -- the stamping server ------------------------------------------------------------------


class StampServer:
    """benchmarks/stamping_server.py in its own process (``args``: its options; ``cpu``:
    the core it is pinned to, ``None`` for none). benchmarks/workers.py starts it too."""

    def __init__(self, args: Sequence[str] = (), cpu: int | None = SERVER_CPU) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stamp-"))
        ready = self.dir / "port"
        pin = [] if cpu is None else ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "stamping_server.py"), *pin, *args,
             "--ready-file", str(ready), "--max-seconds", "3600"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not ready.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("stamping server did not start")
            time.sleep(0.02)
        self.port = int(ready.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- ometer-tui child ---------------------------------------------------------------------


def child_ometer(args: argparse.Namespace) -> None:
    """Runs in a fresh process pinned to the client core; writes stamps as JSON."""
    pin(CLIENT_CPU)
    from ometer_tui.core.api import open_client
    from ometer_tui.core.bench.loop import run_engine
    from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit, RetryPolicy
    from ometer_tui.core.bench.runner import BenchmarkRunner
    from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo

    flavour = ApiFlavour(args.flavour)
    endpoint = Endpoint(name="stamp", url=args.url, api=flavour)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=(ModelInfo(name="stamp"),),
        prompts=("Write one paragraph about the sea.",),
        passes=args.runs,
        warmup=1,
        concurrency=args.conc,
        params=GenerationParams(max_tokens=args.tokens),
        retry=RetryPolicy(max_retries=0),
        rate_limit=RateLimit(requests_per_minute=args.rpm),
    )
    observations: list[Any] = []
    interval = args.telemetry_interval

    def make_sampler(plan_: BenchmarkPlan, on_sample: Any) -> Any:
        from ometer_tui.core.telemetry.sampler import TelemetrySampler

        return TelemetrySampler(plan_.endpoint, interval_s=interval, on_sample=on_sample)

    def make_runner(on_event: Any, log_exchanges: bool) -> BenchmarkRunner:
        client = open_client(
            endpoint,
            flavour=flavour,
            max_connections=plan.concurrency * plan.parallel_models,
            on_exchange=on_event if log_exchanges else None,
        )
        return BenchmarkRunner(
            plan, on_event, client=Recording(client, observations), log_exchanges=log_exchanges
        )

    engine_out = Path(args.out).with_suffix(".engine.json")

    def make_process_runner(on_event: Any, log_exchanges: bool) -> Any:
        """The app's engine process, its client recording as ``make_runner``'s does."""
        import functools

        import accuracy  # this file as a module: __main__ means another file over there

        from ometer_tui.core.bench.process_runner import ProcessRunner

        engine = functools.partial(accuracy.recording_engine, str(engine_out))
        return ProcessRunner(plan, on_event, log_exchanges=log_exchanges, engine=engine)

    _experiments()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if args.mode == "headless":
        if interval:  # as `ometer-tui run` does it (telemetry_args.TelemetryHook)
            sampler = make_sampler(plan, None)
            runner = make_runner(sampler.observe, False)
            main = sampler.during(runner.run(), lambda: runner.result)
        else:
            runner = make_runner(lambda _e: None, False)
            main = runner.run()
        # the engine's loop, as `ometer-tui run` uses it, or asyncio's own (not uvloop)
        asyncio_loop = os.environ.get("ACC_LOOP") == "asyncio"
        result = asyncio.run(main) if asyncio_loop else run_engine(main)
    else:  # the app's session runs the sampler beside the engine, as the dashboard does
        factory = make_sampler if interval else None
        in_thread = args.mode == THREAD_MODE
        # the engine process imports this file as ``accuracy`` (its recording_engine)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p
        )
        result = asyncio.run(
            _run_in_app(plan, make_runner if in_thread else make_process_runner, factory,
                        charts=args.mode == CHART_MODE)
        )  # fmt: skip
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    engine_cpu = 0.0
    if engine_out.exists():  # the engine process's stamps and CPU time
        saved = json.loads(engine_out.read_text())
        observations.extend(SimpleNamespace(**o) for o in saved["observations"])
        engine_cpu = saved["cpu_s"]
    records = {}
    for record in result.models["stamp"].records:
        if record.text and record.text.startswith("r") and not record.warmup:
            records[int(record.text[1:7])] = record
    out = []
    for obs in observations:
        if not obs.text.startswith("r"):
            continue
        rid = int(obs.text[1:7])
        rec = records.get(rid)
        if rec is None:
            continue
        out.append({
            "rid": rid, "sent_ns": obs.sent_ns, "token_ns": obs.token_times_ns,
            "ttft_s": rec.ttft_s, "decode_tps": rec.decode_tps, "ok": rec.ok,
            "clock": rec.clock, "send_clock": getattr(rec, "send_clock", "loop"),
        })  # fmt: skip
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime) + engine_cpu
    rec = result.telemetry
    telemetry = None if rec is None else {
        s.kind.value: {"available": s.available, "samples": s.samples, "reason": s.reason}
        for s in rec.sources.values()
    }  # fmt: skip
    Path(args.out).write_text(json.dumps({
        "requests": out, "cpu_s": cpu, "wall_s": wall, "offset_ns": clock_offset_ns(),
        "errors": sum(1 for r in result.models["stamp"].records if not r.ok),
        "telemetry": telemetry,
    }))  # fmt: skip


class Recording:
    """Delegates to the real client; keeps each observation (per-chunk stamps)."""

    def __init__(self, inner: Any, observations: list[Any]) -> None:
        self.inner = inner
        self.flavour = inner.flavour
        self.observations = observations

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def generate(self, request: Any) -> Any:
        obs = await self.inner.generate(request)
        self.observations.append(obs)
        return obs


class _SavingRunner:
    """The engine process's runner: at its end, its stamps and CPU time go to ``out``."""

    def __init__(self, inner: Any, observations: list[Any], out: str) -> None:
        self.inner = inner
        self.observations = observations
        self.out = out

    @property
    def result(self) -> Any:
        return self.inner.result

    def cancel(self) -> None:
        self.inner.cancel()

    async def run(self) -> Any:
        try:
            return await self.inner.run()
        finally:
            self.save()  # after the run: nothing is timed any more

    def save(self) -> None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        Path(self.out).write_text(json.dumps({
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "observations": [{"text": o.text[:8], "sent_ns": o.sent_ns,
                              "token_times_ns": o.token_times_ns}
                             for o in self.observations if o.text.startswith("r")],
        }))  # fmt: skip


def recording_engine(out: str, plan: Any, on_event: Any, log_exchanges: bool) -> Any:
    """``ProcessRunner(engine=...)``: built in the app's engine process, the engine with a
    recording client, as ``child_ometer`` builds it in its own process."""
    from ometer_tui.core.api import open_client
    from ometer_tui.core.bench.runner import BenchmarkRunner

    _experiments()
    observations: list[Any] = []
    client = open_client(
        plan.endpoint,
        flavour=plan.endpoint.api,
        max_connections=plan.concurrency * plan.parallel_models,
        on_exchange=on_event if log_exchanges else None,
    )
    runner = BenchmarkRunner(
        plan, on_event, client=Recording(client, observations), log_exchanges=log_exchanges
    )
    return _SavingRunner(runner, observations, out)


def child_bare(args: argparse.Namespace) -> None:
    """The floor: a bare asyncio protocol client, stamping in ``data_received``.

    No HTTP library, no JSON parsing, no engine: it sends the same request as ometer-tui
    over connections opened beforehand, stamps after ``transport.write`` and when each
    packet's bytes reach ``data_received``, and counts tokens with the wire reader's own
    pattern. Its error against the wire is what this machine's kernel and interpreter
    cost any Python client; what ometer-tui adds is the difference.
    """
    pin(CLIENT_CPU)
    from urllib.parse import urlsplit

    from wire import RID_RE, TOKEN_RE

    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if args.flavour == "ollama":
        path = "/api/chat"
        body = {
            "model": "stamp",
            "stream": True,
            "options": {"num_predict": args.tokens},
            "messages": [{"role": "user", "content": "Write one paragraph about the sea."}],
        }
    else:
        path = "/v1/chat/completions"
        body = {
            "model": "stamp",
            "stream": True,
            "max_tokens": args.tokens,
            "messages": [{"role": "user", "content": "Write one paragraph about the sea."}],
        }
    payload = json.dumps(body).encode()
    request = (f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
               f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
               ).encode() + payload  # fmt: skip
    perf = time.perf_counter_ns

    class Stamping(asyncio.Protocol):
        def __init__(self) -> None:
            self.transport: asyncio.Transport | None = None
            self.done: asyncio.Future[None] | None = None
            self.sent_ns = 0
            self.token_ns: list[int] = []
            self.rid: int | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def send(self) -> asyncio.Future[None]:
            assert self.transport is not None
            self.done = asyncio.get_running_loop().create_future()
            self.token_ns, self.rid = [], None
            self.transport.write(request)
            self.sent_ns = perf()
            return self.done

        def data_received(self, data: bytes) -> None:
            now = perf()
            hits = len(TOKEN_RE.findall(data))
            if hits:
                if self.rid is None and (m := RID_RE.search(data)):
                    self.rid = int(m.group(1))
                self.token_ns.extend([now] * hits)
            if data.endswith(b"0\r\n\r\n") and self.done is not None and not self.done.done():
                self.done.set_result(None)

    out: list[dict[str, Any]] = []

    async def one(proto: Stamping, n: int) -> None:
        for _ in range(n):
            await proto.send()
            t = proto.token_ns
            if proto.rid is None or not t:
                continue
            ttft = (t[0] - proto.sent_ns) / 1e9
            decode = (len(t) - 1) / ((t[-1] - t[0]) / 1e9) if len(t) > 1 and t[-1] > t[0] else None
            out.append({"rid": proto.rid, "sent_ns": proto.sent_ns, "token_ns": t,
                        "ttft_s": ttft, "decode_tps": decode, "ok": True})  # fmt: skip

    async def run() -> None:
        loop = asyncio.get_running_loop()
        conns = [(await loop.create_connection(Stamping, host, port))[1]
                 for _ in range(args.conc)]  # fmt: skip
        for proto in conns:
            assert proto.transport is not None
            sock = proto.transport.get_extra_info("socket")
            sock.setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)
        await one(conns[0], 1)  # warm-up, as the engine does (its rid is not reported)
        out.clear()
        per = [args.runs // args.conc + (1 if i < args.runs % args.conc else 0)
               for i in range(args.conc)]  # fmt: skip
        await asyncio.gather(*(one(p, k) for p, k in zip(conns, per, strict=True)))
        for proto in conns:
            assert proto.transport is not None
            proto.transport.close()

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    Path(args.out).write_text(json.dumps({
        "requests": out, "cpu_s": cpu, "wall_s": wall, "offset_ns": clock_offset_ns(),
        "errors": 0,
    }))  # fmt: skip


def _experiments() -> None:
    """Levers tried by environment variable, for the decisions in the README.

    ACC_TRANSPORT=httpx puts httpx's own pool (httpcore) back under the clients.
    ACC_STAMPS=loop stamps chunks on the event loop instead of with the kernel's stamps.
    ACC_TX_STAMPS=off keeps the write call's send stamp instead of the kernel's transmit one.
    ACC_LOOP=asyncio runs the headless engine on asyncio's own loop instead of uvloop.
    ACC_GC=off turns the garbage collector off in the child (to see what its pauses cost).
    ACC_SWITCH=<seconds> sets the thread switch interval the TUI uses while a benchmark
    runs (ACC_SWITCH=0.005 is Python's default, as before the TUI cut it).
    """
    if os.environ.get("ACC_STAMPS") == "loop":
        from ometer_tui.core.api import _transport

        _transport.kernel_stamps_enabled = False
    if os.environ.get("ACC_TX_STAMPS") == "off":
        from ometer_tui.core.api import _transport

        _transport.kernel_tx_stamps_enabled = False
    switch = os.environ.get("ACC_SWITCH")
    if switch:
        from ometer_tui.tui import bench_bridge

        bench_bridge.ENGINE_SWITCH_INTERVAL_S = float(switch)
    if os.environ.get("ACC_GC") == "off":
        import gc

        gc.disable()
    if os.environ.get("ACC_TRANSPORT") == "httpx":
        import httpx

        from ometer_tui.core.api import _http

        def transport(*, max_connections: int, keepalive_expiry: float) -> Any:
            limits = httpx.Limits(max_connections=max_connections,
                                  max_keepalive_connections=max_connections,
                                  keepalive_expiry=keepalive_expiry)  # fmt: skip
            return httpx.AsyncHTTPTransport(limits=limits)

        _http.AiohttpTransport = transport  # type: ignore[attr-defined,assignment]


async def _run_in_app(
    plan: Any, make_runner: Any, telemetry: Any = None, *, charts: bool = False
) -> Any:
    """The real app, headless, with the results screen running the benchmark live
    (``charts``: with its chart panel open, redrawn as the run goes)."""
    from ometer_tui.tui.app import OmeterApp
    from ometer_tui.tui.screens.results import ResultsScreen
    from ometer_tui.tui.session import BenchmarkSession
    from ometer_tui.tui.widgets.chart_panel import ChartPanel

    holder: dict[str, Any] = {}

    def factory(plan_: Any, on_event: Any, log_exchanges: bool) -> Any:
        runner = make_runner(on_event, log_exchanges)
        holder["runner"] = runner
        return runner

    cfg = Path(tempfile.mkdtemp(prefix="ometer-cfg-")) / "config.toml"
    cfg.write_text(f'[[endpoints]]\nname = "stamp"\nurl = "{plan.endpoint.url}"\n'
                   f'api = "{plan.endpoint.api.value}"\n')  # fmt: skip
    app = OmeterApp(config_path=cfg)
    async with app.run_test(size=(120, 36)) as pilot:
        session = BenchmarkSession(app, plan, runner_factory=factory, telemetry=telemetry)
        await app.push_screen(ResultsScreen(session))
        if charts:  # opened first: what is measured is the charts redrawn as the run goes
            await pilot.press("c")
            if not app.screen.query_one(ChartPanel).shown:
                raise RuntimeError("the chart panel did not open")
        session.start()
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while time.monotonic() < deadline:
            await pilot.pause(0.1)
            runner = holder.get("runner")
            if runner is not None and not session.running:
                break
        await pilot.pause(0.3)
        if charts and app.screen.query_one(ChartPanel).redraws < 2:  # opened, and at the end
            raise RuntimeError("the charts were not redrawn during the run")
        return holder["runner"].result


# -- the peer -----------------------------------------------------------------------------


def run_peer(exe: str, url: str, load: PeerLoad, tokens: int, workdir: Path) -> dict[str, Any]:
    """The peer's CLI on one load (see benchmarks/peer_guidellm.py for the mapping)."""
    data = workdir / "prompts.jsonl"
    write_prompts(data, load.requests, tokens)
    out = workdir / "guidellm.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            peer_command(exe, url, load, data, out), env=env, capture_output=True,
            timeout=CHILD_TIMEOUT_S + 180, preexec_fn=lambda: pin(CLIENT_CPU),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        return {"error": f"timed out after {exc.timeout:.0f} s", "requests": []}
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr.decode()[-2000:], "requests": []}
    try:
        reqs = parse_report(json.loads(out.read_text()))
    except (PeerFormatError, ValueError) as exc:
        return {"error": f"the peer's report: {exc}", "requests": []}
    # wall-clock stamps (time.time()), as the capture's: no offset to add
    return {"requests": reqs, "wall_s": wall, "offset_ns": 0, "asked": load.describe()}


# -- one configuration --------------------------------------------------------------------


def runs_for(conc: int, waves: int = 1) -> int:
    return 3 * waves if conc == 1 else conc * waves


def open_loop_rpm(conc: int, interval: float, tokens: int = TOKENS) -> float:
    """Requests per minute that keep about ``conc`` requests in flight (Little's law)."""
    duration_s = (TTFT_MS + (tokens - 1) * interval) / 1000
    return 60 * conc / duration_s


def measure(server: StampServer, tool: str, mode: str, flavour: str, phase: str,
            interval: float, conc: int, opts: argparse.Namespace,
            tokens: int = TOKENS, runs: int | None = None, waves: int = 1,
            open_loop: bool = False, telemetry_s: float = 0.0) -> dict[str, Any]:  # fmt: skip
    runs = runs or runs_for(conc, waves)
    rpm = open_loop_rpm(conc, interval, tokens) if open_loop else None
    streams = 2 * conc if open_loop else conc  # the open loop's cap, never reached
    server.call("/stamp/config", {"ttft_ms": TTFT_MS, "interval_ms": interval, "tokens": tokens,
                                  "phase": phase})  # fmt: skip
    server.call("/stamp/reset", {})
    work = Path(tempfile.mkdtemp(prefix="acc-"))
    pcap = work / "cap.pcap"
    with Capture(pcap, server.port, cpu=SERVER_CPU):
        if tool in ("ometer", "bare"):
            out = work / "child.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "child", "--mode", mode,
                   "--flavour", flavour, "--url", server.url, "--conc", str(streams),
                   "--runs", str(runs), "--tokens", str(tokens), "--out", str(out)]  # fmt: skip
            if rpm is not None:
                cmd += ["--rpm", f"{rpm:.3f}"]
            if telemetry_s:
                cmd += ["--telemetry-interval", f"{telemetry_s:g}"]
            proc = subprocess.run(cmd, capture_output=True, timeout=CHILD_TIMEOUT_S)
            if proc.returncode != 0 or not out.exists():
                client: dict[str, Any] = {"error": proc.stderr.decode()[-3000:], "requests": []}
            else:
                client = json.loads(out.read_text())
        else:
            peer_load = PeerLoad(streams=conc, requests=runs,
                                 rate_per_s=None if rpm is None else rpm / 60,
                                 max_concurrency=streams if open_loop else None)  # fmt: skip
            client = run_peer(opts.peer, server.url, peer_load, tokens, work)
    log = server.call("/stamp/log")
    wire = {w.rid: w for w in read_requests(pcap, server.port) if w.rid is not None}
    late = {r["id"] for r in log["requests"] if r["max_late_ns"] > LATE_NS}
    ttft_err: list[float] = []
    lag: list[float] = []
    send_err: list[float] = []  # the tool's send stamp - the request's last packet
    dec_err: list[float] = []
    wire_dec_err: list[float] = []
    schedule_tps = 1000.0 / interval
    offset = client.get("offset_ns", 0)
    token_packets = 0
    first_pkt = last_pkt = None
    for req in client.get("requests", []):
        w = wire.get(req["rid"])
        if w is None or w.ttft_ns is None or req.get("ttft_s") is None:
            continue
        ttft_err.append(req["ttft_s"] * 1000 - w.ttft_ns / 1e6)
        if req.get("sent_ns"):
            send_err.append((req["sent_ns"] + offset - w.request_last_ns) / 1e6)
        if "token_ns" in req:
            for stamp, t in zip(req["token_ns"], w.token_ns, strict=False):
                lag.append((stamp + offset - t) / 1e6)
        else:
            lag.append((req["first_wall_ns"] - w.token_ns[0]) / 1e6)
            lag.append((req["last_wall_ns"] - w.token_ns[-1]) / 1e6)
        if req.get("decode_tps"):
            dec_err.append((req["decode_tps"] / schedule_tps - 1) * 100)
        if w.decode_tps:
            wire_dec_err.append((w.decode_tps / schedule_tps - 1) * 100)
        token_packets += len(w.token_ns)
        first_pkt = w.token_ns[0] if first_pkt is None else min(first_pkt, w.token_ns[0])
        last_pkt = w.token_ns[-1] if last_pkt is None else max(last_pkt, w.token_ns[-1])
    span = (last_pkt - first_pkt) / 1e9 if first_pkt and last_pkt and last_pkt > first_pkt else 0
    row = {
        "tool": tool, "mode": mode, "flavour": flavour, "phase": phase, "interval_ms": interval,
        "concurrency": conc, "runs": runs, "tokens": tokens, "matched": len(ttft_err),
        "load": load_name(waves, open_loop), "rpm": rpm,
        "kernel_clock_runs": sum(1 for r in client.get("requests", [])
                                 if r.get("clock") == "kernel"),
        "ttft_err_ms": triple(ttft_err), "lag_ms": triple(lag), "send_err_ms": triple(send_err),
        "decode_err_pct": triple(dec_err), "wire_decode_err_pct": triple(wire_dec_err),
        "decode_err_abs_max_pct": max((abs(x) for x in dec_err), default=None),
        "late_requests": len(late), "server_requests": len(log["requests"]),
        "chunks_per_s": token_packets / span if span else None,
        "cpu_s": client.get("cpu_s"), "wall_s": client.get("wall_s"),
        "errors": client.get("errors"), "error": client.get("error"),
        "telemetry": telemetry_name(telemetry_s), "telemetry_polls": log.get("metrics_polls"),
        "telemetry_sources": client.get("telemetry"),
        "kernel_send_runs": sum(1 for r in client.get("requests", [])
                                if r.get("send_clock") == "kernel"),
        "peer_asked": client.get("asked"),
    }  # fmt: skip
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return row


# -- start-up and memory --------------------------------------------------------------------


def startup(server: StampServer) -> dict[str, Any]:
    res: dict[str, Any] = {}
    exe = str(Path(sys.executable).with_name("ometer-tui"))
    if not Path(exe).exists():
        exe = "ometer-tui"
    hf = Path(tempfile.mkdtemp(prefix="hf-")) / "help.json"
    try:
        subprocess.run(
            ["hyperfine", "-N", "--warmup", "2", "--runs", "15", "--export-json", str(hf),
             f"{exe} run --help"], capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        r = json.loads(hf.read_text())["results"][0]
        res["help_s"] = {"mean": r["mean"], "median": r["median"], "min": r["min"],
                         "max": r["max"], "tool": "hyperfine"}  # fmt: skip
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            subprocess.run([exe, "run", "--help"], capture_output=True, timeout=30)
            times.append(time.perf_counter() - t0)
        res["help_s"] = {"median": statistics.median(times), "min": min(times),
                         "max": max(times), "tool": f"loop ({exc})"}  # fmt: skip
    # first drawn screen: the real app in tmux, polled every 5 ms until text appears
    cfg = Path(tempfile.mkdtemp(prefix="ometer-cfg-")) / "config.toml"
    cfg.write_text(f'[[endpoints]]\nname = "stamp"\nurl = "{server.url}"\napi = "ollama"\n')
    times = []
    tmux = ["tmux", "-L", f"ometer-bench-{os.getpid()}"]
    # a keeper session, so the tmux server does not exit between measured sessions
    subprocess.run([*tmux, "new-session", "-d", "-s", "keeper", "sleep 300"], check=True)
    for i in range(7):
        session = f"ometer-start-{i}"
        t0 = time.perf_counter()
        subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                        f"{exe} --config {cfg}"], check=True)  # fmt: skip
        drawn = None
        while time.perf_counter() - t0 < 10:
            pane = subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout  # fmt: skip
            if "stamp" in pane:
                drawn = time.perf_counter() - t0
                break
            time.sleep(0.005)
        subprocess.run([*tmux, "kill-session", "-t", session], capture_output=True)
        if drawn is not None:
            times.append(drawn)
    subprocess.run([*tmux, "kill-server"], capture_output=True)
    if times:
        res["first_screen_s"] = {"median": statistics.median(times), "min": min(times),
                                 "max": max(times), "n": len(times)}  # fmt: skip
    res["engine_start_s"] = engine_startup(server)
    return res


def engine_startup(server: StampServer, n: int = 5) -> dict[str, Any]:
    """The app's engine process: from ``ProcessRunner.run()`` to its first event, started
    cold (a new process) and warm (the idle engine a previous run left)."""
    code = r"""
import asyncio, json, time
from ometer_tui.core.bench import process_runner
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
plan = BenchmarkPlan(endpoint=Endpoint(name="stamp", url=__URL__, api=ApiFlavour.OPENAI),
                     models=(ModelInfo(name="stamp"),), passes=1, warmup=0,
                     params=GenerationParams(max_tokens=4))
async def first_event():
    seen = []
    t0 = time.perf_counter()
    runner = process_runner.ProcessRunner(
        plan, lambda e: seen.append(time.perf_counter() - t0) if not seen else None)
    await runner.run()
    return seen[0]
out = {"cold": [], "warm": []}
for _ in range(__N__):
    process_runner.shut_down_idle()
    out["cold"].append(asyncio.run(first_event()))
    out["warm"].append(asyncio.run(first_event()))
process_runner.shut_down_idle()
print(json.dumps(out))
""".replace("__URL__", repr(server.url)).replace("__N__", str(n))
    server.call("/stamp/config", {"ttft_ms": TTFT_MS, "interval_ms": 20.0, "tokens": 4,
                                  "phase": "shift"})  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=HERE.parent)  # fmt: skip
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    got = json.loads(proc.stdout)
    return {kind: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
            for kind, v in got.items()}  # fmt: skip


def memory(counts: Sequence[int] = (10_000, 100_000)) -> dict[str, Any]:
    """tracemalloc of RunRecords built by the real metrics code (text not kept)."""
    code = r"""
import json, sys, tracemalloc
from ometer_tui.core.api.base import GenerationObservation
from ometer_tui.core.bench.metrics import RunContext, generation_record
out = {}
for flavour in ("ollama", "openai"):
    for n in COUNTS:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        records = []
        for i in range(n):
            t0 = 1_000_000_000 + i * 1000
            obs = GenerationObservation(sent_ns=t0)
            times = [t0 + 50_000_000 + k * 20_000_000 + (i % 7) * 1000 for k in range(64)]
            obs.first_token_ns = obs.first_visible_ns = times[0]
            obs.last_token_ns = times[-1]
            obs.token_times_ns = times
            obs.token_chunks = 64
            obs.finished_ns = times[-1] + 100_000
            obs.status = 200
            obs.done = True
            obs.output_tokens = 64
            obs.prompt_tokens = 8
            obs.text = "w " * 64
            if flavour == "ollama":
                obs.server_timings = {"eval_count": 64.0, "eval_s": 1.28 + i * 1e-9,
                    "prompt_eval_count": 8.0, "prompt_eval_s": 0.001, "load_s": 0.0,
                    "total_s": 1.33}
            records.append(generation_record(obs, RunContext(model="stamp",
                pass_index=1 + i // 10, prompt_index=i % 10, warmup=False, attempts=1,
                queue_s=0.0, bench_start_ns=1_000_000_000, keep_text=False, prices=None)))
            del obs, times
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        out[f"{flavour}_{n}"] = used / n
        del records
print(json.dumps(out))
""".replace("COUNTS", repr(tuple(counts)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=HERE.parent)  # fmt: skip
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return {"bytes_per_run": json.loads(proc.stdout)}


# -- throughput ----------------------------------------------------------------------------


def throughput(server: StampServer, opts: argparse.Namespace) -> list[dict[str, Any]]:
    """Streams x 100 tokens/s (10 ms apart), phase-shifted, headless, until lag p99 > 3 ms."""
    rows = []
    for conc in opts.ramp:
        row = measure(server, "ometer", "headless", "openai", "shift", 10.0, conc, opts,
                      tokens=150, runs=conc)  # fmt: skip
        rows.append(row)
        print(f"  ramp {conc:4d} streams: {fmt(row['chunks_per_s'], 0)} chunks/s, lag p99 "
              f"{fmt(row['lag_ms']['p99'], 2)} ms, cpu {fmt(cpu_pct(row), 0)}%, "
              f"late {row['late_requests']}", flush=True)  # fmt: skip
        if (row["lag_ms"]["p99"] or 99) > 3.0 and conc >= 200:
            break
    return rows


def telemetry_name(interval_s: float) -> str:
    """``off``, ``1 s``, ``0.25 s``."""
    return f"{interval_s:g} s" if interval_s else "off"


def telemetry_arg(text: str) -> str:
    """``off`` or an interval the sampler takes (at least 0.25 s)."""
    if text == "off":
        return text
    try:
        ok = float(text) >= 0.25
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"expected off or seconds >= 0.25, got {text!r}")
    return text


def telemetry_settings(opts: argparse.Namespace) -> list[float]:
    """The telemetry intervals each ometer-tui configuration runs with, interleaved and
    repeated (0: off)."""
    one = [0.0 if t == "off" else float(t) for t in opts.telemetry]
    return one * int(opts.repeat)


def load_name(waves: int, open_loop: bool) -> str:
    """``1 wave``, ``closed x4`` (four waves back to back), ``open x4`` (at a fixed rate)."""
    if open_loop:
        return f"open x{waves}"
    return "1 wave" if waves == 1 else f"closed x{waves}"


def loads(opts: argparse.Namespace) -> list[tuple[int, bool]]:
    """(waves, open loop?) for each load a configuration runs under."""
    out = [(w, False) for w in opts.waves]
    if opts.open_loop:
        out += [(w, True) for w in opts.waves if w > 1] or [(4, True)]
    return out


def cpu_pct(row: dict[str, Any]) -> float | None:
    if row.get("cpu_s") is None or not row.get("wall_s"):
        return None
    return 100 * float(row["cpu_s"]) / float(row["wall_s"])


# -- output -----------------------------------------------------------------------------


def fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per (flavour, mode, phase, interval, concurrency); the peer beside."""
    peer = {(r["phase"], r["interval_ms"], r["concurrency"], r.get("load", "1 wave")): r
            for r in rows if r["tool"] == "peer"}  # fmt: skip
    head = ("| flavour | mode | phase | ms/tok | streams | load | telem | runs | clock | "
            "TTFT err p50/p90/p99 ms | "
            "lag p50/p90/p99 ms | send err p50/p99 ms | decode err p50 / max % | late | "
            "peer TTFT err p50/p90/p99 ms"
            " | peer lag p50/p99 ms | peer decode err p50 % |")  # fmt: skip
    print(head)
    print("|" + "---|" * head.count("|")[:-1] if False else "|" + "---|" * (head.count("|") - 1))
    for r in rows:
        if r["tool"] != "ometer":
            continue
        t, lag, d = r["ttft_err_ms"], r["lag_ms"], r["decode_err_pct"]
        key = (r["phase"], r["interval_ms"], r["concurrency"], r.get("load", "1 wave"))
        p = peer.get(key) if (
            r["flavour"] == "openai" and r["mode"] == "headless") else None  # fmt: skip
        if p is not None:
            pt, pl, pd = p["ttft_err_ms"], p["lag_ms"], p["decode_err_pct"]
            peer_cells = (f"{fmt(pt['p50'])} / {fmt(pt['p90'])} / {fmt(pt['p99'])} | "
                          f"{fmt(pl['p50'])} / {fmt(pl['p99'])} | {fmt(pd['p50'])}")  # fmt: skip
            if p.get("error"):
                peer_cells = "failed | | "
        else:
            peer_cells = " | | "
        mark = f"{r['late_requests']}" + (" !" if r["late_requests"] else "")
        if r.get("error"):
            mark += " ERR"
        clock = f"kernel {r.get('kernel_clock_runs', 0)}/{r['matched']}"
        if r.get("kernel_send_runs"):
            clock += f", tx {r['kernel_send_runs']}"
        print(f"| {r['flavour']} | {r['mode']} | {r['phase']} | {r['interval_ms']:.0f} | "
              f"{r['concurrency']} | {r.get('load', '1 wave')} | {telem_cell(r)} | "
              f"{r['runs']} | {clock} | "
              f"{fmt(t['p50'])} / {fmt(t['p90'])} / {fmt(t['p99'])} | "
              f"{fmt(lag['p50'])} / {fmt(lag['p90'])} / {fmt(lag['p99'])} | "
              f"{send_cells(r)} | "
              f"{fmt(d['p50'])} / {fmt(r['decode_err_abs_max_pct'])} | {mark} | "
              f"{peer_cells} |")  # fmt: skip
    asked = {(r["concurrency"], r.get("load", "1 wave")): r["peer_asked"] for r in rows
             if r["tool"] == "peer" and r.get("peer_asked")}  # fmt: skip
    if asked:
        print("\nWhat the peer was asked (guidellm's own profiles):")
        for (conc, load), text in asked.items():
            print(f"- {conc} streams, {load}: {text}")
    floor = [r for r in rows if r["tool"] == "bare"]
    if floor:
        print("\nThe floor: a bare asyncio protocol client (no HTTP library, no parsing):\n")
        head = ("| flavour | phase | ms/tok | streams | load | TTFT err p50/p90/p99 ms | "
                "lag p50/p90/p99 ms | send err p50/p99 ms | late |")  # fmt: skip
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for r in floor:
            t, lag = r["ttft_err_ms"], r["lag_ms"]
            print(f"| {r['flavour']} | {r['phase']} | {r['interval_ms']:.0f} | "
                  f"{r['concurrency']} | {r.get('load', '1 wave')} | "
                  f"{fmt(t['p50'])} / {fmt(t['p90'])} / {fmt(t['p99'])} | "
                  f"{fmt(lag['p50'])} / {fmt(lag['p90'])} / {fmt(lag['p99'])} | "
                  f"{send_cells(r)} | {r['late_requests']} |")  # fmt: skip


def telem_cell(row: dict[str, Any]) -> str:
    name = row.get("telemetry", "off")
    return name if name == "off" else f"{name} ({row.get('telemetry_polls') or 0} polls)"


def print_telemetry_table(rows: list[dict[str, Any]]) -> None:
    """Per configuration, the TTFT error with telemetry off and with each interval (every
    repeat, in the order run), and the server's polls: on and off side by side."""
    groups: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        if r["tool"] != "ometer":
            continue
        key = (r["flavour"], r["mode"], r["phase"], r["interval_ms"], r["concurrency"],
               r.get("load", "1 wave"))  # fmt: skip
        groups.setdefault(key, {}).setdefault(r.get("telemetry", "off"), []).append(r)
    names = list(dict.fromkeys(r.get("telemetry", "off") for r in rows if r["tool"] == "ometer"))
    if len(names) < 2:
        return
    print("\nTelemetry off and on (TTFT error p50 / p99 ms, each repeat; polls answered):\n")
    head = "| flavour | mode | phase | ms/tok | streams | load | " + " | ".join(
        f"telemetry {n}" for n in names) + " |"  # fmt: skip
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for key, by_name in groups.items():
        cells = []
        for n in names:
            runs = by_name.get(n, [])
            cells.append("; ".join(
                f"{fmt(r['ttft_err_ms']['p50'])} / {fmt(r['ttft_err_ms']['p99'])}"
                + (f" ({r.get('telemetry_polls') or 0})" if n != "off" else "")
                + (" !" if r["late_requests"] else "")
                for r in runs) or "-")  # fmt: skip
        flavour, mode, phase, interval, conc, load = key
        print(f"| {flavour} | {mode} | {phase} | {interval:.0f} | {conc} | {load} | "
              + " | ".join(cells) + " |")  # fmt: skip


def send_cells(row: dict[str, Any]) -> str:
    send = row.get("send_err_ms") or {}
    return f"{fmt(send.get('p50'))} / {fmt(send.get('p99'))}"


def hold_cpu_latency_zero() -> int:
    """Ask the kernel for zero CPU wake-up latency until the returned fd is closed."""
    fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    os.write(fd, (0).to_bytes(4, sys.byteorder))
    return fd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ometer-tui timing accuracy vs the wire")
    sub = parser.add_subparsers(dest="cmd")
    child = sub.add_parser("child")
    child.add_argument("--mode", choices=(*MODES, CHART_MODE, THREAD_MODE, "bare"),
                       required=True)  # fmt: skip
    child.add_argument("--flavour", choices=FLAVOURS, required=True)
    child.add_argument("--url", required=True)
    child.add_argument("--conc", type=int, required=True)
    child.add_argument("--runs", type=int, required=True)
    child.add_argument("--tokens", type=int, required=True)
    child.add_argument("--out", required=True)
    child.add_argument("--rpm", type=float, help="open loop: requests per minute")
    child.add_argument("--telemetry-interval", type=float, default=0.0,
                       help="sample the server's telemetry every S seconds (0: off)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a few configurations only")
    parser.add_argument("--peer", default="/tmp/guidellm-venv/bin/guidellm")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare asyncio client (the machine's floor)"
    )
    parser.add_argument(
        "--pm-qos",
        action="store_true",
        help="hold /dev/cpu_dma_latency at 0 during the run (root): idle CPUs poll instead of "
        "halting, which removes the wake-up cost of an idle (virtual) CPU from every figure",
    )
    parser.add_argument("--only", choices=("grid", "ramp", "startup", "memory"), nargs="*")
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--flavours", nargs="*", default=list(FLAVOURS))
    parser.add_argument("--concurrency", type=int, nargs="*", default=list(CONCURRENCY))
    parser.add_argument("--intervals", type=float, nargs="*", default=list(INTERVALS))
    parser.add_argument("--phases", nargs="*", default=list(PHASES))
    parser.add_argument(
        "--waves", type=int, nargs="*", default=[1],
        help="runs per configuration as waves x streams, closed-loop (1: one wave)",
    )  # fmt: skip
    parser.add_argument(
        "--open-loop", action="store_true",
        help="also run each multi-wave load open-loop (a fixed request rate; the peer at "
        "its constant-rate profile)",
    )  # fmt: skip
    parser.add_argument(
        "--telemetry", nargs="*", default=["off"], metavar="off|S", type=telemetry_arg,
        help="server telemetry settings each ometer-tui configuration runs with, back to "
        "back: off and/or a sampling interval in seconds (e.g. off 1 0.25)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="run the --telemetry settings of each configuration this many times, alternating",
    )  # fmt: skip
    parser.add_argument("--ramp", type=int, nargs="*", default=[50, 100, 150, 200, 300])
    parser.add_argument("--out-dir", default=str(HERE / "out"))
    opts = parser.parse_args(argv)
    if opts.cmd == "child":
        if opts.mode == "bare":
            child_bare(opts)
        else:
            child_ometer(opts)
        return
    if opts.quick:
        opts.concurrency, opts.intervals, opts.phases = [1, 100], [20.0], ["shift"]
        opts.ramp = [100]
    parts = set(opts.only or ("grid", "ramp", "startup", "memory"))
    peer_ok = not opts.no_peer and Path(opts.peer).exists()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"pm-qos {'held at 0' if opts.pm_qos else 'off'}; "
          f"{os.cpu_count()} cores; {platform.python_version()}", flush=True)  # fmt: skip
    pin(CLIENT_CPU)
    qos = hold_cpu_latency_zero() if opts.pm_qos else None
    server = StampServer()
    doc: dict[str, Any] = {"started": time.time(), "load_before": load, "rows": [],
                           "python": platform.python_version()}  # fmt: skip
    t_start = time.monotonic()
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"accuracy-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def save() -> None:
        path.write_text(json.dumps(doc, indent=1))

    try:
        if "grid" in parts:
            for flavour in opts.flavours:
                for mode in opts.modes:
                    for phase in opts.phases:
                        for interval in opts.intervals:
                            for conc in opts.concurrency:
                                for waves, open_loop in loads(opts):
                                    for telem in telemetry_settings(opts):
                                        row = measure(server, "ometer", mode, flavour,
                                                      phase, interval, conc, opts,
                                                      waves=waves, open_loop=open_loop,
                                                      telemetry_s=telem)  # fmt: skip
                                        doc["rows"].append(row)
                                        progress(row)
            if not opts.no_floor:
                for flavour in opts.flavours:
                    for phase in opts.phases:
                        for interval in opts.intervals:
                            for conc in opts.concurrency:
                                for waves in opts.waves:
                                    row = measure(server, "bare", "bare", flavour, phase,
                                                  interval, conc, opts, waves=waves)  # fmt: skip
                                    doc["rows"].append(row)
                                    progress(row)
            if peer_ok:
                doc["peer_version"] = peer_version(opts.peer)
                print(f"peer: guidellm {doc['peer_version']} ({opts.peer})", flush=True)
                for phase in opts.phases:
                    for interval in opts.intervals:
                        for conc in opts.concurrency:
                            for waves, open_loop in loads(opts):
                                row = measure(server, "peer", "headless", "openai", phase,
                                              interval, conc, opts, waves=waves,
                                              open_loop=open_loop)  # fmt: skip
                                doc["rows"].append(row)
                                progress(row)
            save()
        if "ramp" in parts:
            print("throughput ramp (openai, headless, 10 ms/token, phase-shifted):", flush=True)
            doc["ramp"] = throughput(server, opts)
            save()
        if "startup" in parts:
            doc["startup"] = startup(server)
            print("start-up:", json.dumps(doc["startup"]), flush=True)
        if "memory" in parts:
            doc["memory"] = memory()
            print("memory:", json.dumps(doc["memory"]), flush=True)
    finally:
        server.stop()
        if qos is not None:
            os.close(qos)
    doc["pm_qos"] = bool(opts.pm_qos)
    doc["load_after"] = os.getloadavg()
    doc["elapsed_s"] = time.monotonic() - t_start
    save()
    print()
    if doc["rows"]:
        print_table(doc["rows"])
        print_telemetry_table(doc["rows"])
    la = doc["load_after"]
    print(f"\nload average after: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; "
          f"{doc['elapsed_s']:.0f} s; raw: {path}")  # fmt: skip


def progress(row: dict[str, Any]) -> None:
    t, lag = row["ttft_err_ms"], row["lag_ms"]
    print(f"  {row['tool']:6s} {row['mode']:8s} {row['flavour']:6s} {row['phase']:5s} "
          f"{row['interval_ms']:.0f}ms c={row['concurrency']:3d} {row['load']}: TTFT err "
          f"{fmt(t['p50'])}/{fmt(t['p99'])} ms, lag {fmt(lag['p50'])}/{fmt(lag['p99'])} ms, "
          f"send {fmt(row['send_err_ms']['p50'])}/{fmt(row['send_err_ms']['p99'])} ms, "
          f"decode {fmt(row['decode_err_pct']['p50'])}%, n={row['matched']}/{row['runs']}, "
          f"late {row['late_requests']}, cpu {fmt(cpu_pct(row), 0)}%, "
          f"kernel-stamped {row['kernel_clock_runs']} (send {row['kernel_send_runs']}), "
          f"telemetry {telem_cell(row)}"
          + (f" ERROR {row['error'][-300:]}" if row.get("error") else ""), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
