"""The test helper that compares shown figures across a save (tests/support/figures.py)."""

from __future__ import annotations

from tests.support.figures import same_figures


def test_same_figures_allows_one_unit_of_the_last_digit_only() -> None:
    assert same_figures(
        [["2", "338.69", "31.8 ms", "meets"]], [["2", "338.70", "31.8 ms", "meets"]]
    )
    assert same_figures([["ttft 35.2 ms, tpot 5.0 ms"]], [["ttft 35.3 ms, tpot 5.0 ms"]])
    assert not same_figures([["338.69"]], [["338.71"]])
    assert not same_figures([["3/0"]], [["4/0"]])  # counts are figures too: 1 off is 1 off
    assert not same_figures([["meets"]], [["misses"]])
    assert not same_figures([["31.8 ms"]], [["31.8 s"]])
    assert not same_figures([["1", "2"]], [["1"]])
