"""SVG snapshots of the results screens at 120x36, from a hand-built result.

Nothing measured and no clock is in the picture: the result is built here with fixed
values, the elapsed time is hidden, and the endpoint URL is fixed. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo, ServerInfo
from ometer_tui.demo.catalogue import BY_NAME
from ometer_tui.tui.screens.export_menu import ExportMenu
from ometer_tui.tui.screens.results import ResultsScreen
from ometer_tui.tui.screens.run_detail import RunDetailScreen

SIZE = (120, 36)
SnapCompare = Callable[..., bool]

WORDS = "The sea keeps its own time and every wave arrives exactly when the schedule says"


def info(name: str) -> ModelInfo:
    m = BY_NAME[name]
    return ModelInfo(
        name=m.name, size_bytes=m.size_bytes, parameter_size=m.parameter_size,
        quantization=m.quantization, context_length=m.context_length, family=m.family,
        capabilities=m.capabilities,
    )


def record(model: str, i: int, *, ttft: float, interval: float, tokens: int,
           warmup: bool = False, visible_delay: float = 0.0, fail: bool = False,
           embed: bool = False) -> RunRecord:
    start = float(i) * 2.0
    if fail:
        return RunRecord(
            model=model, pass_index=0 if warmup else i, prompt_index=0, warmup=warmup,
            ok=False, status=500, error="500 simulated internal error (fault: server_error)",
            error_kind="http", started_at_s=start, finished_at_s=start + 0.02,
        )
    if embed:
        latency = ttft + 0.001 * i
        return RunRecord(
            model=model, pass_index=0 if warmup else i, prompt_index=0, warmup=warmup,
            ok=True, status=200, latency_s=latency, input_tokens=9, input_tps=9 / latency,
            started_at_s=start, finished_at_s=start + latency,
        )
    jitter = 0.001 * i
    t = ttft + jitter
    e2e = t + interval * (tokens - 1)
    decode = (tokens - 1) / (e2e - t)
    eval_s = interval * tokens
    return RunRecord(
        model=model, pass_index=0 if warmup else i, prompt_index=0, warmup=warmup, ok=True,
        status=200, ttft_s=t, ttft_visible_s=t + visible_delay, e2e_s=e2e,
        output_tokens=tokens, tokens_source="usage", decode_tps=decode,
        tpot_s=1 / decode, server_decode_tps=tokens / eval_s, prefill_tps=2000.0,
        prompt_tokens=17, load_s=0.0,
        server_timings={"load_s": 0.0, "prompt_eval_s": 0.0085, "eval_s": eval_s,
                        "total_s": e2e - 0.004, "eval_count": float(tokens),
                        "prompt_eval_count": 17.0},
        clock_diff={"ttft_minus_server_prefill_s": t - 0.0085,
                    "decode_minus_server_eval_s": (e2e - t) - eval_s * (tokens - 1) / tokens},
        started_at_s=start, finished_at_s=start + e2e,
        text=" ".join(WORDS.split()[: min(tokens, 14)]) + " …",
    )


def fixed_result() -> BenchmarkResult:
    names = ("demo-fast:1b", "demo-think:7b", "demo-slow:70b", "demo-embed:335m",
             "fault-server-error")
    endpoint = Endpoint(name="demo (simulated)", url="http://127.0.0.1:11434",
                        api=ApiFlavour.OLLAMA, simulated=True)
    plan = BenchmarkPlan(endpoint=endpoint, models=tuple(info(n) for n in names),
                         passes=5, warmup=1)
    result = BenchmarkResult(
        plan=plan, started_at=datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        finished_at=datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC),
        server=ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.12.0"),
        warmup_requests=len(names),
    )
    specs: dict[str, dict[str, Any]] = {
        "demo-fast:1b": {"ttft": 0.031, "interval": 0.005, "tokens": 64},
        "demo-think:7b": {"ttft": 0.052, "interval": 0.010, "tokens": 40,
                          "visible_delay": 0.16},
        "demo-slow:70b": {"ttft": 0.252, "interval": 0.060, "tokens": 24},
        "demo-embed:335m": {"ttft": 0.021, "interval": 0.0, "tokens": 0, "embed": True},
        "fault-server-error": {"ttft": 0.0, "interval": 0.0, "tokens": 0, "fail": True},
    }
    for name in names:
        spec = specs[name]
        runs = 2 if name == "demo-slow:70b" else 5  # the slow one was cancelled
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
    def __init__(self, screen_factory: Callable[[], Any]) -> None:
        super().__init__()
        self._factory = screen_factory

    def on_mount(self) -> None:
        self.push_screen(self._factory())


def results_app() -> SnapHost:
    result = fixed_result()
    return SnapHost(lambda: ResultsScreen.from_result(result, show_clock=False))


def test_results_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(results_app(), terminal_size=SIZE)


def test_results_sorted_by_rate_per_run_view(snap_compare: SnapCompare) -> None:
    async def sort_and_expand(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("v")
        for _ in range(4):  # status, model, TTFT, tok/s
            await pilot.press("s")
        await pilot.pause()

    assert snap_compare(results_app(), terminal_size=SIZE, run_before=sort_and_expand)


def test_results_screen_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(results_app(), terminal_size=(80, 24))


def test_run_detail(snap_compare: SnapCompare) -> None:
    result = fixed_result()
    app = SnapHost(lambda: RunDetailScreen(result, "demo-think:7b"))

    async def highlight_second_run(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=highlight_second_run)


def test_run_detail_of_a_failing_model(snap_compare: SnapCompare) -> None:
    result = fixed_result()
    app = SnapHost(lambda: RunDetailScreen(result, "fault-server-error"))

    async def highlight_first_measured(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=highlight_first_measured)


def test_export_menu(snap_compare: SnapCompare) -> None:
    result = fixed_result()
    screen = ResultsScreen.from_result(result, show_clock=False)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)
            self.push_screen(ExportMenu(result, folder=Path("/home/me/benchmarks")))

    async def settle(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press("down")  # CSV: the path follows the format
        await pilot.pause()

    assert snap_compare(Host(), terminal_size=SIZE, run_before=settle)
