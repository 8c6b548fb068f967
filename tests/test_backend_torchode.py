"""The torchode backend against exact solutions and NFE derived by hand."""

import math

import pytest
import torch
from torch import nn

from odebench.instruments import CountedField, phase
from odebench.solvers import SolveError, SolverConfig, SolverConfigError, Status, solve

F64 = torch.float64
T = torch.tensor([0.0, 1.0], dtype=F64)


def torchode(**kwargs: object) -> SolverConfig:
    return SolverConfig(backend="torchode", **kwargs)  # type: ignore[arg-type]


def decay(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -y


# --- construction ----------------------------------------------------------------------------


def test_a_method_one_library_lacks_fails_with_the_list_of_what_it_has() -> None:
    with pytest.raises(SolverConfigError, match="'rk4' for backend 'torchode'.*dopri5.*euler"):
        torchode(method="rk4", steps=4)
    with pytest.raises(SolverConfigError, match="'tsit5' for backend 'torchdiffeq'.*dopri5"):
        SolverConfig(method="tsit5")
    for method in ("dopri5", "tsit5", "adaptive_heun"):
        assert torchode(method=method).adaptive
    for method in ("euler", "heun2"):
        assert not torchode(method=method, steps=2).adaptive


def test_adjoint_options_torchode_lacks_are_refused() -> None:
    with pytest.raises(SolverConfigError, match="torchode' has no adjoint_rtol, seminorm"):
        torchode(method="dopri5", gradient="adjoint", adjoint_rtol=1e-3, seminorm=True)


# --- fixed steps: states and NFE by hand --------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 4, 10])
def test_euler_steps_and_calls_by_hand(steps: int) -> None:
    # y' = -y, h = 1/N: y_N = (1 - h)^N y0, one call a step
    field = CountedField(decay)
    y0 = torch.tensor([[1.0], [2.0]], dtype=F64)
    sol = solve(field, y0, T, torchode(method="euler", steps=steps))
    torch.testing.assert_close(sol.ys[-1], (1 - 1 / steps) ** steps * y0, rtol=1e-14, atol=0)
    assert sol.stats.nfe == field.nfe_forward == steps
    assert (sol.stats.steps_accepted, sol.stats.steps_rejected) == (steps, 0)


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_heun2_steps_and_calls_by_hand(steps: int) -> None:
    # explicit trapezoid on y' = -y: y_N = (1 - h + h^2/2)^N y0, two calls a step
    h = 1 / steps
    sol = solve(decay, torch.ones(3, 1, dtype=F64), T, torchode(method="heun2", steps=steps))
    expected = (1 - h + h * h / 2) ** steps
    torch.testing.assert_close(sol.ys[-1], torch.full((3, 1), expected, dtype=F64))
    assert sol.stats.nfe == 2 * steps


def test_step_size_gives_span_over_h_steps() -> None:
    sol = solve(decay, torch.ones(2, 1, dtype=F64), T, torchode(method="euler", step_size=0.25))
    assert sol.stats.nfe == 4
    torch.testing.assert_close(sol.ys[-1], torch.full((2, 1), 0.75**4, dtype=F64))


# --- adaptive: exact solutions, FSAL counts, per-sample steps ----------------------------------


@pytest.mark.parametrize("method", ["dopri5", "tsit5", "adaptive_heun"])
def test_adaptive_methods_meet_the_exact_solution(method: str) -> None:
    # y' = cos(t) y: y = y0 exp(sin t); t reaches the field per sample, (batch, 1)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    y0 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    tol = 1e-7 if method == "adaptive_heun" else 1e-9  # 2nd order: tight costs 1000s of steps
    sol = solve(lambda t, y: torch.cos(t) * y, y0, t, torchode(method=method, rtol=tol, atol=tol))
    exact = torch.exp(torch.sin(t))[:, None, None] * y0
    torch.testing.assert_close(sol.ys, exact, rtol=100 * tol, atol=0)


@pytest.mark.parametrize("backend", ["torchode", "torchdiffeq"])
@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_dopri5_fsal_count_on_a_zero_field(backend: str, gradient: str) -> None:
    # f = 0: both libraries pick h0 = 1e-6 (Hairer's rule with d1 = d2 = 0) at 2 calls, and
    # every step is exact, so dt grows by the maximum factor 10: 1e-6, ..., 1e-1 (t =
    # 0.111111), then one step to t = 1: 7 steps. FSAL: 6 new calls a step. 2 + 6 * 7 = 44.
    # The adjoint's reverse solve of the (zero) augmented dynamics repeats it: 44.
    field = CountedField(lambda t, y: 0 * y)
    y0 = torch.ones(2, 3, dtype=F64, requires_grad=True)
    cfg = SolverConfig(backend=backend, method="dopri5", gradient=gradient, rtol=1e-6, atol=1e-8)  # type: ignore[arg-type]
    sol = solve(field, y0, T, cfg, adjoint_params=() if gradient == "adjoint" else None)
    with phase("backward"):
        sol.ys[-1].sum().backward()
    assert field.nfe_forward == 44 and sol.stats.steps_accepted == 7
    assert field.nfe_backward == (44 if gradient == "adjoint" else 0)


def test_samples_step_apart_and_the_batch_reports_max_and_mean() -> None:
    # per-sample stepping: each sample takes in the batch the steps it takes alone
    rates = torch.tensor([[1.0], [4.0], [16.0]], dtype=F64)

    def decay_at(rate: torch.Tensor):  # noqa: ANN202
        return lambda t, y: -rate * y

    cfg = torchode(method="dopri5", rtol=1e-6, atol=1e-9)
    ones = torch.ones(1, 1, dtype=F64)
    alone = [solve(decay_at(rates[i : i + 1]), ones, T, cfg).stats for i in range(3)]
    batch = solve(decay_at(rates), torch.ones(3, 1, dtype=F64), T, cfg)
    steps = [s.steps_accepted for s in alone]
    assert len(set(steps)) > 1  # the rates make the samples differ
    assert batch.stats.steps_accepted == max(steps)  # type: ignore[type-var]
    assert batch.stats.steps_accepted_mean == pytest.approx(sum(steps) / 3)  # type: ignore[arg-type]
    # the batch's calls are those of its slowest sample: every call evaluates all samples
    assert batch.stats.nfe == max(s.nfe for s in alone)
    torch.testing.assert_close(batch.ys[-1], torch.exp(-rates), rtol=1e-5, atol=1e-8)


# --- NFE: odebench's counter against torchode's n_f_evals ---------------------------------------


class Scale(nn.Module):
    """y' = w y with w = -1: y(1) = y0 e^-1, d sum y(1) / dw = sum y0 e^-1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(-1.0, dtype=F64))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.w * y


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_counts_agree_forward_and_torchode_misses_the_backsolve(gradient: str) -> None:
    field = CountedField(Scale())
    y0 = torch.ones(4, 2, dtype=F64, requires_grad=True)
    sol = solve(field, y0, T, torchode(method="dopri5", gradient=gradient, rtol=1e-8, atol=1e-10))
    # torchode adds 1 to every sample's n_f_evals at each (batched) call: forward, they agree
    assert sol.library_stats is not None
    assert sol.library_stats["n_f_evals"].tolist() == [field.nfe_forward] * 4
    assert sol.stats.library_nfe == sol.stats.nfe == field.nfe_forward
    with phase("backward"):
        sol.ys[-1].sum().backward()
    grad_w = field.inner.w.grad  # type: ignore[union-attr]
    assert float(grad_w) == pytest.approx(8 * math.exp(-1), rel=1e-6)
    torch.testing.assert_close(y0.grad, torch.full((4, 2), math.exp(-1), dtype=F64))
    if gradient == "adjoint":
        # the reverse solve calls the field through torch.func (not ODETerm.vf): torchode
        # counts 0 for it, odebench counts every batched call
        backsolve = sol.library_stats["backsolve"]
        assert [int(s["n_f_evals"].sum()) for s in backsolve] == [0]
        assert field.nfe_backward > 0
    else:
        assert field.nfe_backward == 0


# --- failures as statuses --------------------------------------------------------------------


def test_one_nan_sample_fails_the_batch_and_is_named() -> None:
    w = torch.tensor([[1.0], [math.nan], [1.0]], dtype=F64)
    with pytest.raises(SolveError, match="non_finite in 1 of 3 samples") as info:
        solve(lambda t, y: -w * y, torch.ones(3, 1, dtype=F64), T, torchode(method="dopri5"))
    assert info.value.status == Status.NON_FINITE
    assert info.value.solution is not None
    assert info.value.solution.sample_status == [Status.SUCCESS, Status.NON_FINITE, Status.SUCCESS]


def test_without_throw_the_failed_solution_comes_back() -> None:
    sol = solve(lambda t, y: y * math.nan, torch.ones(2, 1), T.float(), torchode(method="tsit5"),
                throw=False)  # fmt: skip
    assert sol.status == Status.NON_FINITE


def test_the_adjoint_differentiates_exactly_the_modules_parameters() -> None:
    field = Scale()
    extra = torch.zeros((), requires_grad=True)
    cfg = torchode(method="dopri5", gradient="adjoint")
    with pytest.raises(ValueError, match="exactly the field's registered parameters"):
        solve(field, torch.ones(1, 1, dtype=F64), T, cfg, adjoint_params=(field.w, extra))
    solve(field, torch.ones(1, 1, dtype=F64), T, cfg, adjoint_params=(field.w,))


def test_a_scalar_field_is_refused_under_torchode_too() -> None:
    from odebench.solvers import FieldShapeError

    with pytest.raises(FieldShapeError, match="for a state of shape"):
        solve(lambda t, y: y.sum(), torch.ones(2, 3), T.float(), torchode(method="euler", steps=2))


def test_the_mnist_ode_function_runs_both_ways_under_torchode() -> None:
    # conv fields see (batch, C, H, W) and t as (batch, 1, 1, 1); the adjoint runs them one
    # sample at a time under vmap, GroupNorm included (it needs a contiguous copy there)
    from odebench.workloads.models.mnist import ODEFunc

    torch.manual_seed(0)
    func = ODEFunc(dim=8).double()
    x = torch.randn(2, 8, 3, 3, dtype=F64)
    t = torch.tensor([0.0, 0.1], dtype=F64)
    ref = solve(func, x, t, SolverConfig(method="dopri5", rtol=1e-10, atol=1e-10)).ys[-1]
    for gradient in ("backprop", "adjoint"):
        func.zero_grad()
        field = CountedField(func)
        cfg = torchode(method="dopri5", gradient=gradient, rtol=1e-8, atol=1e-8)
        y1 = solve(field, x, t, cfg).ys[-1]
        torch.testing.assert_close(y1, ref, rtol=1e-6, atol=1e-6)
        with phase("backward"):
            y1.square().mean().backward()
        grad = func.conv1.layer.weight.grad
        assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
        assert (field.nfe_backward > 0) == (gradient == "adjoint")
