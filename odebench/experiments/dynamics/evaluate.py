"""A trained flow at test time: re-solved with finer and looser solvers (Ott et al. 2021), and
the Hutchinson noise diagnostic (noise fixed per solve against drawn per evaluation, #120)."""

from __future__ import annotations

from typing import Any

import torch

from odebench.instruments.nfe import CountedField
from odebench.solvers import SolveError, SolverConfig, solve
from odebench.workloads.data.toy2d import sample_toy
from odebench.workloads.models.cnf import CNFField, initial_state, log_density_from_state

#: the test-time solvers each trained flow is re-solved with (name -> config); the finest
#: (dopri5 at 1e-8) is the reference the others are compared with
EVAL_SOLVERS: dict[str, SolverConfig] = {
    "dopri5 1e-3": SolverConfig(method="dopri5", rtol=1e-3, atol=1e-3),
    "dopri5 1e-5": SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5),
    "dopri5 1e-8": SolverConfig(method="dopri5", rtol=1e-8, atol=1e-8),
    "rk4 4 steps": SolverConfig(method="rk4", steps=4),
    "rk4 64 steps": SolverConfig(method="rk4", steps=64),
}
FINEST = "dopri5 1e-8"
LOOSEST = "dopri5 1e-3"
#: the test set: points from a seed no training batch uses
TEST_POINTS, TEST_SEED = 2000, 99_999
#: the noise diagnostic's batch, solver and evaluation cap (per evaluation noise can run away)
DIAG_POINTS, DIAG_SOLVER = 64, SolverConfig(method="dopri5", rtol=1e-5, atol=1e-5)
DIAG_MAX_NFE = 2_000


def exact_copy(field: CNFField) -> CNFField:
    """The trained flow with the exact trace and no regulariser states (test-time density)."""
    copy = CNFField(field.net.net[0].out_features, trace="exact")
    copy.net.load_state_dict(field.net.state_dict())
    return copy


def resolve_rows(field: CNFField, density: str, t1: float = 1.0) -> list[dict[str, Any]]:
    """Test NLL (exact trace, float32) and its solve's cost under every :data:`EVAL_SOLVERS`."""
    test = exact_copy(field)
    x = sample_toy(density, TEST_POINTS, seed=TEST_SEED).float()
    rows = []
    for name, config in EVAL_SOLVERS.items():
        counted = CountedField(test)
        with torch.no_grad():
            sol = solve(counted, initial_state(x, test), torch.tensor([0.0, t1]), config)
        rows.append({
            "eval_solver": name,
            "test_nll": -log_density_from_state(sol.ys[-1]).mean().item(),
            "nfe": counted.nfe_forward,
            "steps_accepted": sol.stats.steps_accepted,
            "steps_rejected": sol.stats.steps_rejected,
        })  # fmt: skip
    return rows


class _Capped(torch.nn.Module):
    """Stops a solve after ``cap`` evaluations (the per-evaluation noise can run away)."""

    def __init__(self, field: CNFField, cap: int):
        super().__init__()
        self.field, self.cap, self.calls = field, cap, 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.cap:
            raise _CapReached
        return self.field(t, y)


class _CapReached(RuntimeError):
    pass


def noise_rows(field: CNFField, density: str, *, solves: int = 2) -> list[dict[str, Any]]:
    """NFE of ``solves`` repeated solves of the same batch with Hutchinson's noise fixed per
    solve (the same noise each time) and drawn per evaluation (capped at DIAG_MAX_NFE)."""
    x = sample_toy(density, DIAG_POINTS, seed=TEST_SEED + 1).float()
    rows = []
    for trace in ("hutchinson", "hutchinson_per_eval"):
        flow = CNFField(field.net.net[0].out_features, trace=trace)
        flow.net.load_state_dict(field.net.state_dict())
        flow.set_noise(torch.randn(DIAG_POINTS, 2, generator=torch.Generator().manual_seed(3)))
        for repeat in range(solves):
            capped = _Capped(flow, DIAG_MAX_NFE)
            status = "ok"
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(repeat)
                try:
                    sol = solve(capped, initial_state(x, flow), torch.tensor([0.0, 1.0]),
                                DIAG_SOLVER)  # fmt: skip
                    steps = (sol.stats.steps_accepted, sol.stats.steps_rejected)
                except (_CapReached, SolveError):
                    status, steps = f"stopped at {DIAG_MAX_NFE} evaluations", (None, None)
            rows.append({
                "trace": trace, "repeat": repeat, "nfe": min(capped.calls, DIAG_MAX_NFE),
                "steps_accepted": steps[0], "steps_rejected": steps[1], "status": status,
            })  # fmt: skip
    return rows
