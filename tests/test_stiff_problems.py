"""The stiff problems' references: each agrees with an independent second method, and the
reference gradients (variational equations) agree with backprop through another solver."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from odebench.workloads.problems import get_problem, reference_odeint
from odebench.workloads.problems.stiff import (
    AGREEMENT,
    LINEAR_RATIOS,
    REFERENCE_RTOL,
    STIFF_PROBLEMS,
    compute_reference,
    stiff_matrix,
    stored_references,
)

NONLINEAR = ("vdp_mu1", "vdp_mu10", "vdp_mu100", "vdp_mu1000", "rober")


@pytest.mark.parametrize("name", NONLINEAR)
def test_each_stored_reference_agrees_with_its_recorded_cross_check(name: str) -> None:
    entry = stored_references()[name]
    assert entry["rtol"] == REFERENCE_RTOL == 1e-13
    assert entry["cross_method"] in ("DOP853", "LSODA")
    assert entry["agreement"] <= AGREEMENT[name]


@pytest.mark.parametrize("name", NONLINEAR)
def test_each_stored_reference_agrees_with_a_fresh_lsoda_solve(name: str) -> None:
    # written here from the equations (not the module's functions), solved by ODEPACK
    if name == "rober":
        def f(t, y):  # noqa: ANN001, ANN202
            return [-0.04 * y[0] + 1e4 * y[1] * y[2],
                    0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2, 3e7 * y[1] ** 2]
        y0, atol = [1.0, 0.0, 0.0], 1e-18
    else:
        mu = float(name.removeprefix("vdp_mu"))

        def f(t, y):  # noqa: ANN001, ANN202
            return [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]
        y0, atol = [2.0, 0.0], 1e-13
    problem = get_problem(name)
    other = solve_ivp(f, (problem.t0, problem.t1), y0, method="LSODA", rtol=1e-13, atol=atol)
    stored = np.array(stored_references()[name]["z"])[-1, : len(y0)]
    scale = np.maximum(np.abs(stored), atol / 1e-13)
    assert np.max(np.abs(stored - other.y[:, -1]) / scale) < AGREEMENT[name]


def test_the_stored_reference_is_what_radau_computes_now() -> None:
    stored = np.array(stored_references()["vdp_mu1"]["z"])
    fresh = compute_reference("vdp_mu1", (0.0, get_problem("vdp_mu1").t1))
    np.testing.assert_allclose(fresh, stored, rtol=1e-12, atol=1e-13)


def test_van_der_pol_closes_about_one_limit_cycle() -> None:
    for mu in (1, 10, 100, 1000):
        problem = get_problem(f"vdp_mu{mu}")
        y1 = problem.reference(problem.times(2))[-1]
        assert abs(float(y1[0]) - 2.0) < 0.01  # back near where it started, (2, 0)


def test_reference_gradient_equals_backprop_through_dopri8() -> None:
    # mu = 1 is not stiff: torchdiffeq's dopri8 at 1e-12, differentiated, is a second truth
    problem = get_problem("vdp_mu1")
    t = problem.times(3)
    y0 = problem.y0.clone().requires_grad_(True)
    field = problem.field().double()
    ys = reference_odeint(field, y0, t)
    (expected,) = torch.autograd.grad((0.5 * ys[1:] ** 2).sum(), y0)
    (got,) = problem.reference_gradients(t, lambda ys: (0.5 * ys[1:] ** 2).sum())
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("ratio", LINEAR_RATIOS)
def test_linear_system_has_the_stiffness_ratio_it_is_named_after(ratio: int) -> None:
    eig = torch.linalg.eigvalsh(stiff_matrix(ratio))
    torch.testing.assert_close(eig, torch.tensor([-ratio, -math.sqrt(ratio), -1.0],
                                                 dtype=torch.float64))  # fmt: skip


def test_linear_exact_solution_and_gradient_by_hand() -> None:
    # y(t) = V exp(L t) V^T y0 with the eigen-decomposition: written apart from matrix_exp
    problem = get_problem("linear_stiff_r10")
    lam, v = torch.linalg.eigh(stiff_matrix(10))
    t1 = problem.t1
    m = v @ torch.diag(torch.exp(lam * t1)) @ v.T
    y1 = m @ problem.y0
    torch.testing.assert_close(problem.reference(problem.times(2))[-1], y1)
    # loss 0.5 |y(t1)|^2: gradient M^T M y0
    (grad,) = problem.reference_gradients(problem.times(2), lambda ys: (0.5 * ys[-1] ** 2).sum())
    torch.testing.assert_close(grad, m.T @ y1)


def test_every_stiff_problem_is_registered_with_a_float64_state() -> None:
    for name in STIFF_PROBLEMS:
        problem = get_problem(name)
        assert problem.y0.dtype == torch.float64
        assert problem.exact is not None  # a reference, never the explicit dopri8 fallback
