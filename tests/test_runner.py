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

from odebench.benchmark.cases import Case
from odebench.benchmark.suites import get_suite
from odebench.running.execute import execute
from odebench.running.provenance import read_provenance
from odebench.running.results import read_results
from odebench.running.runner import run_cases

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
    # 10 s: on the shared 2 cores at load 9 even the fast case took 1 s of CPU and a fresh
    # worker 24 s to import torch; the slow case alone would run for minutes
    records = run_cases([slow, fast], tmp_path / "r.csv", timeout=10, progress=False)
    assert time.perf_counter() - start < 120
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
    # cluster="local": submitit's local processes, asked for (without Slurm, executor="slurm"
    # alone refuses rather than run them silently)
    records = run_cases(cases, tmp_path / "results.csv", executor="slurm", cluster="local",
                        progress=False)  # fmt: skip
    assert [r["status"] for r in records] == ["ok", "diverged"]
    assert records[0]["nfe_forward"] == 16
    assert (tmp_path / "submitit").is_dir()  # the jobs' logs, as on a cluster


# --- faults under their true status ---------------------------------------------------------

FAULTS = """
import multiprocessing
import os
import signal
import time
from pathlib import Path

import torch

from odebench.workloads.problems import register_problem

if os.environ.get("ODEBENCH_TEST_FAIL_IN_WORKER") and multiprocessing.parent_process():
    raise RuntimeError("this module refuses to load in a worker")


def kill_self(t, y):
    os.kill(os.getpid(), signal.SIGKILL)


def huge(t, y):
    return y + torch.empty(2**50, dtype=torch.uint8).sum()


def sleepy(t, y):
    pid_file = os.environ.get("ODEBENCH_TEST_PID")
    if pid_file and not Path(pid_file).exists():
        Path(pid_file).write_text(str(os.getpid()))
    time.sleep(0.05)
    return -y


def threads(t, y):
    Path(os.environ["ODEBENCH_TEST_THREADS"]).write_text(str(torch.get_num_threads()))
    return -y


for name, f in [("t_kill", kill_self), ("t_huge", huge), ("t_sleepy", sleepy),
                ("t_threads", threads)]:
    register_problem(name, f, torch.ones(2), overwrite=True)
"""


@pytest.fixture
def faults(tmp_path: Path) -> str:
    """A user module registering misbehaving problems, imported here and in the workers."""
    from odebench.benchmark.usermodules import import_modules, normalize

    path = tmp_path / "faults.py"
    path.write_text(FAULTS)
    (spec,) = normalize([str(path)])
    import_modules([spec])
    return spec


def _case(problem: str, steps: int = 1) -> Case:
    return Case(problem=problem, method="rk4", steps=steps, meters=("nfe",))


def test_a_worker_that_dies_while_starting_is_a_crashed_row_and_the_sweep_goes_on(
    tmp_path: Path, faults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: a bare EOFError/RuntimeError ended the whole sweep
    monkeypatch.setenv("ODEBENCH_TEST_FAIL_IN_WORKER", "1")
    cases = [_case("exponential_decay", 2), _case("exponential_decay", 4)]
    records = run_cases(cases, tmp_path / "r.csv", progress=False, imports=[faults])
    assert [r["status"] for r in records] == ["crashed", "crashed"]
    assert "refuses to load in a worker" in records[0]["error"]
    assert len(read_results(tmp_path / "r.csv")) == 2


def test_kill_9_of_a_worker_is_a_crash_not_out_of_memory(tmp_path: Path, faults: str) -> None:
    # before: any SIGKILL was recorded as oom
    cases = [_case("t_kill"), _case("exponential_decay", 4)]
    records = run_cases(cases, tmp_path / "r.csv", progress=False, imports=[faults])
    assert [r["status"] for r in records] == ["crashed", "ok"]
    assert "SIGKILL" in records[0]["error"]


def test_torchs_cpu_allocation_failure_is_out_of_memory(faults: str) -> None:
    # before: "DefaultCPUAllocator: can't allocate memory" was recorded as failed
    record = execute(_case("t_huge"))
    assert record["status"] == "oom", record["error"]


def test_inline_executor_enforces_the_timeout(tmp_path: Path, faults: str) -> None:
    # before: --executor inline ignored --timeout (this case takes 4000 x 0.05 s = 200 s)
    start = time.perf_counter()
    (record,) = run_cases([_case("t_sleepy", 1000)], tmp_path / "r.csv", executor="inline",
                          timeout=1, progress=False)  # fmt: skip
    assert record["status"] == "timeout"
    assert time.perf_counter() - start < 30


def test_threads_reach_the_workers(
    tmp_path: Path, faults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: --threads set only the parent's threads; workers measured with torch's default
    seen = tmp_path / "threads.txt"
    monkeypatch.setenv("ODEBENCH_TEST_THREADS", str(seen))
    (record,) = run_cases([_case("t_threads")], tmp_path / "r.csv", progress=False, threads=3,
                          imports=[faults])  # fmt: skip
    assert record["status"] == "ok", record["error"]
    assert seen.read_text() == "3"


def test_workers_die_with_their_parent(tmp_path: Path, faults: str) -> None:
    # before: a worker orphaned by kill -9 of the parent ran on at full CPU, no timeout
    import psutil

    pid_file = tmp_path / "worker.pid"
    script = (
        "from odebench.benchmark.cases import Case\n"
        "from odebench.running.runner import run_cases\n"
        "from odebench.benchmark.usermodules import import_modules\n"
        f"import_modules([{faults!r}])\n"
        "case = Case(problem='t_sleepy', method='rk4', steps=100000, meters=('nfe',))\n"
        f"run_cases([case], {str(tmp_path / 'r.csv')!r}, progress=False, imports=[{faults!r}])\n"
    )
    env = {**os.environ, "ODEBENCH_TEST_PID": str(pid_file)}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.time() + 120
        while not pid_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        worker = int(pid_file.read_text())
    finally:
        parent.kill()
        parent.wait()

    def gone() -> bool:
        try:
            return psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.time() + 15
    while not gone() and time.time() < deadline:
        time.sleep(0.2)
    alive = not gone()
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived its parent"


def test_user_modules_and_threads_reach_submitit_jobs(
    tmp_path: Path, faults: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "threads.txt"
    monkeypatch.setenv("ODEBENCH_TEST_THREADS", str(seen))
    (record,) = run_cases([_case("t_threads")], tmp_path / "r.csv", executor="slurm",
                          cluster="local", progress=False, threads=3,
                          imports=[faults])  # fmt: skip
    assert record["status"] == "ok", record["error"]
    assert seen.read_text() == "3"
