"""Synthetic benchmark results for the history and compare tests (no server needed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord, ServerTimings
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo, ServerInfo
from ometer_tui.core.secrets import Secret, TokenRef

CANARY = "sk-HISTORYCANARY-0123456789abcdef"


def synthetic_result(
    *,
    runs: int = 12,
    models: tuple[str, ...] = ("llama3:8b",),
    seed: int = 1,
    ttft_ms: float = 120.0,
    tps: float = 40.0,
    error_every: int = 0,
    endpoint_name: str = "lab",
    url: str = "http://127.0.0.1:11434",
    with_canary: bool = False,
    cancelled: bool = False,
    started: datetime | None = None,
) -> BenchmarkResult:
    """A result with ``runs`` measured runs per model (plus one warm-up), noisy figures
    around ``ttft_ms`` and ``tps``; every ``error_every``-th run fails when set."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {CANARY}"} if with_canary else {}
    endpoint = Endpoint(
        name=endpoint_name,
        url=url,
        api=ApiFlavour.OLLAMA,
        token=TokenRef(value=Secret(CANARY)) if with_canary else None,
        headers=headers,
    )
    infos = tuple(
        ModelInfo(name=m, family="llama", parameter_size="8B", quantization="Q4_0") for m in models
    )
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=infos,
        prompts=("one", "two"),
        passes=max(1, runs // 2),
        warmup=1,
        params=GenerationParams(max_tokens=64, temperature=0.0),
    )
    start = started or datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    result = BenchmarkResult(
        plan=plan,
        started_at=start,
        server=ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.5.1"),
        finished_at=start + timedelta(seconds=runs),
        cancelled=cancelled,
        warmup_requests=len(models),
    )
    for info in infos:
        records: list[RunRecord] = []
        t = 0.0
        for i in range(runs + 1):
            warm = i == 0
            fail = bool(error_every) and not warm and i % error_every == 0
            ttft = rng.lognormvariate(0, 0.15) * ttft_ms / 1000
            rate = tps * rng.uniform(0.9, 1.1)
            tokens = 64
            e2e = ttft + (tokens - 1) / rate
            start_s, t = t, t + e2e + 0.01
            if fail:
                rec = RunRecord(
                    model=info.name,
                    pass_index=i // 2 + 1,
                    prompt_index=i % 2,
                    warmup=False,
                    ok=False,
                    status=500,
                    error=f"server echoed {CANARY}" if with_canary else "boom",
                    error_kind="http",
                    started_at_s=start_s,
                    finished_at_s=t,
                )
            else:
                rec = RunRecord(
                    model=info.name,
                    pass_index=0 if warm else i // 2 + 1,
                    prompt_index=i % 2,
                    warmup=warm,
                    ok=True,
                    status=200,
                    ttft_s=ttft,
                    ttft_visible_s=ttft * 1.01,
                    e2e_s=e2e,
                    output_tokens=tokens,
                    tokens_source="usage",
                    decode_tps=rate,
                    tpot_s=(e2e - ttft) / (tokens - 1),
                    itl_mean_s=1 / rate,
                    itl_p50_s=1 / rate,
                    itl_p99_s=1.5 / rate,
                    server_decode_tps=rate * 1.02,
                    prompt_tokens=12,
                    server_timings=ServerTimings.from_mapping(
                        {"eval_count": tokens, "eval_s": (tokens - 1) / rate / 1.02}
                    ),
                    started_at_s=start_s,
                    finished_at_s=t,
                )
            records.append(rec)
        result.models[info.name] = ModelResult(
            info=info,
            records=records,
            summary=summarise(info.name, records),
            phase=ModelPhase.DONE,
            backend={"server": "ollama"},
        )
    return result
