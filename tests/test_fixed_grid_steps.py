"""Fixed grids with step_size=h: the steps counted are the steps integrated, in both backends."""

from __future__ import annotations

import math

import pytest
import torch

from odebench.solvers import SolverConfig, solve


def _decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("method", "calls"), [("rk4", 4), ("euler", 1), ("heun2", 2)])
@pytest.mark.parametrize("n", [3, 7])
def test_step_size_counts_the_grid_integrated(
    dtype: torch.dtype, method: str, calls: int, n: int
) -> None:
    """h = 2pi/n over [0, 2pi] is n steps: NFE = calls x n and steps_accepted = n (float32
    read n + 1 steps: 4 for rk4's 3 at n = 3, and torchode took an 8th tiny step at n = 7)."""
    t = torch.tensor([0.0, 2 * math.pi], dtype=dtype)
    y0 = torch.ones(4, 2, dtype=dtype)
    backends = ("torchdiffeq", "torchode") if method != "rk4" else ("torchdiffeq",)
    for backend in backends:
        config = SolverConfig(backend=backend, method=method, step_size=2 * math.pi / n)
        sol = solve(_decay, y0, t, config)
        assert (sol.stats.nfe, sol.stats.steps_accepted) == (calls * n, n), backend


def test_step_size_with_a_short_last_step_counts_it() -> None:
    """h = 0.3 over [0, 1]: steps at 0.3, 0.6, 0.9 and a short one to 1: 4 in both."""
    t = torch.tensor([0.0, 1.0])
    y0 = torch.ones(3, 2)
    for backend in ("torchdiffeq", "torchode"):
        sol = solve(_decay, y0, t, SolverConfig(backend=backend, method="euler", step_size=0.3))
        assert (sol.stats.nfe, sol.stats.steps_accepted) == (4, 4), backend
