"""The false-positive count of ``compare`` on unchanged code: judged timings only."""

from __future__ import annotations

import math

import pandas as pd

from odebench.experiments import false_positives


def test_the_rate_counts_flags_over_the_judged_timings_only() -> None:
    pairs = pd.DataFrame({
        "a": ["run00"] * 4, "b": ["run01"] * 4, "test": ["mann-whitney"] * 4,
        "ratio": [1.0, 1.3, 0.98, 1.02],
        "p_value": [0.5, 0.001, 0.2, math.nan],  # the last one was not judged
        "flag": ["", "slower", "", ""],
    })  # fmt: skip
    text = false_positives.summary(pairs, [[0.4, 0.3, 0.2], [0.6, 0.5, 0.4]])
    assert "1 pairs of runs, 4 timings, 3 judged (mann-whitney), **1 flagged (33.3 %)**" in text
    assert "slower 1, faster 0" in text
    assert "0.40-0.60" in text


def test_every_case_is_timed_and_small() -> None:
    assert len(false_positives.CASES) == 4
    for case in false_positives.CASES:
        assert case.meters == ("time",) and case.timed_passes == false_positives.PASSES >= 3
