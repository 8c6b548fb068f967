"""Run every arm over seeds into one folder: per-iteration rows, test-time re-solves, the noise
diagnostic, the weights, a per-arm summary a claims row can read, figures and provenance.

Files (in ``out``): ``iterations.csv`` (arm, seed, iteration, loss, the data term (``nll`` for
the CNF, ``neg_elbo`` for the latent ODE), kinetic, jacobian, t1, nfe_forward, nfe_backward,
steps_accepted, steps_rejected, time_s), ``resolve.csv`` (arm, seed, eval_solver, the model's
test losses (:data:`.spec.TEST_METRICS`), nfe, steps), ``noise.csv`` (CNF only: arm, seed,
trace, repeat, nfe, status), ``summary.csv`` (see :func:`summarise`), ``weights/ARM_seedS.pt``,
``provenance.json`` (with the model and every spec), ``nfe_vs_iteration.png``,
``loss_vs_nfe.png``, ``resolve.png``. Each finished arm and seed is written at once, its
``iterations.csv`` rows last: an interrupted run keeps what it finished, and ``resume``
continues it, skipping the arm/seed pairs already in ``iterations.csv``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from odebench.experiments.dynamics.evaluate import FINEST, LOOSEST
from odebench.experiments.dynamics.figures import draw_figures
from odebench.experiments.dynamics.spec import (
    OBJECTIVE,
    TEST_METRICS,
    WINDOW,
    ArmSpec,
    DynamicsError,
    same_specs,
    training_solver_name,
)
from odebench.experiments.dynamics.train import train_arm
from odebench.running.folders import check_folder, locked_folder
from odebench.running.provenance import provenance, read_provenance, write_provenance

SUITE = "training_dynamics"
#: the tables of one arm/seed pair, written in this order (``iterations.csv`` marks it done)
TABLES = ("resolve.csv", "noise.csv", "iterations.csv")


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def model_of(specs: Sequence[ArmSpec]) -> str:
    """The one model of a run's specs (a folder holds one model's run)."""
    models = sorted({s.model for s in specs})
    if len(models) != 1:
        raise DynamicsError(f"one model per run folder; got {', '.join(models) or 'no specs'}.")
    return models[0]


def finished_pairs(out: str | Path) -> set[tuple[str, int]]:
    """The (arm, seed) pairs whose rows are in ``out/iterations.csv`` (written last)."""
    path = Path(out) / "iterations.csv"
    if not path.is_file():
        return set()
    done = pd.read_csv(path, usecols=["arm", "seed"]).drop_duplicates()
    return {(str(a), int(s)) for a, s in done.itertuples(index=False)}


def check_resume(out: str | Path, specs: Sequence[ArmSpec]) -> set[tuple[str, int]]:
    """Check, without writing, that ``out`` holds a training-dynamics run of exactly ``specs``;
    returns the pairs it finished. Raises :class:`DynamicsError` naming the fix."""
    out = Path(out)
    if not (out / "provenance.json").is_file():
        raise DynamicsError(f"--resume: {out} holds no training-dynamics run (no "
                            "provenance.json); drop --resume to start one there.")  # fmt: skip
    info = read_provenance(out)
    if info.get("suite") != SUITE:
        raise DynamicsError(f"--resume: {out} holds a {info.get('suite')!r} run, not training "
                            "dynamics; pass --out its own folder.")  # fmt: skip
    diffs = same_specs(list(info.get("specs") or []), list(specs))
    if diffs:
        raise DynamicsError(
            f"--resume: {out} was run with other settings ({'; '.join(diffs)}); resume with "
            "the folder's settings (its provenance.json lists them) or pass --out a new folder."
        )
    return finished_pairs(out)


def _keep_finished(out: Path, done: set[tuple[str, int]]) -> None:
    """Drop the rows of pairs cut off before their ``iterations.csv`` rows were written."""
    for name in TABLES[:-1]:
        path = out / name
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        keep = [(str(a), int(s)) in done for a, s in zip(table.arm, table.seed, strict=True)]
        if not all(keep):
            table[keep].to_csv(path, index=False)


def run_dynamics(
    out: str | Path,
    specs: Sequence[ArmSpec],
    *,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    resume: bool = False,
) -> pd.DataFrame:
    """Train every spec, measure it, write the folder; returns the summary table.

    The folder must be new or empty (an earlier run is never written over), or with
    ``resume`` hold a run of exactly these specs: its finished arm/seed pairs are kept.
    """
    out = Path(out)
    model = model_of(specs)
    if resume:
        done = check_resume(out, specs)
    else:
        check_folder(out)
        done = set()
    with locked_folder(out):
        if resume:
            _keep_finished(out, done)
            info = read_provenance(out)
            again = provenance(suite=SUITE, argv=argv, out=out)
            info.setdefault("resumed", []).append({
                **{k: again[k] for k in ("commit", "date", "command")},
                "finished_before": len(done), "load_average_start": list(_loadavg()),
            })  # fmt: skip
        else:
            info = provenance(suite=SUITE, argv=argv, out=out)
            info["model"] = model
            info["specs"] = [s.as_dict() for s in specs]
            info["load_average_start"] = list(_loadavg())
        write_provenance(out, info)
        (out / "weights").mkdir(exist_ok=True)
        for spec in specs:
            key = {"arm": spec.arm, "seed": spec.seed}
            if (spec.arm, spec.seed) in done:
                if progress:
                    progress(f"kept {spec.arm} seed {spec.seed} (finished earlier)")
                continue
            if progress:
                progress(f"training {spec.model} {spec.arm} seed {spec.seed} "
                         f"({spec.iterations} iterations)")  # fmt: skip
            task, rows = train_arm(spec)
            torch.save(task.state_dict(), out / "weights" / f"{spec.arm}_seed{spec.seed}.pt")
            _append(out / "resolve.csv", [{**key, **r} for r in task.resolve_rows()])
            if spec.seed == min(s.seed for s in specs if s.arm == spec.arm):
                _append(out / "noise.csv", [{**key, **r} for r in task.noise_rows()])
            _append(out / "iterations.csv", [{**key, **r} for r in rows])
        summary = summarise(
            pd.read_csv(out / "iterations.csv"), pd.read_csv(out / "resolve.csv"), model=model
        )
        summary.to_csv(out / "summary.csv", index=False)
        if resume:
            info["resumed"][-1]["load_average_end"] = list(_loadavg())
        else:
            info["load_average_end"] = list(_loadavg())
        write_provenance(out, info)
        draw_figures(out, model=model)
    return summary


def summarise(iterations: pd.DataFrame, resolve: pd.DataFrame, *, model: str = "cnf"
              ) -> pd.DataFrame:  # fmt: skip
    """One row per arm, mean and sd over seeds (sample sd; NaN with one seed).

    ``nfe_forward_first`` / ``_final``: the mean NFE-F of the first / last :data:`WINDOW`
    iterations of each seed; ``nfe_backward_final`` the same for NFE-B; ``train_nll_final``
    (the CNF) or ``train_neg_elbo_final`` (the latent ODE) the last window's data term; per
    test loss ``M`` of the model (:data:`.spec.TEST_METRICS`: ``test_nll`` for the CNF,
    ``test_rmse`` and ``test_neg_elbo`` for the latent ODE) ``M_train_solver`` at the arm's
    training solver, ``M_fine`` at dopri5 1e-8, ``M_loose`` at dopri5 1e-3; ``solver_gap`` =
    the first test loss at the training solver minus at dopri5 1e-8 (Ott et al.'s dependence);
    ``test_nfe_train_solver`` the test solve's NFE at the training solver.
    """
    objective, metrics = OBJECTIVE[model], TEST_METRICS[model]
    per_seed = []
    for (arm, seed), g in iterations.groupby(["arm", "seed"], sort=False):
        g = g.sort_values("iteration")
        first, last = g.head(WINDOW), g.tail(WINDOW)
        r = resolve[(resolve.arm == arm) & (resolve.seed == seed)].set_index("eval_solver")
        train_solver = training_solver_name(str(arm))
        row = {
            "arm": arm, "seed": seed, "iterations": len(g),
            "nfe_forward_first": first.nfe_forward.mean(),
            "nfe_forward_final": last.nfe_forward.mean(),
            "nfe_backward_final": last.nfe_backward.mean(),
            f"train_{objective}_final": last[objective].mean(),
            "time_per_iteration_final_s": last.time_s.median(),
        }  # fmt: skip
        for m in metrics:
            row[f"{m}_train_solver"] = r[m][train_solver]
            row[f"{m}_fine"] = r[m][FINEST]
            row[f"{m}_loose"] = r[m][LOOSEST]
        row["solver_gap"] = r[metrics[0]][train_solver] - r[metrics[0]][FINEST]
        row["test_nfe_train_solver"] = r.nfe[train_solver]
        per_seed.append(row)
    seeds = pd.DataFrame(per_seed)
    figures = [c for c in seeds.columns if c not in ("arm", "seed", "iterations")]
    rows = []
    for arm, g in seeds.groupby("arm", sort=False):
        out: dict[str, Any] = {
            "arm": arm, "model": model, "training_solver": training_solver_name(str(arm)),
            "seeds": len(g), "iterations": int(g.iterations.min()), "window": WINDOW,
        }  # fmt: skip
        for c in figures:
            out[f"{c}_mean"] = g[c].mean()
            out[f"{c}_sd"] = g[c].std(ddof=1) if len(g) > 1 else float("nan")
        rows.append(out)
    return pd.DataFrame(rows)


def _loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3  # type: ignore[return-value]
