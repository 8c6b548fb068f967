"""A suite's figures from its results table: memory, NFE, error, work-precision, time; and
NFE over training from a training log. :data:`PLOTS` names those drawn for every report."""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from odebench.reading.analysis import (  # noqa: E402
    MEMORY_METERS,
    describe,
    determined,
    fmt_bytes,
    fmt_seconds,
    fmt_value,
    line_key,
    linear_fit,
    ok_rows,
    sort_rows,
    unstable_rows,
    varying,
)
from odebench.reading.plots.encode import (
    Encoding,
    caption,
    encode,
    facet_title,
    grid,
    legends,
    ring_unstable,
    time_note,
)
from odebench.reading.plots.style import (
    GRADIENT_STYLE,
    SWEEP,
    TICK_NAMES,
    PlotFn,
    add_legend,
    base2_ticks,
    bytes_axis,
    draw_lines,
    line_columns,
    mode_style,
    new_figure,
    one_mode,
)

# --- memory ---------------------------------------------------------------------------------


def memory_vs_steps(df: pd.DataFrame) -> plt.Figure | None:
    """Memory against solver steps: backprop O(L) vs adjoint O(1), one panel per meter."""
    data = ok_rows(df)
    data = data[data["steps"].notna() & (data["problem"] != "")]
    meters = [m for m in MEMORY_METERS if m in data and (data[m] > 0).any()]
    data = data[(data[meters] > 0).any(axis=1)] if meters else data.iloc[:0]
    if data.empty or data["steps"].nunique() < 2:
        return None
    enc = encode(data, ("steps",))
    fig, axes = grid(len(enc.facets), len(meters))
    method = ", ".join(sorted(set(data["method"])))
    for facet, row in zip(enc.facets, axes, strict=True):
        sub = enc.rows(facet)
        for ax, meter in zip(row, meters, strict=True):
            draw_lines(ax, sub[sub[meter] > 0], "steps", meter, "variant", palette=enc.palette)
            base2_ticks(ax, sub["steps"])
            bytes_axis(ax, log=True)
            ax.set_xlabel(f"solver steps ({method})")
            ax.set_title(facet_title(enc, facet, MEMORY_METERS[meter]), fontsize="small")
        row[0].set_ylabel("bytes")
    legends(fig, enc)
    caption(fig, "Memory against steps: backprop grows with every step, the adjoint does not",
            enc)  # fmt: skip
    return fig


#: The MNIST architectures and their own depth knob: (column, axis label, title, per what).
DEPTH_KNOBS: dict[str, tuple[str, str, str, str]] = {
    "resnet": ("depth", "residual blocks", "ResNet", "block"),
    "rknet": ("steps", "rk4 steps", "RK-Net", "step"),
    "odenet": ("nfe_forward", "NFE forward (tolerance sweep)", "ODE-Net", "NFE"),
}


def mode_colours(modes: list[str]) -> dict[str, Any]:
    """One colour per gradient mode, in :data:`GRADIENT_STYLE`'s order (stable across figures)."""
    order = list(GRADIENT_STYLE) + [m for m in modes if m not in GRADIENT_STYLE]
    palette = sns.color_palette(n_colors=len(order))
    return {m: palette[order.index(m)] for m in modes}


def memory_vs_depth(df: pd.DataFrame) -> plt.Figure | None:
    """MNIST architectures: memory against each one's own depth knob, one line per gradient
    mode (and any other identity that varies) with its fitted slope in the legend."""
    data = ok_rows(df)
    data = data[data["model"].isin(list(DEPTH_KNOBS)) & data["saved_bytes"].notna()]
    models = [m for m in DEPTH_KNOBS if data[data["model"] == m][DEPTH_KNOBS[m][0]].nunique() >= 2]
    if not models:
        return None
    data = data[data["model"].isin(models)]
    meters = [m for m in ("saved_bytes", "peak_alloc_bytes") if data[m].notna().any()]
    top = float(data[meters].max().max())
    unit, scale = next(((u, k) for u, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
                        if top >= 2 * k), ("B", 1))  # fmt: skip
    fig, axes = plt.subplots(len(meters), len(models), squeeze=False, layout="constrained",
                             figsize=(max(8.0, 5.0 * len(models) + 0.6),
                                      3.6 * len(meters) + 0.9))  # fmt: skip
    colours = mode_colours(list(dict.fromkeys(data["gradient"].replace("", "backprop"))))
    for c, model in enumerate(models):
        knob, xlabel, title, per = DEPTH_KNOBS[model]
        rows = data[(data["model"] == model) & data[knob].notna()]
        sweep = ("depth", "steps", "rtol", "atol")
        key = [k for k in line_key(rows, sweep) if k not in ("subject", "method")]
        for r, meter in enumerate(meters):
            ax = axes[r][c]
            for _, part in rows.groupby(key or ["subject"], sort=False, dropna=False):
                ident = part.iloc[0]
                gradient = str(ident["gradient"]) or "backprop"
                name = (describe(ident, key, always=("gradient",)) if key else "") or gradient
                g = part.groupby(knob, as_index=False)[meter].median().dropna().sort_values(knob)
                if g.empty:
                    continue
                if len(g) >= 2 and g[meter].nunique() > 1:
                    slope, _, _ = linear_fit(g[knob].to_numpy(float), g[meter].to_numpy(float))
                    text = f"{fmt_bytes(slope)} per {per}"
                else:
                    text = "flat" if len(g) >= 2 else "one size"
                st = mode_style(gradient)
                ax.plot(g[knob], g[meter] / scale, color=colours.get(gradient, "black"),
                        ls=st["ls"], marker=st["marker"], ms=float(st["ms"]),
                        mfc=st["mfc"] or colours.get(gradient, "black"), lw=1.6,
                        label=f"{name}: {text}")  # fmt: skip
            ax.set_title(f"{title}: {MEMORY_METERS[meter]}", fontsize="small")
            ax.set(xlabel=xlabel, ylim=(0, top / scale * 1.12))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.legend(fontsize="x-small", loc="upper left", title="slope (least squares)",
                      title_fontsize="x-small", frameon=True)  # fmt: skip
        axes[0][c].set_ylabel(f"{unit} per training step")
        if len(meters) > 1:
            axes[1][c].set_ylabel(f"{unit} per training step")
    batch = ", ".join(f"{b:g}" for b in sorted(data["batch"].dropna().unique()))
    fig.suptitle(f"MNIST models: memory against depth, one line per gradient mode (batch {batch})",
                 fontsize="medium")  # fmt: skip
    return fig


# --- NFE, error, work-precision -------------------------------------------------------------


def _facet_sweep(enc: Encoding, panels: list[tuple[str, str, str, str]], *, by: list[str],
                 xerr: bool = False) -> tuple[plt.Figure, list[list[plt.Axes]]]:  # fmt: skip
    """One row of ``panels`` (x, y, x label, what) per facet of ``enc``, a line per colour
    and mode; a state panel keeps one mode where every mode reads the same state."""
    fig, axes = grid(len(enc.facets), len(panels))
    for facet, row in zip(enc.facets, axes, strict=True):
        sub = enc.rows(facet)
        for ax, (x, y, xlabel, what) in zip(row, panels, strict=True):
            rows = sub[sub[y].notna() & (sub[y] > 0) & sub[x].notna()]
            if y == "state_error":
                rows = one_mode(rows, y, by)
            draw_lines(ax, rows, x, y, "variant", xerr=f"{x}_iqr" if xerr else None, by=by,
                       palette=enc.palette)  # fmt: skip
            if xerr:  # a time axis: ring the unstable timings among the points drawn
                ring_unstable(ax, rows, x, y)
            ax.set(xscale="log", yscale="log", xlabel=xlabel)
            ax.set_title(facet_title(enc, facet, what), fontsize="small")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide in a decade
        row[0].set_ylabel("relative L2 error")
    return fig, axes


def nfe_forward_backward(df: pd.DataFrame) -> plt.Figure | None:
    """Function evaluations of the adjoint: backward against forward, per tolerance."""
    data = ok_rows(df)
    # backprop's NFE-B is 0 by construction: the adjoint cases are the interesting ones
    data = data[data["nfe_forward"].notna() & data["gradient"].str.startswith("adjoint")]
    data = data[data["nfe_backward"].notna()]
    if data.empty:
        return None
    enc = encode(data, SWEEP)
    by = line_columns(enc.data)
    fig, axes = grid(len(enc.facets), 1)
    for facet, (ax,) in zip(enc.facets, axes, strict=True):
        rows = enc.rows(facet)
        draw_lines(ax, rows, "nfe_forward", "nfe_backward", "variant", by=by,
                   palette=enc.palette)  # fmt: skip
        top = float(max(rows["nfe_forward"].max(), rows["nfe_backward"].max())) * 1.05
        ax.plot([0, top], [0, top], ls="--", c="grey", lw=1)
        ax.plot([0, top], [0, top / 2], ls=":", c="black", lw=1)
        ax.set(xlim=(0, top), ylim=(0, top), xlabel="NFE forward", ylabel="NFE backward")
        ax.set_title(facet_title(enc, facet, "calls of f"), fontsize="small")
    refs = [Line2D([], [], ls="--", c="grey", lw=1, label="NFE-B = NFE-F"),
            Line2D([], [], ls=":", c="black", lw=1, label="NFE-B = NFE-F / 2 (paper)")]
    legends(fig, enc, extra=refs)
    caption(fig, "Adjoint: backward against forward evaluations, one point per tolerance "
            "(tighter: right)", enc)  # fmt: skip
    return fig


def error_vs_tolerance(df: pd.DataFrame) -> plt.Figure | None:
    """State and gradient error against tolerance, per solver and gradient mode."""
    data = ok_rows(df)
    data = data[data["rtol"].notna() & data["state_error"].notna()]
    if data.empty:
        return None
    enc = encode(data, ("rtol",))
    tied = bool((data["atol"] == data["rtol"]).all())
    xlabel = "tolerance (rtol = atol)" if tied else "rtol"
    panels = [("rtol", "state_error", xlabel, "error of y(t1)")]
    if data["grad_error"].notna().any():
        panels.append(("rtol", "grad_error", xlabel, "error of the gradient"))
    fig, axes = _facet_sweep(enc, panels, by=["rtol"])
    for ax in (a for row in axes for a in row):
        ax.invert_xaxis()
    legends(fig, enc)
    caption(fig, "Error against tolerance (one state line where the gradient modes agree)", enc)
    return fig


def _work_precision(df: pd.DataFrame, *, time: bool) -> plt.Figure | None:
    provenance = df.attrs.get("provenance")
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
    panels = [("x_state", "state_error", f"forward ({what})", "error of y(t1)")]
    if data["grad_error"].notna().any():
        panels.append(("x_grad", "grad_error", f"forward + backward ({what})",
                       "error of the gradient"))  # fmt: skip
    enc = encode(data, SWEEP)
    fig, _ = _facet_sweep(enc, panels, by=line_columns(enc.data), xerr=time)
    legends(fig, enc)
    notes = [time_note(enc.data, provenance)] if time else []
    caption(fig, "Work-precision: error against " + (
        "time (bars: IQR of the timed passes, summed for forward + backward)" if time
        else "function evaluations"), enc, *notes)  # fmt: skip
    return fig


def work_precision_nfe(df: pd.DataFrame) -> plt.Figure | None:
    """Work-precision: error against NFE (forward + backward for the gradient)."""
    return _work_precision(df, time=False)


def work_precision_time(df: pd.DataFrame) -> plt.Figure | None:
    """Work-precision: error against seconds, with the IQR of the timed passes."""
    return _work_precision(df, time=True)


# --- time -----------------------------------------------------------------------------------


def time_per_model(df: pd.DataFrame) -> plt.Figure | None:
    """Seconds per forward and backward pass of each MNIST model (bars: median of the timed
    passes, whiskers: their IQR, n: how many); an unstable timing is drawn hollow and named
    in the caption, with the load the run was measured under."""
    provenance = df.attrs.get("provenance")
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
    unstable = unstable_rows(med).to_numpy()
    med = med.set_index(pd.Index(labels))
    fig, axes = new_figure(width=max(8.0, 0.9 * len(med) + 2.5))
    ax = axes[0]
    x = np.arange(len(med))
    colours = sns.color_palette(n_colors=2)
    for i, (col, label) in enumerate(
        (("time_forward_s", "forward"), ("time_backward_s", "backward"))
    ):
        iqr = med[col.replace("_s", "_iqr_s")].fillna(0).to_numpy()
        bars = ax.bar(x + (i - 0.5) * 0.38, med[col], width=0.38, label=label, color=colours[i],
                      edgecolor=colours[i], lw=1.4, yerr=iqr / 2, capsize=4,
                      error_kw={"lw": 1})  # fmt: skip
        for bar, hollow in zip(bars, unstable, strict=True):
            if hollow:
                bar.set_facecolor("none")
    top = max(float((med[c] + med[c.replace("_s", "_iqr_s")].fillna(0) / 2).max())
              for c in ("time_forward_s", "time_backward_s"))  # fmt: skip
    top = top if np.isfinite(top) else 0.0
    for xi, n in zip(x, med["timed_passes"], strict=True):
        if pd.notna(n):
            ax.annotate(f"n={int(n)}", (xi, 0), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="0.2")  # fmt: skip
    ax.set_xticks(x, med.index)
    ax.set_ylim(0, top * 1.05 if top > 0 else None)
    batch = ", ".join(f"{b:g}" for b in sorted(data["batch"].dropna().unique()))
    ax.set(xlabel="case (model, and what varies among its cases)", ylabel="seconds per pass")
    named = [lbl.replace("\n", " ") for lbl, u in zip(med.index, unstable, strict=True) if u]
    note = time_note(data.drop_duplicates("case_id"), provenance, how="drawn hollow")
    if named:
        note += "; unstable: " + "; ".join(named)
    title = (f"Time per training step, one bar per case (batch {batch}; whiskers: IQR of the "
             "n timed passes; hollow: unstable)")  # fmt: skip
    fig.suptitle(textwrap.fill(title, int(fig.get_size_inches()[0] * 11)), fontsize="medium")
    fig.supxlabel(textwrap.fill(note + ".", int(fig.get_size_inches()[0] * 13)),
                  fontsize="small")  # fmt: skip
    add_legend(fig, ax)
    return fig


def time_vs_batch(df: pd.DataFrame) -> plt.Figure | None:
    """Forward + backward seconds against batch size, per solver setting (backend as hue)."""
    provenance = df.attrs.get("provenance")
    data = ok_rows(df)
    data = data[data["batch"].notna() & data["time_forward_s"].notna()]
    if data.empty or data.groupby("subject")["batch"].nunique().max() < 2:
        return None
    data = data.assign(
        time_total_s=data["time_forward_s"] + data["time_backward_s"].fillna(0),
        time_total_iqr_s=data["time_forward_iqr_s"] + data["time_backward_iqr_s"].fillna(0),
    )
    enc = encode(data, ("batch",))
    fig, axes = grid(len(enc.facets), 1)
    for facet, (ax,) in zip(enc.facets, axes, strict=True):
        draw_lines(ax, enc.rows(facet), "batch", "time_total_s", "variant", palette=enc.palette)
        ring_unstable(ax, enc.rows(facet), "batch", "time_total_s")
        base2_ticks(ax, enc.rows(facet)["batch"])
        ax.set(yscale="log", xlabel="batch size", ylabel="forward + backward seconds")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_seconds(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())  # minor labels collide in a decade
        ax.set_title(facet_title(enc, facet, "time against batch"), fontsize="small")
    legends(fig, enc)
    caption(fig, "Time against batch size", enc, time_note(enc.data, provenance))
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
    fig, axes = new_figure(2, sharey=True)
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
        add_legend(fig, axes[0], title="model")
    return fig
