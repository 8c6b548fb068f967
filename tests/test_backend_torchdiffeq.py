"""The torchdiffeq backend's paper solvers: scipy's LSODA (adjoint only) and implicit Adams."""

import math

import pytest
import torch
from torch import nn

from odebench.instruments import CountedField, phase
from odebench.solvers import METHODS, SolverConfig, SolverConfigError, solve

F64 = torch.float64
T = torch.tensor([0.0, 1.0], dtype=F64)


def test_paper_solvers_are_methods_of_the_default_backend() -> None:
    assert "scipy_lsoda" in METHODS and "implicit_adams" in METHODS


def test_lsoda_with_backprop_names_the_adjoint() -> None:
    with pytest.raises(SolverConfigError, match="scipy.*gradient='adjoint'"):
        SolverConfig(method="scipy_lsoda")


def test_lsoda_is_adaptive_and_implicit_adams_fixed_grid() -> None:
    with pytest.raises(SolverConfigError, match="adaptive"):
        SolverConfig(method="scipy_lsoda", gradient="adjoint", steps=4)
    with pytest.raises(SolverConfigError, match="needs exactly one of steps=N"):
        SolverConfig(method="implicit_adams")
    with pytest.raises(SolverConfigError, match="seminorm=True has no effect"):
        SolverConfig(method="scipy_lsoda", gradient="adjoint", seminorm=True)


def test_only_the_corrector_methods_take_a_tolerance_on_a_grid() -> None:
    SolverConfig(method="implicit_adams", steps=4, rtol=1e-5, atol=1e-7)
    with pytest.raises(SolverConfigError, match="only fixed_adams, implicit_adams take rtol"):
        SolverConfig(method="rk4", steps=4, rtol=1e-5)


class Linear(nn.Module):
    """y' = A y with A = -I (an nn.Module, so the adjoint sees A)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(-torch.eye(2, dtype=F64))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.a.T


@pytest.mark.parametrize("rtol", [1e-4, 1e-8])
def test_lsoda_runs_under_the_adjoint_and_counts_nfe_both_ways(rtol: float) -> None:
    # y' = -y: y(1) = e^-1 y0; d sum y(1) / d y0 = e^-1; d sum y(1) / dA = y(1) y0^T = e^-1
    field = CountedField(Linear())
    y0 = torch.ones(2, dtype=F64, requires_grad=True)
    cfg = SolverConfig(method="scipy_lsoda", gradient="adjoint", rtol=rtol, atol=rtol)
    sol = solve(field, y0, T, cfg)
    with phase("backward"):
        sol.ys[-1].sum().backward()
    torch.testing.assert_close(sol.ys[-1], torch.full((2,), math.exp(-1), dtype=F64),
                               rtol=100 * rtol, atol=0)  # fmt: skip
    torch.testing.assert_close(y0.grad, torch.full((2,), math.exp(-1), dtype=F64),
                               rtol=100 * rtol, atol=0)  # fmt: skip
    a_grad = field.inner.a.grad  # type: ignore[union-attr]
    torch.testing.assert_close(a_grad, torch.full((2, 2), math.exp(-1), dtype=F64),
                               rtol=100 * rtol, atol=0)  # fmt: skip
    # every call scipy made is one odebench counted (the numerical Jacobian's included)
    assert sol.stats.nfe == sol.stats.library_nfe == field.nfe_forward > 0
    assert field.nfe_backward > 0


@pytest.mark.parametrize("steps", [1, 2, 3, 10])
@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_implicit_adams_nfe_by_hand(steps: int, gradient: str) -> None:
    # torchdiffeq's Adams-Bashforth-Moulton starts with rk4 while it has fewer than 3 past
    # derivatives (steps 1 and 2: 4 calls each), then per step: f at t0, and corrector
    # iterations until converged. For y' = t the predictor is already exact (the polynomial
    # is inside its order), so in float64 the first corrector call converges: 2 calls a step.
    field = CountedField(lambda t, y: t.expand_as(y))
    y0 = torch.ones(1, dtype=F64, requires_grad=True)
    cfg = SolverConfig(method="implicit_adams", steps=steps, gradient=gradient)  # type: ignore[arg-type]
    sol = solve(field, y0, T, cfg)
    with phase("backward"):
        sol.ys[-1].sum().backward()
    expected = 4 * min(steps, 2) + 2 * max(steps - 2, 0)
    assert field.nfe_forward == sol.stats.nfe == expected
    # adjoint: the reverse solve of (y, a) on the same grid; its y part is the same
    # polynomial and its a part constant, so it makes the same calls. backprop: none.
    assert field.nfe_backward == (expected if gradient == "adjoint" else 0)
    assert sol.ys[-1].item() == pytest.approx(1.5, abs=1e-12)  # y(1) = 1 + 1/2
    assert float(y0.grad) == pytest.approx(1.0)  # type: ignore[arg-type]
