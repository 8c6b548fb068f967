"""The flat RMS norm option of torchdiffeq's adjoint (ODEPACK's norm), in SolverConfig."""

from __future__ import annotations

import math

import pytest
import torch

from odebench.solvers import SolverConfig, SolverConfigError
from odebench.solvers.torchdiffeq_backend import flat_rms_norm, odeint_kwargs


def test_flat_norm_is_one_rms_over_the_augmented_state_without_the_time_part():
    t_grad = torch.tensor(100.0)  # left out: not part of the state scipy integrates
    y = torch.tensor([3.0, 4.0])
    a = torch.tensor([0.0])
    params = torch.tensor([[1.0, 1.0]])
    expected = math.sqrt((9 + 16 + 0 + 1 + 1) / 5)
    assert float(flat_rms_norm((t_grad, y, a, params))) == pytest.approx(expected, rel=1e-7)
    # torchdiffeq's default would be the max of per-part RMS: sqrt(25 / 2) = 3.54, not 2.32
    assert expected < math.sqrt(25 / 2)


def test_the_option_reaches_torchdiffeqs_adjoint_options():
    cfg = SolverConfig(gradient="adjoint", rtol=1e-3, atol=1e-3, flat_norm=True)
    assert odeint_kwargs(cfg)["adjoint_options"]["norm"] is flat_rms_norm
    plain = SolverConfig(gradient="adjoint", rtol=1e-3, atol=1e-3)
    assert "adjoint_options" not in odeint_kwargs(plain)


@pytest.mark.parametrize(
    "options",
    [
        {"gradient": "backprop"},
        {"gradient": "adjoint", "seminorm": True},
        {"gradient": "adjoint", "backend": "torchode"},
        {"gradient": "adjoint", "flat_norm": 1},
    ],
)
def test_flat_norm_without_the_adjoint_fails_with_the_fix(options):
    options = {"flat_norm": True, **options}
    with pytest.raises(SolverConfigError, match="flat_norm"):
        SolverConfig(rtol=1e-3, atol=1e-3, **options)
