"""Workloads: arrival processes (statistics with fixed seeds), ramp-up, stop conditions,
length specs, datasets (good and bad files), synthetic prompt lengths, the built-in set."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core.api.base import GenerationObservation, GenerationRequest
from ometer_tui.core.bench.workloads import datasets as ds
from ometer_tui.core.bench.workloads.arrivals import (
    ArrivalKind,
    ArrivalSpec,
    arrival_times,
    worker_start_times,
)
from ometer_tui.core.bench.workloads.errors import WorkloadError
from ometer_tui.core.bench.workloads.lengths import (
    Fixed,
    Normal,
    Pairs,
    Uniform,
    parse_length_spec,
)
from ometer_tui.core.bench.workloads.source import prepare_load
from ometer_tui.core.bench.workloads.spec import LoadSpec
from ometer_tui.core.bench.workloads.stop import StopConditions, StopTracker
from ometer_tui.core.bench.workloads.synthetic import content_text, measure_token_model
from ometer_tui.core.models import GenerationParams

# -- arrivals ---------------------------------------------------------------------------


def _gaps(spec: ArrivalSpec, n: int, seed: int = 7) -> list[float]:
    times = list(itertools.islice(arrival_times(spec, seed), n + 1))
    return [b - a for a, b in itertools.pairwise(times)]


def _cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


@pytest.mark.parametrize("rate", [5.0, 200.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_mean_rate_and_cv(rate: float, seed: int) -> None:
    gaps = _gaps(ArrivalSpec(rate, ArrivalKind.POISSON), 20_000, seed)
    achieved = 1.0 / statistics.fmean(gaps)
    assert abs(achieved - rate) / rate < 0.05
    assert 0.95 < _cv(gaps) < 1.05


@pytest.mark.parametrize("burstiness", [0.25, 0.5, 2.0, 4.0])
def test_gamma_mean_rate_and_cv_follow_burstiness(burstiness: float) -> None:
    rate = 20.0
    gaps = _gaps(ArrivalSpec(rate, ArrivalKind.GAMMA, burstiness), 40_000)
    assert abs(1.0 / statistics.fmean(gaps) - rate) / rate < 0.05
    expected_cv = 1.0 / math.sqrt(burstiness)
    assert abs(_cv(gaps) - expected_cv) / expected_cv < 0.08


def test_gamma_with_burstiness_one_is_poisson() -> None:
    assert _gaps(ArrivalSpec(3.0, ArrivalKind.GAMMA, 1.0), 50) == _gaps(
        ArrivalSpec(3.0, ArrivalKind.POISSON), 50
    )


def test_constant_arrivals_are_evenly_spaced_from_zero() -> None:
    times = list(itertools.islice(arrival_times(ArrivalSpec(4.0, ArrivalKind.CONSTANT), 1), 5))
    assert times == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_arrivals_are_reproducible_with_a_seed_and_differ_without() -> None:
    spec = ArrivalSpec(10.0, ArrivalKind.POISSON)
    assert _gaps(spec, 100, seed=5) == _gaps(spec, 100, seed=5)
    assert _gaps(spec, 100, seed=5) != _gaps(spec, 100, seed=6)


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(WorkloadError, match="--rate: must be more than 0"):
        next(arrival_times(ArrivalSpec(rate), 0))


def test_burstiness_must_be_positive() -> None:
    with pytest.raises(WorkloadError, match="--burstiness"):
        next(arrival_times(ArrivalSpec(1.0, ArrivalKind.GAMMA, 0.0), 0))


def test_rate_ramp_rises_linearly_then_holds() -> None:
    """Over a 10 s ramp to 100/s: ~500 arrivals in the ramp (half the full rate's), the
    count up to t grows as t^2, and after the ramp the rate is the full 100/s."""
    rate, ramp = 100.0, 10.0
    spec = ArrivalSpec(rate, ArrivalKind.CONSTANT)
    times = list(itertools.takewhile(lambda t: t < 30.0, arrival_times(spec, 0, ramp)))
    in_ramp = sum(1 for t in times if t < ramp)
    assert abs(in_ramp - rate * ramp / 2) <= 2
    first_half = sum(1 for t in times if t < ramp / 2)
    assert abs(first_half - rate * ramp / 8) <= 2  # L(S/2) = R S / 8
    after = [t for t in times if t >= ramp]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=1e-6)


def test_poisson_ramp_keeps_its_rate_after_the_ramp() -> None:
    spec = ArrivalSpec(50.0, ArrivalKind.POISSON)
    times = list(itertools.takewhile(lambda t: t < 400.0, arrival_times(spec, 3, 20.0)))
    in_ramp = sum(1 for t in times if t < 20.0)
    assert abs(in_ramp - 500) / 500 < 0.1
    after = sum(1 for t in times if t >= 20.0)
    assert abs(after / 380.0 - 50.0) / 50.0 < 0.05


def test_concurrency_ramp_starts_streams_evenly() -> None:
    assert worker_start_times(4, 8.0) == [0.0, 2.0, 4.0, 6.0]
    assert worker_start_times(3, 0.0) == [0.0, 0.0, 0.0]


# -- stop conditions --------------------------------------------------------------------


def test_stop_after_requests_and_duration() -> None:
    tracker = StopTracker(StopConditions(max_requests=2, duration_s=5.0))
    assert tracker.reason(0.0) is None
    tracker.on_sent()
    tracker.on_sent()
    assert "2 requests" in (tracker.reason(1.0) or "")
    tracker = StopTracker(StopConditions(duration_s=5.0))
    assert tracker.reason(4.99) is None
    assert "duration 5 s" in (tracker.reason(5.0) or "")


def test_stop_on_error_count() -> None:
    tracker = StopTracker(StopConditions(max_requests=100, max_errors=2))
    tracker.on_finished(ok=False)
    assert tracker.reason(0) is None
    tracker.on_finished(ok=True)
    tracker.on_finished(ok=False)
    assert "2 errors" in (tracker.reason(0) or "")


def test_stop_on_error_rate_only_after_enough_requests() -> None:
    tracker = StopTracker(StopConditions(duration_s=60, max_error_rate=0.2))
    tracker.on_finished(ok=False)  # 100% of 1: too early to judge
    assert tracker.reason(0) is None
    for i in range(19):
        tracker.on_finished(ok=i % 4 != 0)  # 5 more errors: 6 of 20 = 30%
    assert "above 20%" in (tracker.reason(0) or "")
    calm = StopTracker(StopConditions(duration_s=60, max_error_rate=0.5))
    for i in range(40):
        calm.on_finished(ok=i % 4 != 0)
    assert calm.reason(0) is None


@pytest.mark.parametrize(
    ("conditions", "flag"),
    [
        (StopConditions(max_requests=0), "--requests"),
        (StopConditions(duration_s=0.0), "--duration"),
        (StopConditions(duration_s=1, max_errors=0), "--max-errors"),
        (StopConditions(duration_s=1, max_error_rate=1.5), "--max-error-rate"),
    ],
)
def test_stop_conditions_validate(conditions: StopConditions, flag: str) -> None:
    assert any(p.startswith(flag) for p in conditions.validate())


def test_a_load_needs_an_end() -> None:
    problems = LoadSpec(arrival=ArrivalSpec(5.0)).validate()
    assert any("--requests or --duration" in p for p in problems)
    assert LoadSpec(arrival=ArrivalSpec(5.0), stop=StopConditions(max_requests=3)).validate() == []


# -- length specs -----------------------------------------------------------------------


def test_length_specs_parse() -> None:
    assert parse_length_spec("512") == Fixed(512)
    assert parse_length_spec("normal:512,128,64,1024") == Normal(512.0, 128.0, 64, 1024)
    assert parse_length_spec(" uniform:100, 900 ") == Uniform(100, 900)
    assert parse_length_spec("pairs:128/512,2048/128") == Pairs(((128, 512), (2048, 128)))


def test_length_samples_stay_in_bounds_and_follow_the_law() -> None:
    rng = random.Random(1)
    normal = parse_length_spec("normal:512,128,64,1024")
    values = [normal.sample(rng) for _ in range(20_000)]
    assert min(values) >= 64 and max(values) <= 1024
    assert statistics.fmean(values) == pytest.approx(512, rel=0.02)
    assert statistics.pstdev(values) == pytest.approx(128, rel=0.05)
    uniform = parse_length_spec("uniform:100,900")
    u = [uniform.sample(rng) for _ in range(20_000)]
    assert min(u) == 100 and max(u) == 900
    assert statistics.fmean(u) == pytest.approx(500, rel=0.02)
    pairs = parse_length_spec("pairs:10/20,30/40")
    assert isinstance(pairs, Pairs)
    assert {pairs.sample_pair(rng) for _ in range(100)} == {(10, 20), (30, 40)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty length spec"),
        ("abc", "must be a whole number"),
        ("0", "must be 1.."),
        ("-5", "must be 1.."),
        ("normal:512,128,64", "expected 4 numbers"),
        ("normal:512,x,64,1024", "the stdev must be a number"),
        ("normal:2000,1,64,1024", "min <= mean <= max"),
        ("uniform:900,100", "low <= high"),
        ("pairs:128-512", "INPUT/OUTPUT"),
        ("zipf:1,2", "unknown kind 'zipf'"),
    ],
)
def test_bad_length_specs_name_the_flag(text: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message) as info:
        parse_length_spec(text, "--output-tokens")
    assert str(info.value).startswith("--output-tokens: ")
    assert "\n" not in str(info.value)


def test_pairs_belong_in_input_tokens_only() -> None:
    stop = StopConditions(max_requests=1)
    pairs = parse_length_spec("pairs:1/2")
    assert LoadSpec(stop=stop, output_tokens=pairs).validate()
    assert LoadSpec(stop=stop, input_tokens=pairs, output_tokens=Fixed(3)).validate()
    assert LoadSpec(stop=stop, input_tokens=pairs).validate() == []


@pytest.mark.parametrize(
    ("spec", "least"),
    [("100", 100), ("normal:400,100,150,600", 150), ("uniform:180,400", 180),
     ("pairs:500/8,190/8", 190)],
)  # fmt: skip
def test_a_shared_prefix_must_be_shorter_than_the_shortest_prompt(spec: str, least: int) -> None:
    """--input-tokens is the whole prompt, the prefix included: a 200-token prefix in
    100-token prompts sent 235-token prompts ("asked 100, got 235"), silently."""
    stop = StopConditions(max_requests=1)
    lengths = parse_length_spec(spec)
    [problem] = LoadSpec(stop=stop, input_tokens=lengths, shared_prefix_tokens=200).validate()
    assert problem.startswith("--shared-prefix: 200 tokens is not shorter than the shortest")
    assert f"({least} tokens" in problem
    longer = LoadSpec(stop=stop, input_tokens=lengths, shared_prefix_tokens=least - 1)
    assert longer.validate() == []
    assert LoadSpec(stop=stop, shared_prefix_tokens=200).validate() == []  # the plan's prompts


# -- datasets ---------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_sharegpt_conversations(tmp_path: Path) -> None:
    data = [
        {
            "id": "a",
            "conversations": [
                {"from": "human", "value": "Hello there"},
                {"from": "gpt", "value": "x" * 400},
                {"from": "human", "value": "And then?"},
            ],
        },
        {"conversations": [{"from": "gpt", "value": "no user turn: skipped"}]},
        {"conversations": [{"role": "user", "content": "Second"}]},
    ]
    dataset = ds.load_dataset(_write(tmp_path, "chats.json", json.dumps(data)))
    assert [e.prompt for e in dataset.entries] == ["Hello there", "Second"]
    assert dataset.entries[0].output_tokens == 100  # 400 characters / 4
    assert dataset.entries[0].followups == ("And then?",)
    assert dataset.entries[1].output_tokens is None


def test_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = _write(
        tmp_path,
        "p.jsonl",
        '{"_meta": {"license": "x"}}\n{"prompt": "one", "output_tokens": 12}\n'
        '\n{"prompt": "two"}\n',
    )
    entries = ds.load_dataset(jsonl).entries
    assert [(e.prompt, e.output_tokens) for e in entries] == [("one", 12), ("two", None)]
    csv_path = _write(tmp_path, "p.csv", 'prompt,output_tokens\n"a, b",5\nc,\n')
    entries = ds.load_dataset(csv_path).entries
    assert [(e.prompt, e.output_tokens) for e in entries] == [("a, b", 5), ("c", None)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{not json", "line 1: not JSON"),
        ("bad.json", '{"conversations": []}', "expected ShareGPT: a list"),
        ("bad.json", '[{"turns": []}]', "item 0: expected an object with a 'conversations'"),
        ("empty.json", "[]", "empty: no conversation"),
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": "x",\n', "line 2: not JSON"),
        ("bad.jsonl", '{"prompt": "ok"}\n[1, 2]\n', "line 2: expected an object"),
        ("bad.jsonl", '{"text": "hi"}\n', "line 1: no 'prompt' key"),
        ("bad.jsonl", '{"prompt": "hi", "output_tokens": "many"}\n', "line 1: output_tokens"),
        ("bad.jsonl", '{"prompt": "  "}\n', "line 1: 'prompt' is empty"),
        ("empty.jsonl", "\n\n", "empty: no prompts"),
        ("bad.csv", "text,n\nhi,1\n", "line 1: no 'prompt' column"),
        ("bad.csv", "prompt,output_tokens\nhi,1\n,2\n", "line 3: the 'prompt' cell is empty"),
        ("empty.csv", "prompt\n", "empty: no rows"),
        ("data.txt", "hello", "unknown format '.txt'"),
    ],
)
def test_bad_datasets_name_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(WorkloadError, match=message) as info:
        ds.load_dataset(path)
    assert str(info.value).startswith(f"--dataset {path}")
    assert "\n" not in str(info.value)


def test_missing_and_too_large_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorkloadError, match="not found"):
        ds.load_dataset(str(tmp_path / "nope.jsonl"))
    path = _write(tmp_path, "big.jsonl", '{"prompt": "x"}\n' * 100)
    monkeypatch.setattr(ds, "MAX_DATASET_BYTES", 1000)
    with pytest.raises(WorkloadError, match="too large to sample from"):
        ds.load_dataset(path)


def test_sampling_is_seeded_and_covers_every_entry_each_pass() -> None:
    entries = tuple(ds.DatasetEntry(f"p{i}") for i in range(10))
    first = [e.prompt for e in itertools.islice(ds.sample_entries(entries, 3), 20)]
    again = [e.prompt for e in itertools.islice(ds.sample_entries(entries, 3), 20)]
    other = [e.prompt for e in itertools.islice(ds.sample_entries(entries, 4), 20)]
    assert first == again and first != other
    assert sorted(first[:10]) == sorted(e.prompt for e in entries)
    assert sorted(first[10:]) == sorted(e.prompt for e in entries)


def test_length_filter() -> None:
    dataset = ds.Dataset("d", tuple(ds.DatasetEntry("x" * n) for n in (4, 40, 400, 4000)))
    kept = ds.filter_lengths(dataset, 5, 200)
    assert [len(e.prompt) for e in kept.entries] == [40, 400]
    with pytest.raises(WorkloadError, match="--dataset-lengths: no prompt of d"):
        ds.filter_lengths(dataset, 5000, None)


def test_builtin_dataset_is_small_varied_and_licensed() -> None:
    from importlib import resources

    ref = resources.files("ometer_tui.core.bench.workloads") / "data" / "builtin.jsonl"
    raw = ref.read_bytes()
    assert len(raw) < 1_000_000
    header = json.loads(raw.splitlines()[0])["_meta"]
    assert "CC0" in header["license"] and "public domain" in header["source"]
    entries = ds.load_dataset("builtin").entries
    assert len(entries) >= 300
    lengths = sorted(ds.estimate_tokens(e.prompt) for e in entries)
    assert lengths[0] < 20 and lengths[-1] > 500  # short questions to long passages
    assert all(e.output_tokens for e in entries)


# -- synthetic prompts ------------------------------------------------------------------


class CountingClient:
    """A server that counts ``per_word`` tokens a word plus a template ``overhead``;
    with ``tokenize`` it answers /tokenize too (without the template)."""

    def __init__(self, per_word: float, overhead: int, *, tokenize: bool) -> None:
        self.per_word, self.overhead = per_word, overhead
        self.probes = 0
        if tokenize:
            self.request_json = self._request_json

    def count(self, text: str) -> int:
        return round(len(text.split()) * self.per_word)

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        self.probes += 1
        return GenerationObservation(prompt_tokens=self.count(request.prompt) + self.overhead)

    async def _request_json(
        self, method: str, path: str, payload: Any = None, *, model: str | None = None
    ) -> tuple[Any, Any, int]:
        assert (method, path) == ("POST", "/tokenize")
        return {"tokens": [0] * self.count(payload["content"])}, {}, 200


@pytest.mark.parametrize("tokenize", [True, False])
async def test_synthetic_prompts_hit_the_target_length(tokenize: bool) -> None:
    client = CountingClient(1.37, 19, tokenize=tokenize)
    model = await measure_token_model(client, "m", GenerationParams(), random.Random(1))  # type: ignore[arg-type]
    assert model.source == ("tokenize" if tokenize else "calibrated")
    assert model.overhead == pytest.approx(19, abs=1)
    assert model.per_word == pytest.approx(1.37, rel=0.02)
    rng = random.Random(2)
    for target in (30, 128, 512, 2000):
        text, _ = await content_text(target - model.overhead, model, rng, tag="[1]")
        served = client.count(text) + client.overhead
        assert abs(served - target) <= max(2, 0.02 * target)


async def test_prepare_load_synthetic_lengths_and_a_shared_prefix() -> None:
    client = CountingClient(1.25, 10, tokenize=True)
    spec = LoadSpec(
        stop=StopConditions(max_requests=20),
        input_tokens=parse_length_spec("uniform:300,600"),
        output_tokens=Fixed(64),
        shared_prefix_tokens=200,
        seed=9,
    )
    prepared = await prepare_load(spec, ("unused",), client, "m", GenerationParams())  # type: ignore[arg-type]
    assert len(prepared.requests) == 20
    prefix = prepared.requests[0].prompt.split("\n\n")[0]
    assert prefix.startswith("Context:")
    assert prepared.prefix_tokens is not None
    assert abs(prepared.prefix_tokens - 200) <= 4
    firsts = set()
    for planned in prepared.requests:
        assert planned.prompt.startswith(prefix + "\n\n")
        assert planned.input_tokens_asked is not None and 300 <= planned.input_tokens_asked <= 600
        assert planned.output_tokens_asked == 64
        served = client.count(planned.prompt) + client.overhead
        assert abs(served - planned.input_tokens_asked) <= 0.02 * planned.input_tokens_asked + 2
        firsts.add(planned.prompt[len(prefix) : len(prefix) + 40])
    assert len(firsts) == 20  # after the prefix, every prompt differs from its start
    again = await prepare_load(spec, ("unused",), client, "m", GenerationParams())  # type: ignore[arg-type]
    assert again.requests == prepared.requests  # seeded


async def test_prepare_load_from_a_dataset_with_pairs_free_lengths() -> None:
    dataset = ds.Dataset("d", (ds.DatasetEntry("a", 5, ("b",)), ds.DatasetEntry("c")))
    spec = LoadSpec(stop=StopConditions(max_requests=4), dataset=dataset, turns=2)
    client = CountingClient(1.0, 0, tokenize=False)
    prepared = await prepare_load(spec, ("x",), client, "m", GenerationParams())  # type: ignore[arg-type]
    assert client.probes == 0  # no synthetic lengths: no probe requests
    assert len(prepared.requests) == 2  # 4 requests / 2 turns
    assert {r.prompt for r in prepared.requests} == {"a", "c"}
    by_prompt = {r.prompt: r for r in prepared.requests}
    assert by_prompt["a"].output_tokens_asked == 5 and by_prompt["a"].followups == ("b",)


async def test_a_tokenizer_that_stops_answering_falls_back_to_the_estimate() -> None:
    client = CountingClient(1.0, 0, tokenize=True)
    model = await measure_token_model(client, "m", GenerationParams(), random.Random(1))  # type: ignore[arg-type]

    async def broken(text: str) -> int:
        raise LookupError("no /tokenize (connection refused)")

    from dataclasses import replace

    text, counted = await content_text(50, replace(model, tokenize=broken), random.Random(1))
    assert counted == 50 and len(text.split()) == 50
