"""scipy's odeint (LSODA, banded Jacobian) as a backend: the paper's MNIST solver, adjoint only."""

from __future__ import annotations

import pytest
import torch

from odebench.instruments.nfe import phase
from odebench.solvers import SolverConfig, SolverConfigError, solve
from odebench.solvers.result import SolveError, Status

A = torch.tensor([[-0.5, 1.0], [-1.0, -0.5]], dtype=torch.float64)


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.A = torch.nn.Parameter(A.clone())

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.A.T


def lsoda(tol: float = 1e-10) -> SolverConfig:
    return SolverConfig(
        backend="scipy_odeint", method="lsoda", gradient="adjoint", rtol=tol, atol=tol
    )


def test_states_and_gradients_match_the_matrix_exponential():
    # y(t) = y0 exp(A t)^T; the loss uses two output times, so the adjoint restarts once
    field = Linear()
    y0 = torch.tensor([[1.0, 0.0], [0.3, -0.7]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    sol = solve(field, y0, t, lsoda())
    with phase("backward"):
        (sol.ys[-1].sum() + sol.ys[1].pow(2).sum()).backward()

    a = A.clone().requires_grad_(True)
    y = y0.detach().clone().requires_grad_(True)
    exact = [y @ torch.linalg.matrix_exp(s * a).T for s in (0.0, 0.5, 1.0)]
    (exact[2].sum() + exact[1].pow(2).sum()).backward()
    assert torch.allclose(sol.ys, torch.stack(exact).detach(), atol=1e-8, rtol=0)
    assert torch.allclose(field.A.grad, a.grad, atol=1e-8, rtol=0)
    assert torch.allclose(y0.grad, y.grad, atol=1e-8, rtol=0)


def test_every_evaluation_is_counted_and_agrees_with_odepacks_count():
    field = Linear()
    y0 = torch.ones(1, 2, dtype=torch.float64, requires_grad=True)
    sol = solve(field, y0, torch.tensor([0.0, 1.0], dtype=torch.float64), lsoda(1e-6))
    assert sol.stats.nfe == sol.stats.library_nfe > 0
    assert sol.field.nfe_backward == 0
    with phase("backward"):
        sol.ys[-1].sum().backward()
    assert sol.field.nfe_backward > 0  # the reverse solve calls the same counted field
    assert sol.library_stats["forward_method_used"][-1] == 1  # Adams: the problem is not stiff


def test_adjoint_saves_only_the_output_states():
    field = Linear()
    y0 = torch.ones(4, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda x: saved.append(x) or x, lambda x: x):
        solve(field, y0, t, lsoda(1e-6))
    ys = [s for s in saved if s.shape == (2, 4, 2)]
    assert len(ys) == 1  # y at both output times: 2 x 4 x 2 float64, whatever the steps


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"gradient": "backprop"}, "gradient='adjoint'"),
        ({"gradient": "adjoint", "seminorm": True}, "Drop seminorm"),
        ({"gradient": "adjoint", "adjoint_method": "rk4"}, "unknown adjoint_method"),
    ],
)
def test_configs_that_cannot_run_fail_at_construction_with_the_fix(options, fix):
    with pytest.raises(SolverConfigError, match=fix):
        SolverConfig(backend="scipy_odeint", method="lsoda", **options)


def test_a_failed_solve_is_a_status_not_a_warning():
    class Blows(torch.nn.Module):
        def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return y.pow(3) * 1e3

    y0 = torch.full((1, 2), 10.0, dtype=torch.float64)
    with pytest.raises(SolveError) as err:
        solve(Blows(), y0, torch.tensor([0.0, 1.0], dtype=torch.float64), lsoda(1e-6))
    assert err.value.status != Status.SUCCESS
