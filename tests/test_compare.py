"""``odebench compare A B``: exact figures equal, timings beyond spread and threshold."""

import csv
import shutil
from pathlib import Path

import pytest

from odebench.benchmark.cases import Case
from odebench.cli import main
from odebench.reading.analysis import unstable_rows
from odebench.reading.compare import compare, render
from odebench.running.provenance import write_provenance
from odebench.running.results import read_results
from odebench.running.runner import run_cases

CASES = [
    Case(problem="exponential_decay", method="rk4", steps=4, meters=("nfe", "error", "time"),
         timed_passes=3),
    Case(problem="harmonic_oscillator", method="rk4", steps=8, meters=("nfe", "saved", "time"),
         timed_passes=3),
    Case(problem="exponential_decay", method="euler", steps=16, meters=("nfe", "error")),
]  # fmt: skip


@pytest.fixture(scope="module")
def run_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("a")
    write_provenance(folder, {"suite": "test", "commit": "aaa"})
    run_cases(CASES, folder / "results.csv", executor="inline", progress=False)
    return folder


def _edit(folder: Path, case_id: str, changes: dict[str, str]) -> None:
    """Change cells of one row of ``folder``'s results.csv, leaving every other byte as is."""
    path = folder / "results.csv"
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    (row,) = [r for r in rows[1:] if r[header.index("case_id")] == case_id]
    for col, value in changes.items():
        row[header.index(col)] = value
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _copy(run_a: Path, tmp_path: Path) -> Path:
    b = tmp_path / "b"
    shutil.copytree(run_a, b)
    return b


def test_two_identical_runs_compare_equal_and_exit_0(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    result = compare(run_a, b)
    assert result.matched == 3 and result.exact.empty and result.regressions.empty
    assert not result.only_a and not result.only_b
    assert main(["compare", str(run_a), str(b)]) == 0
    assert "Exact figures: all equal." in capsys.readouterr().out


def test_a_second_run_of_the_same_cases_has_equal_exact_figures(
    run_a: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    run_cases(CASES, again / "results.csv", executor="inline", progress=False)
    result = compare(run_a, again)
    assert result.exact.empty, result.exact
    assert result.exit_status(ignore_timings=True) == 0


def test_one_exact_figure_and_one_timing_changed(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    df = read_results(run_a).set_index("case_id")
    first, second = CASES[0].case_id, CASES[1].case_id
    nfe = int(df.loc[first, "nfe_forward"])  # 16: rk4, 4 steps, 4 evaluations a step
    assert nfe == 16
    _edit(b, first, {"nfe_forward": str(nfe + 4)})
    before = float(df.loc[second, "time_forward_s"])
    _edit(b, second, {"time_forward_s": repr(3 * before), "time_forward_iqr_s": "0.0"})
    result = compare(run_a, b)
    assert result.exact[["case_id", "figure"]].values.tolist() == [[first, "nfe_forward"]]
    assert (float(result.exact["a"].iloc[0]), float(result.exact["b"].iloc[0])) == (16, 20)
    slower = result.regressions
    assert slower["case_id"].tolist() == [second] and slower["timing"].tolist() == ["forward"]
    assert slower["ratio"].iloc[0] == pytest.approx(3.0)
    assert main(["compare", str(run_a), str(b)]) == 1
    out = capsys.readouterr().out
    assert f"| {first}" in out and "| 16 " in out and "| 20 " in out
    # timings ignored: the exact figure alone still fails
    assert main(["compare", str(run_a), str(b), "--ignore-timings"]) == 1
    _edit(b, first, {"nfe_forward": str(nfe)})
    assert main(["compare", str(run_a), str(b), "--ignore-timings"]) == 0
    assert main(["compare", str(run_a), str(b)]) == 1  # the timing regression alone
    assert main(["compare", str(run_a), str(b), "--threshold", "250%"]) == 0  # 3x is +200 %
    html = tmp_path / "c.html"
    main(["compare", str(run_a), str(b), "--html", str(html)])
    assert "<table" in html.read_text() and second in html.read_text()


def test_a_change_within_either_runs_spread_is_not_flagged_but_marked_unstable(
    run_a: Path, tmp_path: Path
) -> None:
    b = _copy(run_a, tmp_path)
    cid = CASES[1].case_id
    before = float(read_results(run_a).set_index("case_id").loc[cid, "time_forward_s"])
    # +50 %, above the 10 % threshold, but B's IQR is 60 % of its median: noise
    _edit(b, cid, {"time_forward_s": repr(1.5 * before),
                   "time_forward_iqr_s": repr(0.9 * before)})  # fmt: skip
    result = compare(run_a, b)
    row = result.timings[(result.timings["case_id"] == cid)
                         & (result.timings["timing"] == "forward")].iloc[0]  # fmt: skip
    assert row["flag"] == "" and row["unstable"]
    assert result.exit_status() == 0
    marks = unstable_rows(read_results(b)).tolist()
    assert marks[1] and not marks[2]  # the third case has no timing
    assert "unstable" in render(result, fmt="md")


def test_cases_in_one_run_only_are_listed(run_a: Path, tmp_path: Path) -> None:
    b = tmp_path / "b"
    run_cases(CASES[1:] + [CASES[0].with_(steps=5)], b / "results.csv", executor="inline",
              progress=False)  # fmt: skip
    result = compare(run_a, b)
    assert result.only_a == [CASES[0].case_id]
    assert result.only_b == [CASES[0].with_(steps=5).case_id]
    assert result.matched == 2


@pytest.mark.parametrize("bad", ["missing", "empty_folder", "not_results"])
def test_bad_input_is_one_line_and_exit_2(run_a: Path, tmp_path: Path, bad: str,
                                          capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    path = tmp_path / bad
    if bad == "empty_folder":
        path.mkdir()
    elif bad == "not_results":
        path.mkdir()
        (path / "results.csv").write_text("a,b\n1,2\n")
    assert main(["compare", str(run_a), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("odebench: error:") and "\n" not in err
