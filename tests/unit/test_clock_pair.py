"""Mapping a kernel stamp (realtime) onto perf_counter_ns: the two clocks read as one
instant (core/api/_transport.clock_pair).

A CI run failed because a stamp came out 0.475 ms before its bytes were sent: the thread
was switched out between the perf read and the realtime read, and that gap went into
the mapping. Fake clocks play the switch here; no wall-clock time is measured.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ometer_tui.core.api import _transport
from ometer_tui.core.api._transport import CLOCK_PAIR_SPREAD_NS, clock_pair

#: realtime = perf + OFFSET on the fake machine
OFFSET = 1_700_000_000_000_000_000


class FakeClocks:
    """perf and realtime advancing together; ``stalls`` adds a gap (ns) before given reads
    (numbered from 0 across both clocks), as a thread switch would."""

    def __init__(self, stalls: dict[int, int]) -> None:
        self.now = 1_000_000_000
        self.reads = 0
        self.stalls = stalls

    def _tick(self) -> int:
        self.now += 50 + self.stalls.get(self.reads, 0)  # each read costs 50 ns
        self.reads += 1
        return self.now

    def perf(self) -> int:
        return self._tick()

    def real(self) -> int:
        return self._tick() + OFFSET


def mapped(pair: tuple[int, int], kernel_real: int) -> int:
    """What the stamping handler does with a pair and a kernel stamp."""
    now, real = pair
    return now - max(0, real - kernel_real)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClocks]:
    clocks = FakeClocks({})
    monkeypatch.setattr(_transport, "_perf", clocks.perf)
    monkeypatch.setattr(_transport, "_real", clocks.real)
    yield clocks


def test_a_quiet_pair_is_read_once_and_maps_within_a_read(fake: FakeClocks) -> None:
    arrived = fake.now  # on perf; the kernel stamped it on realtime
    fake.now += 2_000_000
    pair = clock_pair()
    assert fake.reads == 3
    assert abs(mapped(pair, arrived + OFFSET) - arrived) <= 100


def test_a_switch_between_the_reads_does_not_shift_the_stamp(fake: FakeClocks) -> None:
    # 0.5 ms lost between the first perf read and the realtime read (read 1), as in the
    # failed CI run; a plain (perf, realtime) pair would map the stamp 0.5 ms early.
    fake.stalls = {1: 500_000}
    arrived = fake.now
    fake.now += 2_000_000
    pair = clock_pair()
    assert fake.reads == 6  # read again
    assert abs(mapped(pair, arrived + OFFSET) - arrived) <= 100


def test_the_tightest_bracket_is_taken_when_every_try_is_disturbed(fake: FakeClocks) -> None:
    gaps = [400_000, 60_000, 900_000]  # the second try is the tightest
    fake.stalls = {1: gaps[0], 4: gaps[1], 7: gaps[2]}
    arrived = fake.now
    fake.now += 2_000_000
    pair = clock_pair()
    assert fake.reads == 9
    error = mapped(pair, arrived + OFFSET) - arrived
    # the midpoint of a bracket is off by at most half of it
    assert abs(error) <= (gaps[1] + 100) // 2
    assert gaps[1] > CLOCK_PAIR_SPREAD_NS


def test_the_handler_reads_the_clocks_only_through_the_pair() -> None:
    import inspect

    source = inspect.getsource(_transport)
    assert "time.time_ns()" not in source
    assert source.count("clock_pair()") >= 2
