"""SolverConfig validation and solve(): bad input fails early with the fix in the message."""

import math

import pytest
import torch

from odebench.solvers import (
    ADAPTIVE_METHODS,
    FIXED_GRID_METHODS,
    SolverConfig,
    SolverConfigError,
    solve,
)
from odebench.solvers.torchdiffeq_backend import odeint_kwargs


def test_every_required_method_is_available() -> None:
    for m in ("dopri5", "bosh3", "adaptive_heun", "dopri8"):
        assert m in ADAPTIVE_METHODS
    for m in ("rk4", "midpoint", "euler"):
        assert m in FIXED_GRID_METHODS


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(SolverConfigError, match="unknown method 'dopri6'.*dopri5.*rk4"):
        SolverConfig(method="dopri6")


@pytest.mark.parametrize("tol", [0.0, -1e-3, math.nan])
def test_non_positive_or_nan_tolerance_is_rejected(tol: float) -> None:
    with pytest.raises(SolverConfigError, match="positive tolerance"):
        SolverConfig(method="dopri5", rtol=tol)
    with pytest.raises(SolverConfigError, match="positive tolerance"):
        SolverConfig(method="dopri5", atol=tol)


def test_adaptive_method_given_a_step_size_is_rejected() -> None:
    with pytest.raises(SolverConfigError, match="adaptive.*Drop steps/step_size"):
        SolverConfig(method="dopri5", step_size=0.1)
    with pytest.raises(SolverConfigError, match="adaptive"):
        SolverConfig(method="bosh3", steps=4)


def test_fixed_grid_method_without_steps_is_rejected() -> None:
    with pytest.raises(SolverConfigError, match="needs exactly one of steps=N"):
        SolverConfig(method="rk4")
    with pytest.raises(SolverConfigError, match="needs exactly one of"):
        SolverConfig(method="rk4", steps=4, step_size=0.1)
    with pytest.raises(SolverConfigError, match="rtol/atol do nothing"):
        SolverConfig(method="euler", steps=4, rtol=1e-3)


def test_unknown_gradient_mode_and_misplaced_adjoint_options_are_rejected() -> None:
    with pytest.raises(SolverConfigError, match="'backprop' or 'adjoint'"):
        SolverConfig(method="rk4", steps=2, gradient="checkpoint")  # type: ignore[arg-type]
    with pytest.raises(SolverConfigError, match="need gradient='adjoint'"):
        SolverConfig(method="dopri5", seminorm=True)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        SolverConfig("dopri5")  # type: ignore[misc]


def test_adjoint_options_reach_torchdiffeq() -> None:
    cfg = SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-4, atol=1e-5,
                       adjoint_rtol=1e-3, adjoint_atol=1e-3, seminorm=True)  # fmt: skip
    kw = odeint_kwargs(cfg)
    assert kw["adjoint_rtol"] == 1e-3 and kw["adjoint_atol"] == 1e-3
    assert kw["adjoint_options"] == {"norm": "seminorm"}
    assert kw["rtol"] == 1e-4 and kw["atol"] == 1e-5


def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


@pytest.mark.parametrize("t", [torch.tensor([0.0, 1.0, 1.0]), torch.tensor([0.0, 2.0, 1.0])])
def test_times_that_are_not_strictly_monotone_are_rejected(t: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="strictly monotone"):
        solve(f, torch.ones(2), t, SolverConfig(method="rk4", steps=2))


def test_initial_state_with_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="y0 contains NaN"):
        solve(f, torch.tensor([1.0, math.nan]), torch.tensor([0.0, 1.0]),
              SolverConfig(method="dopri5"))  # fmt: skip


def test_solution_holds_states_at_requested_times_and_stats() -> None:
    t = torch.linspace(0, 1, 5)
    sol = solve(f, torch.ones(3), t, SolverConfig(method="dopri5", rtol=1e-6, atol=1e-8))
    assert sol.ys.shape == (5, 3)
    torch.testing.assert_close(sol.ys[:, 0], torch.exp(-t), rtol=1e-5, atol=1e-6)
    assert sol.stats.nfe == 2 + 6 * (sol.stats.steps_accepted + sol.stats.steps_rejected)
