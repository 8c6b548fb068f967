"""Fit the weights of the ``cnf_8gaussians`` problems (committed beside the problem module).

The recipe is the ``none`` arm (FFJORD's: dopri5 1e-5 with the adjoint, Hutchinson's noise
fixed per solve) for :data:`PROBLEM_ITERATIONS` iterations, seed 0; the record beside the
weights states the test NLL they reached (exact trace, dopri5 1e-5, 2000 test points).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from odebench.experiments.dynamics.spec import ArmSpec
from odebench.experiments.dynamics.train import train_arm
from odebench.running.provenance import provenance
from odebench.workloads.problems.cnf import HIDDEN, WEIGHTS

PROBLEM_ITERATIONS = 600
PROBLEM_LR = 5e-3


def fit_problem_weights(
    path: Path = WEIGHTS, *, argv: Sequence[str] | None = None, force: bool = False
) -> dict[str, Any]:
    """Train the problem's flow and write ``path`` (+ ``.json``); refuses to overwrite unless
    ``force``. Returns the record written beside the weights."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(
            f"{path} exists; pass --force to refit it (the old weights move to {path.name}.bak)."
        )
    spec = ArmSpec("none", seed=0, iterations=PROBLEM_ITERATIONS, lr=PROBLEM_LR, hidden=HIDDEN)
    task, rows = train_arm(spec)
    test = {r["eval_solver"]: r for r in task.resolve_rows()}
    info = {
        **{k: v for k, v in provenance(suite="cnf_problem_weights", argv=argv).items()
           if k in ("commit", "torch", "torchdiffeq", "date", "command", "threads")},
        "spec": spec.as_dict(),
        "iterations": spec.iterations,
        "train_nll_last20": sum(r["nll"] for r in rows[-20:]) / 20,
        "test_nll": test["dopri5 1e-5"]["test_nll"],
        "test_nll_solver": "exact trace, dopri5 rtol=atol=1e-5, 2000 test points",
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.replace(path.with_name(path.name + ".bak"))
    torch.save(task.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return info
