"""Error meters against exact solutions: tolerance sweeps, convergence orders, gradients."""

import numpy as np
import pytest
import torch

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import measure
from odebench.instruments import grad_error, relative_l2, state_error
from odebench.solvers import SolverConfig, solve
from odebench.workloads.problems import get_problem, problem_names
from odebench.workloads.problems.stiff import STIFF_PROBLEMS

#: The non-stiff problems with an exact solution: an explicit dopri8 reference at 1e-12 on a
#: stiff one takes millions of steps (hours); the stiff references are checked against a
#: second implicit method in tests/test_stiff_problems.py.
EXACT = [n for n in problem_names() if get_problem(n).exact is not None and n not in STIFF_PROBLEMS]


def test_the_zoo_has_at_least_six_exact_problems() -> None:
    assert len(EXACT) >= 6
    assert any(get_problem(n).y0.ndim == 2 for n in EXACT)  # a batched one


@pytest.mark.parametrize("name", EXACT)
def test_exact_solution_matches_a_tight_reference_solve(name: str) -> None:
    from odebench.workloads.problems import reference_solve

    p = get_problem(name)
    t = p.times(3)
    ref = reference_solve(p.field(), p.y0, t)
    assert state_error(ref[-1], p.exact(t.double())[-1]) < 1e-6


@pytest.mark.parametrize("name", EXACT)
def test_error_falls_as_tolerance_tightens(name: str) -> None:
    p = get_problem(name)
    t = p.times(2)
    exact = p.reference(t)[-1]
    errors = []
    for tol in (1e-3, 1e-5, 1e-7):
        sol = solve(p.field(), p.y0, t, SolverConfig(method="dopri5", rtol=tol, atol=tol))
        errors.append(state_error(sol.ys[-1], exact))
    assert errors[0] > errors[1] > errors[2], errors


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_fixed_step_convergence_order(method: str, order: int) -> None:
    p = get_problem("linear_mixed")
    t = p.times(2)
    exact = p.reference(t)[-1]
    steps = np.array([32, 64, 128, 256])
    errors = [
        state_error(solve(p.field(), p.y0, t, SolverConfig(method=method, steps=int(n))).ys[-1],
                    exact)
        for n in steps
    ]  # fmt: skip
    h = (p.t1 - p.t0) / steps
    slope = np.polyfit(np.log(h), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.3, (slope, errors)


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_gradients_match_the_float64_reference_within_the_tolerance(gradient: str) -> None:
    errors = {}
    for tol in (1e-4, 1e-8):
        case = Case(problem="mlp_small", dtype="float64", method="dopri5", gradient=gradient,
                    rtol=tol, atol=tol, meters=("error",))  # fmt: skip
        errors[tol] = measure(case)["grad_error"]
        assert errors[tol] < 100 * tol
    assert errors[1e-8] < errors[1e-4]


def test_relative_l2_is_zero_for_equal_and_one_for_zero_value() -> None:
    ref = torch.tensor([3.0, 4.0])
    assert relative_l2(ref, ref) == 0.0
    assert relative_l2(torch.zeros(2), ref) == pytest.approx(1.0)
    assert grad_error([torch.tensor([3.0]), None], [torch.tensor([3.0]), None]) == 0.0
    # a gradient that never arrived is a failed measurement, not an error of 1.0
    with pytest.raises(ValueError, match="missing"):
        grad_error([None], [torch.tensor([3.0])])
    with pytest.raises(ValueError, match="shapes differ"):
        relative_l2(torch.zeros(3), ref)
