"""The history store's cost: bytes per run, time to save a big result, time to list and
open with many results stored.

    python benchmarks/history_bench.py [--results 1000] [--runs-per-result 30]
                                       [--big 10000] [--export FILE ...]

Results are synthetic but shaped like real ones: every run has the full record (TTFT,
visible TTFT, e2e, tok/s, ITL, server timings...) with lognormal noise, one model in
twenty runs fails. ``--export`` also measures the compressed size of real JSON exports
(e.g. ``ometer-tui run --demo --passes 50 --output demo.json``). Everything goes to a
temporary folder that is removed afterwards. Targets (issue #10): under 1 KB per run,
listing under 0.3 s with 1,000 results.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import summarise
from ometer_tui.core.bench.plan import BenchmarkPlan
from ometer_tui.core.bench.records import RunRecord, ServerTimings
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.export import to_dict, to_json
from ometer_tui.core.export_read import read_document, result_from_dict
from ometer_tui.core.history import HistoryStore, _encode


def synthetic(runs: int, seed: int, models: int = 1) -> BenchmarkResult:
    rng = random.Random(seed)
    from ometer_tui.core.models import ApiFlavour, Endpoint, GenerationParams, ModelInfo

    infos = tuple(
        ModelInfo(name=f"model-{i}:8b", family="llama", parameter_size="8B") for i in range(models)
    )
    plan = BenchmarkPlan(
        endpoint=Endpoint(name="lab", url="http://10.0.0.5:11434", api=ApiFlavour.OLLAMA),
        models=infos,
        prompts=("Write one paragraph about the sea.", "Explain TCP slow start."),
        passes=max(1, runs // 2),
        warmup=1,
        params=GenerationParams(max_tokens=128, temperature=0.0),
    )
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=seed)
    result = BenchmarkResult(plan=plan, started_at=start, finished_at=start, warmup_requests=1)
    per_model = max(1, runs // models)
    for info in infos:
        records = []
        t = 0.0
        for i in range(per_model):
            ttft = rng.lognormvariate(-2.0, 0.25)
            rate = rng.gauss(42.0, 2.5)
            tokens = rng.randint(100, 128)
            e2e = ttft + (tokens - 1) / rate
            begin, t = t, t + e2e + rng.uniform(0.001, 0.004)
            if rng.random() < 0.05:
                records.append(
                    RunRecord(
                        model=info.name,
                        pass_index=i // 2 + 1,
                        prompt_index=i % 2,
                        warmup=False,
                        ok=False,
                        status=503,
                        error="model is loading",
                        error_kind="http",
                        started_at_s=begin,
                        finished_at_s=t,
                    )
                )
                continue
            eval_s = (tokens - 1) / (rate * rng.uniform(1.0, 1.03))
            records.append(
                RunRecord(
                    model=info.name,
                    pass_index=i // 2 + 1,
                    prompt_index=i % 2,
                    warmup=False,
                    ok=True,
                    status=200,
                    ttft_s=ttft,
                    ttft_visible_s=ttft,
                    e2e_s=e2e,
                    output_tokens=tokens,
                    tokens_source="usage",
                    decode_tps=rate,
                    tpot_s=(e2e - ttft) / (tokens - 1),
                    itl_mean_s=1 / rate,
                    itl_p50_s=rng.uniform(0.9, 1.0) / rate,
                    itl_p99_s=rng.uniform(1.5, 3) / rate,
                    server_decode_tps=(tokens - 1) / eval_s,
                    prefill_tps=rng.gauss(900, 50),
                    prompt_tokens=rng.randint(20, 40),
                    server_timings=ServerTimings.from_mapping(
                        {
                            "eval_count": tokens,
                            "eval_s": eval_s,
                            "prompt_eval_s": ttft * 0.6,
                            "total_s": e2e * 0.98,
                            "load_s": 0.01,
                        }
                    ),
                    started_at_s=begin,
                    finished_at_s=t,
                )
            )
        result.models[info.name] = ModelResult(
            info=info, records=records, summary=summarise(info.name, records), phase=ModelPhase.DONE
        )
    return result


def _best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--results", type=int, default=1000)
    ap.add_argument("--runs-per-result", type=int, default=30)
    ap.add_argument("--big", type=int, default=10_000, help="runs in the big result")
    ap.add_argument("--export", action="append", default=[], help="a real JSON export")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "history.sqlite3"
        print(
            f"history bench: {args.results} results x {args.runs_per_result} runs, big {args.big}"
        )

        # bytes per run: the compressed document, and the whole file
        big = synthetic(args.big, seed=0, models=4)
        doc = to_dict(big)
        blob = len(_encode(doc))
        text = len(to_json(big))
        print(
            f"  big result: JSON export {text / args.big:.0f} B/run, "
            f"stored (zlib) {blob / args.big:.0f} B/run ({blob / text:.1%} of the JSON)"
        )
        for path in args.export:
            real = read_document(path)
            runs = sum(len(m["runs"]) for m in real["models"])
            size = len(_encode(real))
            plain = len(json.dumps(real, indent=2))
            print(
                f"  {path}: {runs} runs, stored {size / runs:.0f} B/run (JSON {plain / runs:.0f})"
            )

        # time to save a 10,000-run result (export document + compress + one transaction)
        with HistoryStore(db) as store:
            t0 = time.perf_counter()
            big_id = store.add_result(big)
            save_s = time.perf_counter() - t0
            store.delete(big_id)
        t0 = time.perf_counter()
        doc = to_dict(big)
        dict_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _encode(doc)
        encode_s = time.perf_counter() - t0
        print(
            f"  save a {args.big}-run result: {save_s * 1000:.0f} ms "
            f"(export document {dict_s * 1000:.0f} ms, JSON + zlib {encode_s * 1000:.0f} ms, "
            f"the rest SQLite)"
        )

        # fill: N results
        t0 = time.perf_counter()
        total_runs = 0
        with HistoryStore(db) as store:
            for i in range(args.results):
                r = synthetic(args.runs_per_result, seed=i + 1)
                total_runs += args.runs_per_result
                store.add_result(r)
        fill_s = time.perf_counter() - t0
        with HistoryStore(db) as store:
            store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.stat().st_size
        print(
            f"  {args.results} results stored in {fill_s:.1f} s "
            f"({fill_s / args.results * 1000:.1f} ms each, building the result included); "
            f"file {size / 1e6:.2f} MB = {size / total_runs:.0f} B/run on disk"
        )

        # list and open, each from a fresh process-like start (new connection)
        def list_all() -> None:
            with HistoryStore(db) as store:
                entries = store.entries()
                assert len(entries) == args.results

        list_s = _best(list_all)
        with HistoryStore(db) as store:
            ids = [e.id for e in store.entries()]
        target = ids[len(ids) // 2]

        def open_one() -> None:
            with HistoryStore(db) as store:
                result_from_dict(store.document(target))

        open_s = _best(open_one)
        with HistoryStore(db) as store:
            big_id = store.add_result(big)

        def open_big() -> None:
            with HistoryStore(db) as store:
                result_from_dict(store.document(big_id))

        open_big_s = _best(open_big, repeat=3)
        print(
            f"  with {args.results} results: list {list_s * 1000:.1f} ms, "
            f"open one ({args.runs_per_result} runs) {open_s * 1000:.1f} ms, "
            f"open the {args.big}-run one {open_big_s * 1000:.0f} ms (best of 5/5/3)"
        )
        ok = blob / args.big < 1024 and list_s < 0.3
        print(f"  targets (<1 KB/run, list <0.3 s): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
