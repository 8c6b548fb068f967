"""Memory cases run in processes forked from a fork server: same exact figures, clean start.

The server imported odebench (and torch) and ran nothing; a forked worker must measure
exactly what the same case measures inline, and must have the malloc setting that makes
peak RSS repeat (glibc reads it only when a process starts, so the server must have it).
"""

from pathlib import Path

import pytest

from odebench.benchmark.cases import Case
from odebench.instruments.memory import RSS_ENV
from odebench.running.execute import execute
from odebench.running.runner import run_cases

#: Figures that are exact: the same in any process, whatever ran before.
EXACT = ("status", "params", "nfe_forward", "nfe_backward", "saved_bytes", "peak_alloc_bytes",
         "steps_accepted", "steps_rejected", "state_error", "grad_error", "loss")  # fmt: skip

PROBE = """
import multiprocessing
import os
from pathlib import Path

import torch

from odebench.workloads.problems import register_problem


def where(t, y):
    out = os.environ.get("ODEBENCH_TEST_WHERE")
    if out and multiprocessing.parent_process() is not None:
        Path(out).write_text(f"{os.getppid()} {os.environ.get('MALLOC_MMAP_THRESHOLD_')} "
                             f"{torch.get_num_threads()}")
    return -y


register_problem("t_where", where, torch.ones(3), overwrite=True)
"""


def _exact(record: dict) -> dict:
    return {k: record.get(k) for k in EXACT}


@pytest.mark.parametrize(
    "case",
    [
        Case(problem="mlp_small", method="rk4", steps=3,
             meters=("nfe", "saved", "peak_alloc", "peak_rss")),
        Case(problem="harmonic_oscillator", method="dopri5", rtol=1e-5, atol=1e-5,
             meters=("nfe", "saved", "peak_alloc", "error")),
    ],
    ids=["mlp-rk4-memory", "oscillator-dopri5-memory-error"],
)  # fmt: skip
def test_a_forked_worker_gives_the_exact_figures_of_an_inline_run(
    tmp_path: Path, case: Case
) -> None:
    inline = execute(case)
    (forked,) = run_cases([case], tmp_path / "r.csv", progress=False, threads=1)
    assert inline["status"] == "ok", inline["error"]
    assert _exact(forked) == _exact(inline)
    # the truths these figures rest on, derived by hand
    if case.method == "rk4":
        assert forked["nfe_forward"] == 4 * case.steps  # rk4 calls f 4 times a step
    else:  # dopri5: 2 + 6 per attempted step (FSAL)
        attempted = forked["steps_accepted"] + forked["steps_rejected"]
        assert forked["nfe_forward"] == 2 + 6 * attempted


def test_a_memory_case_runs_in_a_child_of_the_fork_server_with_the_malloc_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multiprocessing import forkserver

    from odebench.benchmark.usermodules import import_modules, normalize

    module = tmp_path / "probe.py"
    module.write_text(PROBE)
    (spec,) = normalize([str(module)])
    import_modules([spec])
    seen = tmp_path / "where.txt"
    # set after any fork server started: a forked worker still gets this process's environment
    monkeypatch.setenv("ODEBENCH_TEST_WHERE", str(seen))
    case = Case(problem="t_where", method="rk4", steps=1, meters=("nfe", "peak_alloc"))
    (record,) = run_cases([case], tmp_path / "r.csv", progress=False, threads=2, imports=[spec])
    assert record["status"] == "ok", record["error"]
    parent, malloc, threads = seen.read_text().split()
    assert int(parent) == forkserver._forkserver._forkserver_pid  # forked, not spawned
    assert malloc == RSS_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert threads == "2"
