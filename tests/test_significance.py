"""The timing test of ``odebench compare`` against p-values worked out by hand."""

import math

import pytest

from odebench.reading.significance import timing_test


def test_the_median_difference_test_matches_a_hand_computed_p_value() -> None:
    # two repeats each, medians equal within a run (no spread between repeats); sigma =
    # IQR / 1.349 = 0.1; a median's standard error sqrt(pi/2) * 0.1 / sqrt(9) = 0.0417771
    # per run, 0.0590818 for the difference; z = 0.1 / 0.0590818 = 1.69257, two-sided
    # p = 2 * (1 - Phi(1.69257)) = 0.09053
    p, test = timing_test([1.0, 1.0], [0.1349] * 2, 9, [1.1, 1.1], [0.1349] * 2, 9)
    assert test == "median difference"
    assert p == pytest.approx(0.09053, abs=2e-5)


def test_one_repeat_is_not_comparable_however_many_passes() -> None:
    """Back-to-back passes miss the drift between runs: a 3x change is not judged."""
    p, test = timing_test([1.0], [0.0], 50, [3.0], [0.0], 50)
    assert math.isnan(p) and test == "not comparable: 1 repeat(s)"


def test_mann_whitney_over_five_repeats_each_separated_completely() -> None:
    # all 5 of B above all 5 of A: U = 0, exact two-sided p = 2 / C(10, 5) = 2 / 252
    p, test = timing_test([1.0, 1.1, 1.2, 1.3, 1.4], [0.0] * 5, 15,
                          [2.0, 2.1, 2.2, 2.3, 2.4], [0.0] * 5, 15)  # fmt: skip
    assert test == "mann-whitney"
    assert p == pytest.approx(2 / 252)


def test_fewer_than_three_passes_are_not_comparable() -> None:
    p, test = timing_test([1.0], [0.0], 1, [3.0], [0.0], 5)
    assert math.isnan(p) and test == "not comparable: 1 pass(es)"


def test_spread_between_repeats_widens_the_error() -> None:
    # within-repeat IQR zero, but the repeats' medians scatter: not significant
    p, _ = timing_test([1.0, 1.4], [0.0, 0.0], 6, [1.2, 1.6], [0.0, 0.0], 6)
    assert p > 0.05
