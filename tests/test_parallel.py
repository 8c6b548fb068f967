"""``jobs > 1``: exact meters side by side, timed and RSS meters alone; rows as a serial run's."""

from pathlib import Path

import pandas as pd
import pytest

from odebench.benchmark.cases import Case
from odebench.running.parallel import merge, split
from odebench.running.provenance import read_provenance, write_provenance
from odebench.running.results import read_results
from odebench.running.runner import run_cases

EXACT = ["case_id", "repeat", "status", "error", "params", "nfe_forward", "nfe_backward",
         "saved_bytes", "peak_alloc_bytes", "steps_accepted", "steps_rejected", "state_error",
         "grad_error", "loss"]  # fmt: skip
TIMED = ["time_forward_s", "time_backward_s", "peak_rss_bytes"]

CASES = [
    # timed with an error meter: split, the error measured side by side
    Case(problem="harmonic_oscillator", method="rk4", steps=8, meters=("nfe", "error", "time"),
         timed_passes=2),
    # exact meters only: the whole case side by side
    Case(problem="exponential_decay", method="rk4", steps=4, meters=("nfe", "saved", "error")),
    # peak RSS: alone, in a fresh process
    Case(problem="mlp_small", method="rk4", steps=2,
         meters=("nfe", "saved", "peak_alloc", "peak_rss")),
    # diverges in both parts: one failed row, no figures
    Case(problem="exponential_decay", method="dopri5", rtol=1e-300, atol=1e-300,
         meters=("nfe", "error", "time")),
    # peak allocated only: side by side, in a fresh process
    Case(problem="mlp_small", method="rk4", steps=3, meters=("nfe", "saved", "peak_alloc")),
    Case(problem="harmonic_oscillator", method="dopri5", rtol=1e-4, atol=1e-4,
         meters=("nfe", "error", "time")),
]  # fmt: skip


def test_split_keeps_the_timed_passes_history_and_moves_only_the_error_meter() -> None:
    timed, exact, rss = CASES[0], CASES[1], CASES[2]
    alone, side = split(0, timed)
    assert (alone.alone, side.alone) == (True, False)
    assert alone.case.meters == ("nfe", "time") and side.case.meters == ("error",)
    assert alone.case.timed_passes == timed.timed_passes
    (whole,) = split(1, exact)
    assert not whole.alone and whole.case == exact
    (memory,) = split(2, rss)
    assert memory.alone and memory.fresh and memory.case == rss


def test_merge_of_a_failed_part_is_a_row_without_figures() -> None:
    case = CASES[0]
    ok = {"case_id": "x", "status": "ok", "error": "", "nfe_forward": 32, "wall_s": 1.0}
    bad = {"case_id": "y", "status": "diverged", "error": "DivergedError: nan", "wall_s": 0.5}
    row = merge(case, 0, [ok, bad])
    assert (row["status"], row["error"]) == ("diverged", "DivergedError: nan")
    assert "nfe_forward" not in row
    assert row["case_id"] == case.case_id and row["wall_s"] == 1.5
    both = merge(case, 0, [ok, {"status": "ok", "error": "", "state_error": 1e-3, "wall_s": 2.0}])
    assert (both["nfe_forward"], both["state_error"], both["wall_s"]) == (32, 1e-3, 3.0)
    assert both["meters"] == ",".join(case.meters)


@pytest.mark.parametrize("window", [2, None])
def test_jobs_2_writes_the_rows_of_a_serial_run_in_its_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int | None
) -> None:
    import odebench.running.parallel as parallel

    serial = run_cases(CASES, tmp_path / "serial" / "results.csv", progress=False, threads=1)
    if window is not None:  # several windows: rows still in the order of the cases
        original = parallel.run_parallel
        monkeypatch.setattr(parallel, "run_parallel",
                            lambda *a, **k: original(*a, **{**k, "window": window}))  # fmt: skip
    side = run_cases(CASES, tmp_path / "jobs" / "results.csv", progress=False, threads=1, jobs=2)
    a, b = read_results(tmp_path / "serial"), read_results(tmp_path / "jobs")
    assert [r["case_id"] for r in side] == [c.case_id for c in CASES]
    assert list(b["status"]) == ["ok", "ok", "ok", "diverged", "ok", "ok"]
    pd.testing.assert_frame_equal(a[EXACT], b[EXACT])
    assert len(serial) == len(side)
    # a timed or RSS figure exists where the serial run has one, and nowhere else
    pd.testing.assert_frame_equal(a[TIMED].notna(), b[TIMED].notna())


def test_the_load_average_around_a_run_is_in_the_provenance(tmp_path: Path) -> None:
    write_provenance(tmp_path, {"suite": "test"})
    case = Case(problem="exponential_decay", method="rk4", steps=2, meters=("nfe",))
    run_cases([case], tmp_path / "results.csv", executor="inline", progress=False)
    load = read_provenance(tmp_path)["load_average"]
    assert len(load["before"]) == 3 and len(load["after"]) == 3
    assert all(x >= 0 for x in load["before"] + load["after"])
    assert load["cpus"] >= 1


def test_jobs_is_refused_with_another_executor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local executor"):
        run_cases(CASES[:1], tmp_path / "r.csv", executor="inline", jobs=2, progress=False)
    assert not (tmp_path / "r.csv").exists()


def test_the_cli_refuses_jobs_with_another_executor_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from odebench.cli import main

    out = tmp_path / "run"
    assert main(["run", "--suite", "smoke", "--executor", "inline", "--jobs", "2",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("odebench: error:") and "--jobs" in err and "\n" not in err
    assert not out.exists()


KILLER = """
import os
import signal

import torch

from odebench.workloads.problems import register_problem


def kill_self(t, y):
    os.kill(os.getpid(), signal.SIGKILL)


register_problem("t_kill_side", kill_self, torch.ones(2), overwrite=True)
"""


def test_a_side_worker_killed_mid_case_is_a_crashed_row_and_the_next_gets_a_new_one(
    tmp_path: Path,
) -> None:
    from odebench.benchmark.usermodules import import_modules, normalize

    module = tmp_path / "killer.py"
    module.write_text(KILLER)
    (spec,) = normalize([str(module)])
    import_modules([spec])
    kill = Case(problem="t_kill_side", method="rk4", steps=1, meters=("nfe",))
    ok = Case(problem="exponential_decay", method="rk4", steps=4, meters=("nfe",))
    records = run_cases([kill, ok, kill.with_(steps=2), ok.with_(steps=8)], tmp_path / "r.csv",
                        progress=False, imports=[spec], jobs=2)  # fmt: skip
    assert [r["status"] for r in records] == ["crashed", "ok", "crashed", "ok"]
    assert "SIGKILL" in records[0]["error"]
    assert [r["nfe_forward"] for r in records[1::2]] == [16, 32]  # rk4: 4 per step


def test_an_interrupted_run_still_records_the_load_around_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from odebench.running import runner

    write_provenance(tmp_path, {"suite": "test"})

    def interrupted(*args: object, **kwargs: object) -> list:
        assert len(read_provenance(tmp_path)["load_average"]["before"]) == 3  # noted first
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_cases", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_cases([], tmp_path / "results.csv", executor="inline", progress=False)
    load = read_provenance(tmp_path)["load_average"]
    assert len(load["before"]) == 3 and len(load["after"]) == 3
