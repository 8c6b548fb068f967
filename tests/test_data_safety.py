"""Nothing already recorded is ever lost: each test reproduces a loss that odebench once had."""

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from odebench.benchmark.suites import get_suite
from odebench.cli import main
from odebench.running.folders import locked_folder
from odebench.running.provenance import read_provenance
from odebench.running.results import COLUMNS, TORN_FILE, append_record, case_columns, read_results

SMOKE = ["--suite", "smoke", "--executor", "inline", "--quiet", "--no-report"]


@contextmanager
def lock_held_elsewhere(folder: Path) -> Iterator[None]:
    """Another process holds ``folder``'s lock for the block, then dies (kill -9)."""
    holder = textwrap.dedent(f"""
        import time
        from odebench.running.folders import locked_folder
        with locked_folder({str(folder)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        proc.kill()
        proc.wait()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (lock files aside) and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".odebench.lock"
    }


def fake_run(folder: Path, statuses: dict[int, str] | None = None, repeats: int = 1) -> None:
    """A results file of the smoke suite written without measuring (fast)."""
    statuses = statuses or {}
    for i, case in enumerate(get_suite("smoke")):
        for r in range(repeats):
            status = statuses.get(i, "ok")
            error = "" if status == "ok" else "boom"
            row = {**case_columns(case, r), "status": status, "error": error}
            append_record(folder / "results.csv", row)
    (folder / "provenance.json").write_text('{"suite": "smoke", "commit": "abc"}\n')
    (folder / "results.prev.csv").write_text("an older run the user keeps\n")


@pytest.mark.parametrize(
    "flag",
    [
        ["--repeats", "0"],
        ["--timeout", "0"],
        ["--timeout", "-5"],
        ["--timeout", "nan"],
        ["--threads", "0"],
        ["--threads", "-1"],
    ],  # fmt: skip
)
def test_a_bad_option_changes_no_file(tmp_path: Path, flag: list[str]) -> None:
    # before: results.csv moved aside, provenance rewritten, results.prev.csv destroyed
    fake_run(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["run", *SMOKE, "--out", str(tmp_path), *flag])
    assert exit_.value.code == 2
    assert snapshot(tmp_path) == before


def test_a_new_run_into_an_earlier_one_refuses_and_names_the_ways_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: the earlier results moved to results.prev.csv, the one before that destroyed
    fake_run(tmp_path)
    before = snapshot(tmp_path)
    assert main(["run", *SMOKE, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--force" in err and "--out" in err
    assert snapshot(tmp_path) == before


def test_force_keeps_the_earlier_run_in_a_timestamped_backup(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    fake_run(out)
    before = snapshot(out)
    assert main(["run", *SMOKE, "--out", str(out), "--force", "--match", "exponential"]) == 0
    (backup,) = tmp_path.glob("run.backup-*")
    assert snapshot(backup) == before  # every byte of the earlier run, results.prev.csv too
    assert len(read_results(out)) == 1


def test_a_torn_last_row_is_dropped_reported_and_its_case_runs_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: the torn row counted as done and the next row was glued onto it
    cases = get_suite("smoke")
    path = tmp_path / "results.csv"
    append_record(path, {**case_columns(cases[0], 0), "status": "ok", "error": ""})
    torn = "smoke," + cases[1].case_id + ",mlp_sm"  # the writer died here
    with path.open("a") as fh:
        fh.write(torn)
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    assert "torn" in capsys.readouterr().err
    df = read_results(path, history=True)
    assert sorted(df["case_id"]) == sorted(c.case_id for c in cases)  # each exactly once
    assert (df["status"] == "ok").all()
    assert (tmp_path / TORN_FILE).read_text() == torn + "\n"  # kept, not lost


def test_a_row_is_one_write_and_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = get_suite("smoke")[0]
    path = tmp_path / "results.csv"
    append_record(path, {**case_columns(case, 0), "status": "ok"})
    writes: list[bytes] = []
    syncs: list[int] = []
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(data) or real_write(fd, data))
    monkeypatch.setattr(os, "fsync", lambda fd: syncs.append(fd) or real_fsync(fd))
    # an error message with a newline must not split the record over two lines
    append_record(path, {**case_columns(case, 1), "status": "failed", "error": "a\nb"})
    assert len(writes) == 1 and len(syncs) == 1
    assert writes[0].endswith(b"\n") and writes[0].count(b"\n") == 1
    assert read_results(path)["error"].tolist()[-1] == "a b"


def test_a_second_run_on_the_same_folder_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: two runs interleaved (duplicated rows, a lost provenance entry)
    with lock_held_elsewhere(tmp_path):
        start = time.perf_counter()
        assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 2
        assert time.perf_counter() - start < 10
        assert "in use by another odebench run" in capsys.readouterr().err
        assert not (tmp_path / "results.csv").exists()
    with locked_folder(tmp_path):  # released when its holder dies
        pass


def test_resume_refuses_another_suites_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: the other suite's cases were appended to smoke's file, mixing two suites
    fake_run(tmp_path)
    before = snapshot(tmp_path)
    suite = tmp_path.parent / f"{tmp_path.name}-other.toml"
    suite.write_text('[suite]\nname = "other"\n[[grid]]\nproblem = "exponential_decay"\n'
                     'method = "rk4"\nsteps = 2\nmeters = ["nfe"]\n')  # fmt: skip
    assert main(["run", "--suite", str(suite), "--executor", "inline", "--quiet",
                 "--no-report", "--out", str(tmp_path), "--resume"]) == 2  # fmt: skip
    assert "holds results of suite 'smoke', not 'other'" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_resume_counts_only_this_runs_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "6 already recorded" for 3 cases x 1 repeat (it counted every row in the file)
    fake_run(tmp_path, repeats=2)
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    assert "(3 already recorded, 0 to run)" in capsys.readouterr().err


def test_retry_failed_reruns_failed_timeout_and_crashed_rows_and_keeps_the_old_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: --resume never reran a failed case (a timeout stayed a timeout forever)
    fake_run(tmp_path, statuses={0: "failed", 1: "timeout", 2: "diverged"})
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 1  # nothing reruns
    assert "(3 already recorded, 0 to run)" in capsys.readouterr().err
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--retry-failed"]) == 1
    assert "(1 already recorded, 2 to run)" in capsys.readouterr().err
    latest = read_results(tmp_path).set_index("case_id")["status"]
    cases = get_suite("smoke")
    assert latest[cases[0].case_id] == "ok" and latest[cases[1].case_id] == "ok"
    assert latest[cases[2].case_id] == "diverged"  # diverged repeats by construction
    assert len(read_results(tmp_path, history=True)) == 5  # the failed rows are kept


def test_a_filtered_run_never_replaces_the_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: --match wrote into results/smoke, moving the full run aside
    monkeypatch.chdir(tmp_path)
    full = tmp_path / "results" / "smoke"
    full.mkdir(parents=True)
    fake_run(full)
    before = snapshot(full)
    assert main(["run", *SMOKE, "--match", "exponential"]) == 0
    assert snapshot(full) == before
    assert len(read_results(tmp_path / "results" / "smoke-match-exponential")) == 1


def test_a_file_written_with_other_columns_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("suite,case_id,repeat,status,loss_reduction\nsmoke,x,0,ok,sum\n")
    before = path.read_bytes()
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 2
    assert path.read_bytes() == before
    assert list(COLUMNS)[:2] == ["suite", "case_id"]


def test_resume_keeps_an_unreadable_provenance_aside(tmp_path: Path) -> None:
    fake_run(tmp_path)
    (tmp_path / "provenance.json").write_text("{not json")
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    (kept,) = tmp_path.glob("provenance.unreadable-*.json")
    assert kept.read_text() == "{not json"
    assert read_provenance(tmp_path)["previous_provenance"] == kept.name


def test_run_cases_takes_the_folder_lock_itself(tmp_path: Path) -> None:
    from odebench.running.results import FolderBusyError
    from odebench.running.runner import run_cases

    with lock_held_elsewhere(tmp_path):
        with pytest.raises(FolderBusyError):
            run_cases(get_suite("smoke")[:1], tmp_path / "results.csv", executor="inline",
                      progress=False)  # fmt: skip
    with locked_folder(tmp_path):  # nested in this process: re-entrant
        (record,) = run_cases(get_suite("smoke")[:1], tmp_path / "results.csv",
                              executor="inline", progress=False)  # fmt: skip
    assert record["status"] == "ok"


def test_claim_folder_refuses_an_earlier_run_naming_the_ways_out_and_changes_nothing(
    tmp_path: Path,
) -> None:
    # the one function experiments (table1, spirals) call to take their folder as `run` does
    from odebench.running.folders import claim_folder
    from odebench.running.results import EarlierRunError

    fake_run(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(EarlierRunError) as err:
        with claim_folder(tmp_path):
            pytest.fail("claimed a folder holding a run")
    assert all(flag in str(err.value) for flag in ("--resume", "--force", "--out"))
    assert snapshot(tmp_path) == before
    with claim_folder(tmp_path, resume=True) as claim:  # resume: left as it is
        assert claim.backup is None and snapshot(tmp_path) == before


def test_claim_folder_force_moves_the_run_whole_and_keeps_the_folder_locked(
    tmp_path: Path,
) -> None:
    from odebench.running.folders import claim_folder

    out = tmp_path / "run"
    out.mkdir()
    fake_run(out)
    before = snapshot(out)
    probe = textwrap.dedent(f"""
        from odebench.running.folders import locked_folder
        from odebench.running.results import FolderBusyError
        try:
            with locked_folder({str(out)!r}):
                print("free")
        except FolderBusyError:
            print("busy")
    """)  # fmt: skip
    with claim_folder(out, force=True) as claim:
        assert claim.backup is not None and snapshot(claim.backup) == before
        assert snapshot(out) == {}
        other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert other.stdout.strip() == "busy"  # the new folder is held, not the backup
    other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert other.stdout.strip() == "free"
    assert not (claim.backup / ".odebench.lock").exists()


def test_a_run_that_finished_before_the_lock_is_not_appended_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: the folder was checked only before the lock; a run that finished in between
    # got this run's rows appended (duplicates) and its provenance replaced
    import odebench.running.folders as results

    real = results.locked_folder

    @contextmanager
    def late(folder: Path) -> Iterator[Path]:
        if not (Path(folder) / "results.csv").exists():
            fake_run(Path(folder))  # another run finishes between the check and the lock
        with real(folder) as held:
            yield held

    monkeypatch.setattr(results, "locked_folder", late)
    out = tmp_path / "run"
    assert main(["run", *SMOKE, "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(results, "locked_folder", real)
    before = snapshot(out)
    fake_run(tmp_path / "again")
    assert before == snapshot(tmp_path / "again")  # the other run's files, untouched


def test_a_force_interrupted_mid_move_never_splits_the_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: entries moved one by one; a kill after the first left the run split between
    # the folder and the backup, and a second --force was then refused
    import shutil

    out = tmp_path / "run"
    out.mkdir()
    fake_run(out)
    before = snapshot(out)
    moved: list[str] = []
    real_move, real_rename = shutil.move, os.rename

    def killed_after_one(move):  # type: ignore[no-untyped-def]
        def wrapped(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
            if moved:
                raise KeyboardInterrupt
            moved.append(str(src))
            return move(src, dst, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(shutil, "move", killed_after_one(real_move))
    monkeypatch.setattr(os, "rename", killed_after_one(real_rename))
    main(["run", *SMOKE, "--out", str(out), "--force", "--match", "exponential"])
    monkeypatch.undo()
    places = [out, *tmp_path.glob("run.backup-*")]
    assert before in [{k: v for k, v in snapshot(p).items() if k in before} for p in places]
    assert before in [snapshot(p) for p in tmp_path.glob("run.backup-*")]


def test_without_an_atomic_swap_the_folder_moves_in_one_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import odebench.running.folders as results

    monkeypatch.setattr(results, "_exchange", lambda a, b: False)  # no renameat2 here
    out = tmp_path / "run"
    out.mkdir()
    fake_run(out)
    before = snapshot(out)
    with results.claim_folder(out, force=True) as claim:
        assert claim.backup is not None and snapshot(claim.backup) == before
        assert (out / ".odebench.lock").exists() and snapshot(out) == {}


def test_resume_of_a_file_with_an_older_column_name_appends_under_that_name(
    tmp_path: Path,
) -> None:
    # before: the resume check accepted `loss_reduction` (renamed `reduction`), rewrote
    # provenance.json and measured a case; then the writer refused the file
    fake_run(tmp_path)
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].replace(",reduction,", ",loss_reduction,")
    assert header != lines[0]
    path.write_text(header + lines[1])  # one case recorded, two to run
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    assert path.read_text().splitlines()[0] == header.strip()  # still the old name
    df = read_results(path)
    assert len(df) == 3 and df["reduction"].notna().all() and (df["status"] == "ok").all()


def test_resume_of_a_file_whose_writer_would_refuse_changes_nothing(tmp_path: Path) -> None:
    fake_run(tmp_path)
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    cols = lines[0].strip().split(",")
    cols[2], cols[3] = cols[3], cols[2]  # the same names in another order
    path.write_text(",".join(cols) + "\n" + lines[1])
    before = snapshot(tmp_path)
    assert main(["run", *SMOKE, "--out", str(tmp_path), "--resume"]) == 2
    assert snapshot(tmp_path) == before


def test_a_full_disk_ends_the_run_with_one_line_and_resume_finishes_it(tmp_path: Path) -> None:
    # before: `OSError: short write` and a traceback (exit status 1)
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "odebench.cli", "run", *SMOKE, "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "error" in x]
    assert "free disk space" in line and "--resume" in line
    assert main(["run", *SMOKE, "--out", str(out), "--resume"]) == 0
    assert len(read_results(out, history=True)) == 3  # each case once, the torn row dropped
