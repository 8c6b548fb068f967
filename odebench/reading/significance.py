"""Whether two runs' timings differ: a test over the timed passes, never one pass.

The results table keeps each repeat's median and IQR over its timed passes (not every
pass), so :func:`timing_test` works from those: Mann-Whitney U over the repeats' medians
where each run has enough repeats (as asv does over its samples), else the difference of
the medians over its standard error.
"""

from __future__ import annotations

import math
import statistics

#: Significance level of the timing test (two-sided). 1 %: unchanged code under load
#: should almost never be flagged (the false-positive rate is measured in docs/timing.md).
ALPHA = 0.01
#: Fewest timed passes (over all repeats) a run needs for its timing to be judged.
MIN_PASSES = 3
#: Fewest repeats each run needs for its timing to be judged. The passes of one repeat run
#: back to back, so their spread misses how a case's time moves between runs: on this
#: project's 2-core machine (load 2), unchanged code run 12 times with 1 repeat had 29 % of
#: its timings flagged by the test over the passes (a case's median moved 0.76-1.29x from
#: run to run against a 4-7 % spread within one), docs/timing.md.
MIN_REPEATS = 2
#: Repeats each run needs for Mann-Whitney U over the repeats' medians (5 against 5 is the
#: smallest equal design whose exact two-sided p, 2/252, can fall below :data:`ALPHA`).
MANN_WHITNEY_REPEATS = 5
#: Standard error of a sample median is about this times sigma / sqrt(n) (normal samples).
_MEDIAN_SE = math.sqrt(math.pi / 2)
#: IQR / sigma of a normal distribution.
_IQR_SIGMA = 1.349


def timing_test(
    medians_a: list[float], iqrs_a: list[float], passes_a: int,
    medians_b: list[float], iqrs_b: list[float], passes_b: int,
) -> tuple[float, str]:
    """Two-sided p-value that runs A and B time the same, and the test's name.

    Mann-Whitney U over the repeats' medians where each run has
    :data:`MANN_WHITNEY_REPEATS`; else the difference of the medians of medians over its
    standard error, each run's from its IQR (sigma = IQR / 1.349; a median's standard
    error sqrt(pi/2) sigma / sqrt(passes)) and, with several repeats, the spread between
    their medians. Below :data:`MIN_PASSES` passes or :data:`MIN_REPEATS` repeats in either
    run: nan ("not comparable").
    """
    if passes_a < MIN_PASSES or passes_b < MIN_PASSES:
        return math.nan, f"not comparable: {min(passes_a, passes_b)} pass(es)"
    repeats = min(len(medians_a), len(medians_b))
    if repeats < MIN_REPEATS:
        return math.nan, f"not comparable: {repeats} repeat(s)"
    if len(medians_a) >= MANN_WHITNEY_REPEATS and len(medians_b) >= MANN_WHITNEY_REPEATS:
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(medians_a, medians_b, alternative="two-sided").pvalue)
        return p, "mann-whitney"

    def standard_error(medians: list[float], iqrs: list[float], passes: int) -> float:
        within = _MEDIAN_SE * statistics.median(iqrs) / _IQR_SIGMA / math.sqrt(passes)
        between = (statistics.stdev(medians) / math.sqrt(len(medians))
                   if len(medians) > 1 else 0.0)  # fmt: skip
        return max(within, between)

    se = math.hypot(standard_error(medians_a, iqrs_a, passes_a),
                    standard_error(medians_b, iqrs_b, passes_b))  # fmt: skip
    diff = abs(statistics.median(medians_b) - statistics.median(medians_a))
    if se == 0:
        return (0.0 if diff > 0 else 1.0), "median difference"
    return math.erfc(diff / se / math.sqrt(2)), "median difference"
