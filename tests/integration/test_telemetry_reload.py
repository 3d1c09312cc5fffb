"""A model Ollama unloads and loads again during a benchmark is seen by the sampler
(/api/ps) and flags the run it touched, in the export and the headless summary (issue
#13, §3)."""

from __future__ import annotations

import asyncio
import json

import httpx

from ometer_tui.core.bench.events import RunFinished
from ometer_tui.core.bench.plan import BenchmarkPlan, RateLimit
from ometer_tui.core.bench.runner import BenchmarkRunner
from ometer_tui.core.export import to_json
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo
from ometer_tui.core.telemetry.recording import SourceKind
from ometer_tui.core.telemetry.sampler import TelemetrySampler
from ometer_tui.core.telemetry.summary import summary_lines
from ometer_tui.demo.server import run_in_thread

MODEL = "demo-fast:1b"


async def test_an_unload_and_reload_between_runs_flags_the_run_that_reloaded() -> None:
    with run_in_thread(flavours=frozenset({"ollama"})) as demo:
        endpoint = Endpoint(name="d", url=demo.url, api=ApiFlavour.OLLAMA)
        plan = BenchmarkPlan(
            endpoint=endpoint, models=(ModelInfo(name=MODEL),), passes=2, warmup=0,
            params=GenerationParams(max_tokens=8),
            rate_limit=RateLimit(requests_per_minute=30),  # the second run 2 s after the first
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=demo.url) as client:  # loaded before: seen
            assert (await client.post("/api/generate", json={"model": MODEL})).status_code == 200
        sampler = TelemetrySampler(endpoint, interval_s=0.25)
        unloaded = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        async def unload() -> None:  # as `ollama stop` does: keep_alive 0, no prompt
            async with httpx.AsyncClient(base_url=demo.url) as client:
                body = {"model": MODEL, "keep_alive": 0}
                assert (await client.post("/api/generate", json=body)).status_code == 200
            unloaded.set()

        def on_event(event: object) -> None:
            sampler.observe(event)
            if isinstance(event, RunFinished) and not tasks:
                tasks.append(asyncio.get_running_loop().create_task(unload()))

        runner = BenchmarkRunner(plan, on_event)
        result = await sampler.during(runner.run(), lambda: runner.result)
        assert unloaded.is_set()
        records = result.models[MODEL].records
        assert [r.ok for r in records] == [True, True]
        rec = result.telemetry
        assert rec is not None  # /api/ps also gives the context length and keep-alive expiry
        assert rec.series[(SourceKind.OLLAMA_PS, "context_length", MODEL)].last == 131072
        assert f"keep_alive_expires_at:{MODEL}" in rec.server
        doc = json.loads(to_json(result))["telemetry"]
        events = {e["event"]: e for e in doc["model_events"]}
        # unloaded ~0.1 s after the start, the second run 2 s after it: several samples
        # see it gone; the run in flight when it came back is the second
        assert list(events) == ["unloaded", "reloaded"], doc["model_events"]
        assert events["reloaded"]["runs"] == [1]
        assert any(f"{MODEL} reloaded between" in line and "runs touched: 1" in line
                   for line in summary_lines(result))  # fmt: skip
