"""SolverConfig validation and solve(): bad input fails early with the fix in the message."""

import functools
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from odebench.solvers import (
    ADAPTIVE_METHODS,
    FIXED_GRID_METHODS,
    TORCHDIFFEQ_DEFAULT_ATOL,
    TORCHDIFFEQ_DEFAULT_RTOL,
    AdjointParamsError,
    FieldShapeError,
    SolveError,
    SolverConfig,
    SolverConfigError,
    Status,
    failure_status,
    solve,
)
from odebench.solvers.core import hidden_parameters
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
    with pytest.raises(SolverConfigError, match="backprop, adjoint, checkpoint, aca"):
        SolverConfig(method="rk4", steps=2, gradient="bogus")  # type: ignore[arg-type]
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


# --- the backend seam ------------------------------------------------------------------------


def test_backend_defaults_to_torchdiffeq_and_unknown_backend_lists_the_valid_ones() -> None:
    assert SolverConfig().backend == "torchdiffeq"
    with pytest.raises(SolverConfigError, match="unknown backend 'diffrax'.*torchdiffeq"):
        SolverConfig(backend="diffrax")


def test_default_tolerances_are_torchdiffeqs_and_named_for_it() -> None:
    kw = odeint_kwargs(SolverConfig(method="dopri5"))
    assert (kw["rtol"], kw["atol"]) == (TORCHDIFFEQ_DEFAULT_RTOL, TORCHDIFFEQ_DEFAULT_ATOL)
    assert (TORCHDIFFEQ_DEFAULT_RTOL, TORCHDIFFEQ_DEFAULT_ATOL) == (1e-7, 1e-9)


# --- tolerances (issue 11) -------------------------------------------------------------------


@pytest.mark.parametrize("tol", [True, False, math.inf, -math.inf, "1e-3", torch.tensor([1e-3])])
def test_bools_infinities_strings_and_vectors_are_not_tolerances(tol: object) -> None:
    with pytest.raises(SolverConfigError, match="positive tolerance"):
        SolverConfig(method="dopri5", rtol=tol)  # type: ignore[arg-type]
    with pytest.raises(SolverConfigError, match="positive tolerance"):
        SolverConfig(method="rk4", step_size=tol)  # type: ignore[arg-type]


def test_a_positive_0d_tensor_is_a_tolerance_stored_as_a_float() -> None:
    cfg = SolverConfig(method="dopri5", rtol=torch.tensor(1e-4), atol=torch.tensor(1e-6))  # type: ignore[arg-type]
    assert cfg.rtol == pytest.approx(1e-4) and isinstance(cfg.rtol, float)
    assert isinstance(cfg.atol, float)
    hash(cfg)  # still usable as a key
    with pytest.raises(SolverConfigError, match="positive tolerance"):
        SolverConfig(method="dopri5", rtol=torch.tensor(-1e-4))  # type: ignore[arg-type]


# --- the field's shape and failures as statuses (issue 11) ------------------------------------


@pytest.mark.parametrize("method", ["rk4", "dopri5"])
def test_a_field_returning_a_scalar_fails_with_the_fix(method: str) -> None:
    cfg = SolverConfig(method=method, steps=4) if method == "rk4" else SolverConfig(method=method)
    with pytest.raises(
        FieldShapeError, match=r"returned \(\) for a state of shape \(3,\).*expand_as"
    ):
        solve(lambda t, y: y.sum(), torch.ones(3), torch.tensor([0.0, 1.0]), cfg)


def nan_field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return y * math.nan


@pytest.mark.parametrize(
    "config",
    [
        SolverConfig(method="dopri5"),
        SolverConfig(method="bosh3"),
        SolverConfig(method="rk4", steps=4),
    ],
)
def test_a_nan_field_ends_as_non_finite(config: SolverConfig) -> None:
    with pytest.raises(SolveError) as info:
        solve(nan_field, torch.ones(2), torch.tensor([0.0, 1.0]), config)
    assert info.value.status == Status.NON_FINITE


def test_nan_first_met_inside_a_trial_step_is_non_finite_too() -> None:
    # y' = -10 sqrt(y - 1/2) reaches y = 1/2 at t = 0.1; a trial stage past it takes the
    # root of a negative number, NaN, while every accepted state is finite
    def field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -10 * torch.sqrt(y - 0.5)

    with pytest.raises(SolveError) as info:
        solve(field, torch.ones(1, dtype=torch.float64), torch.tensor([0.0, 1.0]).double(),
              SolverConfig(method="dopri5"))  # fmt: skip
    assert info.value.status == Status.NON_FINITE


def test_blow_up_in_finite_time_is_a_step_size_underflow() -> None:
    # y' = y^2, y(0) = 1 has y = 1/(1 - t): it leaves every float at t = 1, and the adaptive
    # steps shrink towards t = 1 until t + dt == t, with the field finite all the way
    cfg = SolverConfig(method="dopri5", rtol=1e-6, atol=1e-8)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    with pytest.raises(SolveError) as info:
        solve(lambda t, y: y**2, torch.ones(1, dtype=torch.float64), t, cfg)
    assert info.value.status == Status.STEP_SIZE_UNDERFLOW
    assert failure_status(info.value) == Status.STEP_SIZE_UNDERFLOW


def test_without_throw_a_failed_fixed_grid_solve_returns_its_status() -> None:
    sol = solve(nan_field, torch.ones(2), torch.tensor([0.0, 1.0]),
                SolverConfig(method="euler", steps=3), throw=False)  # fmt: skip
    assert sol.status == Status.NON_FINITE and sol.stats.nfe == 3


def test_a_successful_solve_says_so() -> None:
    sol = solve(f, torch.ones(2), torch.tensor([0.0, 1.0]), SolverConfig(method="rk4", steps=2))
    assert sol.status == Status.SUCCESS


def test_the_runner_reads_the_status_not_the_message() -> None:
    from odebench.running.execute import classify

    assert classify(SolveError("any words", status=Status.NON_FINITE)) == "diverged"
    assert classify(SolveError("any words", status=Status.STEP_SIZE_UNDERFLOW)) == "diverged"
    assert classify(ValueError("no nan here")) == "failed"


# --- the adjoint's parameters (issue 9) ------------------------------------------------------


def _closure_over_a_linear() -> tuple[
    nn.Linear, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
]:
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.5)
    return lin, lambda t, y: lin(y)


def test_adjoint_with_a_closure_over_a_module_fails_instead_of_dropping_its_gradient() -> None:
    lin, field = _closure_over_a_linear()
    cfg = SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-8, atol=1e-10)
    with pytest.raises(AdjointParamsError, match=r"adjoint_params=tuple\(model.parameters\(\)\)"):
        solve(field, torch.ones(1, 1), torch.tensor([0.0, 1.0]), cfg)


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_adjoint_params_given_get_the_gradient(gradient: str) -> None:
    # y' = w y, y(0) = 1: y(1) = e^w, so d y(1) / dw = e^w = e^0.5
    lin, field = _closure_over_a_linear()
    cfg = SolverConfig(method="dopri5", gradient=gradient, rtol=1e-8, atol=1e-10)  # type: ignore[arg-type]
    params = tuple(lin.parameters()) if gradient == "adjoint" else None
    y1 = solve(field, torch.ones(1, 1), torch.tensor([0.0, 1.0]), cfg, adjoint_params=params).ys[-1]
    y1.sum().backward()
    assert lin.weight.grad is not None
    assert float(lin.weight.grad) == pytest.approx(math.exp(0.5), rel=1e-5)


def test_a_plain_function_without_parameters_needs_no_adjoint_params() -> None:
    # y' = -y: y(1) = e^-1 y0, so d y(1) / d y0 = e^-1
    y0 = torch.ones(1, requires_grad=True)
    cfg = SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-8, atol=1e-10)
    solve(f, y0, torch.tensor([0.0, 1.0]), cfg).ys[-1].sum().backward()
    assert float(y0.grad) == pytest.approx(math.exp(-1), rel=1e-5)  # type: ignore[arg-type]


def test_parameters_reached_through_a_global_or_a_default_are_found() -> None:
    lin = nn.Linear(1, 1)
    assert len(hidden_parameters(lambda t, y, m=lin: m(y))) == 2
    assert len(hidden_parameters(functools.partial(lambda t, y, m: m(y), m=lin))) == 2
    assert hidden_parameters(f) == []


def test_adjoint_params_under_backprop_are_refused() -> None:
    with pytest.raises(AdjointParamsError, match="drop adjoint_params"):
        solve(f, torch.ones(1), torch.tensor([0.0, 1.0]), SolverConfig(method="rk4", steps=1),
              adjoint_params=())  # fmt: skip


def test_an_adjoint_reverse_solve_failing_in_backward_gets_a_status_too() -> None:
    # the reverse solve raises torchdiffeq's own AssertionError inside loss.backward(), where
    # no backend code runs: the backend still names its status (dt NaN: a non-finite field)
    assert failure_status(AssertionError("underflow in dt nan")) == Status.NON_FINITE
    assert failure_status(AssertionError("underflow in dt 1e-17")) == Status.STEP_SIZE_UNDERFLOW
    assert failure_status(AssertionError("something else")) is None
    assert failure_status(ValueError("underflow in dt 1e-17")) is None


def test_failure_status_skips_a_loaded_backend_without_a_classifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the backend contract needs no failure_status (a library that raises nothing of its own);
    # with such a backend loaded, an unrelated error was an AttributeError instead of None
    import sys
    import types

    from odebench.solvers import BACKENDS

    monkeypatch.setitem(BACKENDS, "bare", "odebench_test_bare_backend")
    monkeypatch.setitem(sys.modules, "odebench_test_bare_backend", types.ModuleType("bare"))
    assert failure_status(ValueError("no nan here")) is None
    assert failure_status(AssertionError("underflow in dt nan")) == Status.NON_FINITE
