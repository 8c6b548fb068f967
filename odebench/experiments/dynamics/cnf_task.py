"""The 2-D CNF as a training-dynamics model: its batches, its loss, its test-time re-solves.

FFJORD's flow on a toy density: Hutchinson's trace with the noise drawn once per solve; the
``rnode`` arm integrates the kinetic and Jacobian-Frobenius states beside it (the same noise);
STEER scales the end time T.
"""

from __future__ import annotations

from typing import Any

import torch

from odebench.experiments.dynamics.evaluate import noise_rows, resolve_rows
from odebench.experiments.dynamics.spec import LAMBDA_JACOBIAN, LAMBDA_KINETIC, ArmSpec
from odebench.experiments.dynamics.step import Step
from odebench.instruments.nfe import CountedField
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.toy2d import sample_toy
from odebench.workloads.models.cnf import (
    DIM,
    CNFField,
    initial_state,
    log_density_from_state,
)


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


class CNFTask:
    """One arm's flow (initialised from the seed) and what training and testing it needs."""

    def __init__(self, spec: ArmSpec):
        self.spec = spec
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            self.field = CNFField(spec.hidden, trace="hutchinson", regularise=spec.arm == "rnode")
        self.counted = CountedField(self.field)

    def parameters(self) -> Any:
        return self.field.parameters()

    def prepare(self, it: int, gen: torch.Generator) -> torch.Tensor:
        """Iteration ``it``'s points (seeded by the spec's seed and ``it``) and its noise."""
        x = sample_toy(self.spec.density, self.spec.batch, seed=1_000 * self.spec.seed + it)
        self.field.draw_noise(self.spec.batch, generator=gen)
        return x.float()

    def loss(self, x: torch.Tensor, scale: float, config: SolverConfig) -> Step:
        """Solve the flow to ``T * scale`` and read the loss terms."""
        t1 = self.spec.t1 * scale  # type: ignore[operator]
        sol = solve(self.counted, initial_state(x, self.field), torch.tensor([0.0, t1]), config)
        terms = regularised_loss(sol.ys[-1], rnode=self.spec.arm == "rnode")
        return Step(terms["total"], terms["nll"], terms.get("kinetic"), terms.get("jacobian"),
                    t1, sol.stats)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return self.field.net.state_dict()

    def resolve_rows(self) -> list[dict[str, Any]]:
        return resolve_rows(self.field, self.spec.density)  # type: ignore[arg-type]

    def noise_rows(self) -> list[dict[str, Any]]:
        return noise_rows(self.field, self.spec.density)  # type: ignore[arg-type]
