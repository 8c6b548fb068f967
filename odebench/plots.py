"""Seaborn figures from a results table (and a training log, when one exists).

One figure per file, PNG and SVG, into ``<results>/plots/``. Plots read only tables.
Files are deterministic (fixed SVG ids, no date stamp), so drawing twice leaves git clean.
Where the table holds more than one solver ``backend`` the comparisons get it as hue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    NullFormatter,
    NullLocator,
)

from odebench.analysis import (  # noqa: E402
    MEMORY_METERS,
    SEMINORM,
    backends,
    describe,
    determined,
    fmt_bytes,
    fmt_value,
    line_key,
    linear_fit,
    ok_rows,
    sort_rows,
    varying,
)
from odebench.results import read_results  # noqa: E402

PlotFn = Callable[[pd.DataFrame], "plt.Figure | None"]

#: rcParams of every figure: the theme, and SVG ids from a fixed salt (deterministic files).
RC: dict[str, object] = {"svg.hashsalt": "odebench", "svg.fonttype": "path"}
#: One look per gradient mode, so coincident lines stay visible (hollow markers on top).
GRADIENT_STYLE: dict[str, dict[str, object]] = {
    "backprop": {"ls": "-", "marker": "o", "ms": 6, "mfc": None},
    "adjoint": {"ls": "--", "marker": "s", "ms": 9, "mfc": "none"},
    "adjoint" + SEMINORM: {"ls": ":", "marker": "x", "ms": 7, "mfc": None},
}


def _style(gradient: str) -> dict[str, object]:
    return GRADIENT_STYLE.get(gradient, {"ls": "-.", "marker": "^", "ms": 6, "mfc": None})


def _figure(
    ncols: int = 1, *, sharey: bool = False, width: float = 8.0
) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(1, ncols, figsize=(width if ncols == 1 else 5.2 * ncols, 4.4),
                             layout="constrained", sharey=sharey, squeeze=False)  # fmt: skip
    return fig, axes[0]


def _bytes_label(v: float, _pos: object = None) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} B"


def _bytes_axis(ax: plt.Axes, *, log: bool) -> None:
    """Bytes in binary units; on a log axis, ticks at powers of 2."""
    if log:
        ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(FuncFormatter(_bytes_label))


def _base2_steps(ax: plt.Axes, values: pd.Series) -> None:
    """Log-2 x axis with a tick at each measured power of two, labelled as integers."""
    ax.set_xscale("log", base=2)
    ticks = sorted(float(v) for v in values.dropna().unique())
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))


#: The swept columns along a line of a tolerance or grid sweep.
SWEEP: tuple[str, ...] = ("rtol", "steps", "step_size")


def _variants(
    data: pd.DataFrame, sweep: tuple[str, ...], *, drop: tuple[str, ...] = ("gradient",)
) -> tuple[pd.DataFrame, list[str]]:
    """``data`` with a ``variant`` column naming each line, and the key it was built from:
    the identity columns that vary (:func:`odebench.analysis.line_key`), as in the report."""
    key = line_key(data, sweep, drop=drop)
    names = [describe(row, key) for _, row in data[key].iterrows()] if len(data) else []
    return data.assign(variant=names), key


def _one_mode(rows: pd.DataFrame, y: str, by: list[str]) -> pd.DataFrame:
    """The rows of one gradient mode where every mode reads the same ``y`` at each point of
    each line (the state of a solve does not depend on how its gradient is taken); all rows
    where the modes differ, so a difference is drawn, never hidden."""
    keep = []
    for _, part in rows.groupby("variant", sort=False):
        per_point = part.groupby(by, dropna=False)[y].nunique(dropna=False)
        if part["gradient"].nunique() > 1 and (per_point <= 1).all():
            part = part[part["gradient"] == part["gradient"].iloc[0]]
        keep.append(part)
    return pd.concat(keep) if keep else rows


def _palette(names: pd.Series) -> dict[Any, Any]:
    """One colour per name, the same in every panel of a figure (a panel drawing fewer
    lines must not shift the colours of the others)."""
    order = list(dict.fromkeys(names))
    return dict(zip(order, sns.color_palette(n_colors=max(len(order), 1)), strict=False))


def _lines(ax: plt.Axes, data: pd.DataFrame, x: str, y: str, hue: str, *,
           xerr: str | None = None, by: list[str] | None = None,
           palette: dict[Any, Any] | None = None) -> None:  # fmt: skip
    """One line per (hue, gradient), coloured by hue, styled by gradient mode; sorted by x.

    The points are the medians over the rows of each value of ``by`` (default ``x``): over
    the repeats of one case when ``by`` names the sweep.
    """
    palette = palette or _palette(data[hue])
    # markers shrink from one backend to the next: equal lines of two libraries stay visible
    libs = backends(data)
    grow = {b: 2.5 * (len(libs) - 1 - i) for i, b in enumerate(libs)} if len(libs) > 1 else {}
    for (h, gradient), g in data.groupby([hue, "gradient"], sort=False):
        extra = grow.get(str(g["backend"].iloc[0]), 0.0) if grow else 0.0
        cols = [c for c in (x, y, xerr) if c and c in g]
        g = g.groupby(by or [x], dropna=False)[cols].median().reset_index(drop=by is None)
        g = g.dropna(subset=[x, y]).sort_values(x, kind="stable")
        st = _style(str(gradient))
        several = data["gradient"].nunique() > 1 and hue != "gradient"
        label = f"{h} · {gradient}" if several else str(h)
        kwargs = {"color": palette[h], "ls": st["ls"], "marker": st["marker"],
                  "ms": float(st["ms"]) + extra, "mfc": st["mfc"] or palette[h],
                  "label": label, "lw": 1.6}  # fmt: skip
        if xerr is not None and xerr in g and g[xerr].notna().any():
            ax.errorbar(g[x], g[y], xerr=g[xerr].fillna(0) / 2, capsize=2, **kwargs)
        else:
            ax.plot(g[x], g[y], **kwargs)


def _legend(fig: plt.Figure, ax: plt.Axes, title: str | None = None) -> None:
    """One legend for the figure, outside the axes so it hides no data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize="small",
                   title=title, title_fontsize="small")  # fmt: skip


def _key_title(key: list[str]) -> str:
    """The legend's title: what its entries tell apart (line style: the gradient mode)."""
    return "lines: " + ", ".join(key) if key else "lines"


def _by(data: pd.DataFrame) -> list[str]:
    """The sweep columns of ``data`` that hold values: one point per value along a line."""
    return [c for c in SWEEP if c in data and data[c].notna().any()]


#: Short names of identity columns in tick labels.
TICK_NAMES: dict[str, str] = {"step_size": "h", "gradient": "", "method": ""}


# --- memory ---------------------------------------------------------------------------------


def memory_vs_steps(df: pd.DataFrame) -> plt.Figure | None:
    """Memory against solver steps: backprop O(L) vs adjoint O(1), one panel per meter."""
    data = ok_rows(df)
    data = data[data["steps"].notna() & (data["problem"] != "")]
    meters = [m for m in MEMORY_METERS if m in data and (data[m] > 0).any()]
    data = data[(data[meters] > 0).any(axis=1)] if meters else data.iloc[:0]
    if data.empty or data["steps"].nunique() < 2:
        return None
    data, key = _variants(data, ("steps",))
    fig, axes = _figure(len(meters), sharey=True)
    for ax, meter in zip(axes, meters, strict=True):
        _lines(ax, data[data[meter] > 0], "steps", meter, "variant",
               palette=_palette(data["variant"]))
        _base2_steps(ax, data["steps"])
        _bytes_axis(ax, log=True)
        ax.set(
            title=MEMORY_METERS[meter],
            xlabel=f"solver steps ({', '.join(sorted(set(data['method'])))})",
        )
    axes[0].set_ylabel("bytes")
    fig.suptitle("Memory against steps: backprop grows with every step, the adjoint does not")
    _legend(fig, axes[0], _key_title(key))
    return fig


#: The MNIST architectures and their own depth knob: (column, axis label, title).
DEPTH_KNOBS: dict[str, tuple[str, str, str]] = {
    "resnet": ("depth", "residual blocks", "ResNet: O(L)"),
    "rknet": ("steps", "rk4 steps", "RK-Net: O(L̃)"),
    "odenet": ("nfe_forward", "NFE forward (tolerance sweep)", "ODE-Net (adjoint): O(1)"),
}


def memory_vs_depth(df: pd.DataFrame) -> plt.Figure | None:
    """MNIST architectures: memory against each one's own depth knob, with the fitted slope."""
    data = ok_rows(df)
    data = data[data["model"].isin(list(DEPTH_KNOBS)) & data["saved_bytes"].notna()]
    sizes = {m: data[data["model"] == m][DEPTH_KNOBS[m][0]].nunique() for m in DEPTH_KNOBS}
    if not data.size or max(sizes.values()) < 2:
        return None
    meters = [m for m in ("saved_bytes", "peak_alloc_bytes") if data[m].notna().any()]
    top = float(data[meters].max().max())
    unit, scale = next(((u, k) for u, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
                        if top >= 2 * k), ("B", 1))  # fmt: skip
    fig, axes = _figure(len(DEPTH_KNOBS), sharey=True)
    colors = dict(zip(meters, sns.color_palette(n_colors=2), strict=False))
    for ax, (model, (knob, xlabel, title)) in zip(axes, DEPTH_KNOBS.items(), strict=True):
        rows = data[(data["model"] == model) & data[knob].notna()]
        ax.set(title=title, xlabel=xlabel)
        if rows.empty:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            continue
        for i, meter in enumerate(meters):
            g = rows.groupby(knob, as_index=False)[meter].median().dropna().sort_values(knob)
            if g.empty:
                continue
            ax.plot(g[knob], g[meter] / scale, "o-", color=colors[meter],
                    label=MEMORY_METERS[meter])  # fmt: skip
            per = {"depth": "block", "steps": "step", "nfe_forward": "NFE"}[knob]
            if len(g) >= 2:
                slope, _, _ = linear_fit(g[knob].to_numpy(float), g[meter].to_numpy(float))
                text = "constant" if g[meter].nunique() == 1 else f"{fmt_bytes(slope)} per {per}"
            else:
                text = "one size measured"
            ax.text(0.04, 0.96 - 0.08 * i, text, transform=ax.transAxes, va="top",
                    color=colors[meter], fontsize="small")  # fmt: skip
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    axes[0].set_ylim(0, top / scale * 1.08)
    axes[0].set_ylabel(f"{unit} per training step")
    batch = ", ".join(f"{b:g}" for b in sorted(data["batch"].dropna().unique()))
    fig.suptitle(f"MNIST models: memory against depth (batch {batch}; text: fitted slope)")
    _legend(fig, axes[0])
    return fig


# --- NFE, error, work-precision -------------------------------------------------------------


def nfe_forward_backward(df: pd.DataFrame) -> plt.Figure | None:
    """Function evaluations of the adjoint: backward against forward, per tolerance."""
    data = ok_rows(df)
    # backprop's NFE-B is 0 by construction: the adjoint cases are the interesting ones
    data = data[data["nfe_forward"].notna() & data["gradient"].str.startswith("adjoint")]
    if data.empty:
        return None
    data, key = _variants(data, SWEEP)
    fig, axes = _figure()
    ax = axes[0]
    _lines(ax, data, "nfe_forward", "nfe_backward", "variant", by=_by(data))
    top = float(max(data["nfe_forward"].max(), data["nfe_backward"].max())) * 1.05
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="NFE-B = NFE-F")
    ax.plot([0, top], [0, top / 2], ls=":", c="grey", lw=1, label="NFE-B = NFE-F / 2 (paper)")
    ax.set(xlabel="NFE forward (calls of f)", ylabel="NFE backward (calls of f)")
    fig.suptitle("Adjoint: backward against forward evaluations (tighter tolerance: right)")
    _legend(fig, ax, _key_title(key))
    return fig


def error_vs_tolerance(df: pd.DataFrame) -> plt.Figure | None:
    """State and gradient error against tolerance, per solver and gradient mode."""
    data = ok_rows(df)
    data = data[data["rtol"].notna() & data["state_error"].notna()]
    if data.empty:
        return None
    data, key = _variants(data, ("rtol",))
    tied = bool((data["atol"] == data["rtol"]).all())
    panels = [("state_error", "state y(t1)")]
    if data["grad_error"].notna().any():
        panels.append(("grad_error", "gradient of the loss"))
    fig, axes = _figure(len(panels), sharey=True)
    for ax, (col, what) in zip(axes, panels, strict=True):
        rows = data[data[col] > 0]
        if col == "state_error":  # one line where every gradient mode reads the same state
            rows = _one_mode(rows, col, ["rtol"])
        _lines(ax, rows, "rtol", col, "variant", palette=_palette(data["variant"]))
        ax.set(xscale="log", yscale="log", xlabel="tolerance (rtol = atol)" if tied else "rtol",
               title=f"error of the {what}")  # fmt: skip
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide in a decade
        ax.invert_xaxis()
    axes[0].set_ylabel("relative L2 error")
    fig.suptitle("Error against tolerance (one state line where the gradient modes agree)")
    _legend(fig, axes[-1], _key_title(key))
    return fig


def _work_precision(df: pd.DataFrame, *, time: bool) -> plt.Figure | None:
    data = ok_rows(df)
    data = data[data["state_error"].notna() & (data["state_error"] > 0)]
    if time:
        data = data.assign(
            x_state=data["time_forward_s"],
            x_state_iqr=data["time_forward_iqr_s"],
            x_grad=data["time_forward_s"] + data["time_backward_s"],
            x_grad_iqr=data["time_forward_iqr_s"] + data["time_backward_iqr_s"],
        )
    else:
        data = data.assign(x_state=data["nfe_forward"],
                           x_grad=data["nfe_forward"] + data["nfe_backward"].fillna(0))  # fmt: skip
    data = data[data["x_state"].notna()]
    if data.empty:
        return None
    what = "seconds" if time else "calls of f"
    panels = [("x_state", "state_error", f"forward ({what})", "state y(t1)")]
    if data["grad_error"].notna().any():
        panels.append(("x_grad", "grad_error", f"forward + backward ({what})", "gradient"))
    if len(backends(data)) > 1:
        return _work_precision_by_solver(data, panels, time=time)
    data, key = _variants(data, SWEEP)
    by = _by(data)
    fig, axes = _figure(len(panels), sharey=True)
    for ax, (x, y, xlabel, title) in zip(axes, panels, strict=True):
        rows = data[data[y].notna() & (data[y] > 0) & data[x].notna()]
        if y == "state_error":
            rows = _one_mode(rows, y, by)
        _lines(ax, rows, x, y, "variant", xerr=f"{x}_iqr" if time else None, by=by,
               palette=_palette(data["variant"]))
        ax.set(xscale="log", yscale="log", xlabel=xlabel, title=f"error of the {title}")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide in a decade
    axes[0].set_ylabel("relative L2 error")
    fig.suptitle("Work-precision: error against " + (
        "time (bars: IQR of the timed passes, summed for forward + backward)" if time
        else "function evaluations"))  # fmt: skip
    _legend(fig, axes[-1], _key_title(key))
    return fig


def _work_precision_by_solver(
    data: pd.DataFrame, panels: list[tuple[str, str, str, str]], *, time: bool
) -> plt.Figure:
    """Several backends: one row of panels per problem and method, the libraries as hue.

    Overlaid in one panel, every (problem, method, library, mode) line needs a legend entry
    of its own and the comparison drowns; side by side per solver it is read at a glance.
    """
    data = data.assign(solver=data["subject"] + " / " + data["method"])
    key = line_key(data, SWEEP, always=(), drop=("gradient", "subject", "method"))
    data = data.assign(library=[describe(r, key, always=("backend",))
                                for _, r in data[key].iterrows()])  # fmt: skip
    by = _by(data)
    solvers = list(dict.fromkeys(data.sort_values(["subject", "method"])["solver"]))
    fig, axes = plt.subplots(len(solvers), len(panels), figsize=(4.6 * len(panels) + 1.8,
                             2.5 * len(solvers)), layout="constrained", squeeze=False)  # fmt: skip
    for row, solver in zip(axes, solvers, strict=True):
        sub = data[data["solver"] == solver].assign(variant=lambda d: d["library"])
        for ax, (x, y, _, title) in zip(row, panels, strict=True):
            rows = sub[sub[y].notna() & (sub[y] > 0) & sub[x].notna()]
            if y == "state_error":
                rows = _one_mode(rows, y, by)
            _lines(ax, rows, x, y, "library", xerr=f"{x}_iqr" if time else None, by=by,
                   palette=_palette(data["library"]))
            ax.set(xscale="log", yscale="log", title=f"{solver}: {title}")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide in a decade
            ax.title.set_fontsize("small")
        row[0].set_ylabel("relative L2 error")
    for ax, (_, _, xlabel, _) in zip(axes[-1], panels, strict=True):
        ax.set_xlabel(xlabel)
    fig.suptitle("Work-precision per solver, the libraries side by side: error against "
                 + ("time" if time else "function evaluations"))  # fmt: skip
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="outside right center", frameon=False,
               fontsize="small")  # fmt: skip
    return fig


def work_precision_nfe(df: pd.DataFrame) -> plt.Figure | None:
    """Work-precision: error against NFE (forward + backward for the gradient)."""
    return _work_precision(df, time=False)


def work_precision_time(df: pd.DataFrame) -> plt.Figure | None:
    """Work-precision: error against seconds, with the IQR of the timed passes."""
    return _work_precision(df, time=True)


# --- time -----------------------------------------------------------------------------------


def time_per_model(df: pd.DataFrame) -> plt.Figure | None:
    """Seconds per forward and backward pass of each MNIST model (bars: median, whiskers: IQR)."""
    data = ok_rows(df)
    data = data[(data["model"] != "") & data["time_forward_s"].notna()]
    if data.empty:
        return None
    times = ["time_forward_s", "time_forward_iqr_s", "time_backward_s", "time_backward_iqr_s"]
    # one bar per case (the median over its repeats), named by what varies within its model
    med = data.groupby("case_id", sort=False)[times].median()
    first = data.drop_duplicates("case_id").set_index("case_id")
    med = med.join(first.drop(columns=times))
    order = {m: i for i, m in enumerate(("mlp", "resnet", "rknet", "odenet"))}
    med = sort_rows(med.reset_index()).sort_values(
        "subject", key=lambda s: s.map(lambda m: order.get(m, len(order))), kind="stable"
    )
    labels = []
    for _, row in med.iterrows():
        own = data[data["subject"] == row["subject"]]
        shown = [c for c in varying(own) if c not in ("subject", "backend")
                 and not (c == "atol" and determined(own, "atol", ["rtol"]))]  # fmt: skip
        parts = [f"{TICK_NAMES.get(c, c)} {fmt_value(row[c])}".strip() for c in shown
                 if fmt_value(row[c])]  # fmt: skip
        labels.append("\n".join([str(row["subject"]), *parts]))
    med = med.set_index(pd.Index(labels))
    fig, axes = _figure(width=max(8.0, 0.9 * len(med) + 2.5))
    ax = axes[0]
    x = np.arange(len(med))
    for i, (col, label) in enumerate(
        (("time_forward_s", "forward"), ("time_backward_s", "backward"))
    ):
        iqr = med[col.replace("_s", "_iqr_s")].fillna(0).to_numpy()
        ax.bar(x + (i - 0.5) * 0.38, med[col], width=0.38, label=label,
               yerr=iqr / 2, capsize=4, error_kw={"lw": 1})  # fmt: skip
    ax.set_xticks(x, med.index)
    batch = ", ".join(f"{b:g}" for b in sorted(data["batch"].dropna().unique()))
    ax.set(xlabel="case (model, and what varies among its cases)", ylabel="seconds per pass",
           title=f"Time per training step, one bar per case (batch {batch}; whiskers: IQR)")
    _legend(fig, ax)
    return fig


def time_vs_batch(df: pd.DataFrame) -> plt.Figure | None:
    """Forward + backward seconds against batch size, per solver setting (backend as hue)."""
    data = ok_rows(df)
    data = data[data["batch"].notna() & data["time_forward_s"].notna()]
    if data.empty or data.groupby("subject")["batch"].nunique().max() < 2:
        return None
    data = data.assign(
        time_total_s=data["time_forward_s"] + data["time_backward_s"].fillna(0),
        time_total_iqr_s=data["time_forward_iqr_s"] + data["time_backward_iqr_s"].fillna(0),
    )
    data, key = _variants(data, ("batch",))
    fig, axes = _figure()
    ax = axes[0]
    _lines(ax, data, "batch", "time_total_s", "variant")
    _base2_steps(ax, data["batch"])
    ax.set(yscale="log", xlabel="batch size", ylabel="forward + backward seconds",
           title="Time against batch size")  # fmt: skip
    _legend(fig, ax, _key_title(key))
    return fig


PLOTS: dict[str, PlotFn] = {
    "memory_vs_steps": memory_vs_steps,
    "memory_vs_depth": memory_vs_depth,
    "nfe_forward_vs_backward": nfe_forward_backward,
    "error_vs_tolerance": error_vs_tolerance,
    "work_precision_nfe": work_precision_nfe,
    "work_precision_time": work_precision_time,
    "time_per_model": time_per_model,
    "time_vs_batch": time_vs_batch,
}


def nfe_over_training(log: pd.DataFrame) -> plt.Figure | None:
    """NFE forward and backward per training iteration, from a training log."""
    need = {"iteration", "nfe_forward", "nfe_backward"}
    if not need <= set(log.columns):
        return None
    log = log.dropna(subset=["nfe_forward", "nfe_backward"], how="all")
    if log.empty:
        return None
    models = list(dict.fromkeys(log["model"])) if "model" in log else [""]
    fig, axes = _figure(2, sharey=True)
    palette = dict(zip(models, sns.color_palette(n_colors=len(models)), strict=False))
    passes = (("nfe_forward", "forward pass (NFE-F)"), ("nfe_backward", "backward pass (NFE-B)"))
    for ax, (col, title) in zip(axes, passes, strict=True):
        for model in models:
            rows = log if model == "" else log[log["model"] == model]
            ax.plot(rows["iteration"], rows[col], drawstyle="steps-post", lw=1.6,
                    color=palette[model], label=model or None)  # fmt: skip
        ax.set(title=title, xlabel="training iteration")
    axes[0].set_ylabel("calls of f per iteration")
    fig.suptitle("NFE over training" + (f": {models[0]}" if len(models) == 1 and models[0] else ""))
    if len(models) > 1:
        _legend(fig, axes[0], title="model")
    return fig


# --- gradient modes: the frontier (odebench.frontier) --------------------------------------


#: the recomputing modes and torchode's joint adjoint, apart from backprop's and the adjoint's
FRONTIER_STYLE: dict[str, dict[str, object]] = {
    "checkpoint": {"ls": "-.", "marker": "^", "ms": 7, "mfc": None},
    "aca": {"ls": ":", "marker": "D", "ms": 6, "mfc": None},
    "adjoint_joint": {"ls": "--", "marker": "v", "ms": 7, "mfc": None},
}


def gradient_frontier(df: pd.DataFrame) -> dict[str, plt.Figure]:
    """Per problem, ``gradient_frontier_<problem>``: gradient error against memory kept for
    backward, peak allocated, and forward+backward time; one line per mode, the tolerance
    along it (annotated); one row per loss shape. Drawn where modes beyond backprop and the
    adjoint ran; problems without a gradient error (a model case) or with one mode get none."""
    from matplotlib.ticker import LogLocator

    from odebench.frontier import MODE_ORDER, beyond_the_papers_modes, frontier_rows

    rows = frontier_rows(df)
    figures: dict[str, plt.Figure] = {}
    if not beyond_the_papers_modes(rows):
        return figures  # the report's headline rule: only where more modes ran
    rows = rows[rows["grad_error"] > 0]
    axes_x = (("memory_bytes", "kept for backward"), ("peak_alloc_bytes", "peak allocated"),
              ("time_s", "forward + backward time"))  # fmt: skip
    for subject, data in rows.groupby("subject", sort=True):
        if data["mode"].nunique() < 2:
            continue
        losses = sorted(dict.fromkeys(data["loss"]), key=lambda v: "y(t1)" not in v)
        fig, grid_axes = plt.subplots(len(losses), 3, figsize=(15, 4.2 * len(losses)),
                                      layout="constrained", squeeze=False)  # fmt: skip
        palette = dict(zip(MODE_ORDER, sns.color_palette(n_colors=len(MODE_ORDER)), strict=True))
        labelled: dict[str, Any] = {}
        for r, loss in enumerate(losses):
            part = data[data["loss"] == loss]
            for c, (x, label) in enumerate(axes_x):
                ax = grid_axes[r, c]
                for mode, g in part.groupby("mode", sort=False):
                    g = g[g[x].notna()].sort_values("rtol", ascending=False)
                    if g.empty:
                        continue
                    st = FRONTIER_STYLE.get(str(mode).split(" ")[-1]) or _style(str(mode))
                    color = palette.get(str(mode), "black")
                    (line,) = ax.plot(g[x], g["grad_error"], color=color, ls=st["ls"],
                                      marker=st["marker"], ms=float(st["ms"]),
                                      mfc=st["mfc"] or color, lw=1.6, label=mode)  # fmt: skip
                    labelled.setdefault(str(mode), line)
                    for _, p in g.iterrows():
                        ax.annotate(f"{p['rtol']:g}", (p[x], p["grad_error"]), fontsize=7,
                                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
                ax.set_xscale("log")
                ax.set_yscale("log")
                if x == "time_s":
                    ax.set_xlabel("forward + backward time (s)")
                else:
                    ax.set_xscale("log", base=2)
                    ax.xaxis.set_major_locator(LogLocator(base=4))
                    ax.xaxis.set_major_formatter(FuncFormatter(_bytes_label))
                    ax.set_xlabel(label)
                ax.set_ylabel("gradient error (rel. L2)")
                ax.set_title(f"{subject}, {loss}", fontsize="medium")
        fig.suptitle(f"{subject}: gradient modes, error against memory and time "
                     "(labels: rtol; down-left is better)")  # fmt: skip
        order = [m for m in MODE_ORDER if m in labelled]
        order += [m for m in labelled if m not in MODE_ORDER]
        fig.legend([labelled[m] for m in order], order, loc="outside right center", frameon=False,
                   fontsize="small", title="mode", title_fontsize="small")  # fmt: skip
        figures[f"gradient_frontier_{subject}"] = fig
    return figures


# --- files ----------------------------------------------------------------------------------


@contextmanager
def _theme() -> Iterator[None]:
    """The seaborn theme and deterministic-SVG settings, without touching global rcParams."""
    with plt.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        plt.rcParams.update(RC)
        yield


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG with no date stamp (the same table gives the same bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=120, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


def draw_all(df: pd.DataFrame, out_dir: str | Path) -> dict[str, list[Path]]:
    """Every figure of :data:`PLOTS` that ``df`` supports, written into ``out_dir``."""
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    with _theme():
        for name, plot in PLOTS.items():
            fig = plot(df)
            if fig is not None:
                written[name] = save(fig, out_dir, name)
        for name, fig in gradient_frontier(df).items():
            written[name] = save(fig, out_dir, name)
    return written


def write_plots(
    results: str | Path | None,
    out: str | Path | None = None,
    *,
    training_log: str | Path | None = None,
) -> list[Path]:
    """Draw every figure the results (and the training log) support; returns the files.

    ``results=None`` draws only the training-log figure (``out`` is then required).
    """
    written: list[Path] = []
    if results is not None:
        results = Path(results)
        folder = results if results.is_dir() else results.parent
        out_dir = Path(out) if out else folder / "plots"
        df = read_results(results)
        for paths in draw_all(df, out_dir).values():
            written += paths
    elif out is None or training_log is None:
        raise ValueError("without results, pass a training log and an output folder.")
    else:
        out_dir = Path(out)
    if training_log is not None:
        log_path = Path(training_log)
        if not log_path.exists():
            raise FileNotFoundError(f"training log {str(log_path)!r} not found.")
        with _theme():
            fig = nfe_over_training(pd.read_csv(log_path))
            if fig is not None:
                written += save(fig, out_dir, "nfe_over_training")
    return written


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
    for _, r in rows.iterrows():
        ax.annotate(f"tol {r['rtol']:g}", (r["nfe_forward"], r["time_forward_s"]),
                    textcoords="offset points", xytext=(5, -10), fontsize="small")  # fmt: skip
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
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
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
    ax.set_title("Fig. 3c: MNIST ODE-Net with the adjoint, NFE backward against forward",
                 fontsize="medium")  # fmt: skip
    if failures is not None and not failures.empty:  # a solver that could not run says why
        text = "\n".join(f"{r['solver']}: could not run ({_short_error(str(r['error']))})"
                         for _, r in failures.iterrows())  # fmt: skip
        ax.text(0.98, 0.03, text, transform=ax.transAxes, ha="right", va="bottom",
                fontsize="x-small", color="tab:red", wrap=True)  # fmt: skip
    ax.legend(fontsize="x-small", loc="upper left")
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
        from odebench.results import read_results

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
