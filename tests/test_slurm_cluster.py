"""odebench against a running Slurm cluster (started in CI by .ci/slurm).

Skipped, with the reason, where no Slurm answers (a laptop); where ``ODEBENCH_REQUIRE_SLURM=1``
(set by .ci/run) a missing cluster fails instead, so CI cannot pass with these skipped.
Each job costs 5-10 s of Python and torch start-up, so the suites here are tiny. Meant for a
test cluster: the tests read and, when one fails, cancel this user's jobs named odebench.
"""

from __future__ import annotations

import csv
import functools
import getpass
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from odebench.reading.comparison import EXACT_FIGURES
from odebench.running.results import read_results

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
#: three exact cases that share a node, one timed case that gets a node alone
SMALL = """[suite]
name = "slurm-small"

[[grid]]
problem = "exponential_decay"
method = "rk4"
steps = [2, 4, 8]
meters = ["nfe", "error"]

[[grid]]
problem = "exponential_decay"
method = "rk4"
steps = 4
meters = ["nfe", "time"]
"""
#: timed cases only: each job takes the node alone, so they run one after another
SERIAL = """[[grid]]
problem = "exponential_decay"
method = "rk4"
steps = [2, 4, 8]
meters = ["nfe", "time"]
"""
#: SERIAL's shape with cases of several seconds each: the driver harvests finished jobs every
#: 2 s, so with millisecond cases all three could finish before a Ctrl-C lands (seen in CI).
SLOW_SERIAL = """[[grid]]
problem = "mlp"
method = "rk4"
steps = [128, 129, 130]
meters = ["nfe", "time"]
timed_passes = 40
"""


@functools.cache
def cluster_missing() -> str | None:
    """Why no Slurm cluster answers here (None when one does, with a node up)."""
    for tool in ("sinfo", "sbatch", "squeue", "scancel", "sacct", "srun"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH (start a cluster with `.ci/slurm start`)"
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                              timeout=20, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 20 s"
    states = done.stdout.split()
    if done.returncode != 0 or not any(s.rstrip("*") in ("idle", "mix", "alloc") for s in states):
        return f"no Slurm node up (sinfo: {' '.join((done.stdout + done.stderr).split())})"
    return None


DRIVERS: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def cluster() -> Iterator[None]:
    why = cluster_missing()
    if why is not None:
        if os.environ.get("ODEBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"ODEBENCH_REQUIRE_SLURM=1 but no Slurm here: {why}")
        pytest.skip(f"no Slurm cluster: {why}")
    assert not queue(), f"jobs named odebench already queued: {queue()}"
    yield
    while DRIVERS:  # a failed test leaves no driver nor job behind for the next one
        driver = DRIVERS.pop()
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    wait_queue_empty(30)
    if queue():
        subprocess.run(["scancel", *queue()], check=False)


def queue() -> dict[str, str]:
    """This user's odebench jobs in Slurm's queue: id -> state."""
    out = subprocess.run(["squeue", "-h", "-u", getpass.getuser(), "-n", "odebench", "-o",
                          "%i %T"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    return dict(line.split() for line in out.splitlines() if line.strip())


def wait_queue_empty(limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while queue() and time.monotonic() < deadline:
        time.sleep(0.5)


def odebench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "odebench.cli", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip


def _interruptible() -> None:
    """In the driver, before exec: Ctrl-C's default. A shell runs background jobs (CI
    launched with ``&``) with SIGINT ignored, children inherit that, and Python then installs
    no KeyboardInterrupt handler: the test's Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    driver = subprocess.Popen([sys.executable, "-m", "odebench.cli", *args], cwd=cwd, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_interruptible)  # fmt: skip
    DRIVERS.append(driver)
    return driver


def wait_for(what: str, test, limit: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {limit:g} s; queue: {queue()}")
        time.sleep(0.1)


def job_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "slurm_jobs.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_a_suite_under_slurm_equals_the_same_suite_run_locally(tmp_path: Path) -> None:
    (tmp_path / "small.toml").write_text(SMALL)
    run = ["run", "--suite", "small.toml", "--threads", "1", "--no-report"]
    slurm = odebench(*run, "--out", "slurm", "--executor", "slurm", cwd=tmp_path)
    assert slurm.returncode == 0, slurm.stderr
    local = odebench(*run, "--out", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    a = read_results(tmp_path / "slurm").set_index("case_id").sort_index()
    b = read_results(tmp_path / "local").set_index("case_id").sort_index()
    assert len(a) == len(b) == 4 and list(a.index) == list(b.index)
    assert (a["status"] == "ok").all()
    exact = [c for c in EXACT_FIGURES if c in a and a[c].notna().any()]
    assert {"nfe_forward", "state_error"} <= set(exact)
    assert a[exact].equals(b[exact]), (a[exact], b[exact])
    # the jobs' own times: one row each, queue time apart from run time, the timed one alone
    jobs = {r["case_id"]: r for r in job_rows(tmp_path / "slurm")}
    assert set(jobs) == set(a.index)
    assert all(r["state"] == "COMPLETED" and float(r["queue_s"]) >= 0 <= float(r["run_s"])
               for r in jobs.values())  # fmt: skip
    timed = {cid for cid, m in zip(a.index, a["meters"], strict=True) if "time" in m}
    assert {cid for cid, r in jobs.items() if r["exclusive"] == "True"} == timed
    # progress while waiting: the counts as they change (how soon a job starts is Slurm's
    # business, so the first line may already show one running), each summing to the 4 jobs,
    # done never falling, down to all done
    counts = [
        tuple(int(n) for n in m)
        for m in re.findall(
            r"Slurm jobs: (\d+) queued, (\d+) running, (\d+) done \(of 4\)", slurm.stderr
        )
    ]
    assert len(counts) >= 2, slurm.stderr
    assert all(sum(c) == 4 for c in counts), counts
    assert counts[0][2] == 0 and counts[-1] == (0, 0, 4), counts
    assert [c[2] for c in counts] == sorted(c[2] for c in counts), counts
    assert all(a != b for a, b in itertools.pairwise(counts)), counts  # a line per change


def test_scancel_of_a_running_and_a_pending_job_records_crashed_and_retry_completes(
    tmp_path: Path,
) -> None:
    (tmp_path / "two.toml").write_text(SERIAL.replace("[2, 4, 8]", "[2, 4]"))
    run = ["run", "--suite", "two.toml", "--threads", "1", "--no-report", "--out", "r",
           "--executor", "slurm"]  # fmt: skip
    driver = start(*run, cwd=tmp_path)
    # timed jobs each need the node alone: one runs while the other waits
    wait_for("one job running, one pending",
             lambda: sorted(queue().values()) == ["PENDING", "RUNNING"])  # fmt: skip
    ids = list(queue())
    subprocess.run(["scancel", *ids], check=True)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 1, err
    rows = read_results(tmp_path / "r")
    assert list(rows["status"]) == ["crashed", "crashed"], rows["error"]
    for error in rows["error"]:
        assert error.startswith("Slurm job ") and "CANCELLED" in error, error
    assert sorted(rows["wall_s"])[0] == 0.0  # the pending one never ran: no queue time counted
    again = odebench(*run, "--resume", "--retry-failed", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert list(read_results(tmp_path / "r")["status"]) == ["ok", "ok"]


def test_ctrl_c_cancels_the_runs_jobs_so_a_resume_runs_each_case_exactly_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "serial.toml").write_text(SLOW_SERIAL)
    run = ["run", "--suite", "serial.toml", "--threads", "1", "--no-report", "--out", "r",
           "--executor", "slurm"]  # fmt: skip
    driver = start(*run, cwd=tmp_path)
    # one job finished (left the queue) while the other two wait or run: the driver's own
    # results file is not the signal, it may write a harvested row later than Slurm ends it
    wait_for("all three jobs queued", lambda: len(queue()) == 3)
    wait_for("the first job done", lambda: len(queue()) <= 2)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert 1 <= len(read_results(tmp_path / "r")) < 3
    again = odebench(*run, "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    wait_queue_empty()  # before the fix, the first run's jobs were still queued here
    assert len(read_results(tmp_path / "r", history=True)) == 3
    # every job that ran to the end left a result: 3 cases, 3 results (before: 5, the
    # interrupted run's queued jobs ran anyway and the resume ran their cases again)
    assert len(list((tmp_path / "r" / "submitit").glob("*_result.pkl"))) == 3
    assert "interrupted: cancelled" in err and "Slurm job(s) still queued or running" in err, err


def test_sigterm_of_the_driver_cancels_its_jobs_as_ctrl_c_does(tmp_path: Path) -> None:
    (tmp_path / "two.toml").write_text(SERIAL.replace("[2, 4, 8]", "[2, 4]"))
    driver = start("run", "--suite", "two.toml", "--threads", "1", "--no-report", "--out", "r",
                   "--executor", "slurm", cwd=tmp_path)  # fmt: skip
    wait_for("both jobs submitted", lambda: len(queue()) == 2)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    wait_for("the jobs cancelled", lambda: not queue(), limit=30)  # before: they ran on
    assert "interrupted: cancelled 2 Slurm job(s)" in err, err


def test_a_partition_slurm_does_not_have_is_one_line_exit_2_and_no_folder(tmp_path: Path) -> None:
    done = odebench("run", "--suite", "smoke", "--out", "r", "--executor", "slurm",
                    "--slurm-partition", "no-such-partition", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no partition 'no-such-partition'" in done.stderr
    assert "choose one of:" in done.stderr
    assert not (tmp_path / "r").exists()


def test_device_cuda_asks_slurm_for_a_gpu_which_a_cluster_without_one_refuses_up_front(
    tmp_path: Path,
) -> None:
    # the CI cluster has no GPU: a request for one is refused by sbatch --test-only, before
    # anything is written (before: no GPU was asked for; the cases failed on the node)
    done = odebench("run", "--suite", "smoke", "--out", "r", "--executor", "slurm",
                    "--device", "cuda", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "--gpus-per-node=1" in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()
