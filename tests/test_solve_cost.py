"""What ``solve()`` does per call and per evaluation: one reused wrapper, steps counted
through torchdiffeq's callbacks (its solver class untouched), checks made once."""

from __future__ import annotations

import pytest
import torch
from torchdiffeq import odeint
from torchdiffeq._impl import rk_common

from odebench.instruments.nfe import CountedField
from odebench.solvers import FieldShapeError, SolverConfig, solve
from odebench.solvers.core import watched

ADAPTIVE_STEP = rk_common.RKAdaptiveStepsizeODESolver.__dict__["_adaptive_step"]


class Decay(torch.nn.Module):
    """dy/dt = -k y, and a record of whether torchdiffeq's step was replaced while it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.k = torch.nn.Parameter(torch.tensor(1.3, dtype=torch.float64))
        self.patched = False

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        step = rk_common.RKAdaptiveStepsizeODESolver.__dict__["_adaptive_step"]
        self.patched |= step is not ADAPTIVE_STEP
        return -self.k * y


class Tally:
    """An independent count of torchdiffeq's accepted and rejected steps (its own hooks)."""

    def __init__(self, field: torch.nn.Module) -> None:
        self.field, self.accepted, self.rejected = field, 0, 0

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.field(t, y)

    def callback_accept_step(self, *args: object) -> None:
        self.accepted += 1

    def callback_reject_step(self, *args: object) -> None:
        self.rejected += 1


@pytest.mark.parametrize("gradient", ["backprop", "adjoint", "checkpoint", "aca"])
def test_steps_are_counted_without_replacing_torchdiffeqs_step(gradient: str) -> None:
    field = Decay()
    y0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    t = torch.tensor([0.0, 3.0], dtype=torch.float64)
    tally = Tally(field)
    odeint(tally, y0, t, method="dopri5", rtol=1e-8, atol=1e-8)
    assert tally.accepted > 5  # a count worth comparing
    config = SolverConfig(method="dopri5", rtol=1e-8, atol=1e-8, gradient=gradient)  # type: ignore[arg-type]
    sol = solve(field, y0.clone().requires_grad_(True), t, config)
    assert (sol.stats.steps_accepted, sol.stats.steps_rejected) == (tally.accepted,
                                                                     tally.rejected)  # fmt: skip
    sol.ys[-1].sum().backward()  # the adjoint's reverse solve steps are not the forward's
    assert (sol.stats.steps_accepted, sol.stats.steps_rejected) == (tally.accepted,
                                                                     tally.rejected)  # fmt: skip
    assert not field.patched
    # nothing of the solve stays on the field torchdiffeq was given
    wrapper = watched(sol.field)
    for given in (wrapper, wrapper.evaluate):  # torchdiffeq is given the plain callable
        assert not any(name.startswith("callback") for name in vars(given))


def test_one_wrapper_per_counted_field_checks_the_shape_at_every_solve() -> None:
    def field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -y if y.shape[0] == 2 else y.sum()  # wrong only for other batch sizes

    counted = CountedField(field)
    config = SolverConfig(method="rk4", steps=2)
    t = torch.tensor([0.0, 1.0])
    first = watched(counted)
    solve(counted, torch.ones(2), t, config)
    assert watched(counted) is first  # reused, not built again
    with pytest.raises(FieldShapeError, match=r"returned \(\) for a state of shape \(3,\)"):
        solve(counted, torch.ones(3), t, config)
    assert counted.calls == 8 + 1  # rk4: 4 a step, 2 steps; then the one failed call


def test_a_hooked_counter_is_called_with_its_hooks_and_counts_once() -> None:
    counted = CountedField(lambda t, y: -y)
    seen: list[int] = []
    counted.register_forward_hook(lambda m, args, out: seen.append(1))
    config = SolverConfig(method="rk4", steps=3)
    sol = solve(counted, torch.ones(2), torch.tensor([0.0, 1.0]), config)
    assert len(seen) == 12 and counted.calls == 12 and sol.stats.nfe == 12


@pytest.mark.parametrize(
    "config",
    [SolverConfig(method="dopri5"), SolverConfig(method="rk4", steps=2),
     SolverConfig(method="dopri5", gradient="adjoint"),
     SolverConfig(backend="torchode", method="dopri5")],
)  # fmt: skip
def test_a_nan_in_y0_is_refused_as_before_on_every_path(config: SolverConfig) -> None:
    field = Decay().float()
    y0 = torch.tensor([1.0, float("nan")])
    with pytest.raises(ValueError, match="y0 contains NaN or inf; check the initial state."):
        solve(field, y0, torch.tensor([0.0, 1.0]), config, throw=False)
