"""Server information over real HTTP on loopback: the demo in both flavours, its auth,
a metrics URL elsewhere, and every fault a page can have (each said, none breaking)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from aiohttp import web

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.telemetry.server_info import MAX_JSON_BYTES, fetch_server_details
from ometer_tui.demo import ollama as demo_ollama
from ometer_tui.demo import openai as demo_openai
from ometer_tui.demo.catalogue import BY_NAME, CATALOGUE
from ometer_tui.demo.server import run_in_thread

TOKEN = "sk-CANARY-serverinfo-7f3a9c1e"


def _token(value: str) -> TokenRef:
    return TokenRef(value=Secret(value))


async def test_the_ollama_demo_says_its_version_and_the_models_it_loaded() -> None:
    with run_in_thread(flavours=frozenset({"ollama"})) as demo:
        endpoint = Endpoint(name="d", url=demo.url, api=ApiFlavour.OLLAMA)
        before = await fetch_server_details(endpoint)
        assert (before.kind, before.version) == ("Ollama", demo_ollama.VERSION)
        assert before.models == () and before.models_loaded and before.unavailable == ()
        async with httpx.AsyncClient(base_url=demo.url) as client:
            chat = {"model": "demo-fast:1b", "stream": False, "options": {"num_predict": 1},
                    "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
            assert (await client.post("/api/chat", json=chat)).status_code == 200
        after = await fetch_server_details(endpoint)
        (model,) = after.models
        assert model.name == "demo-fast:1b" and model.vram_bytes == 0
        assert model.context_length == BY_NAME["demo-fast:1b"].context_length
        assert model.size_bytes == BY_NAME["demo-fast:1b"].size_bytes
        assert model.expires_at is not None


async def test_the_openai_demo_reads_as_vllm_with_version_models_and_uptime() -> None:
    with run_in_thread(flavours=frozenset({"openai"})) as demo:
        endpoint = Endpoint(name="d", url=demo.url, api=ApiFlavour.OPENAI)
        d = await fetch_server_details(endpoint)
        assert (d.kind, d.version) == ("vLLM", demo_openai.VERSION)
        assert [m.name for m in d.models] == [m.name for m in CATALOGUE]
        assert d.uptime_s is not None and 0 <= d.uptime_s < 600
        # the pages it does not have (/api/version, /props, /health) are absent, not failing
        assert d.unavailable == () and "/props" not in d.answered


async def test_the_endpoints_token_is_sent_and_a_refusal_never_shows_it() -> None:
    with run_in_thread(require_token=TOKEN) as demo:
        good = Endpoint(name="d", url=demo.url, api=ApiFlavour.OLLAMA, token=_token(TOKEN))
        assert (await fetch_server_details(good)).kind == "Ollama"
        assert demo.stats().last_headers.get("authorization") == f"Bearer {TOKEN}"
        wrong = Endpoint(name="d", url=demo.url, api=ApiFlavour.OLLAMA, token=_token("sk-no"))
        d = await fetch_server_details(wrong)
        assert d.empty and d.problems() == [
            "401 Unauthorized: asks for other credentials (/api/version, /api/ps)"
        ]
        assert TOKEN not in repr(d) and "sk-no" not in repr(d)


async def test_a_metrics_url_elsewhere_gives_the_uptime_and_gets_no_credentials() -> None:
    # another host: 127.0.0.2 (loopback on Linux); the same host on another port gets
    # them, as a vLLM /metrics on the endpoint's own machine should
    with (
        run_in_thread(flavours=frozenset({"ollama"})) as demo,
        run_in_thread("127.0.0.2", flavours=frozenset({"openai"})) as metrics,
    ):
        endpoint = Endpoint(name="d", url=demo.url, api=ApiFlavour.OLLAMA, token=_token(TOKEN),
                            metrics_url=f"{metrics.url}/metrics")  # fmt: skip
        d = await fetch_server_details(endpoint)
        assert d.kind == "Ollama" and d.uptime_s is not None
        assert "/metrics" in d.answered
        assert "authorization" not in metrics.stats().last_headers  # another host's page
        assert metrics.stats().by_path == {"/metrics": 1}


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_missing_slow_huge_malformed_and_other_auth_pages_are_each_said() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/props":  # slow
            await asyncio.sleep(5)
        if path == "/v1/models":  # huge
            return web.Response(body=b"x" * (MAX_JSON_BYTES + 1))
        if path == "/version":  # malformed
            return web.Response(text="<html>not json</html>")
        if path == "/info":  # other credentials
            raise web.HTTPForbidden()
        if path == "/metrics":
            return web.Response(text="process_start_time_seconds 1\n")
        if path == "/health":
            return web.Response(text=json.dumps({"status": "ok"}))
        raise web.HTTPNotFound()  # /api/version, /api/ps: missing

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    async for url in _serve(app):
        d = await fetch_server_details(Endpoint(name="f", url=url), timeout_s=0.5)
        assert dict(d.unavailable) == {
            "/props": "no answer within 0.5 s",
            "/version": "not JSON",
            "/v1/models": f"too large: {MAX_JSON_BYTES + 1} bytes (cap {MAX_JSON_BYTES})",
            "/info": "403 Forbidden: asks for other credentials",
        }
        assert d.answered == ("/health", "/metrics") and d.healthy
        assert d.uptime_s is not None  # what did answer is still read


async def test_an_endpoint_that_does_not_answer_says_so_once() -> None:
    d = await fetch_server_details(Endpoint(name="x", url="http://127.0.0.1:9"))
    assert d.empty and len(d.problems()) == 1
    assert d.problems()[0].startswith("cannot connect (/api/version, /api/ps, /props")
