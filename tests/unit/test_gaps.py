"""Every inter-token gap kept per run (issue 12): what is kept, the histogram over every
gap, the exports and the history that keep them, older files without them."""

from __future__ import annotations

import itertools
import json
import random
import sys
from array import array
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.api.base import GenerationObservation
from ometer_tui.core.bench.gaps import (
    EVERY_GAP,
    MEAN_PER_RUN,
    GapTally,
    itl_histogram,
    run_gaps_ms,
)
from ometer_tui.core.bench.metrics import RunContext, generation_record, kept_gaps
from ometer_tui.core.bench.records import MAX_KEPT_GAPS, RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.series import histogram
from ometer_tui.core.export import CSV_COLUMNS, to_csv, to_dict, to_json, to_markdown
from ometer_tui.core.export_read import ForeignDocumentError, result_from_dict
from ometer_tui.core.history import HistoryStore
from ometer_tui.core.report.charts import ModelRecords, distribution_section
from tests.history_samples import synthetic_result

MS = 1_000_000  # ns
SENT = 1_000 * MS


def observation(stamps_ns: list[int], *, usage: int | None = None) -> GenerationObservation:
    """Token chunks stamped ``stamps_ns`` (equal stamps: chunks of one read)."""
    return GenerationObservation(
        sent_ns=SENT,
        first_token_ns=stamps_ns[0],
        first_visible_ns=stamps_ns[0],
        last_token_ns=stamps_ns[-1],
        finished_ns=stamps_ns[-1] + MS,
        token_times_ns=stamps_ns,
        token_chunks=len(stamps_ns),
        first_output="content",
        status=200,
        done=True,
        output_tokens=usage,
    )


def record_of(obs: GenerationObservation, *, prompt: int = 0, warmup: bool = False) -> RunRecord:
    ctx = RunContext(
        model="m",
        pass_index=0 if warmup else 1,
        prompt_index=prompt,
        warmup=warmup,
        attempts=1,
        queue_s=0.0,
        bench_start_ns=0,
    )
    return generation_record(obs, ctx)


def run(gaps_us: list[int], *, ok: bool = True, warmup: bool = False, index: int = 0) -> RunRecord:
    """A record that kept ``gaps_us``."""
    return RunRecord(
        model="m",
        pass_index=0 if warmup else 1,
        prompt_index=index,
        warmup=warmup,
        ok=ok,
        arrivals=len(gaps_us) + 1,
        itl_mean_s=sum(gaps_us) / len(gaps_us) / 1e6,
        itl_gaps_us=array("i", gaps_us),
    )


# ------------------------------------------------------------------ what a run keeps


def test_kept_gaps_are_the_differences_of_the_arrival_stamps() -> None:
    # token by token, irregular gaps to the nanosecond: kept to the microsecond
    stamps = [SENT + 50 * MS, SENT + 70 * MS, SENT + 70 * MS + 20_400, SENT + 95_500_600]
    r = record_of(observation(stamps))
    expected = [20_000, 20, 25_480]  # us: (b - a) / 1000, rounded
    assert list(r.itl_gaps_us or ()) == expected
    assert r.gaps_s() == pytest.approx([0.020, 0.000020, 0.02548])
    assert run_gaps_ms(r) == pytest.approx([20.0, 0.020, 25.48])
    assert not r.gaps_sampled


def test_bursty_reads_keep_one_gap_per_read_never_a_fake_zero() -> None:
    # bursts of 8 chunks every 160 ms (one read each): 3 gaps of 160 ms, no zeros
    stamps = [SENT + (50 + 160 * i) * MS for i in range(4) for _ in range(8)]
    r = record_of(observation(stamps, usage=32))
    assert not r.buffered and r.arrivals == 4
    assert list(r.itl_gaps_us or ()) == [160_000, 160_000, 160_000]
    # the per-chunk summaries keep their documented definition (0 within one read)
    assert r.itl_p50_s == 0.0
    # mixed: a read of 3 chunks, then single chunks
    mixed = [SENT + 10 * MS] * 3 + [SENT + 30 * MS, SENT + 31 * MS, SENT + 31 * MS]
    assert list(kept_gaps(mixed) or ()) == [20_000, 1_000]


def test_no_gaps_for_one_read_buffered_or_not_streamed() -> None:
    one_read = record_of(observation([SENT + 50 * MS] * 32, usage=32))
    assert one_read.buffered and one_read.itl_gaps_us is None
    two_close = record_of(observation([SENT + 50 * MS] * 32 + [SENT + 52 * MS] * 32, usage=64))
    assert two_close.buffered and two_close.itl_gaps_us is None  # as its ITL: none
    single = record_of(observation([SENT + 50 * MS]))
    assert not single.buffered and single.itl_gaps_us is None
    assert kept_gaps([]) is None


def test_a_long_run_keeps_every_kth_gap_and_says_so() -> None:
    n = 5 * MAX_KEPT_GAPS + 3  # gaps
    stamps = [SENT + i * 20 * MS + (i % 7) * 1000 for i in range(n + 1)]
    r = record_of(observation(stamps))
    gaps = r.itl_gaps_us
    assert gaps is not None and len(gaps) <= MAX_KEPT_GAPS
    every = [round((b - a) / 1000) for a, b in itertools.pairwise(stamps)]
    assert list(gaps) == every[::6]  # k = ceil(10243 / 2048) = 6
    assert r.gaps_sampled and r.arrivals == n + 1


def test_a_run_of_500_tokens_keeps_its_gaps_in_about_2_kb() -> None:
    stamps = [SENT + i * 20 * MS for i in range(500)]
    gaps = record_of(observation(stamps)).itl_gaps_us
    assert gaps is not None and gaps.itemsize == 4
    assert sys.getsizeof(gaps) <= 4 * 499 + 100  # the array's header + 4 bytes a gap


# ----------------------------------------------------------------------- histogram


def test_histogram_counts_every_gap_of_ok_measured_runs() -> None:
    records = [
        run([10_000, 12_000, 14_000]),
        run([11_000, 19_000]),
        run([15_000], index=1),
        run([900_000, 900_000], ok=False),  # failed: left out
        run([500_000], warmup=True),  # warm-up: left out
    ]
    h = itl_histogram(records, bins=5)
    assert h.name == EVERY_GAP and h.of == "gaps" and h.unit == "s"
    assert h.n == 6 and h.above == 0 and h.note == ""
    # 6 values 10..19 ms, 5 bins: step 2 ms from 10 ms: [10,12) [12,14) [14,16) [16,18) [18,20]
    assert h.edges == pytest.approx((0.010, 0.012, 0.014, 0.016, 0.018, 0.020))
    assert h.counts == (2, 1, 2, 0, 1)


def test_tally_gives_the_histogram_of_the_gaps_as_values() -> None:
    rng = random.Random(7)
    records = [
        run(
            [rng.randint(15_000, 30_000) for _ in range(rng.randint(1, 80))]
            + ([400_000] if i % 4 == 0 else [])  # a few stalls: past the p99
        )
        for i in range(40)
    ]
    every = [g / 1e6 for r in records for g in r.itl_gaps_us or ()]
    h = itl_histogram(records, bins=12)
    expected = histogram(every, unit="s", bins=12)  # min to p99, the stalls above
    assert (h.edges, h.counts, h.above) == (expected.edges, expected.counts, expected.above)
    assert h.above > 0 and h.n == len(every)
    # folding in two parts (a live chart) gives the same
    tally = GapTally()
    tally.add(records[:15])
    tally.add(records[15:])
    assert tally.histogram(12) == h


def test_runs_without_kept_gaps_fall_back_to_their_mean_and_say_so() -> None:
    old = [RunRecord("m", 1, i, False, True, itl_mean_s=0.02 + i / 1000) for i in range(4)]
    h = itl_histogram(old)
    assert h.name == MEAN_PER_RUN and h.of == "runs" and h.n == 4
    assert "one mean gap per run" in h.note
    mixed = itl_histogram([*old, run([20_000, 21_000])])
    assert mixed.name == EVERY_GAP and mixed.n == 2
    assert mixed.note == "4 runs without kept gaps left out"
    nothing = itl_histogram([RunRecord("m", 1, 0, False, False)])
    assert nothing.n == 0 and nothing.note == ""


# ------------------------------------------------------------- exports and history


def with_gaps(seed: int = 3) -> BenchmarkResult:
    """A synthetic result whose ok measured runs kept their gaps (the warm-up too)."""
    rng = random.Random(seed)
    result = synthetic_result(runs=8, models=("a:1b", "b:7b"), error_every=4)
    for mr in result.models.values():
        for r in mr.records:
            if r.ok:
                stamps = [0]
                for _ in range(rng.randint(3, 60)):
                    stamps.append(stamps[-1] + rng.randint(10 * MS, 40 * MS))
                r.itl_gaps_us = kept_gaps(stamps)
                r.arrivals = len(stamps)
    return result


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the derived ``clock_diff`` figures (computed again from the
    rounded fields when read back: their last digit may differ; export_read says so)."""
    doc = json.loads(json.dumps(doc))
    for model in doc["models"]:
        for r in model["runs"]:
            r.pop("clock_diff", None)
    return doc


def test_export_read_export_keeps_every_gap() -> None:
    result = with_gaps()
    doc = json.loads(to_json(result))
    runs = [run for m in doc["models"] for run in m["runs"]]
    kept = [run for run in runs if "itl_gaps_us" in run]
    assert kept and all(run["ok"] for run in kept)
    assert all("itl_gaps_us" not in run for run in runs if not run["ok"])  # optional
    first = next(r for r in result.models["a:1b"].records if r.itl_gaps_us)
    assert doc["models"][0]["runs"][0]["itl_gaps_us"] == list(first.itl_gaps_us or ())
    again = result_from_dict(doc)
    assert comparable(to_dict(again)) == comparable(doc)
    for key, mr in result.models.items():
        assert itl_histogram(again.models[key].records) == itl_histogram(mr.records)


def test_csv_and_markdown_do_not_change_with_gaps() -> None:
    assert "itl_gaps_us" not in CSV_COLUMNS
    gapped, plain = with_gaps(), with_gaps()
    for mr in plain.models.values():
        for r in mr.records:
            r.itl_gaps_us = None
    assert to_csv(gapped) == to_csv(plain)
    assert to_markdown(gapped) == to_markdown(plain)


def test_an_export_without_gaps_reads_and_its_histogram_falls_back() -> None:
    doc = to_dict(synthetic_result(runs=8, models=("a:1b",)))
    assert all("itl_gaps_us" not in run for run in doc["models"][0]["runs"])
    result = result_from_dict(doc)
    records = result.models["a:1b"].records
    assert all(r.itl_gaps_us is None for r in records)
    h = itl_histogram(records)
    assert h.name == MEAN_PER_RUN and h.n == sum(1 for r in records if r.ok and not r.warmup)
    assert comparable(to_dict(result)) == comparable(doc)  # and no gaps appear
    html = distribution_section([ModelRecords("a:1b", 0, records)])
    assert "Histogram of mean inter-token gap: " in html and "one mean gap per run" in html


def test_gaps_of_a_wrong_type_are_refused_not_crashed() -> None:
    doc = to_dict(with_gaps())
    doc["models"][0]["runs"][1]["itl_gaps_us"] = [1.5, 2]
    with pytest.raises(ForeignDocumentError):
        result_from_dict(doc)
    doc["models"][0]["runs"][1]["itl_gaps_us"] = [2**40]
    with pytest.raises(ForeignDocumentError):
        result_from_dict(doc)


def test_a_result_reopened_from_the_history_shows_the_same_histogram(tmp_path: Path) -> None:
    result = with_gaps()
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        rid = store.add_result(result)
        reopened = result_from_dict(store.document(rid))
    for key, mr in result.models.items():
        h = itl_histogram(reopened.models[key].records)
        assert h == itl_histogram(mr.records) and h.name == EVERY_GAP and h.n > 0


def test_the_report_draws_every_gap() -> None:
    result = with_gaps()
    records = result.models["a:1b"].records
    n = sum(len(r.itl_gaps_us or ()) for r in records if r.ok and not r.warmup)
    html = distribution_section([ModelRecords("a:1b", 0, records)])
    assert "Inter-token gap, a:1b" in html
    assert f"Histogram of inter-token gap: {n} gaps in" in html
