"""The demo's capacity model on virtual time: the knee of latency against load sits at
the rate its parameters predict, and TTFT grows with the queue."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from ometer_tui.demo.capacity import BatchEngine, CapacityParams, Job, prompt_blocks, simulate

PARAMS = CapacityParams(slots=4, prefill_tps=4000.0, stream_tps=50.0, decode_tps=120.0)
IN, OUT = 200, 32


def poisson(rate: float, n: int, seed: int = 1) -> list[tuple[float, int, int]]:
    rng = random.Random(seed)
    t = 0.0
    out = []
    for _ in range(n):
        out.append((t, IN, OUT))
        t += rng.expovariate(rate)
    return out


def test_the_knee_formula() -> None:
    # saturated: 4 slots decoding, a step takes max(1/50, 4/120) = 1/30 s
    expected = 1.0 / (IN / 4000.0 + (OUT - 1) * (1 / 30) / 4)
    assert PARAMS.knee_rate(IN, OUT) == pytest.approx(expected)
    assert PARAMS.knee_rate(IN, OUT) == pytest.approx(3.243, abs=0.001)


def test_one_request_alone_takes_its_prefill_then_streams_at_the_stream_rate() -> None:
    (r,) = simulate(PARAMS, [(0.0, IN, OUT)])
    assert r.queue_s == 0
    assert r.ttft_s == pytest.approx(IN / 4000.0)
    assert r.e2e_s == pytest.approx(IN / 4000.0 + (OUT - 1) / 50.0)


def test_saturated_throughput_is_the_knee_rate() -> None:
    """Offered twice the knee: requests complete at the knee rate (within 3%)."""
    knee = PARAMS.knee_rate(IN, OUT)
    results = simulate(PARAMS, poisson(2 * knee, 2000))
    ends = sorted(r.arrival + r.e2e_s for r in results)
    middle = ends[500:1500]
    rate = (len(middle) - 1) / (middle[-1] - middle[0])
    assert rate == pytest.approx(knee, rel=0.03)


def _late_queue_p90(fraction: float) -> float:
    knee = PARAMS.knee_rate(IN, OUT)
    results = simulate(PARAMS, poisson(fraction * knee, 1500, seed=3))
    waits = sorted(r.queue_s for r in results[1000:])
    return waits[int(0.9 * len(waits))]


def test_the_knee_of_latency_against_load_is_where_the_parameters_put_it() -> None:
    """Sweeping the offered rate from 0.6 to 1.4 times the predicted knee, queueing stays
    bounded (p90 wait of the last third under 10 s) below it and runs away above it."""
    fractions = [0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4]
    waits = {f: _late_queue_p90(f) for f in fractions}
    first_runaway = next(f for f in fractions if waits[f] > 10.0)
    assert first_runaway == 1.1, waits
    assert all(waits[f] < 3.0 for f in (0.6, 0.7, 0.8)), waits


def test_ttft_grows_with_queueing() -> None:
    """Above the knee every request waits longer than the one before it, on average,
    and its TTFT is its wait plus a prefill."""
    results = simulate(PARAMS, poisson(1.3 * PARAMS.knee_rate(IN, OUT), 800))
    quarters = [results[i : i + 200] for i in range(0, 800, 200)]
    means = [statistics.fmean(r.ttft_s for r in q) for q in quarters]
    assert means == sorted(means) and means[-1] > 4 * means[0]
    for r in results:
        assert r.ttft_s >= r.queue_s + IN / 4000.0 - 1e-9


def test_below_the_knee_ttft_stays_flat() -> None:
    results = simulate(PARAMS, poisson(0.5 * PARAMS.knee_rate(IN, OUT), 1200))
    second = statistics.fmean(r.ttft_s for r in results[300:600])
    last = statistics.fmean(r.ttft_s for r in results[900:])
    assert last < 1.0 and abs(last - second) < 0.5


def test_prefix_cache_skips_the_cached_blocks_prefill() -> None:
    words = [f"w{i}" for i in range(200)]
    other = [*words[:160], *(f"x{i}" for i in range(40))]
    engine = BatchEngine(PARAMS)
    first = Job(200, 1, blocks=prompt_blocks(words, 16))
    engine.submit(first)
    duration, jobs, prefill = engine.plan_step(0.0)
    assert prefill and duration == pytest.approx(200 / 4000.0)
    engine.finish_step(duration, jobs, prefill)
    second = Job(200, 1, blocks=prompt_blocks(other, 16))
    engine.submit(second)
    duration, jobs, prefill = engine.plan_step(1.0)
    assert second.cached_tokens == 160  # ten whole 16-word blocks in common
    assert duration == pytest.approx(40 / 4000.0)


def test_blocks_are_cumulative_prefixes() -> None:
    a = prompt_blocks([str(i) for i in range(48)], 16)
    b = prompt_blocks([*(str(i) for i in range(16)), "x", *(str(i) for i in range(17, 48))], 16)
    assert len(a) == 3 and a[0] == b[0] and a[1] != b[1] and a[2] != b[2]
    assert all(x != y for x, y in itertools.pairwise(a))
