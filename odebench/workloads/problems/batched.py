"""A batch of independent problems in one state: stacked Van der Pol oscillators, each with
its own mu and initial state (torchode's paper, §4.1: one step size for the whole batch
takes more steps than a step size per sample).

``vdp_batched`` at batch N: mu_i log-uniform on [:data:`MU_RANGE`], y0_i uniform on
[-2, 2]^2, t in [0, :data:`T1`], drawn from the case's seed. Sample i of a batch is the same
oscillator whatever N (the draws are per sample, from one generator in sample order), so
``batch=1`` is sample 0 alone. :meth:`BatchedProblem.sample` gives one sample's own problem:
what "solved alone" means in the batched suite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from odebench.workloads.problems.registry import Problem, builtin_problem
from odebench.workloads.problems.stiff import VanDerPol

MU_RANGE: tuple[float, float] = (1.0, 100.0)
T1 = 10.0
DEFAULT_BATCH = 16


def draw(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, y0) of ``batch`` oscillators: row i depends on (seed, i) only."""
    gen = torch.Generator().manual_seed(seed)
    mus, y0s = [], []
    lo, hi = math.log(MU_RANGE[0]), math.log(MU_RANGE[1])
    for _ in range(batch):  # one sample at a time: a prefix of a larger batch is the same
        u = torch.rand(3, generator=gen, dtype=torch.float64)
        mus.append(torch.exp(lo + (hi - lo) * u[0]))
        y0s.append(4 * u[1:] - 2)
    return torch.stack(mus), torch.stack(y0s)


@dataclass(frozen=True)
class BatchedProblem(Problem):
    """A batch of independent problems: ``mu`` (one per sample) parameterizes the field."""

    mu: torch.Tensor | None = None

    def sample(self, i: int) -> Problem:
        """Sample ``i`` as a problem of its own (a batch of one)."""
        assert self.mu is not None
        mu = self.mu[i : i + 1]
        return BatchedProblem(
            name=f"{self.name}[{i}]", make_field=lambda: VanDerPol(mu), y0=self.y0[i : i + 1],
            t0=self.t0, t1=self.t1, description=f"sample {i} of {self.name}", seed=self.seed,
            mu=mu,
        )  # fmt: skip


def vdp_batched(batch: int, seed: int) -> BatchedProblem:
    mu, y0 = draw(batch, seed)
    return BatchedProblem(
        name="vdp_batched", make_field=lambda: VanDerPol(mu), y0=y0, t0=0.0, t1=T1, seed=seed,
        mu=mu,
        description=f"{batch} independent Van der Pol oscillators, mu log-uniform on "
        f"{MU_RANGE}, y0 uniform on [-2, 2]^2, t in [0, {T1}]",
    )  # fmt: skip


builtin_problem("vdp_batched", batched=vdp_batched)(lambda: vdp_batched(DEFAULT_BATCH, 0))
