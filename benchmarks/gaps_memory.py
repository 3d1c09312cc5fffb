"""What keeping every inter-token gap costs: memory per run, export and history bytes,
and the time to draw the gap histogram.

    python benchmarks/gaps_memory.py [--runs 10000] [--tokens 500]

Builds ``--runs`` records through the engine's own reduction (``generation_record``) from
token-by-token streams of ``--tokens`` chunks with jittered 20 ms gaps, and measures
(tracemalloc) the memory the records hold, and how much of it is their gap arrays; then the JSON
export and the history's compressed document per run, and the gap histogram over every
gap (built once from scratch, and folded once more for one new run as a live chart does).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime

from ometer_tui.core.api.base import GenerationObservation
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.gaps import GapTally, itl_histogram
from ometer_tui.core.bench.metrics import RunContext, generation_record
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.export import to_dict, to_json
from ometer_tui.core.history import _encode
from ometer_tui.core.models import ApiFlavour, Endpoint, ModelInfo

MS = 1_000_000


def records(runs: int, tokens: int, seed: int = 1) -> list[RunRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(runs):
        sent = i * 10_000 * MS
        t = sent + rng.randint(80, 150) * MS
        stamps = []
        for _ in range(tokens):
            stamps.append(t)
            t += round(rng.gauss(20.0, 1.5) * MS)
        obs = GenerationObservation(
            sent_ns=sent,
            first_token_ns=stamps[0],
            first_visible_ns=stamps[0],
            last_token_ns=stamps[-1],
            finished_ns=stamps[-1] + MS,
            token_times_ns=stamps,
            token_chunks=tokens,
            first_output="content",
            status=200,
            done=True,
            output_tokens=tokens,
            prompt_tokens=20,
        )
        ctx = RunContext("m:8b", 1 + i // 2, i % 2, False, 1, 0.0, 0)
        out.append(generation_record(obs, ctx))
    return out


def held(runs: int, tokens: int) -> tuple[int, list[RunRecord]]:
    """Bytes the records hold (tracemalloc, after building them), and the records."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    recs = records(runs, tokens)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--tokens", type=int, default=500)
    args = ap.parse_args()
    runs, tokens = args.runs, args.tokens

    with_gaps, recs = held(runs, tokens)
    alone = sum(sys.getsizeof(r.itl_gaps_us) for r in recs if r.itl_gaps_us is not None)
    gaps = sum(len(r.itl_gaps_us or ()) for r in recs)
    print(f"{runs:,} runs x {tokens} tokens ({gaps:,} gaps kept)")
    print(f"records with their gaps: {with_gaps / 1e6:.1f} MB ({with_gaps / runs:,.0f} B/run)")
    print(f"  the gap arrays alone:  {alone / 1e6:.1f} MB ({alone / runs:,.0f} B/run)")

    t0 = time.perf_counter()
    h = itl_histogram(recs)
    t1 = time.perf_counter()
    tally = GapTally()
    tally.add(recs[:-1])
    t2 = time.perf_counter()
    tally.add(recs[-1:])
    tally.histogram()
    t3 = time.perf_counter()
    print(f"gap histogram of every gap (n={h.n:,}): {(t1 - t0) * 1e3:.0f} ms from scratch; "
          f"one new run folded and drawn: {(t3 - t2) * 1e3:.1f} ms")  # fmt: skip

    sample = recs[: min(runs, 1000)]
    endpoint = Endpoint(name="e", url="http://127.0.0.1:1", api=ApiFlavour.OLLAMA)
    plan = BenchmarkPlan(endpoint=endpoint, models=(ModelInfo(name="m:8b"),))
    result = BenchmarkResult(plan=plan, started_at=datetime(2026, 11, 30, tzinfo=UTC))
    result.models["m:8b"] = ModelResult(
        info=ModelInfo(name="m:8b"), records=sample, phase=ModelPhase.DONE
    )
    for keep in (False, True):
        kept = [r.itl_gaps_us for r in sample]
        if not keep:
            for r in sample:
                r.itl_gaps_us = None
        text = to_json(result)
        packed = _encode(to_dict(result))  # as the history stores it
        for r, g in zip(sample, kept, strict=True):
            r.itl_gaps_us = g
        label = "with gaps   " if keep else "without gaps"
        print(f"export {label}: JSON {len(text) / len(sample):,.0f} B/run, "
              f"history (zlib) {len(packed) / len(sample):,.0f} B/run")  # fmt: skip


if __name__ == "__main__":
    main()
