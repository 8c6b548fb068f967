"""The gradients suite and the trajectory loss (Case.output_times)."""

from __future__ import annotations

import math

import pytest
import torch

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.measure import build_workload
from odebench.benchmark.suites import GRADIENT_MODES, get_suite


def test_gradients_suite_covers_every_mode_tolerance_and_loss_shape() -> None:
    cases = get_suite("gradients")
    assert len({c.case_id for c in cases}) == len(cases)
    for problem in ("spiral_trained", "mlp_trained", "linear_batched"):
        rows = {
            (c.backend, c.gradient, c.rtol, c.output_times) for c in cases if c.problem == problem
        }
        want = {
            (b, g, tol, n)
            for b, modes in GRADIENT_MODES.items()
            for g in modes
            for tol in (1e-3, 1e-5, 1e-7)
            for n in (2, 11)
            if problem != "mlp_trained" or b == "torchdiffeq" or (g, tol) == ("adjoint", 1e-3)
        }
        assert rows == want
    odenet = {(c.gradient, c.rtol) for c in cases if c.model == "odenet"}
    assert odenet == {(g, t) for g in GRADIENT_MODES["torchdiffeq"] for t in (1e-3, 1e-5)}


def test_output_times_is_validated_and_in_the_id() -> None:
    base = Case(problem="exponential_decay", method="dopri5", rtol=1e-5, atol=1e-5)
    traj = base.with_(output_times=11)
    assert "o11" in traj.case_id and "o11" not in base.case_id
    assert traj.identity()["output_times"] == 11 and "output_times" not in base.identity()
    for bad in (1, 0, 2.5, True):
        with pytest.raises(CaseError, match="output_times"):
            base.with_(output_times=bad)
    with pytest.raises(CaseError, match="output_times is for problem cases"):
        Case(model="odenet", method="dopri5", rtol=1e-3, atol=1e-3, output_times=5)


def test_trajectory_loss_is_on_every_output_after_y0() -> None:
    """exponential_decay's exact solution y0 exp(-k t): the loss 0.5 sum y(t_i)^2 over the
    outputs after t0, derived by hand, against the case's loss."""
    case = Case(
        problem="exponential_decay", method="dopri5", rtol=1e-10, atol=1e-10,
        dtype="float64", output_times=5,
    )  # fmt: skip
    work = build_workload(case)
    assert work.t is not None and len(work.t) == 5
    loss = float(work.forward())
    exact = work.problem.exact(work.t)  # type: ignore[union-attr]
    assert loss == pytest.approx(float(0.5 * (exact[1:] ** 2).sum()), rel=1e-8)
    # 2 output times: y(t1) alone
    end = build_workload(case.with_(output_times=2))
    y1 = end.problem.exact(end.t)[-1]  # type: ignore[union-attr]
    assert float(end.forward()) == pytest.approx(float(0.5 * (y1**2).sum()), rel=1e-8)
    assert not math.isclose(loss, float(end.forward()))
    assert torch.equal(work.t[[0, -1]], end.t)
