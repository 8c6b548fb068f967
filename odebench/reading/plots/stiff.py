"""The stiff and batched suites' figures (issue 33): survival, cost against stiffness,
work-precision with failed solves drawn as such, and a batch's steps and batch-dependence."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from odebench.reading.stiff import (
    STIFF_ORDER,
    batched_table,
    stiff_rows,
    survival_table,
)

STATUS_COLORS: dict[str, str] = {
    "ok": "#4c9a5b", "max_steps": "#e0a030", "timeout": "#c05050", "diverged": "#7a3fa0",
    "failed": "#555555", "oom": "#303080", "crashed": "#000000",
}  # fmt: skip
VDP_MU: dict[str, int] = {"vdp_mu1": 1, "vdp_mu10": 10, "vdp_mu100": 100, "vdp_mu1000": 1000}


def _log_where_positive(ax: plt.Axes, *, x: bool = True, y: bool = True) -> None:
    """Log axes; an axis with no positive point gets fixed limits (a log axis cannot draw
    an empty range) and says so."""
    xs = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.lines] or [[]])
    ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines] or [[]])
    drawn = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)  # points that show
    if x:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # decade labels only: no overlaps
    if y:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
    if not drawn.any():
        ax.set_xlim(1, 10) if x else None
        ax.set_ylim(1, 10) if y else None
        ax.text(0.5, 0.5, "no finished solve", transform=ax.transAxes, ha="center")


def stiff_survival(df: pd.DataFrame) -> plt.Figure | None:
    """Which solver and gradient mode survives each stiff problem (rtol 1e-5)."""
    table = survival_table(df)
    if table.empty:
        return None
    table["case"] = table["solver"] + " / " + table["gradient"]
    cases = sorted(table["case"].unique())
    problems = [p for p in STIFF_ORDER if p in set(table["problem"])]
    fig, ax = plt.subplots(figsize=(2.5 + 0.75 * len(cases), 3.0 + 0.5 * len(problems)))
    for _, r in table.iterrows():
        x, y = cases.index(r["case"]), problems.index(r["problem"])
        ax.add_patch(plt.Rectangle((x, y), 1, 1, color=STATUS_COLORS.get(r["status"], "#999"),
                                   ec="white"))  # fmt: skip
        text = f"{r['time_s']:.2g} s" if r["status"] == "ok" else r["status"].replace("_", "\n")
        ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=7, color="white")
    ax.set_xlim(0, len(cases))
    ax.set_ylim(len(problems), 0)
    ax.set_xticks(np.arange(len(cases)) + 0.5, cases, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(problems)) + 0.5, problems, fontsize=8)
    ax.grid(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATUS_COLORS.values()]
    ax.legend(handles, list(STATUS_COLORS), loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize=7, title="status")  # fmt: skip
    ax.set_title("Survival at rtol 1e-5 (ok cells: forward + backward seconds)")
    fig.tight_layout()
    return fig


def stiff_cost_vs_stiffness(df: pd.DataFrame) -> plt.Figure | None:
    """Time and kept memory of each gradient mode as Van der Pol's mu grows (x: failed)."""
    table = survival_table(df)
    if table.empty:
        return None
    table = table[table["problem"].isin(VDP_MU)].copy()
    if table.empty:
        return None
    table["mu"] = table["problem"].map(VDP_MU)
    table["case"] = table["solver"] + " / " + table["gradient"]
    walls = stiff_rows(df).set_index(["subject", "solver", "gradient", "rtol"])["wall_s"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = dict(zip(sorted(table["case"].unique()), plt.cm.tab10.colors * 2, strict=False))
    for case, rows in table.groupby("case"):
        rows = rows.sort_values("mu")
        ok = rows[rows["status"] == "ok"]
        bad = rows[rows["status"] != "ok"]
        c = colors[case]
        axes[0].plot(ok["mu"], ok["time_s"], "o-", color=c, label=case)
        axes[1].plot(ok["mu"], ok["saved_bytes"], "o-", color=c, label=case)
        for _, r in bad.iterrows():
            wall = walls.get((r["problem"], r["solver"], r["gradient"], 1e-5), np.nan)
            axes[0].plot(r["mu"], wall, "x", color=c, ms=9, mew=2)
    for ax in axes:
        _log_where_positive(ax)
    axes[0].set(xlabel="Van der Pol mu",
                ylabel="forward + backward s (x: wall s until it stopped)",
                title="Time as stiffness grows")  # fmt: skip
    axes[1].set(xlabel="Van der Pol mu", ylabel="bytes saved for backward",
                title="Memory the gradient keeps (finished solves)")  # fmt: skip
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def stiff_work_precision(df: pd.DataFrame) -> plt.Figure | None:
    """Error against NFE and against time per stiff problem; failed solves on the top band."""
    data = stiff_rows(df)
    if data.empty:
        return None
    data = data[data["gradient"].isin(["backprop", "adjoint"])]
    problems = [p for p in STIFF_ORDER if p in set(data["subject"])]
    width = max(3.0 * len(problems), 9.0)
    fig, axes = plt.subplots(2, len(problems), figsize=(width, 6.5), squeeze=False)
    solvers = sorted(data["solver"].unique())
    colors = dict(zip(solvers, plt.cm.tab10.colors, strict=False))
    for j, problem in enumerate(problems):
        rows = data[data["subject"] == problem]
        for k, (xcol, xlabel) in enumerate([("nfe_forward", "NFE forward"),
                                            ("time_forward_s", "forward s")]):  # fmt: skip
            ax = axes[k, j]
            for solver, srows in rows.groupby("solver"):
                for gradient, g in srows.groupby("gradient"):
                    ok = g[g["status"] == "ok"].sort_values("rtol")
                    style = "o-" if gradient == "backprop" else "s--"
                    ax.plot(ok[xcol], ok["state_error"], style, color=colors[solver], ms=4,
                            label=f"{solver} / {gradient}")  # fmt: skip
                    bad = g[g["status"] != "ok"]
                    xs = bad[xcol] if xcol == "nfe_forward" else bad["wall_s"]
                    ax.plot(xs, np.full(len(bad), 10.0), "x", color=colors[solver], ms=8, mew=2)
            _log_where_positive(ax)
            ax.axhline(3.0, color="grey", lw=0.5)
            ax.set(ylim=(1e-12, 30), xlabel=xlabel)
            if j == 0:
                ax.set_ylabel("relative error of y(t1)\n(x above the line: failed)")
            if k == 0:
                ax.set_title(problem, fontsize=9)
    seen: dict[str, object] = {}
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def batched_steps(df: pd.DataFrame) -> plt.Figure | None:
    """Steps per sample and batch-dependence against the batch size N."""
    table = batched_table(df)
    if table.empty:
        return None
    table = table[table["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (backend, rtol), rows in table.groupby(["backend", "rtol"]):
        rows = rows.sort_values("batch")
        ls = "-" if rtol == table["rtol"].max() else "--"
        tag = f"rtol {rtol:g}"
        if backend == "torchdiffeq":
            axes[0].plot(rows["batch"], rows["steps_accepted"], "o" + ls, color="C0",
                         label=f"torchdiffeq, shared step ({tag})")  # fmt: skip
            axes[0].plot(rows["batch"], rows["alone_steps_mean"], "^" + ls, color="C2", ms=9,
                         mfc="none", label=f"each sample alone, mean ({tag})")  # fmt: skip
        else:
            axes[0].plot(rows["batch"], rows["steps_accepted_mean"], "s" + ls, color="C1",
                         label=f"torchode, per sample in the batch, mean ({tag})")  # fmt: skip
        axes[1].plot(rows["batch"], rows["batch_dependence"].clip(lower=1e-17), "o" + ls,
                     color="C0" if backend == "torchdiffeq" else "C1",
                     label=f"{backend} ({tag})")  # fmt: skip
    for ax in axes:
        _log_where_positive(ax)
    axes[0].set(xlabel="batch N", ylabel="accepted steps",
                title="Steps: one step size for the batch vs per sample")  # fmt: skip
    axes[1].set(xlabel="batch N",
                ylabel="max_i |y_i(t1) in batch - alone| (relative)",
                title="Batch-dependence (exact 0 drawn at 1e-17)")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def stiff_figures(df: pd.DataFrame) -> dict[str, plt.Figure]:
    """Every figure of this module that ``df`` supports, by name."""
    plots = {"stiff_survival": stiff_survival, "stiff_cost_vs_stiffness": stiff_cost_vs_stiffness,
             "stiff_work_precision": stiff_work_precision, "batched_steps": batched_steps}
    out = {}
    for name, plot in plots.items():
        fig = plot(df)
        if fig is not None:
            out[name] = fig
    return out
