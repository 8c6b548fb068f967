"""The NFE counter against counts derived by hand from each method's tableau."""

import pytest
import torch
from torch import nn

from odebench.instruments import CountedField, phase
from odebench.solvers import SolverConfig, solve
from odebench.workloads.problems import MLPField

T = torch.tensor([0.0, 1.0])


@pytest.mark.parametrize(("method", "calls_per_step"), [("euler", 1), ("midpoint", 2), ("rk4", 4)])
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_fixed_grid_calls_f_stages_times_steps(
    method: str, calls_per_step: int, steps: int
) -> None:
    field = CountedField(lambda t, y: -y)
    sol = solve(field, torch.ones(2), T, SolverConfig(method=method, steps=steps))
    assert field.nfe_forward == calls_per_step * steps
    assert sol.stats.nfe == calls_per_step * steps


def test_step_size_gives_the_same_grid_as_steps() -> None:
    field = CountedField(lambda t, y: -y)
    solve(field, torch.ones(2), T, SolverConfig(method="rk4", step_size=0.25))
    assert field.nfe_forward == 4 * 4


def test_dopri5_calls_f_two_plus_six_per_attempted_step() -> None:
    # stiff-ish decay forces rejected steps as well as accepted ones
    field = CountedField(lambda t, y: -50.0 * (y - torch.cos(t)))
    sol = solve(field, torch.ones(1), torch.tensor([0.0, 3.0]),
                SolverConfig(method="dopri5", rtol=1e-5, atol=1e-7))  # fmt: skip
    attempted = sol.stats.steps_accepted + sol.stats.steps_rejected
    assert sol.stats.steps_rejected > 0
    assert field.nfe_forward == 2 + 6 * attempted


def _loss_and_field(gradient: str) -> tuple[torch.Tensor, CountedField]:
    field = CountedField(MLPField(8, 16))
    y0 = torch.randn(4, 8, requires_grad=True)
    sol = solve(field, y0, T, SolverConfig(method="rk4", steps=5, gradient=gradient))
    return sol.ys[-1].pow(2).sum(), field


def test_backprop_backward_pass_never_calls_f() -> None:
    loss, field = _loss_and_field("backprop")
    with phase("backward"):
        loss.backward()
    assert field.nfe_forward == 20
    assert field.nfe_backward == 0


def test_adjoint_backward_pass_solves_again() -> None:
    loss, field = _loss_and_field("adjoint")
    with phase("backward"):
        loss.backward()
    assert field.nfe_forward == 20
    # the reverse rk4 solve over the same 5-step grid: 4 calls (each a vjp) per step
    assert field.nfe_backward == 20


def test_counted_field_keeps_parameters_visible() -> None:
    field = CountedField(lambda t, y: y)
    assert list(field.parameters()) == []
    assert len(list(CountedField(MLPField(3, 4)).parameters())) == 4


def test_adjoint_refuses_a_counted_closure_whose_parameters_it_cannot_see() -> None:
    # CountedField cannot see a closure's module, so solve() must not pass its empty
    # parameter list to the adjoint (the module would get no gradient): it names the fix
    from odebench.solvers import AdjointParamsError

    inner = nn.Linear(3, 3)
    field = CountedField(lambda t, y: inner(y))
    with pytest.raises(AdjointParamsError, match="adjoint_params="):
        solve(field, torch.ones(3), T, SolverConfig(method="rk4", steps=2, gradient="adjoint"))


class _HoldsACounter(nn.Module):
    """A user's module that counts its own field (as the README shows) inside itself."""

    def __init__(self) -> None:
        super().__init__()
        self.f = CountedField(MLPField(3, 4))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.f(t, y)


@pytest.mark.parametrize("make", [lambda: CountedField(MLPField(3, 4)), _HoldsACounter])
def test_a_field_already_counted_is_counted_once_by_measure(make) -> None:  # type: ignore[no-untyped-def]
    # rk4 with 1 step calls f 4 times forward; the adjoint retraces the grid: 4 more backward
    from odebench.benchmark.cases import Case
    from odebench.benchmark.measure import measure
    from odebench.workloads.problems import register_problem

    register_problem("counted_twice", make, torch.ones(2, 3), factory=True, overwrite=True)
    for gradient, backward in (("backprop", 0), ("adjoint", 4)):
        case = Case(problem="counted_twice", method="rk4", steps=1, gradient=gradient,
                    meters=("nfe",))  # fmt: skip
        rec = measure(case)
        assert (rec["nfe_forward"], rec["nfe_backward"]) == (4, backward)


def test_a_module_holding_a_counter_is_counted_once_by_solve() -> None:
    from odebench.instruments import nfe

    field = _HoldsACounter()
    sol = solve(field, torch.ones(2, 3), T, SolverConfig(method="rk4", steps=1))
    assert sol.stats.nfe == 4
    assert sol.field is not None and nfe(sol.field) == 4
    assert field.f.nfe_forward == 4  # the user's own counter still counts its calls
