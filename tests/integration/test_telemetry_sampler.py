"""The sampler against real HTTP on loopback: every fault leaves the benchmark alone and
shows "unavailable: <reason>"; credentials go where they belong and nowhere else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.export import to_json
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.telemetry.recording import SourceKind
from ometer_tui.core.telemetry.sampler import TelemetrySampler
from ometer_tui.core.telemetry.summary import CurrentValue, current_values
from ometer_tui.demo.server import run_in_thread

GOOD = '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 2\n'
TOKEN = "sk-CANARY-telemetry-5b1e2c9d7a"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _endpoint(url: str, token: str | None = None) -> Endpoint:
    ref = TokenRef(value=Secret(token)) if token else None
    return Endpoint(name="t", url=url, token=ref)


async def _discover(handler: Handler, **kwargs: object) -> dict[SourceKind, str]:
    async for url in _serve(handler):
        sampler = TelemetrySampler(_endpoint(url), **kwargs)  # type: ignore[arg-type]
        states = await sampler.discover()
        await sampler.stop()
        return {k: s.describe() for k, s in states.items()}
    raise AssertionError("unreachable")


async def test_a_good_metrics_page_is_available_and_the_rest_say_why_not() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/metrics":
            return web.Response(text=GOOD)
        raise web.HTTPNotFound()

    states = await _discover(handler)
    assert states[SourceKind.PROMETHEUS] == "ok"
    assert states[SourceKind.OLLAMA_PS] == "unavailable: 404 Not Found"


async def test_slow_source_times_out_within_the_poll_deadline() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return web.Response(text=GOOD)

    states = await _discover(handler, discovery_timeout_s=0.3)
    assert states[SourceKind.PROMETHEUS] == "unavailable: no answer within 0.3 s"


async def test_huge_source_is_cut_at_the_cap() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse it early
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"#" * 1024 + b"\n")
        return response

    states = await _discover(handler, max_body_bytes=8 * 1024)
    assert states[SourceKind.PROMETHEUS].startswith("unavailable: too large")

    async def declared(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"#\n" * 10_000)

    states = await _discover(declared, max_body_bytes=8 * 1024)
    assert states[SourceKind.PROMETHEUS] == "unavailable: too large: 20000 bytes (cap 8192)"


async def test_malformed_sources() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/metrics":
            return web.Response(text='vllm:num_requests_running{model_name="m 3\n')
        return web.Response(text="{not json")

    states = await _discover(handler)
    assert states[SourceKind.PROMETHEUS].startswith("unavailable: not Prometheus text")
    assert states[SourceKind.OLLAMA_PS] == "unavailable: not JSON"
    assert states[SourceKind.LLAMACPP_SLOTS] == "unavailable: not JSON"


async def test_other_auth_is_named_and_the_token_goes_only_to_its_own_host() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer right":
            raise web.HTTPUnauthorized()
        return web.Response(text=GOOD)

    async for url in _serve(handler):
        wrong = TelemetrySampler(_endpoint(url, TOKEN))
        states = await wrong.discover()
        await wrong.stop()
        reason = states[SourceKind.PROMETHEUS].describe()
        assert reason == "unavailable: 401 Unauthorized: asks for other credentials"
        assert f"Bearer {TOKEN}" in seen  # the endpoint's token was sent to its host
        assert TOKEN not in repr(wrong.recording)
        right = TelemetrySampler(_endpoint(url, "right"))
        assert (await right.discover())[SourceKind.PROMETHEUS].available
        await right.stop()
        # a metrics URL on another host (localhost vs 127.0.0.1) gets no credentials
        seen.clear()
        other = url.replace("127.0.0.1", "localhost") + "/metrics"
        elsewhere = TelemetrySampler(_endpoint(url, "right"), metrics_url=other)
        assert not (await elsewhere.discover())[SourceKind.PROMETHEUS].available
        await elsewhere.stop()
        assert None in seen and "Bearer right" in seen  # none to localhost, ours to ours


async def test_faulty_sources_never_fail_the_benchmark_and_the_token_is_not_exported() -> None:
    """A benchmark on the demo with a metrics URL that stalls, then one that 500s: every
    run succeeds, telemetry says why it has nothing, the export carries no token."""

    async def stall(request: web.Request) -> web.StreamResponse:
        if request.path == "/error":
            raise web.HTTPInternalServerError()
        await asyncio.sleep(3)
        return web.Response(text=GOOD)

    with run_in_thread(require_token=TOKEN) as demo:
        async for bad in _serve(stall):
            for path, reason in (("/stall", "no answer within"), ("/error", "500")):
                endpoint = Endpoint(
                    name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True,
                    token=TokenRef(value=Secret(TOKEN)),
                )  # fmt: skip
                sampler = TelemetrySampler(
                    endpoint, metrics_url=bad + path, interval_s=0.25, discovery_timeout_s=0.3
                )
                plan = BenchmarkPlan(
                    endpoint=endpoint,
                    models=(ModelInfo(name="demo-fast:1b"),),
                    passes=4,
                    warmup=0,
                    concurrency=2,
                    params=GenerationParams(max_tokens=8),
                )
                runner = BenchmarkRunner(plan, sampler.observe)
                await sampler.discover()
                sampler.start()
                result = await runner.run()
                result.telemetry = await sampler.stop()
                summary = result.models["demo-fast:1b"].summary
                assert summary is not None and summary.ok == summary.runs == 4
                prom = result.telemetry.sources[SourceKind.PROMETHEUS]
                assert not prom.available and reason in (prom.reason or "")
                # the demo's own /api/ps answered with the token and was sampled
                assert result.telemetry.sources[SourceKind.OLLAMA_PS].available
                text = to_json(result)
                assert TOKEN not in text
                assert json.loads(text)["telemetry"]["sources"][0]["reason"].startswith(
                    reason.split()[0]
                )


async def test_demo_metrics_follow_its_real_requests_and_land_in_the_export() -> None:
    """The demo's vLLM-style /metrics: requests running rise during a concurrent run, the
    server's TTFT histogram counts every request, and the series are exported."""
    with run_in_thread() as demo:
        endpoint = Endpoint(name="demo", url=demo.url, api=ApiFlavour.OPENAI, simulated=True)
        sampler = TelemetrySampler(endpoint, interval_s=0.25)
        plan = BenchmarkPlan(
            endpoint=endpoint,
            models=(ModelInfo(name="demo-medium:8b"),),
            passes=8,
            warmup=0,
            concurrency=4,
            params=GenerationParams(max_tokens=40),
        )
        runner = BenchmarkRunner(plan, sampler.observe)
        found: list[set[SourceKind]] = []
        result = await sampler.during(
            runner.run(),
            lambda: runner.result,
            on_discovered=lambda states: found.append(
                {k for k, s in states.items() if s.available}
            ),
        )
        assert found == [{SourceKind.PROMETHEUS, SourceKind.OLLAMA_PS}]
        rec = result.telemetry
        assert rec is not None and rec.stopped_ns is not None
    running = rec.series[(SourceKind.PROMETHEUS, "requests_running", "")]
    assert running.name == "vllm:num_requests_running"
    assert max(v for _, v in running.points) >= 2
    doc = json.loads(to_json(result))["telemetry"]
    (ttft,) = [h for h in doc["histograms"] if h["metric"] == "server_ttft"]
    assert ttft["model"] == "demo-medium:8b" and ttft["count"] == 8
    exported = {(s["source"], s["metric"]) for s in doc["series"]}
    assert {("prometheus", "requests_running"), ("prometheus", "generation_tokens")} <= exported
    assert ("ollama_ps", "models_loaded") in exported
    sample = next(s for s in doc["series"] if s["metric"] == "requests_running")["samples"]
    assert all(isinstance(t, float) and isinstance(v, int | float) for t, v in sample)
    (cmp,) = doc["ttft_client_vs_server"]
    assert cmp["server_source"].startswith("vllm:time_to_first_token_seconds")


async def test_a_source_that_turns_slow_mid_run_is_dropped_and_the_rest_go_on() -> None:
    """/metrics answers at discovery, then stalls: each poll gives up within 80 % of the
    interval, and after 5 in a row the source is no longer polled; /api/ps goes on."""
    calls = {"metrics": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/ps":
            return web.json_response({"models": [{"name": "m", "size": 10, "size_vram": 4}]})
        if request.path == "/metrics":
            calls["metrics"] += 1
            if calls["metrics"] > 1:
                await asyncio.sleep(3)
            return web.Response(text=GOOD)
        raise web.HTTPNotFound()

    seen: list[list[CurrentValue]] = []
    async for url in _serve(handler):
        sampler = TelemetrySampler(
            _endpoint(url), interval_s=0.25, on_sample=lambda r: seen.append(current_values(r))
        )
        await sampler.discover()
        sampler.start()
        prom = sampler.recording.sources[SourceKind.PROMETHEUS]
        for _ in range(200):  # up to 20 s on a loaded machine; ends when dropped
            if not prom.polling:
                break
            await asyncio.sleep(0.1)
        polls_when_dropped = calls["metrics"]
        await asyncio.sleep(0.6)
        rec = await sampler.stop()
    assert prom.describe() == (
        "unavailable: no answer within 0.2 s (stopped after 5 failures in a row)"
    )
    assert polls_when_dropped == calls["metrics"] == 6  # discovery + 5 failed polls
    ps = rec.series[(SourceKind.OLLAMA_PS, "size_vram", "m")]
    assert len(ps.points) > 6 and rec.sources[SourceKind.OLLAMA_PS].available
    assert seen and {v.metric for v in seen[-1]} >= {"size_vram", "requests_running"}
