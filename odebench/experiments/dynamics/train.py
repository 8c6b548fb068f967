"""Train one arm of a model and log what every iteration cost the solver (the shared loop).

One *arm* is a regulariser and a training solver: ``none`` (dopri5 with the adjoint; FFJORD's
for the CNF), ``rnode`` (the same plus the kinetic-energy and Jacobian-Frobenius penalties,
weights 0.01 each as in Finlay et al. 2020), ``steer`` (the end time drawn at every iteration:
the last interval scaled by U(1 - b, 1 + b), b = 0.5, Ghosh et al. 2020; on the CNF that
interval is [0, T]) and ``fixed_rk4`` (no regulariser, a loose fixed grid: rk4 with 4 steps;
Ott et al. 2021's case of a model that may learn its solver). The model (:data:`.models.MODELS`)
supplies the batches and the loss; this loop draws STEER's end time, steps Adam and logs, per
iteration, the loss, the data term, NFE-F, NFE-B, the forward solve's accepted and rejected
steps and the wall time.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from odebench.experiments.dynamics.models import build_task
from odebench.experiments.dynamics.spec import OBJECTIVE, STEER_HALF_WIDTH, ArmSpec
from odebench.instruments.nfe import phase


def train_arm(spec: ArmSpec, *, on_iteration: Any = None) -> tuple[Any, list[dict[str, Any]]]:
    """Train one arm; returns the trained model's adaptor and one row per iteration.

    Every draw (batches, noise, STEER's end times) comes from generators seeded by
    ``spec.seed``: the same spec gives the same rows' losses and counts wherever it runs.
    ``on_iteration(row)`` is called after each iteration (progress).
    """
    task = build_task(spec)
    config = spec.solver()
    opt = torch.optim.Adam(task.parameters(), lr=spec.lr)
    gen = torch.Generator().manual_seed(10_007 * spec.seed + 1)
    objective = OBJECTIVE[spec.model]
    rows: list[dict[str, Any]] = []
    for it in range(spec.iterations):
        start = time.perf_counter()
        batch = task.prepare(it, gen)
        scale = 1.0
        if spec.arm == "steer":
            u = float(torch.rand((), generator=gen, dtype=torch.float64))
            scale = 1.0 + STEER_HALF_WIDTH * (2.0 * u - 1.0)
        task.counted.reset()
        step = task.loss(batch, scale, config)
        opt.zero_grad()
        with phase("backward"):
            step.total.backward()
        opt.step()
        row = {
            "iteration": it,
            "loss": step.total.item(),
            objective: step.objective.item(),
            "kinetic": step.kinetic.item() if step.kinetic is not None else float("nan"),
            "jacobian": step.jacobian.item() if step.jacobian is not None else float("nan"),
            "t1": step.t1,
            "nfe_forward": task.counted.nfe_forward,
            "nfe_backward": task.counted.nfe_backward,
            "steps_accepted": step.stats.steps_accepted,
            "steps_rejected": step.stats.steps_rejected,
            "time_s": time.perf_counter() - start,
        }
        rows.append(row)
        if on_iteration is not None:
            on_iteration(row)
    return task, rows
