"""The 2-D continuous normalizing flow: densities, traces, noise, regulariser terms, gradients.

Each expected value is derived by hand: a flow ``f(z) = a z`` has ``z(t) = x e^{at}``, trace
``2a``, ``|f|^2 = a^2 |x|^2 e^{2at}`` and ``|df/dz|_F^2 = 2 a^2``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import measure
from odebench.benchmark.suites import GRADIENT_MODES, gradients_suite
from odebench.experiments.dynamics.cnf_task import regularised_loss
from odebench.experiments.dynamics.spec import LAMBDA_JACOBIAN, LAMBDA_KINETIC
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.toy2d import TOY_DENSITIES, ToyDataError, sample_toy
from odebench.workloads.models.cnf import (
    CNFError,
    CNFField,
    initial_state,
    log_density_from_state,
)
from odebench.workloads.problems.cnf import WEIGHTS, trained_cnf_field

TIGHT = SolverConfig(method="dopri5", rtol=1e-9, atol=1e-9)
T = torch.tensor([0.0, 1.0], dtype=torch.float64)
needs_weights = pytest.mark.skipif(not WEIGHTS.exists(), reason="CNF problem weights not fitted")


class Scaled(nn.Module):
    """``f(t, z) = a z``: the tiny field whose flow, trace and integrals are known by hand."""

    def __init__(self, a: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.a * z


def linear_flow(a: float, trace: str = "exact", *, regularise: bool = False) -> CNFField:
    field = CNFField(4, trace=trace, regularise=regularise).double()
    field.net = Scaled(a)
    return field


def test_exact_log_density_of_a_linear_flow_is_the_change_of_variables():
    a, x = 0.3, torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    field = linear_flow(a)
    with torch.no_grad():
        y1 = solve(field, initial_state(x, field), T, TIGHT).ys[-1]
    z1 = x * math.exp(a)
    # log p(x) = log N(z1) + integral of tr(df/dz) = log N(z1) + 2a
    expected = -0.5 * (z1**2).sum(-1) - math.log(2 * math.pi) + 2 * a
    torch.testing.assert_close(log_density_from_state(y1), expected, rtol=0, atol=1e-7)


def test_regularised_loss_terms_equal_the_hand_integrals():
    a, x = -0.4, torch.tensor([[1.0, 2.0], [-0.5, 0.0], [0.3, -0.7]], dtype=torch.float64)
    field = linear_flow(a, regularise=True)
    with torch.no_grad():
        y1 = solve(field, initial_state(x, field), T, TIGHT).ys[-1]
    terms = regularised_loss(y1, rnode=True)
    sq = (x**2).sum(-1)
    # integral_0^1 a^2 |x|^2 e^{2at} dt = a |x|^2 (e^{2a} - 1) / 2
    kinetic = (a * sq * (math.exp(2 * a) - 1) / 2).mean()
    jacobian = 2 * a**2  # |aI|_F^2 over a unit time
    nll = -(-0.5 * sq * math.exp(2 * a) - math.log(2 * math.pi) + 2 * a).mean()
    torch.testing.assert_close(terms["kinetic"], kinetic, rtol=1e-7, atol=0)
    torch.testing.assert_close(terms["jacobian"], torch.tensor(jacobian, dtype=torch.float64),
                               rtol=1e-7, atol=0)  # fmt: skip
    torch.testing.assert_close(terms["nll"], nll, rtol=1e-7, atol=0)
    expected = nll + LAMBDA_KINETIC * kinetic + LAMBDA_JACOBIAN * jacobian
    torch.testing.assert_close(terms["total"], expected, rtol=1e-7, atol=0)
    plain = regularised_loss(y1[:, :3], rnode=False)
    torch.testing.assert_close(plain["total"], nll, rtol=1e-7, atol=0)
    assert "kinetic" not in plain


def test_hutchinson_frobenius_term_of_a_linear_flow_is_a_squared_times_noise_norm():
    a, x = 0.7, torch.tensor([[1.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
    noise = torch.tensor([[1.5, -0.5], [0.2, 2.0]], dtype=torch.float64)
    field = linear_flow(a, "hutchinson", regularise=True)
    field.set_noise(noise)
    with torch.no_grad():
        y1 = solve(field, initial_state(x, field), T, TIGHT).ys[-1]
    # e^T (aI) e = a |e|^2 per unit time; |e^T aI|^2 = a^2 |e|^2
    torch.testing.assert_close(y1[:, 2], -a * (noise**2).sum(-1), rtol=1e-7, atol=0)
    torch.testing.assert_close(y1[:, 4], a**2 * (noise**2).sum(-1), rtol=1e-7, atol=0)


def test_hutchinson_estimate_is_unbiased_against_the_exact_trace():
    torch.manual_seed(0)
    exact = CNFField(16, trace="exact").double()
    hutch = CNFField(16, trace="hutchinson").double()
    hutch.load_state_dict(exact.state_dict())
    draws = 40_000
    y = initial_state(torch.tensor([[0.4, -1.1]], dtype=torch.float64).expand(draws, 2), exact)
    t = torch.tensor(0.3, dtype=torch.float64)
    hutch.set_noise(torch.randn(draws, 2, generator=torch.Generator().manual_seed(1),
                                dtype=torch.float64))  # fmt: skip
    with torch.no_grad():
        truth = -exact(t, y[:1])[0, 2]
        estimates = -hutch(t, y)[:, 2]
    # the mean of `draws` unbiased estimates is within 4 standard errors of the truth
    stderr = estimates.std() / math.sqrt(draws)
    assert abs(estimates.mean() - truth) < 4 * stderr
    assert estimates.std() > 0  # the estimator is really random


def test_noise_fixed_per_solve_repeats_the_adaptive_solve_exactly():
    torch.manual_seed(0)
    field = CNFField(16, trace="hutchinson")
    x = torch.randn(32, 2)
    field.draw_noise(32, generator=torch.Generator().manual_seed(5))
    config = SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        runs = [solve(field, initial_state(x, field), T.float(), config) for _ in range(3)]
    assert len({r.stats.nfe for r in runs}) == 1
    assert all(torch.equal(r.ys, runs[0].ys) for r in runs)


def test_noise_drawn_per_evaluation_makes_each_solve_a_different_function():
    torch.manual_seed(0)
    field = CNFField(16, trace="hutchinson_per_eval")
    x = torch.randn(32, 2)
    config = SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        a = solve(field, initial_state(x, field), T.float(), config).ys[-1]
        b = solve(field, initial_state(x, field), T.float(), config).ys[-1]
    assert not torch.equal(a[:, 2], b[:, 2])  # the log-density differs between solves
    torch.testing.assert_close(a[:, :2], b[:, :2])  # the points follow the same flow


def test_hutchinson_without_noise_for_the_batch_refuses_with_the_fix():
    field = CNFField(8, trace="hutchinson")
    with pytest.raises(CNFError, match="draw_noise"):
        field(torch.tensor(0.0), torch.zeros(4, 3))
    with pytest.raises(CNFError, match="unknown trace"):
        CNFField(8, trace="hutchinsons")


@pytest.mark.parametrize("name", TOY_DENSITIES)
def test_toy_densities_are_deterministic_per_seed(name):
    a, b = sample_toy(name, 500, seed=3), sample_toy(name, 500, seed=3)
    assert a.shape == (500, 2) and a.dtype == torch.float64 and torch.equal(a, b)
    assert not torch.equal(a, sample_toy(name, 500, seed=4))


def test_eight_gaussians_lie_near_their_eight_centres():
    x = sample_toy("8gaussians", 4000, seed=0)
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    nearest = torch.cdist(x, centres).min(dim=1)
    assert nearest.values.max() < 6 * 0.2 * 1.5  # the std is 0.2: no point is 9 sds away
    counts = torch.bincount(nearest.indices, minlength=8)
    assert counts.min() > 4000 / 8 * 0.8  # each centre holds about an eighth


def test_unknown_toy_density_names_the_choices():
    with pytest.raises(ToyDataError, match="checkerboard"):
        sample_toy("swissroll", 10)


@needs_weights
def test_trained_flow_density_integrates_to_one_over_a_grid():
    field = trained_cnf_field("exact").double()
    n, half = 101, 4.5  # the data lies within about 2.8 of the origin
    axis = torch.linspace(-half, half, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        y1 = solve(field, initial_state(grid, field), T,
                   SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5)).ys[-1]  # fmt: skip
    mass = log_density_from_state(y1).exp().sum() * (2 * half / (n - 1)) ** 2
    assert abs(mass.item() - 1.0) < 1e-3  # read 0.999995 (dopri5 1e-5, 101 x 101 points)


def test_every_gradient_mode_of_the_gradients_suite_runs_on_the_cnf():
    cases = [c for c in gradients_suite() if c.problem.startswith("cnf_")]
    modes = {(c.problem, c.backend, c.gradient) for c in cases}
    for problem in ("cnf_8gaussians", "cnf_8gaussians_hutchinson"):
        for backend, names in GRADIENT_MODES.items():
            for mode in names:
                skipped = backend == "torchode" and mode == "adjoint" and "hutch" in problem
                assert ((problem, backend, mode) in modes) != skipped


@needs_weights
@pytest.mark.parametrize("problem", ["cnf_8gaussians", "cnf_8gaussians_hutchinson"])
@pytest.mark.parametrize(
    "backend,gradient",
    [(b, g) for b, modes in GRADIENT_MODES.items() for g in modes],
)
def test_every_gradient_mode_measures_the_cnf_against_its_float64_reference(
    problem, backend, gradient
):
    if backend == "torchode" and gradient == "adjoint" and problem.endswith("hutchinson"):
        pytest.skip("torchode's per-sample adjoint cannot pair samples with a batch's noise")
    case = Case(
        problem=problem, backend=backend, gradient=gradient, method="dopri5", rtol=1e-6,
        atol=1e-6, dtype="float64", meters=("nfe", "saved", "error"),
    )  # fmt: skip
    rec = measure(case)
    assert rec["nfe_forward"] > 0 and rec["saved_bytes"] > 0
    assert (rec["nfe_backward"] > 0) == (gradient not in ("backprop",))
    assert rec["grad_error"] < 1e-3 and rec["state_error"] < 1e-3
