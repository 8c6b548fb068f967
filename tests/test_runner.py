"""The runner: failures become records, timeouts are enforced, runs resume after a kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from odebench.cases import Case, get_suite
from odebench.results import read_provenance, read_results
from odebench.runner import execute, run_cases

DETERMINISTIC = ["case_id", "repeat", "status", "nfe_forward", "nfe_backward", "saved_bytes",
                 "state_error", "params"]  # fmt: skip


def test_a_diverging_case_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    cases = [
        Case(problem="exponential_decay", method="dopri5", rtol=1e-300, atol=1e-300,
             meters=("nfe",)),
        Case(problem="exponential_decay", method="rk4", steps=4, meters=("nfe",)),
    ]  # fmt: skip
    records = run_cases(cases, tmp_path / "results.csv", executor="inline", progress=False)
    assert [r["status"] for r in records] == ["diverged", "ok"]
    assert "underflow" in records[0]["error"]
    df = read_results(tmp_path)
    assert list(df["status"]) == ["diverged", "ok"]
    assert df.loc[1, "nfe_forward"] == 16


def test_a_case_past_its_timeout_is_killed_and_recorded(tmp_path: Path) -> None:
    slow = Case(problem="harmonic_oscillator", method="adaptive_heun", rtol=1e-10, atol=1e-10,
                meters=("nfe",))  # fmt: skip
    fast = Case(problem="exponential_decay", method="rk4", steps=2, meters=("nfe",))
    start = time.perf_counter()
    records = run_cases([slow, fast], tmp_path / "r.csv", timeout=5, progress=False)
    assert time.perf_counter() - start < 60
    assert records[0]["status"] == "timeout"
    assert "timeout" in records[0]["error"]
    assert records[1]["status"] == "ok"


def test_execute_records_memory_meters_in_a_fresh_process(tmp_path: Path) -> None:
    case = Case(problem="mlp_small", method="rk4", steps=4,
                meters=("nfe", "saved", "peak_alloc", "peak_rss"))  # fmt: skip
    (record,) = run_cases([case], tmp_path / "r.csv", progress=False)
    assert record["status"] == "ok", record["error"]
    assert record["peak_alloc_bytes"] > record["saved_bytes"] > 0
    assert record["peak_rss_bytes"] >= 0


def test_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    cases = get_suite("smoke")
    path = tmp_path / "results.csv"
    run_cases(cases[:1], path, executor="inline", progress=False)
    again = run_cases(cases, path, executor="inline", progress=False, resume=True)
    assert [r["case_id"] for r in again] == [c.case_id for c in cases[1:]]
    assert sorted(read_results(path)["case_id"]) == sorted(c.case_id for c in cases)


def test_killed_run_resumed_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "odebench.cli", "run", "--suite", "smoke", "--no-report",
           "--quiet"]  # fmt: skip
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    results = killed / "results.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 2:  # header + 1 row
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_results(killed)
    assert 1 <= len(partial) < len(get_suite("smoke"))
    subprocess.run(cmd + ["--out", str(killed), "--resume"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    full = tmp_path / "full"
    subprocess.run(cmd + ["--out", str(full)], env=env, check=True, capture_output=True)
    a = read_results(killed)[DETERMINISTIC].sort_values("case_id").reset_index(drop=True)
    b = read_results(full)[DETERMINISTIC].sort_values("case_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert len(read_provenance(killed)["resumed"]) == 1  # the first run's provenance is kept


def test_execute_turns_an_exception_into_a_failed_record() -> None:
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    record = execute(Case(problem="exponential_decay", method="rk4", steps=2, device="cuda"))
    assert record["status"] == "failed"
    assert "CUDA is not available" in record["error"]


def test_slurm_executor_runs_cases_through_submitit_locally_without_slurm(tmp_path: Path) -> None:
    cases = [
        Case(problem="exponential_decay", method="rk4", steps=4, meters=("nfe",)),
        Case(problem="exponential_decay", method="dopri5", rtol=1e-300, atol=1e-300,
             meters=("nfe",)),
    ]  # fmt: skip
    records = run_cases(cases, tmp_path / "results.csv", executor="slurm", progress=False)
    assert [r["status"] for r in records] == ["ok", "diverged"]
    assert records[0]["nfe_forward"] == 16
    assert (tmp_path / "submitit").is_dir()  # the jobs' logs, as on a cluster
