"""The trained 2-D continuous normalizing flow as problems of the zoo (exact and Hutchinson trace).

``cnf_8gaussians``: the flow fitted to eight Gaussians (weights committed beside this module,
fitted by ``odebench training-dynamics --fit-problem-weights``), on 64 test points, with the
exact trace. ``cnf_8gaussians_hutchinson``: the same flow with Hutchinson's trace estimate, its
noise drawn once (seed 0) and held fixed, so every solve, the float64 reference included,
integrates the same function. The loss of a case is on the augmented state ``[z, delta_logp]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from odebench.workloads.data.toy2d import sample_toy
from odebench.workloads.models.cnf import DIM, CNFError, CNFField, initial_state
from odebench.workloads.problems.registry import Problem, builtin_problem

#: the committed weights of the problem's flow and the record of how they were fitted
WEIGHTS = Path(__file__).with_name("weights") / "cnf_8gaussians.pt"
WEIGHTS_INFO = WEIGHTS.with_suffix(".json")
#: the problem's batch of data points (drawn from a seed no training batch uses)
POINTS, POINTS_SEED = 64, 10_000
HIDDEN = 64


def trained_cnf_field(trace: str = "exact", *, weights: Path = WEIGHTS) -> CNFField:
    """The committed flow (a :class:`CNFField`) with the given trace; refuses without weights."""
    if not weights.exists():
        raise CNFError(
            f"the CNF problem's weights {weights} are missing; fit them with "
            "`odebench training-dynamics --fit-problem-weights` (about a minute)."
        )
    field = CNFField(HIDDEN, trace=trace)
    field.net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    if trace == "hutchinson":
        gen = torch.Generator().manual_seed(0)
        field.set_noise(torch.randn(POINTS, DIM, generator=gen, dtype=torch.float64).float())
    return field


def fitted_loss() -> str:
    """How the committed weights were fitted, in words (for the problem's description)."""
    try:
        info = json.loads(WEIGHTS_INFO.read_text())
    except (OSError, ValueError):
        return "weights not fitted yet"
    return f"fitted {info['iterations']} iterations to test NLL {info['test_nll']:.3f}"


def _cnf_problem(name: str, trace: str) -> Problem:
    x = sample_toy("8gaussians", POINTS, seed=POINTS_SEED)
    return Problem(
        name=name,
        make_field=lambda: trained_cnf_field(trace),
        y0=initial_state(x, CNFField(HIDDEN)),
        t1=1.0,
        description=f"2-D CNF on eight Gaussians, {trace} trace, {POINTS} points "
        f"({fitted_loss()}); reference dopri8 1e-12 of the same noise",
    )


def exact_trace_problem() -> Problem:
    """``cnf_8gaussians`` (a zero-argument factory: ``odebench profile`` can take it)."""
    return _cnf_problem("cnf_8gaussians", "exact")


def hutchinson_problem() -> Problem:
    """``cnf_8gaussians_hutchinson`` (a zero-argument factory, like :func:`exact_trace_problem`)."""
    return _cnf_problem("cnf_8gaussians_hutchinson", "hutchinson")


builtin_problem("cnf_8gaussians")(exact_trace_problem)
builtin_problem("cnf_8gaussians_hutchinson")(hutchinson_problem)
