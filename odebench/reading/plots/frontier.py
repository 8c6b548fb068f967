"""The gradient-mode frontier figure: gradient error against memory and time per mode
(the rule is :mod:`odebench.reading.frontier`'s)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
)

from odebench.reading.plots.style import bytes_label, mode_style

# --- gradient modes: the frontier (odebench.reading.frontier) -------------------------------


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

    from odebench.reading.frontier import MODE_ORDER, beyond_the_papers_modes, frontier_rows

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
                    st = FRONTIER_STYLE.get(str(mode).split(" ")[-1]) or mode_style(str(mode))
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
                    ax.xaxis.set_major_formatter(FuncFormatter(bytes_label))
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
