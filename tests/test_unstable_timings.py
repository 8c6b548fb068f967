"""Timings that say when they cannot be trusted: spread above 25 % marked; load average shown."""

from pathlib import Path

from odebench.benchmark.cases import Case
from odebench.reading.headline import headline
from odebench.reading.report import render
from odebench.reading.tables import UNSTABLE_SPREAD, time_table
from odebench.running.results import append_record, case_columns, read_results

CASES = [
    Case(problem="exponential_decay", method="rk4", steps=n, meters=("nfe", "time"))
    for n in (2, 4, 8)
]


def _results(tmp_path: Path, spreads: list[tuple[float, float]]) -> Path:
    """A results file whose cases have forward median 0.5 s and backward 1 s (powers of 2:
    IQR/median is exact), with the given IQRs as fractions of those medians."""
    path = tmp_path / "results.csv"
    for case, (fwd, bwd) in zip(CASES, spreads, strict=True):
        row = case_columns(case, 0)
        row.update(status="ok", error="", nfe_forward=4 * case.steps, time_forward_s=0.5,
                   time_forward_iqr_s=fwd * 0.5, time_backward_s=1.0,
                   time_backward_iqr_s=bwd * 1.0, wall_s=0.1)  # fmt: skip
        append_record(path, row)
    return path


def test_a_row_whose_spread_exceeds_25_percent_is_marked_unstable(tmp_path: Path) -> None:
    assert UNSTABLE_SPREAD == 0.25
    # IQR/median: 0.10 and 0.20 (stable), 0.30 forward (unstable), 0.26 backward (unstable)
    df = read_results(_results(tmp_path, [(0.10, 0.20), (0.30, 0.0), (0.0, 0.26)]))
    table = time_table(df).set_index("steps")
    assert table["unstable"].to_dict() == {2: False, 4: True, 8: True}
    assert any("2 of 3 timed cases" in s for s in headline(df).sentences)
    md = render(df, {"load_average": {"before": [1.5, 1.2, 0.9], "after": [2.5, 1.4, 1.0]}},
                fmt="md")  # fmt: skip
    assert "unstable" in md and "yes" in md
    assert "before [1.5, 1.2, 0.9]" in md


def test_stable_timings_carry_no_mark(tmp_path: Path) -> None:
    df = read_results(_results(tmp_path, [(0.0, 0.0), (0.25, 0.25), (0.1, 0.1)]))
    assert not time_table(df)["unstable"].any()  # exactly 25 % is not above it
    assert not any("unstable" in s for s in headline(df).sentences)
