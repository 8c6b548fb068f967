"""``odebench compare A B``: exact figures equal, timings beyond spread and threshold."""

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from odebench.benchmark.cases import Case
from odebench.cli import main
from odebench.reading.analysis import unstable_rows
from odebench.reading.compare import render
from odebench.reading.comparison import compare
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


IDLE = {"before": [0.5, 0.4, 0.3], "after": [0.9, 0.5, 0.3], "cpus": 2}


def _idle(folder: Path) -> None:
    """Record an idle machine in the provenance (the test machine's own load varies)."""
    from odebench.running.provenance import read_provenance

    write_provenance(folder, {**read_provenance(folder), "load_average": IDLE})


@pytest.fixture(scope="module")
def run_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("a")
    write_provenance(folder, {"suite": "test", "commit": "aaa"})
    # two repeats: a timing is judged only with a spread between repeats in each run
    run_cases(CASES, folder / "results.csv", executor="inline", progress=False, repeats=2)
    _idle(folder)
    return folder


def _edit(folder: Path, case_id: str, changes: dict[str, str]) -> None:
    """Change cells of a case's rows (every repeat) in ``folder``'s results.csv, leaving
    every other byte as is."""
    path = folder / "results.csv"
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    mine = [r for r in rows[1:] if r[header.index("case_id")] == case_id]
    assert mine, case_id
    for row in mine:
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
    run_cases(CASES, again / "results.csv", executor="inline", progress=False, repeats=2)
    _idle(again)
    result = compare(run_a, again)
    assert result.exact.empty, result.exact
    assert result.exit_status() == 0


def test_one_exact_figure_and_one_timing_changed(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # A's own spread fixed at 10 % (3 real passes on a loaded machine can spread 100 %)
    a = tmp_path / "a"
    shutil.copytree(run_a, a)
    second = CASES[1].case_id
    before = float(
        read_results(a)
        .drop_duplicates("case_id")
        .set_index("case_id")
        .loc[second, "time_forward_s"]
    )
    # and its repeats equal, so that B / A is exactly the 3x set below
    _edit(a, second, {"time_forward_s": repr(before), "time_forward_iqr_s": repr(0.1 * before)})
    run_a = a
    b = _copy(run_a, tmp_path)
    df = read_results(run_a).drop_duplicates("case_id").set_index("case_id")
    first = CASES[0].case_id
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
    # the exact figure alone fails, whatever the timings
    assert main(["compare", str(run_a), str(b), "--ignore-timings"]) == 1
    _edit(b, first, {"nfe_forward": str(nfe)})
    assert main(["compare", str(run_a), str(b), "--ignore-timings"]) == 0
    assert main(["compare", str(run_a), str(b)]) == 0  # the timing gate is opt-in
    assert main(["compare", str(run_a), str(b), "--fail-on-slower"]) == 1
    assert main(["compare", str(run_a), str(b), "--fail-on-slower", "--threshold", "250%"]) == 0
    html = tmp_path / "c.html"
    main(["compare", str(run_a), str(b), "--html", str(html)])
    assert "<table" in html.read_text() and second in html.read_text()


def test_a_change_within_either_runs_spread_is_not_flagged_but_marked_unstable(
    run_a: Path, tmp_path: Path
) -> None:
    b = _copy(run_a, tmp_path)
    cid = CASES[1].case_id
    before = float(
        read_results(run_a)
        .drop_duplicates("case_id")
        .set_index("case_id")
        .loc[cid, "time_forward_s"]
    )
    # +50 %, above the 10 % threshold, but B's IQR is 60 % of its median: noise
    _edit(b, cid, {"time_forward_s": repr(1.5 * before),
                   "time_forward_iqr_s": repr(0.9 * before)})  # fmt: skip
    result = compare(run_a, b)
    row = result.timings[(result.timings["case_id"] == cid)
                         & (result.timings["timing"] == "forward")].iloc[0]  # fmt: skip
    assert row["flag"] == "" and row["unstable"]
    assert result.exit_status(fail_on_slower=True) == 0
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
    assert result.verdict == "incomplete" and result.exit_status() == 1


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


def _rewrite(folder: Path, change: Callable[[dict[str, str]], None]) -> None:
    """Apply ``change`` to every row of ``folder``'s results.csv (as a dict of cells)."""
    path = folder / "results.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0].keys())
    for row in rows:
        change(row)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _on_gpu(row: dict[str, str]) -> None:
    """The same case measured on another device: the device is in the id's hash."""
    row["device"] = "cuda"
    row["case_id"] = row["case_id"][:-6] + "ffffff"


def test_runs_with_no_case_in_common_exit_2_naming_the_columns_that_differ(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    _rewrite(b, _on_gpu)
    assert main(["compare", str(run_a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no case in common" in err
    assert "device (A: cpu; B: cuda)" in err and "--ignore-identity" in err
    assert "Exact figures: all equal" not in capsys.readouterr().out


def test_ignoring_the_device_pairs_a_cpu_run_with_a_gpu_run(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    _rewrite(b, _on_gpu)
    result = compare(run_a, b, ignore_identity=("device",))
    assert result.matched == 3 and not result.only_a and not result.only_b
    assert result.exact.empty
    assert main(["compare", str(run_a), str(b), "--ignore-identity", "device"]) == 0
    assert "paired by every identity column but device" in capsys.readouterr().out
    assert main(["compare", str(run_a), str(b), "--ignore-identity", "colour"]) == 2


def test_ignoring_a_column_that_tells_two_cases_apart_is_refused(run_a: Path) -> None:
    # the first and third cases differ in method and steps: ignoring both merges them
    from odebench.running.results import ResultsError

    with pytest.raises(ResultsError, match="would be merged"):
        compare(run_a, run_a, ignore_identity=("method", "steps", "problem", "meters",
                                               "timed_passes"))  # fmt: skip


def test_md_into_a_results_folder_is_refused_and_the_file_is_unchanged(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    for target in (run_a / "results.csv", b / "results.csv", b / "new.md"):
        before = target.read_bytes() if target.exists() else None
        assert main(["compare", str(run_a), str(b), "--md", str(target), "--force"]) == 2
        assert "inside results folder" in capsys.readouterr().err
        assert (target.read_bytes() if target.exists() else None) == before
    other = tmp_path / "out.md"
    other.write_text("mine")
    assert main(["compare", str(run_a), str(b), "--md", str(other)]) == 2
    assert "--force" in capsys.readouterr().err and other.read_text() == "mine"
    assert main(["compare", str(run_a), str(b), "--md", str(other), "--force"]) == 0
    assert other.read_text().startswith("# odebench compare")


def test_b_that_lost_a_row_is_incomplete_and_exits_1(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    b = _copy(run_a, tmp_path)
    lines = (b / "results.csv").read_text().splitlines(keepends=True)
    (b / "results.csv").write_text("".join(lines[:-1]))  # a repeat of the last case lost
    assert main(["compare", str(run_a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "Verdict: incomplete." in out and "1 of 2 repeats" in out
    # a torn last row: reported, and the comparison is incomplete
    (b / "results.csv").write_text("".join(lines[:-1]) + lines[-1][:30])
    result = compare(run_a, b)
    assert result.verdict == "incomplete" and result.exit_status() == 1
    assert any("torn last row" in note for note in result.notes)


def test_an_unreadable_provenance_is_named(run_a: Path, tmp_path: Path) -> None:
    b = _copy(run_a, tmp_path)
    (b / "provenance.json").write_text("{not json")
    result = compare(run_a, b)
    assert any("provenance.json is unreadable" in note for note in result.notes)
    assert result.exit_status() == 0


def test_a_single_pass_timing_is_never_flagged(tmp_path: Path) -> None:
    one = [c.with_(timed_passes=1) for c in CASES[:2]]
    a = tmp_path / "a"
    write_provenance(a, {"suite": "test"})
    run_cases(one, a / "results.csv", executor="inline", progress=False)
    _idle(a)
    b = _copy(a, tmp_path)
    _rewrite(b, lambda row: row.update(time_forward_s=repr(3 * float(row["time_forward_s"]))))
    result = compare(a, b)
    assert not result.timings.empty
    assert (result.timings["flag"] == "").all()
    assert result.timings["test"].str.startswith("not comparable: 1 pass").all()
    assert main(["compare", str(a), str(b), "--fail-on-slower"]) == 0


def test_json_and_csv_formats_hold_the_verdict_and_rows(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import io
    import json

    import pandas as pd

    b = _copy(run_a, tmp_path)
    _edit(b, CASES[0].case_id, {"nfe_forward": "20"})
    capsys.readouterr()
    assert main(["compare", str(run_a), str(b), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "changed" and data["exit_status"] == 1
    assert [(r["case_id"], r["figure"]) for r in data["exact"]] == [
        (CASES[0].case_id, "nfe_forward")
    ]
    assert main(["compare", str(run_a), str(b), "--format", "csv"]) == 1
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table[table["kind"] == "exact"]["what"].tolist() == ["nfe_forward"]
    assert set(table["kind"]) == {"exact", "timing"}


def test_timings_measured_under_load_are_named() -> None:
    from odebench.reading.comparison import load_note

    idle = {"load_average": {"before": [0.5, 0.4, 0.3], "after": [1.4, 0.5, 0.3], "cpus": 2}}
    busy = {"load_average": {"before": [0.5, 0.4, 0.3], "after": [6.2, 3.0, 1.0], "cpus": 2}}
    resumed = {**idle, "resumed": [{"load_average": {"before": [3.5], "after": None,
                                                     "cpus": 2}}]}  # fmt: skip
    assert load_note(idle) is None
    assert "under load" in (load_note(busy) or "") and "6.2 on 2 CPUs" in (load_note(busy) or "")
    assert "3.5 on 2 CPUs" in (load_note(resumed) or "")
    assert "unknown" in (load_note({}) or "")


def test_timings_measured_under_load_are_not_judged_unless_asked(
    run_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a = tmp_path / "a"
    shutil.copytree(run_a, a)
    cid = CASES[1].case_id
    before = float(
        read_results(a).drop_duplicates("case_id").set_index("case_id").loc[cid, "time_forward_s"]
    )
    _edit(a, cid, {"time_forward_iqr_s": repr(0.1 * before)})
    b = _copy(a, tmp_path)
    _edit(b, cid, {"time_forward_s": repr(3 * before), "time_forward_iqr_s": "0.0"})
    assert main(["compare", str(a), str(b), "--fail-on-slower"]) == 1  # both idle: judged
    write_provenance(b, {"suite": "test", "load_average": {"before": [1.0], "after": [6.5],
                                                           "cpus": 2}})  # fmt: skip
    capsys.readouterr()
    result = compare(a, b)
    assert result.regressions.empty and result.unjudged == "not judged: B measured under load"
    assert (result.timings["test"] == "not judged: B measured under load").all()
    assert main(["compare", str(a), str(b), "--fail-on-slower"]) == 0
    assert "--despite-load" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--fail-on-slower", "--despite-load"]) == 1
