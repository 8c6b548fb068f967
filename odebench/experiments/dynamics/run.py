"""Run every arm over seeds into one folder: per-iteration rows, test-time re-solves, the noise
diagnostic, the weights, a per-arm summary a claims row can read, figures and provenance.

Files (in ``out``): ``iterations.csv`` (arm, seed, iteration, loss, nll, kinetic, jacobian,
t1, nfe_forward, nfe_backward, steps_accepted, steps_rejected, time_s), ``resolve.csv`` (arm,
seed, eval_solver, test_nll, nfe, steps), ``noise.csv`` (arm, seed, trace, repeat, nfe,
status), ``summary.csv`` (see :func:`summarise`), ``weights/ARM_seedS.pt``,
``provenance.json``, ``nfe_vs_iteration.png``, ``loss_vs_nfe.png``. Each finished arm and
seed is appended at once, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from odebench.experiments.dynamics.evaluate import (
    FINEST,
    LOOSEST,
    noise_rows,
    resolve_rows,
)
from odebench.experiments.dynamics.figures import draw_figures
from odebench.experiments.dynamics.train import (
    WINDOW,
    ArmSpec,
    train_arm,
    training_solver_name,
)
from odebench.running.folders import check_folder
from odebench.running.provenance import provenance, write_provenance


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def run_dynamics(
    out: str | Path,
    specs: Sequence[ArmSpec],
    *,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Train every spec, measure it, write the folder; returns the summary table.

    The folder must be new or empty (an earlier run is never written over).
    """
    out = Path(out)
    check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    info = provenance(suite="training_dynamics", argv=argv, out=out)
    info["specs"] = [s.as_dict() for s in specs]
    info["load_average_start"] = list(_loadavg())
    write_provenance(out, info)
    (out / "weights").mkdir(exist_ok=True)
    for spec in specs:
        key = {"arm": spec.arm, "seed": spec.seed}
        if progress:
            progress(f"training {spec.arm} seed {spec.seed} ({spec.iterations} iterations)")
        field, rows = train_arm(spec)
        torch.save(field.net.state_dict(), out / "weights" / f"{spec.arm}_seed{spec.seed}.pt")
        _append(out / "iterations.csv", [{**key, **r} for r in rows])
        _append(out / "resolve.csv", [{**key, **r} for r in resolve_rows(field, spec.density)])
        if spec.seed == min(s.seed for s in specs if s.arm == spec.arm):
            _append(out / "noise.csv", [{**key, **r} for r in noise_rows(field, spec.density)])
    summary = summarise(
        pd.read_csv(out / "iterations.csv"), pd.read_csv(out / "resolve.csv")
    )
    summary.to_csv(out / "summary.csv", index=False)
    info["load_average_end"] = list(_loadavg())
    write_provenance(out, info)
    draw_figures(out)
    return summary


def summarise(iterations: pd.DataFrame, resolve: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, mean and sd over seeds (sample sd; NaN with one seed).

    ``nfe_forward_first`` / ``_final``: the mean NFE-F of the first / last :data:`WINDOW`
    iterations of each seed; ``nfe_backward_final`` the same for NFE-B; ``train_nll_final``
    the last window's training NLL; ``test_nll_train_solver`` the test NLL (exact trace) at the
    arm's training solver, ``test_nll_fine`` at dopri5 1e-8, ``test_nll_loose`` at dopri5 1e-3;
    ``solver_gap`` = test_nll_train_solver - test_nll_fine (Ott et al.'s dependence);
    ``test_nfe_train_solver`` the test solve's NFE at the training solver.
    """
    per_seed = []
    for (arm, seed), g in iterations.groupby(["arm", "seed"], sort=False):
        g = g.sort_values("iteration")
        first, last = g.head(WINDOW), g.tail(WINDOW)
        r = resolve[(resolve.arm == arm) & (resolve.seed == seed)].set_index("eval_solver")
        train_solver = training_solver_name(str(arm))
        per_seed.append({
            "arm": arm, "seed": seed, "iterations": len(g),
            "nfe_forward_first": first.nfe_forward.mean(),
            "nfe_forward_final": last.nfe_forward.mean(),
            "nfe_backward_final": last.nfe_backward.mean(),
            "train_nll_final": last.nll.mean(),
            "time_per_iteration_final_s": last.time_s.median(),
            "test_nll_train_solver": r.test_nll[train_solver],
            "test_nll_fine": r.test_nll[FINEST],
            "test_nll_loose": r.test_nll[LOOSEST],
            "solver_gap": r.test_nll[train_solver] - r.test_nll[FINEST],
            "test_nfe_train_solver": r.nfe[train_solver],
        })  # fmt: skip
    seeds = pd.DataFrame(per_seed)
    figures = [c for c in seeds.columns if c not in ("arm", "seed", "iterations")]
    rows = []
    for arm, g in seeds.groupby("arm", sort=False):
        row: dict[str, Any] = {
            "arm": arm, "training_solver": training_solver_name(str(arm)),
            "seeds": len(g), "iterations": int(g.iterations.min()), "window": WINDOW,
        }  # fmt: skip
        for c in figures:
            row[f"{c}_mean"] = g[c].mean()
            row[f"{c}_sd"] = g[c].std(ddof=1) if len(g) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _loadavg() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3  # type: ignore[return-value]


