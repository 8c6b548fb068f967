"""A case at its step budget: status max_steps, the figures it reached, kept on resume."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.suites import get_suite
from odebench.running.execute import execute
from odebench.running.results import read_results
from odebench.running.runner import run_cases
from odebench.solvers import SolveError, SolverConfig, Status, solve
from odebench.solvers.budget import StepBudgetError, step_budget
from odebench.workloads.problems import get_problem

STIFF = {"problem": "vdp_mu1000", "dtype": "float64", "rtol": 1e-5, "atol": 1e-5,
         "meters": ("nfe", "time", "error")}  # fmt: skip


@pytest.mark.parametrize("backend", ["torchdiffeq", "torchode"])
def test_a_case_at_its_budget_records_max_steps_and_the_nfe_it_reached(backend: str) -> None:
    record = execute(Case(**STIFF, backend=backend, method="dopri5", max_steps=40))
    assert record["status"] == "max_steps"
    # dopri5 by hand: f(t0), one more call choosing the first step, 6 calls per attempted
    # step (the 7th stage is the next step's first, FSAL)
    assert record["nfe_forward"] == 2 + 6 * 40
    assert record["steps_accepted"] + record["steps_rejected"] == 40
    assert "state_error" not in record  # no figure it did not reach


@pytest.mark.parametrize("gradient", ["backprop", "checkpoint", "aca"])
def test_every_gradient_mode_stops_at_the_budget_after_the_same_steps(gradient: str) -> None:
    # aca runs torchdiffeq's step loop itself (to keep each step for its replay): it must
    # stop where torchdiffeq's own loop stops, after 40 attempted steps
    record = execute(Case(**STIFF, method="dopri5", gradient=gradient, max_steps=40))
    assert record["status"] == "max_steps"
    assert record["nfe_forward"] == 2 + 6 * 40  # by hand, as above
    assert record["steps_accepted"] + record["steps_rejected"] == 40


def test_odepack_stops_at_its_budget() -> None:
    problem = get_problem("vdp_mu1000")
    config = SolverConfig(backend="scipy_odeint", method="lsoda", gradient="adjoint",
                          rtol=1e-8, atol=1e-8)  # fmt: skip
    with step_budget(20), pytest.raises(SolveError) as info:
        solve(problem.field(), problem.y0.clone(), problem.times(2), config)
    assert info.value.status == Status.MAX_STEPS


def test_the_budget_applies_to_the_adjoint_reverse_solve() -> None:
    # the forward solve of vdp_mu10 at 1e-5 takes ~250 steps; its reverse solve more
    problem = get_problem("vdp_mu10")
    config = SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-5, atol=1e-5)
    y0 = problem.y0.clone().requires_grad_(True)
    with step_budget(100_000):
        forward = solve(problem.field(), y0, problem.times(2), config)
    steps = forward.stats.steps_accepted + forward.stats.steps_rejected
    with step_budget(steps + 1):  # enough for the forward solve, not for the reverse one
        sol = solve(problem.field(), y0, problem.times(2), config)
        with pytest.raises(AssertionError, match="max_num_steps"):
            sol.ys[-1].sum().backward()


def test_no_budget_leaves_the_solve_as_it_was() -> None:
    problem = get_problem("vdp_mu1")
    config = SolverConfig(method="dopri5", rtol=1e-6, atol=1e-6)
    free = solve(problem.field(), problem.y0.clone(), problem.times(2), config)
    with step_budget(10_000):
        budgeted = solve(problem.field(), problem.y0.clone(), problem.times(2), config)
    assert torch.equal(free.ys, budgeted.ys)
    assert free.stats.nfe == budgeted.stats.nfe


def test_a_max_steps_row_is_kept_on_resume(tmp_path: Path) -> None:
    cases = [Case(**STIFF, method="dopri5", max_steps=30),
             Case(**{**STIFF, "problem": "vdp_mu1"}, method="dopri5", max_steps=30_000)]
    path = tmp_path / "results.csv"
    first = run_cases(cases, path, executor="inline", progress=False)
    assert [r["status"] for r in first] == ["max_steps", "ok"]
    again = run_cases(cases, path, executor="inline", progress=False, resume=True)
    assert again == []  # a case at its budget is a finding, not a failure to redo
    df = read_results(path)
    assert list(df["status"]) == ["max_steps", "ok"]
    assert int(df.loc[0, "max_steps"]) == 30
    assert int(df.loc[0, "nfe_forward"]) == 2 + 6 * 30
    retried = run_cases(cases, path, executor="inline", progress=False, resume=True,
                        retry_failed=True)  # fmt: skip
    assert retried == []


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_bad_budget_is_refused_with_the_fix(bad: object) -> None:
    with pytest.raises(CaseError, match="max_steps"):
        Case(**STIFF, method="dopri5", max_steps=bad)  # type: ignore[arg-type]
    with pytest.raises(StepBudgetError), step_budget(bad):  # type: ignore[arg-type]
        pass


def test_a_case_without_a_budget_keeps_its_id() -> None:
    # the ids results/quick was written with: the new field must not change them
    table = Path(__file__).parents[1] / "results" / "quick" / "results.csv"
    ids = set(pd.read_csv(table)["case_id"])
    quick = get_suite("quick")
    assert all(c.max_steps is None for c in quick)
    assert {c.case_id for c in quick} <= ids


def test_stiff_suite_cases_all_carry_the_budget() -> None:
    cases = get_suite("stiff")
    assert all(c.max_steps is not None or c.steps is not None for c in cases)
    assert len({c.case_id for c in cases}) == len(cases)


def test_a_budget_applies_after_the_same_config_solved_without_one() -> None:
    # the solver's keyword arguments are cached per config; the budget lives outside the
    # config, so a cache keyed by the config alone served the unbudgeted kwargs here (and a
    # stiff case ran unbounded after any earlier solve of its config)
    problem = get_problem("vdp_mu10")
    config = SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5)
    solve(problem.field(), problem.y0.clone(), problem.times(2), config)  # no budget
    with step_budget(5), pytest.raises(SolveError) as info:
        solve(problem.field(), problem.y0.clone(), problem.times(2), config)
    assert info.value.status == Status.MAX_STEPS
