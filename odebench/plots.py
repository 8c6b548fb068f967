"""Seaborn figures from a results table (and a training log, when one exists).

One figure per file, PNG and SVG, into ``<results>/plots/``. Plots read only tables.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from odebench.report import MEMORY_METERS, ok_rows  # noqa: E402
from odebench.results import read_results  # noqa: E402

PlotFn = Callable[[pd.DataFrame], "plt.Figure | None"]


def _figure() -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(8.0, 4.4), layout="constrained")
    return fig, ax


def memory_vs_steps(df: pd.DataFrame) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[data["steps"].notna() & data["problem"].notna() & (data["problem"] != "")]
    long = data.melt(
        id_vars=["steps", "gradient", "subject"], value_vars=list(MEMORY_METERS),
        var_name="meter", value_name="bytes",
    ).dropna(subset=["bytes"])  # fmt: skip
    long = long[long["bytes"] > 0]
    if long.empty:
        return None
    long["meter"] = long["meter"].map(MEMORY_METERS)
    fig, ax = _figure()
    sns.lineplot(long, x="steps", y="bytes", hue="gradient", style="meter", markers=True,
                 ax=ax, errorbar=None)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="solver steps (rk4)", ylabel="memory (bytes)",
           title="Memory against steps: backprop O(L) vs adjoint O(1)")  # fmt: skip
    return fig


def memory_vs_depth(df: pd.DataFrame) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[(data["subject"].isin(["resnet", "rknet"])) & data["saved_bytes"].notna()]
    data = data.assign(size=data["depth"].fillna(data["steps"]))
    data = data[data["size"].notna()]
    if data["size"].nunique() < 2:
        return None
    fig, ax = _figure()
    sns.lineplot(data, x="size", y="saved_bytes", hue="subject", marker="o", ax=ax,
                 errorbar=None)  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="ResNet blocks / RK-Net steps",
        ylabel="saved activations (bytes)",
        title="MNIST models: memory against depth",
    )
    return fig


def nfe_forward_backward(df: pd.DataFrame) -> plt.Figure | None:
    data = ok_rows(df)
    # backprop's NFE-B is 0 by construction: the adjoint cases are the interesting ones
    data = data[data["nfe_forward"].notna() & data["gradient"].str.startswith("adjoint")]
    if data.empty:
        return None
    fig, ax = _figure()
    sns.scatterplot(data, x="nfe_forward", y="nfe_backward", hue="gradient", style="subject",
                    s=60, ax=ax)  # fmt: skip
    top = float(max(data["nfe_forward"].max(), data["nfe_backward"].max()))
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="NFE-B = NFE-F")
    ax.plot([0, top], [0, top / 2], ls=":", c="grey", lw=1, label="NFE-B = NFE-F / 2")
    ax.set(
        xlabel="NFE forward (calls of f)",
        ylabel="NFE backward (calls of f)",
        title="Function evaluations: forward against backward",
    )
    ax.legend(fontsize="small")
    return fig


def error_vs_tolerance(df: pd.DataFrame) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[data["rtol"].notna() & data["state_error"].notna()]
    if data.empty:
        return None
    data = data.assign(variant=data["subject"] + " / " + data["method"])
    fig, ax = _figure()
    sns.lineplot(data, x="rtol", y="state_error", hue="variant", style="gradient",
                 markers=True, ax=ax, errorbar=None)  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="tolerance (rtol = atol)",
        ylabel="relative L2 error of y(t1)",
        title="Error against tolerance",
    )
    ax.invert_xaxis()
    return fig


def _work_precision(df: pd.DataFrame, x: str, xlabel: str, title: str) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[data["state_error"].notna() & (data["gradient"] == "backprop")]
    data = data.assign(time_total_s=data["time_forward_s"] + data["time_backward_s"])
    data = data[data[x].notna() & (data["state_error"] > 0)]
    if data.empty:
        return None
    data = data.assign(solver=data["method"])
    fig, ax = _figure()
    sns.lineplot(data, x=x, y="state_error", hue="solver", style="subject", markers=True,
                 ax=ax, errorbar=None, sort=True)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="relative L2 error of y(t1)",
           title=title)  # fmt: skip
    return fig


def work_precision_nfe(df: pd.DataFrame) -> plt.Figure | None:
    return _work_precision(df, "nfe_forward", "NFE forward (calls of f)",
                           "Work-precision: error against NFE")  # fmt: skip


def work_precision_time(df: pd.DataFrame) -> plt.Figure | None:
    return _work_precision(df, "time_total_s", "forward + backward time (s)",
                           "Work-precision: error against time")  # fmt: skip


def time_per_model(df: pd.DataFrame) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[data["model"].notna() & (data["model"] != "") & data["time_forward_s"].notna()]
    if data.empty:
        return None
    long = data.melt(id_vars=["subject"], value_vars=["time_forward_s", "time_backward_s"],
                     var_name="pass", value_name="seconds")  # fmt: skip
    long["pass"] = long["pass"].map({"time_forward_s": "forward", "time_backward_s": "backward"})
    fig, ax = _figure()
    sns.barplot(long, x="subject", y="seconds", hue="pass", ax=ax, errorbar=None)
    batch = data["batch"].dropna().unique()
    ax.set(
        xlabel="model",
        ylabel="seconds per pass",
        title=f"Time per training step (batch {', '.join(f'{b:g}' for b in batch)})",
    )
    return fig


PLOTS: dict[str, PlotFn] = {
    "memory_vs_steps": memory_vs_steps,
    "memory_vs_depth": memory_vs_depth,
    "nfe_forward_vs_backward": nfe_forward_backward,
    "error_vs_tolerance": error_vs_tolerance,
    "work_precision_nfe": work_precision_nfe,
    "work_precision_time": work_precision_time,
    "time_per_model": time_per_model,
}


def nfe_over_training(log: pd.DataFrame) -> plt.Figure | None:
    """NFE forward and backward per training iteration, from a training log."""
    need = {"iteration", "nfe_forward", "nfe_backward"}
    if not need <= set(log.columns):
        return None
    long = log.melt(id_vars=[c for c in ("iteration", "model") if c in log.columns],
                    value_vars=["nfe_forward", "nfe_backward"], var_name="pass",
                    value_name="nfe")  # fmt: skip
    long = long.dropna(subset=["nfe"])
    if long.empty:
        return None
    fig, ax = _figure()
    sns.lineplot(long, x="iteration", y="nfe", hue="pass",
                 style="model" if "model" in long else None, ax=ax, errorbar=None)  # fmt: skip
    ax.set(
        xlabel="training iteration",
        ylabel="NFE per iteration (calls of f)",
        title="NFE over training",
    )
    return fig


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG, its legend outside the axes so it hides no data."""
    for ax in fig.axes:
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False,
                            fontsize="small", title_fontsize="small")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths


def write_plots(
    results: str | Path | None,
    out: str | Path | None = None,
    *,
    training_log: str | Path | None = None,
) -> list[Path]:
    """Draw every figure the results (and the training log) support; returns the files.

    ``results=None`` draws only the training-log figure (``out`` is then required).
    """
    sns.set_theme(style="whitegrid", context="notebook")
    written: list[Path] = []
    if results is not None:
        results = Path(results)
        folder = results if results.is_dir() else results.parent
        out_dir = Path(out) if out else folder / "plots"
        df = read_results(results)
        for name, plot in PLOTS.items():
            fig = plot(df)
            if fig is not None:
                written += save(fig, out_dir, name)
    elif out is None or training_log is None:
        raise ValueError("without results, pass a training log and an output folder.")
    else:
        out_dir = Path(out)
    if training_log is not None:
        log_path = Path(training_log)
        if not log_path.exists():
            raise FileNotFoundError(f"training log {str(log_path)!r} not found.")
        fig = nfe_over_training(pd.read_csv(log_path))
        if fig is not None:
            written += save(fig, out_dir, "nfe_over_training")
    return written
