"""The timer against a known truth: calls counted, sleeps measured, IQR by hand."""

import time

import pytest

from odebench.instruments import Stopwatch, Timing, time_call


def test_time_call_warms_up_then_times_each_repeat() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        time.sleep(0.01)

    timing = time_call(work, warmup=2, repeat=5)
    assert len(calls) == 7
    assert len(timing.times) == 5
    assert all(t >= 0.01 for t in timing.times)
    assert 0.01 <= timing.median < 0.5


def test_median_and_interquartile_range_by_hand() -> None:
    timing = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    assert timing.median == 3.0
    assert timing.iqr == pytest.approx(4.0 - 2.0)
    assert Timing((5.0,)).iqr == 0.0


def test_stopwatch_measures_the_block() -> None:
    with Stopwatch("cpu") as sw:
        time.sleep(0.02)
    assert 0.02 <= sw.seconds < 0.5


def test_bad_repeat_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        time_call(lambda: None, repeat=0)
