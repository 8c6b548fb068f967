"""The training-dynamics figures, drawn from the folder's tables only: NFE against iteration
per arm, final test loss against final NFE, and the test loss under each test-time solver.
The model (read from ``provenance.json``; a record without one is the CNF's) names the test
loss drawn and the titles."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from odebench.experiments.dynamics.evaluate import EVAL_SOLVERS, FINEST  # noqa: E402
from odebench.experiments.dynamics.spec import (  # noqa: E402
    METRIC_LABELS,
    MODEL_LABELS,
    TEST_METRICS,
    WINDOW,
    training_solver_name,
)

COLOURS = {"none": "tab:blue", "rnode": "tab:green", "steer": "tab:orange", "fixed_rk4": "tab:red"}
SMOOTH = 10


def draw_figures(folder: str | Path, *, model: str | None = None) -> list[Path]:
    """Write the three PNGs beside the tables; returns their paths. ``model``: by default the
    one ``provenance.json`` names (``cnf`` where it names none)."""
    folder = Path(folder)
    if model is None:
        prov = folder / "provenance.json"
        model = json.loads(prov.read_text()).get("model", "cnf") if prov.is_file() else "cnf"
    it = pd.read_csv(folder / "iterations.csv")
    res = pd.read_csv(folder / "resolve.csv")
    metric = TEST_METRICS[model][0]
    paths = [_nfe_vs_iteration(it, folder, model), _loss_vs_nfe(it, res, folder, metric),
             _resolve(res, folder, metric)]  # fmt: skip
    plt.close("all")
    return paths


def _nfe_vs_iteration(it: pd.DataFrame, folder: Path, model: str) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, column, label in zip(axes, ("nfe_forward", "nfe_backward"), ("NFE-F", "NFE-B"),
                                 strict=True):  # fmt: skip
        for arm, g in it.groupby("arm", sort=False):
            wide = g.pivot(index="iteration", columns="seed", values=column)
            smooth = wide.rolling(SMOOTH, min_periods=1).mean()
            mean = smooth.mean(axis=1)
            colour = COLOURS.get(str(arm), "k")
            ax.plot(
                mean.index,
                mean,
                color=colour,
                lw=1.8,
                label=f"{arm} ({training_solver_name(str(arm))}, {wide.shape[1]} seeds)",
            )
            ax.fill_between(mean.index, smooth.min(axis=1), smooth.max(axis=1), color=colour,
                            alpha=0.15, lw=0)  # fmt: skip
        ax.set_xlabel("training iteration")
        ax.set_ylabel(f"{label} per iteration (rolling mean of {SMOOTH})")
        ax.grid(alpha=0.3)
    axes[0].set_title("forward solve")
    axes[1].set_title("adjoint (backward) solve")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{MODEL_LABELS[model]}: solver work over training\n"
                 "(line: mean over seeds; band: min-max)")  # fmt: skip
    fig.tight_layout()
    path = folder / "nfe_vs_iteration.png"
    fig.savefig(path, dpi=110)
    return path


def _loss_vs_nfe(it: pd.DataFrame, res: pd.DataFrame, folder: Path, metric: str) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for arm, g in it.groupby("arm", sort=False):
        xs, ys = [], []
        for seed, s in g.groupby("seed"):
            xs.append(s.sort_values("iteration").tail(WINDOW).nfe_forward.mean())
            r = res[(res.arm == arm) & (res.seed == seed)]
            ys.append(float(r[r.eval_solver == training_solver_name(str(arm))][metric].iloc[0]))
        ax.scatter(xs, ys, color=COLOURS.get(str(arm), "k"), s=45, label=str(arm))
    ax.set_xlabel(f"NFE-F at the end of training (mean of the last {WINDOW} iterations)")
    ax.set_ylabel(f"{METRIC_LABELS[metric]}\nat the training solver")
    ax.set_title("final loss against final solver work (one point per seed)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / "loss_vs_nfe.png"
    fig.savefig(path, dpi=110)
    return path


def _resolve(res: pd.DataFrame, folder: Path, metric: str) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    order = list(EVAL_SOLVERS)
    fine = res[res.eval_solver == FINEST][["arm", "seed", metric]]
    res = res.merge(fine, on=["arm", "seed"], suffixes=("", "_fine"))
    res = res.assign(gap=res[metric] - res[f"{metric}_fine"])
    arms = list(dict.fromkeys(res.arm))
    width = 0.8 / max(len(arms), 1)
    for k, arm in enumerate(arms):
        g = res[res.arm == arm]
        means = g.groupby("eval_solver").gap.mean().reindex(order)
        xs = [i + (k - (len(arms) - 1) / 2) * width for i in range(len(order))]
        ax.bar(xs, means, width=width, color=COLOURS.get(str(arm), "k"), label=str(arm))
        for x, name in zip(xs, order, strict=True):
            pts = g[g.eval_solver == name].gap
            ax.scatter([x] * len(pts), pts, color="k", s=8, zorder=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel(f"{METRIC_LABELS[metric]}\nminus its value at {FINEST}")
    ax.set_title("test-time solver dependence (bars: mean over seeds, dots: seeds)")
    ax.legend(fontsize=8, title="trained with")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path = folder / "resolve.png"
    fig.savefig(path, dpi=110)
    return path
