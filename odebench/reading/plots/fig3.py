"""Figure 3 of the paper, drawn from a Table 1 run (``odebench table1``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
)

from odebench.reading.analysis import (  # noqa: E402
    linear_fit,
)
from odebench.reading.plots.style import save

# --- Figure 3 of the paper, from the Table 1 run (``odebench table1``) ---------------------

_FIG3_RC: dict[str, object] = {"svg.hashsalt": "odebench", "svg.fonttype": "path"}
#: Figure 3c: the solver of the ODE-Net's training, and the others measured on its weights.
FIG3_SOLVER_COLORS: dict[str, str] = {
    "dopri5": "tab:blue",
    "implicit_adams": "tab:orange",
    "scipy_lsoda": "tab:green",
}


def fig3a_error_vs_nfe(errors: pd.DataFrame) -> plt.Figure | None:
    """Figure 3a: the ODE block's output error against NFE-F, one point per tolerance."""
    rows = errors[errors["relative_error"] > 0].sort_values("nfe_forward")
    if rows.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    ax.plot(rows["nfe_forward"], rows["relative_error"], "o-", color="tab:blue")
    for _, r in rows.iterrows():
        ax.annotate(f"tol {r['rtol']:g}", (r["nfe_forward"], r["relative_error"]),
                    textcoords="offset points", xytext=(5, 4), fontsize="small")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="NFE forward (calls of f)",
           ylabel="relative L2 error of the ODE block's output")  # fmt: skip
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ref = rows["reference"].iloc[0] if "reference" in rows else "a tight reference"
    method = rows["method"].iloc[0] if "method" in rows else "the solver"
    ax.set_title(f"Fig. 3a: trained MNIST ODE-Net, {method} at rtol = atol = tol\n"
                 f"(batch of {int(rows['batch'].iloc[0])} test images; against {ref})",
                 fontsize="medium")  # fmt: skip
    return fig


def fig3b_time_vs_nfe(results: pd.DataFrame) -> plt.Figure | None:
    """Figure 3b: forward time against NFE-F of the trained ODE-Net across tolerances."""
    rows = results[(results["model"] == "odenet") & (results["status"] == "ok")]
    rows = rows[rows["nfe_forward"].notna() & rows["time_forward_s"].notna()]
    rows = rows[rows["rtol"].notna() & (rows["method"] == "dopri5")]  # the tolerance sweep
    if "weights" in rows:
        rows = rows[rows["weights"].fillna("").astype(str) != ""]
    if rows["nfe_forward"].nunique() < 2:
        return None
    rows = rows.sort_values("nfe_forward")
    fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
    iqr = rows["time_forward_iqr_s"] if "time_forward_iqr_s" in rows else None
    yerr = None if iqr is None else iqr / 2
    ax.errorbar(rows["nfe_forward"], rows["time_forward_s"], yerr=yerr, fmt="o", capsize=3,
                color="tab:blue", label="median forward (bar: IQR)")  # fmt: skip
    slope, intercept, r2 = linear_fit(rows["nfe_forward"].to_numpy(float),
                                      rows["time_forward_s"].to_numpy(float))  # fmt: skip
    xs = np.array([0.0, float(rows["nfe_forward"].max()) * 1.05])
    ax.plot(xs, intercept + slope * xs, "--", color="grey",
            label=f"fit: {slope * 1e3:.1f} ms per NFE (R$^2$ {r2:.2f})")  # fmt: skip
    for i, (_, r) in enumerate(rows.iterrows()):  # alternate below/above: close points
        ax.annotate(f"tol {r['rtol']:g}", (r["nfe_forward"], r["time_forward_s"]),
                    textcoords="offset points", xytext=(6, -12 if i % 2 == 0 else 6),
                    fontsize="small")  # fmt: skip
    ax.set(xlabel="NFE forward (calls of f)", ylabel="forward time (s)", xlim=(0, None),
           ylim=(0, None))  # fmt: skip
    batch = int(rows["batch"].iloc[0]) if "batch" in rows else 0
    device = rows["device"].iloc[0] if "device" in rows else ""
    ax.set_title(f"Fig. 3b: trained MNIST ODE-Net, forward pass\n(batch {batch}, {device}; "
                 "warm, unmetered; dopri5 at each tolerance)", fontsize="medium")  # fmt: skip
    ax.legend(fontsize="small", loc="upper left")
    return fig


def _counts(x: pd.Series, y: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"x": x, "y": y}).value_counts().rename("n").reset_index()


def fig3c_nfe_backward_vs_forward(
    log: pd.DataFrame | None, points: pd.DataFrame | None, failures: pd.DataFrame | None = None
) -> plt.Figure | None:
    """Figure 3c: NFE-B against NFE-F, one point per iteration, for each solver.

    ``log``: the ODE-Net's training log (dopri5, every iteration, marker size = how many
    iterations share the point); ``points``: each solver on the trained weights, one point
    per batch (``odebench.experiments.table1.solver_nfe_points``).
    """
    have_log = log is not None and not log.empty
    have_points = points is not None and not points.empty
    if not have_log and not have_points:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 6.4), layout="constrained")
    top = 0.0
    if have_log:
        c = _counts(log["nfe_forward"], log["nfe_backward"])
        ax.scatter(c["x"], c["y"], s=12 + 60 * np.sqrt(c["n"] / c["n"].max()), alpha=0.35,
                   color="tab:blue", edgecolor="none",
                   label=f"dopri5, during training ({len(log):,} iterations; "
                   "number: iterations at the point)")  # fmt: skip
        for _, r in c.iterrows():
            ax.annotate(f"{int(r['n']):,}", (r["x"], r["y"]), textcoords="offset points",
                        xytext=(6, -3), fontsize="x-small", color="tab:blue")  # fmt: skip
        top = max(top, float(c["x"].max()), float(c["y"].max()))
    if have_points:
        for i, (solver, g) in enumerate(points.groupby("solver", sort=False)):
            color = FIG3_SOLVER_COLORS.get(str(solver), f"C{i + 3}")
            ratio = float((g["nfe_backward"] / g["nfe_forward"]).median())
            ax.scatter(g["nfe_forward"], g["nfe_backward"], marker="x", s=40, color=color,
                       label=f"{solver}, trained weights ({len(g)} batches; "
                       f"median NFE-B/NFE-F {ratio:.2f})")  # fmt: skip
            top = max(top, float(g["nfe_forward"].max()), float(g["nfe_backward"].max()))
    top *= 1.1
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="NFE-B = NFE-F")
    ax.plot([0, top], [0, top / 2], ls=":", c="black", lw=1, label="NFE-B = NFE-F / 2 (paper)")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="NFE forward", ylabel="NFE backward")
    ax.set_title("Fig. 3c: MNIST ODE-Net with the adjoint,\nNFE backward against forward",
                 fontsize="medium")  # fmt: skip
    if failures is not None and not failures.empty:  # a solver that could not run says why
        text = "\n".join(f"{r['solver']}: could not run ({_short_error(str(r['error']))})"
                         for _, r in failures.iterrows())  # fmt: skip
        ax.text(0.98, 0.03, text, transform=ax.transAxes, ha="right", va="bottom",
                fontsize="x-small", color="tab:red", wrap=True)  # fmt: skip
    # under the axes: inside, it would hide the counts of the training log's points
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return fig


def _short_error(error: str, width: int = 60) -> str:
    """An error message cut at its first clause ("MemoryError: Unable to allocate 1.17 TiB")."""
    cut = error.split(" for an array")[0]
    return cut if len(cut) <= width else cut[: width - 3] + "..."


def fig3d_nfe_over_training(log: pd.DataFrame) -> plt.Figure | None:
    """Figure 3d: NFE-F (and NFE-B) per training iteration, over every epoch of the log."""
    if log.empty or log["nfe_forward"].max() == 0:
        return None
    per_epoch = int(log.groupby("epoch").size().max())
    x = log["iteration"] / per_epoch
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    window = max(1, per_epoch // 20)
    for col, color, name in (("nfe_forward", "tab:blue", "NFE forward"),
                             ("nfe_backward", "tab:orange", "NFE backward")):  # fmt: skip
        ax.plot(x, log[col], ".", ms=2, alpha=0.25, color=color)
        ax.plot(x, log[col].rolling(window, min_periods=1).mean(), "-", color=color,
                label=f"{name} (mean over {window} iterations)")  # fmt: skip
    for lr, first in log.groupby("lr", sort=False)["iteration"].min().items():
        if first > 0:  # a decay of the learning rate
            ax.axvline(first / per_epoch, color="grey", lw=0.8, ls=":")
            ax.annotate(f"lr {lr:g}", (first / per_epoch, 0.98), xycoords=("data", "axes fraction"),
                        fontsize="x-small", rotation=90, va="top", ha="right")  # fmt: skip
    ax.set(xlabel=f"epoch ({per_epoch} iterations each)", ylabel="function evaluations",
           ylim=(0, None))  # fmt: skip
    ax.set_title(f"Fig. 3d: MNIST ODE-Net, NFE over training ({len(log):,} iterations, "
                 f"{log['epoch'].nunique()} epoch(s))", fontsize="medium")  # fmt: skip
    ax.legend(fontsize="small", loc="lower left")
    return fig


def write_fig3(
    table1_folder: str | Path, logs_folder: str | Path, out_dir: str | Path
) -> list[Path]:
    """Draw Figures 3a-3d from a Table 1 run's files into ``out_dir`` (missing inputs skip)."""
    table1_folder, logs_folder, out_dir = Path(table1_folder), Path(logs_folder), Path(out_dir)
    log_file = logs_folder / "odenet_train_log.csv"
    log = pd.read_csv(log_file) if log_file.exists() else None
    figures: dict[str, Callable[[], plt.Figure | None]] = {}
    errors = table1_folder / "fig3a_block_error.csv"
    if errors.exists():
        figures["fig3a_error_vs_nfe"] = lambda: fig3a_error_vs_nfe(pd.read_csv(errors))
    results = table1_folder / "results.csv"
    if results.exists():
        from odebench.running.results import read_results

        figures["fig3b_time_vs_nfe"] = lambda: fig3b_time_vs_nfe(read_results(results))
    points_file = table1_folder / "fig3c_nfe.csv"
    points = pd.read_csv(points_file) if points_file.exists() else None
    if points is not None and points.empty:
        points = None
    failures_file = table1_folder / "fig3c_failures.csv"
    failures = pd.read_csv(failures_file) if failures_file.exists() else None
    figures["fig3c_nfe_backward_vs_forward"] = lambda: fig3c_nfe_backward_vs_forward(
        log, points, failures
    )
    if log is not None:
        figures["fig3d_nfe_over_training"] = lambda: fig3d_nfe_over_training(log)
    written: list[Path] = []
    with plt.rc_context(_FIG3_RC):
        for name, draw in figures.items():
            fig = draw()
            if fig is not None:
                written += save(fig, out_dir, name)
    return written
