"""Train a 2-D CNF under one regulariser and log what every iteration cost the solver.

One *arm* is a regulariser and a training solver: ``none`` (FFJORD: dopri5 with the adjoint,
Hutchinson's noise drawn once per solve), ``rnode`` (the same plus the kinetic-energy and
Jacobian-Frobenius penalties, weights 0.01 each as in Finlay et al. 2020), ``steer`` (the end
time drawn from U(T - b, T + b) at every iteration, b = T / 2, Ghosh et al. 2020) and
``fixed_rk4`` (no regulariser, a loose fixed grid: rk4 with 4 steps; Ott et al. 2021's case of
a model that may learn its solver). Each iteration logs the loss, NFE-F, NFE-B, the forward
solve's accepted and rejected steps and the wall time.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from odebench.instruments.nfe import CountedField, phase
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.toy2d import TOY_DENSITIES, sample_toy
from odebench.workloads.models.cnf import (
    DIM,
    CNFField,
    initial_state,
    log_density_from_state,
)

#: the regularisers (and training solvers) compared
ARMS: tuple[str, ...] = ("none", "rnode", "steer", "fixed_rk4")
#: RNODE's weights (Finlay et al. 2020) and STEER's half-width as a fraction of T
LAMBDA_KINETIC = 0.01
LAMBDA_JACOBIAN = 0.01
STEER_HALF_WIDTH = 0.5
#: iterations at the start and at the end of training averaged for "first" and "final" figures
WINDOW = 20


def training_solver_name(arm: str) -> str:
    """The test-time solver (``evaluate.EVAL_SOLVERS``) that matches an arm's training solver."""
    return "rk4 4 steps" if arm == "fixed_rk4" else "dopri5 1e-5"


class DynamicsError(ValueError):
    """A training-dynamics setting that cannot run; the message names the fix."""


@dataclass(frozen=True)
class ArmSpec:
    """One training run: the arm, the density, the seed and the optimisation settings."""

    arm: str
    seed: int = 0
    density: str = "8gaussians"
    iterations: int = 200
    batch: int = 256
    lr: float = 1e-3
    hidden: int = 64
    rtol: float = 1e-5
    t1: float = 1.0

    def __post_init__(self) -> None:
        if self.arm not in ARMS:
            raise DynamicsError(f"unknown arm {self.arm!r}; choose from: {', '.join(ARMS)}.")
        if self.density not in TOY_DENSITIES:
            raise DynamicsError(
                f"unknown density {self.density!r}; choose from: {', '.join(TOY_DENSITIES)}."
            )
        for name in ("iterations", "batch", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DynamicsError(f"{name}={value!r} must be an integer >= 1.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DynamicsError(f"seed={self.seed!r} must be an integer >= 0.")

    def solver(self) -> SolverConfig:
        """The training solver: dopri5 + adjoint at ``rtol`` (FFJORD's), or rk4 with 4 steps."""
        if self.arm == "fixed_rk4":
            return SolverConfig(method="rk4", steps=4, gradient="adjoint")
        return SolverConfig(method="dopri5", rtol=self.rtol, atol=self.rtol, gradient="adjoint")

    def field(self) -> CNFField:
        """A fresh flow for this arm and seed (Hutchinson's trace, noise fixed per solve)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return CNFField(self.hidden, trace="hutchinson", regularise=self.arm == "rnode")

    def with_(self, **changes: Any) -> ArmSpec:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def regularised_loss(y1: torch.Tensor, *, rnode: bool) -> dict[str, torch.Tensor]:
    """The loss terms from the augmented state at T: the NLL, and RNODE's two integrals.

    ``total = nll + LAMBDA_KINETIC * kinetic + LAMBDA_JACOBIAN * jacobian`` with each term the
    batch mean (RNODE); without ``rnode`` the total is the NLL.
    """
    nll = -log_density_from_state(y1).mean()
    terms = {"nll": nll, "total": nll}
    if rnode:
        kinetic, jacobian = y1[..., DIM + 1].mean(), y1[..., DIM + 2].mean()
        terms.update(kinetic=kinetic, jacobian=jacobian)
        terms["total"] = nll + LAMBDA_KINETIC * kinetic + LAMBDA_JACOBIAN * jacobian
    return terms


def train_arm(
    spec: ArmSpec, *, on_iteration: Any = None
) -> tuple[CNFField, list[dict[str, Any]]]:
    """Train one arm; returns the trained flow and one row per iteration.

    Every draw (batches, noise, STEER's end times) comes from generators seeded by
    ``spec.seed``: the same spec gives the same rows' losses and counts wherever it runs.
    ``on_iteration(row)`` is called after each iteration (progress).
    """
    field = spec.field()
    counted = CountedField(field)
    config = spec.solver()
    opt = torch.optim.Adam(field.parameters(), lr=spec.lr)
    gen = torch.Generator().manual_seed(10_007 * spec.seed + 1)
    rows: list[dict[str, Any]] = []
    for it in range(spec.iterations):
        start = time.perf_counter()
        x = sample_toy(spec.density, spec.batch, seed=1_000 * spec.seed + it).float()
        field.draw_noise(spec.batch, generator=gen)
        t1 = spec.t1
        if spec.arm == "steer":
            u = float(torch.rand((), generator=gen, dtype=torch.float64))
            t1 = spec.t1 * (1.0 + STEER_HALF_WIDTH * (2.0 * u - 1.0))
        counted.reset()
        sol = solve(counted, initial_state(x, field), torch.tensor([0.0, t1]), config)
        terms = regularised_loss(sol.ys[-1], rnode=spec.arm == "rnode")
        opt.zero_grad()
        with phase("backward"):
            terms["total"].backward()
        opt.step()
        row = {
            "iteration": it,
            "loss": terms["total"].item(),
            "nll": terms["nll"].item(),
            "kinetic": terms["kinetic"].item() if "kinetic" in terms else float("nan"),
            "jacobian": terms["jacobian"].item() if "jacobian" in terms else float("nan"),
            "t1": t1,
            "nfe_forward": counted.nfe_forward,
            "nfe_backward": counted.nfe_backward,
            "steps_accepted": sol.stats.steps_accepted,
            "steps_rejected": sol.stats.steps_rejected,
            "time_s": time.perf_counter() - start,
        }
        rows.append(row)
        if on_iteration is not None:
            on_iteration(row)
    return field, rows
