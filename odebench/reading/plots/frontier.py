"""The gradient-mode frontier figure: gradient error against memory and time per mode
(the rule is :mod:`odebench.reading.frontier`'s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    NullFormatter,
)

from odebench.reading.analysis import fmt_seconds  # noqa: E402
from odebench.reading.plots.style import GRADIENT_STYLE, bytes_label, mode_style

#: the recomputing modes and torchode's joint adjoint, apart from backprop's and the adjoint's
#: (kept for callers; :data:`odebench.reading.plots.style.GRADIENT_STYLE` holds every mode).
FRONTIER_STYLE: dict[str, dict[str, object]] = {
    m: GRADIENT_STYLE[m] for m in ("checkpoint", "aca", "adjoint_joint")
}
#: Each panel's x column and the frontier criterion it ranks by (odebench.reading.frontier).
PANELS: tuple[tuple[str, str, str], ...] = (
    ("memory_bytes", "kept for backward", "least kept"),
    ("peak_alloc_bytes", "peak allocated", "lowest peak"),
    ("time_s", "forward + backward time", "fastest"),
)
#: Points to mark, per (subject, loss, x column): ``[(mode, rtol), ...]``.
Recommended = Mapping[tuple[str, str, str], Sequence[tuple[str, float]]]


def decision_points(rows: pd.DataFrame) -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    """Per (subject, loss, x column): the (mode, rtol) the decision rule picks
    (:func:`odebench.reading.decision.decide` at its default target), ringed on every panel."""
    from odebench.reading.decision import decide

    out: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    decisions = decide(rows)
    for _, d in decisions.iterrows():
        if str(d.get("mode", "")) in ("", "none"):
            continue
        for x, _, _ in PANELS:
            points = out.setdefault((str(d["subject"]), str(d["loss"]), x), [])
            if (str(d["mode"]), float(d["rtol"])) not in points:
                points.append((str(d["mode"]), float(d["rtol"])))
    return out


def _style(mode: str) -> dict[str, object]:
    """A mode's look: its gradient's line and marker ("torchode adjoint" -> adjoint's)."""
    return mode_style(mode.split(" ")[-1])


def _colours(modes: Sequence[str]) -> dict[str, Any]:
    from odebench.reading.frontier import MODE_ORDER

    order = list(MODE_ORDER) + sorted(m for m in modes if m not in MODE_ORDER)
    palette = sns.color_palette(n_colors=max(len(order), 1))
    return {m: palette[order.index(m) % len(palette)] for m in order}


def _rtol_labels(ax: plt.Axes, part: pd.DataFrame, x: str) -> None:
    """Each tolerance named once, beside its rightmost point (one label per rtol: labels of
    several modes at one point would overprint)."""
    for rtol, g in part[part[x].notna()].groupby("rtol"):
        p = g.loc[g[x].idxmax()]
        ax.annotate(f"rtol {rtol:g}", (p[x], p["grad_error"]), fontsize=7, color="0.3",
                    xytext=(6, -3), textcoords="offset points")  # fmt: skip


def _x_axis(ax: plt.Axes, x: str, label: str) -> None:
    if x == "time_s":
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=5))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_seconds(v)))
        ax.set_xlabel("forward + backward time")
    else:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(LogLocator(base=2, numticks=5))
        ax.xaxis.set_major_formatter(FuncFormatter(bytes_label))
        ax.set_xlabel(label)
    ax.xaxis.set_minor_formatter(NullFormatter())


def gradient_frontier(
    df: pd.DataFrame,
    *,
    recommended: Recommended | None = None,
    targets: Sequence[float] | None = None,
) -> dict[str, plt.Figure]:
    """Per problem, ``gradient_frontier_<problem>``: gradient error against memory kept for
    backward, peak allocated, and forward+backward time; one line per mode, each tolerance
    named once; one row per loss shape. Dotted line: the decision's target error; ringed:
    ``recommended`` (default: the decision's pick, :func:`decision_points`). Drawn where
    modes beyond backprop and the adjoint ran; problems without a gradient error (a model
    case) or with one mode get none."""
    from odebench.reading.decision import DEFAULT_TARGET
    from odebench.reading.frontier import MODE_ORDER, beyond_the_papers_modes, frontier_rows

    targets = (DEFAULT_TARGET,) if targets is None else targets
    rows = frontier_rows(df)
    figures: dict[str, plt.Figure] = {}
    if not beyond_the_papers_modes(rows):
        return figures  # the report's headline rule: only where more modes ran
    rows = rows[rows["grad_error"] > 0]
    marks = decision_points(rows) if recommended is None else recommended
    colours = _colours(list(dict.fromkeys(rows["mode"])))
    for subject, data in rows.groupby("subject", sort=True):
        if data["mode"].nunique() < 2:
            continue
        losses = sorted(dict.fromkeys(data["loss"]), key=lambda v: "y(t1)" not in v)
        fig, grid_axes = plt.subplots(len(losses), 3, figsize=(15, 3.9 * len(losses) + 1.2),
                                      layout="constrained", squeeze=False)  # fmt: skip
        labelled: dict[str, Any] = {}
        for r, loss in enumerate(losses):
            part = data[data["loss"] == loss]
            lo, hi = float(part["grad_error"].min()), float(part["grad_error"].max())
            for c, (x, label, criterion) in enumerate(PANELS):
                ax = grid_axes[r, c]
                for mode, g in part.groupby("mode", sort=False):
                    g = g[g[x].notna()].sort_values("rtol", ascending=False)
                    if g.empty:
                        continue
                    st, color = _style(str(mode)), colours[str(mode)]
                    (line,) = ax.plot(g[x], g["grad_error"], color=color, ls=st["ls"],
                                      marker=st["marker"], ms=float(st["ms"]),
                                      mfc=st["mfc"] or color, lw=1.6, label=mode)  # fmt: skip
                    labelled.setdefault(str(mode), line)
                for target in targets:
                    if lo / 10 <= target <= hi * 10:
                        ax.axhline(target, color="0.45", ls=(0, (1, 3)), lw=1)
                for mode, rtol in marks.get((str(subject), str(loss), x), []):
                    hit = part[(part["mode"] == mode) & (part["rtol"] == rtol) & part[x].notna()]
                    if not hit.empty:
                        ax.plot(hit[x], hit["grad_error"], "o", ms=17, mfc="none", mec="black",
                                mew=1.4)  # fmt: skip
                _rtol_labels(ax, part, x)
                _x_axis(ax, x, label)
                ax.set_yscale("log")
                ax.margins(x=0.3)
                ax.set_ylabel("gradient error (rel. L2)")
                ax.set_title(f"{loss}: {criterion}", fontsize="small")
        order = [m for m in MODE_ORDER if m in labelled]
        order += [m for m in labelled if m not in MODE_ORDER]
        grid_axes[0, -1].legend([labelled[m] for m in order], order, loc="upper left",
                                bbox_to_anchor=(1.03, 1.0), frameon=False, fontsize="small",
                                title="mode", title_fontsize="small", borderaxespad=0)  # fmt: skip
        fig.suptitle(f"{subject}: gradient modes, error against memory and time "
                     "(down-left is better)", fontsize="medium")  # fmt: skip
        levels = ", ".join(f"{t:g}" for t in targets)
        ring = ("the decision's pick (odebench advise: fastest reaching the target at that "
                "and every tighter rtol)" if recommended is None else "the points asked for")
        fig.supxlabel(f"dotted: the target gradient error ({levels}); ringed: {ring}.",
                      fontsize="small")  # fmt: skip
        figures[f"gradient_frontier_{subject}"] = fig
    return figures
