"""A short sweep against a real llama.cpp server (``xllamacpp`` + SmolLM2-135M, 4 slots
with continuous batching, see tests/support/llama_server.py): concurrency 1 and 4, SLO
figures per step, more requests per second with the slots busy. Skipped, with the reason
in the summary, where xllamacpp or the model is missing.

Kept small (8 requests of 8 tokens a step): on this shared 2-core machine one 16-token
request took 13 s at concurrency 1 with the load average at 9."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.slo import targets_from_args
from ometer_tui.core.bench.steps import StepFinished
from ometer_tui.core.bench.sweep import SweepRunner, parse_sweep
from ometer_tui.core.bench.workloads.lengths import Fixed
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions
from ometer_tui.core.export import to_dict
from ometer_tui.core.export_read import result_from_dict
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    TimeoutPolicy,
)
from tests.support.llama_server import MODEL_ALIAS, LlamaUnavailable, llama_server

pytestmark = pytest.mark.real_server

SLOTS = 4


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    try:
        with llama_server(
            tmp_path_factory.mktemp("llama-sweep"), n_parallel=SLOTS, n_ctx_per_slot=512
        ) as server:
            yield Endpoint(
                name="llama.cpp",
                url=server.url,
                api=ApiFlavour.OPENAI,
                timeouts=TimeoutPolicy(read_s=300.0, total_s=600.0),
            )
    except LlamaUnavailable as exc:
        pytest.skip(f"REAL-SERVER TEST NOT RUN: {exc}")


@pytest.mark.timeout(900)
async def test_a_concurrency_sweep_against_llama_cpp(llama: Endpoint) -> None:
    plan = BenchmarkPlan(
        endpoint=llama,
        models=(ModelInfo(MODEL_ALIAS),),
        prompts=("Write one sentence about the sea.",),
        warmup=1,
        params=GenerationParams(max_tokens=8, temperature=0.0, seed=1),
        load=LoadSpec(output_tokens=Fixed(8), stop=StopConditions(max_requests=8)),
    )
    finished: list[StepFinished] = []
    slo = targets_from_args(["e2el:300000"])  # generous: every request of a working server
    runner = SweepRunner(
        plan, lambda e: finished.append(e) if isinstance(e, StepFinished) else None, slo=slo
    )
    result = await runner.sweep(parse_sweep(f"concurrency=1,{SLOTS}"))
    record = result.sweep
    assert record is not None and len(finished) == len(record.steps) == 2
    for step in record.steps:
        (m,) = step.models
        assert m.summary.ok == 8 and m.summary.errors == 0
        assert all(r.output_tokens == 8 for r in m.records if r.ok)
        assert m.slo is not None and m.slo.attainment == 1.0 and step.meets_slo
        point = step.points()[MODEL_ALIAS]
        assert point.throughput_rps is not None and point.throughput_rps > 0
        assert point.goodput_rps == pytest.approx(point.throughput_rps, rel=1e-6)
    # the second step really held SLOTS requests in the server at once (their send ->
    # finish intervals overlap; the throughput gain it buys depends on the CPU left to
    # llama.cpp on a shared 2-core machine, so it is not asserted here)
    (wide,) = record.steps[1].models
    edges = sorted(
        [(r.started_at_s, 1) for r in wide.records] + [(r.finished_at_s, -1) for r in wide.records]
    )
    depth, deepest = 0, 0
    for _, step in edges:
        depth += step
        deepest = max(deepest, depth)
    assert deepest == SLOTS
    assert record.knees[MODEL_ALIAS].load.value in (1, SLOTS)
    back = result_from_dict(to_dict(result))
    assert back.sweep is not None and len(back.sweep.steps) == len(record.steps)
