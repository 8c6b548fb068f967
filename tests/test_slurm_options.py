"""The Slurm executor's requests and checks, without a cluster (fake sbatch/sacct on PATH).

The tests against a running cluster are in tests/test_slurm_cluster.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from odebench.benchmark.cases import Case
from odebench.running.slurm import (
    SlurmError,
    SlurmOptions,
    Submitted,
    check_accounting,
    crash_record,
    sbatch_flags,
)

TIMED = Case(problem="exponential_decay", method="rk4", steps=2, meters=("nfe", "time"))
EXACT = Case(problem="exponential_decay", method="rk4", steps=2, meters=("nfe", "error"))
RSS = Case(problem="exponential_decay", method="rk4", steps=2, meters=("peak_rss",))


def test_a_cuda_case_asks_for_one_gpu_unless_told_otherwise() -> None:
    cuda = EXACT.with_(device="cuda")
    assert SlurmOptions().parameters(cuda, 60)["slurm_gpus_per_node"] == 1
    assert SlurmOptions().parameters(EXACT, 60)["slurm_gpus_per_node"] is None
    assert SlurmOptions(gpus=0).parameters(cuda, 60)["slurm_gpus_per_node"] is None
    assert SlurmOptions(gpus=2).parameters(EXACT, 60)["slurm_gpus_per_node"] == 2
    assert "--gpus-per-node=1" in sbatch_flags(SlurmOptions().parameters(cuda, 60))


def test_timed_and_rss_cases_get_a_node_alone_exact_ones_share() -> None:
    auto = SlurmOptions()
    assert auto.parameters(TIMED, 60)["slurm_exclusive"] is True
    assert auto.parameters(RSS, 60)["slurm_exclusive"] is True
    assert auto.parameters(EXACT, 60)["slurm_exclusive"] is None
    assert SlurmOptions(exclusive=False).parameters(TIMED, 60)["slurm_exclusive"] is None
    assert SlurmOptions(exclusive=True).parameters(EXACT, 60)["slurm_exclusive"] is True
    assert "--exclusive" in sbatch_flags(auto.parameters(TIMED, 60))
    assert "--exclusive" not in sbatch_flags(auto.parameters(EXACT, 60))


def test_partition_cpus_time_and_extra_parameters_reach_sbatch() -> None:
    options = SlurmOptions(partition="gpu", cpus=4, extra={"mem": "4G", "qos": "high"})
    flags = sbatch_flags(options.parameters(EXACT, 61))  # 61 s: 2 minutes, plus 1
    assert flags == ["--job-name=odebench", "--time=3", "--partition=gpu", "--cpus-per-task=4",
                     "--mem=4G", "--qos=high"]


def test_extra_parameters_that_odebench_sets_itself_are_refused_with_the_option() -> None:
    with pytest.raises(SlurmError, match="--slurm-partition"):
        SlurmOptions(extra={"partition": "x"})
    with pytest.raises(SlurmError, match="--slurm-gpus"):
        SlurmOptions(extra={"gres": "gpu:1"})
    with pytest.raises(SlurmError, match="cpus"):
        SlurmOptions(cpus=0)


def _fake_handle(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(job_id="41", state="CANCELLED", stderr=lambda: "importing torch\n",
                           paths=SimpleNamespace(result_pickle=tmp_path / "none.pkl"))


def test_a_crashed_job_says_slurms_state_and_reason_and_its_wall_is_its_run_not_its_queue(
    tmp_path: Path,
) -> None:
    # queued 100 s, ran 7 s (sacct's ElapsedRaw), then cancelled: wall_s is the 7 s it ran
    sub = Submitted(EXACT, 0, _fake_handle(tmp_path), started=0.0, options={})
    row = {"State": "CANCELLED by 0", "Reason": "None", "NodeList": "node3", "ElapsedRaw": "7",
           "Submit": "2026-01-01T00:00:00", "Start": "2026-01-01T00:01:40"}
    record = crash_record(sub, None, row)
    assert record["status"] == "crashed"
    assert record["wall_s"] == 7.0
    assert "Slurm job 41 CANCELLED by 0 on node3" in record["error"]
    assert "importing torch" in record["error"]
    pending = crash_record(sub, None, {"State": "CANCELLED by 0", "Reason": "JobHeldUser",
                                       "NodeList": "None assigned", "ElapsedRaw": "0"})
    assert pending["wall_s"] == 0.0 and "(reason: JobHeldUser)" in pending["error"]


def _fake_bin(tmp_path: Path, scripts: dict[str, str]) -> str:
    """A folder of fake Slurm commands; returns a PATH with it first."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


NO_ACCOUNTING = 'echo "sacct: error: Slurm accounting storage is disabled" >&2; exit 1'


def test_without_accounting_the_run_refuses_before_submitting_instead_of_waiting_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: nothing checked sacct; a job cancelled while pending left the driver waiting
    path = _fake_bin(tmp_path, {"srun": "exit 0", "sacct": NO_ACCOUNTING,
                                "sbatch": f"touch {tmp_path / 'submitted'}; exit 1"})
    monkeypatch.setenv("PATH", path)
    with pytest.raises(SlurmError, match="accounting_storage/slurmdbd"):
        check_accounting()
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "odebench.cli", "run", "--suite", "smoke", "--out", str(out),
         "--executor", "slurm"],
        capture_output=True, text=True, env={**os.environ, "PATH": path,
                                             "PYTHONPATH": str(Path(__file__).parents[1])},
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "accounting storage is disabled" in lines[0], done.stderr
    assert not out.exists()
    assert not (tmp_path / "submitted").exists()


def test_without_sacct_on_path_the_run_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "only-srun"
    folder.mkdir()
    (folder / "srun").write_text("#!/bin/sh\nexit 0\n")
    (folder / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    with pytest.raises(SlurmError, match="sacct is not on PATH"):
        check_accounting()


def test_slurm_options_without_executor_slurm_are_refused_in_one_line(tmp_path: Path) -> None:
    from odebench.cli.app import main

    out = tmp_path / "r"
    for extra in (["--slurm-gpus", "1"], ["--slurm-extra", "mem=4G"], ["--slurm-cpus", "2"]):
        assert main(["run", "--suite", "smoke", "--out", str(out), *extra]) == 2
    assert not out.exists()


def test_slurm_extra_takes_the_comma_list_and_refuses_what_odebench_sets() -> None:
    import argparse

    from odebench.cli.slurm import extra_parameters

    assert extra_parameters("mem=4G, qos=high") == {"mem": "4G", "qos": "high"}
    for bad in ("mem", "partition=gpu", "=4G", "mem="):
        with pytest.raises(argparse.ArgumentTypeError):
            extra_parameters(bad)
