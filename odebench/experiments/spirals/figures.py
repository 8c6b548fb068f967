"""Table 2's figures in the core's theme (:mod:`odebench.reading.plots`), from the result files.

``spirals``: the paper's Figure 8 layout (models by row, test spirals by column) with
the stretch of truth each reading scores drawn in its own colour; ``table2_curves``: the
training loss and the test readings against iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from odebench.experiments.spirals.settings import (
    CURVES_FIGURE,
    FIGURE,
    LABELS,
    MODELS,
    SHORT_EXTRAP,
)

if TYPE_CHECKING:
    import matplotlib.pyplot as plt
    import pandas as pd

#: The stretches of truth each reading scores, in drawing order, with their colours.
STRETCHES: tuple[tuple[str, str], ...] = (
    ("window, before the first observation (not scored)", "0.85"),
    ("window after the first observation: reading 1", "tab:blue"),
    (f"first {SHORT_EXTRAP} extrapolated: reading 2", "tab:orange"),
    ("extrapolated 11-100 (reading 3 scores all 100)", "tab:green"),
)


def stretches(truth: pd.DataFrame, first_observed: float, window_end: float,
              short_end: float) -> list[pd.DataFrame]:  # fmt: skip
    """The truth cut into the stretches of :data:`STRETCHES` (each joined to the next)."""
    t = truth.sort_values("t")
    cuts = [
        t[t.t <= first_observed],
        t[(t.t >= first_observed) & (t.t <= window_end)],
        t[(t.t >= window_end) & (t.t <= short_end)],
        t[t.t >= short_end],
    ]
    # join each stretch to the next one's first point so the curve has no gaps
    import pandas as pd

    return [pd.concat((c, cuts[k + 1].head(1))) if k + 1 < len(cuts) else c
            for k, c in enumerate(cuts)]  # fmt: skip


def drawn_prediction(mine: pd.DataFrame, first_observed: float) -> pd.DataFrame:
    """A prediction from the first observation on (before it an RNN answers with its prior
    guess, and a line from there would cut across the plot)."""
    mine = mine.sort_values("t")
    return mine[mine.t > first_observed]


def plot_examples(examples: pd.DataFrame, folder: Path, *, n_obs: int) -> list[Path]:
    """Draw :func:`examples_figure` into ``folder`` (nothing where no model trained)."""
    from odebench.reading import plots

    with plots.theme():
        fig = examples_figure(examples, n_obs=n_obs)
        return [] if fig is None else plots.save(fig, Path(folder), FIGURE)


def examples_figure(examples: pd.DataFrame, *, n_obs: int) -> plt.Figure | None:
    """Predictions of each model (rows) for three test spirals (columns), each reading's
    stretch of truth in its colour, observations as dots (call inside ``plots.theme()``)."""
    import matplotlib.pyplot as plt

    names = [m for m in MODELS if m in set(examples["model"])]  # baselines: in the CSV only
    if not names:  # no model trained: nothing to draw
        return None
    spirals = sorted(examples["spiral"].unique())
    fig, axes = plt.subplots(len(names), len(spirals), squeeze=False,
                             figsize=(3.6 * len(spirals), 3.3 * len(names) + 1.2))  # fmt: skip
    for c, i in enumerate(spirals):
        ex = examples[examples.spiral == i]
        truth, obs = ex[ex.kind == "truth"], ex[ex.kind == "observed"]
        window_end = float(ex[ex.kind == "prediction"]["t"].max())
        extrap_t = sorted(ex[ex.kind == "extrapolation"]["t"].unique())
        short_end = float(extrap_t[min(SHORT_EXTRAP, len(extrap_t)) - 1])
        first = float(obs["t"].min())
        parts = stretches(truth, first, window_end, short_end)
        in_range = bool(truth["in_range"].iloc[0]) if "in_range" in truth else True
        for r, name in enumerate(names):
            ax = axes[r][c]
            for (label, colour), part in zip(STRETCHES, parts, strict=True):
                ax.plot(part.x, part.y, color=colour, lw=3.5, alpha=0.55, label=label)
            mine = drawn_prediction(ex[ex.model == name], first)
            ax.plot(mine.x, mine.y, color="black", lw=1.1, ls="--", label="prediction")
            ax.scatter(obs.x, obs.y, s=9, color="tab:red", zorder=3, label="observations")
            ax.set_aspect("equal", adjustable="datalim")
            radii = "within training radii" if in_range else "beyond training radii"
            ax.set_title(f"{LABELS.get(name, name)}: test spiral {i}\n({radii})", fontsize=9)
            ax.tick_params(labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{n_obs} of 100 points observed; prediction in the window and 100 "
                 "points beyond it (seed 0)", fontsize=11)  # fmt: skip
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0.75 / height, 1, 1 - 0.45 / height))  # legend, title
    return fig


def plot_curves(curves: pd.DataFrame, folder: Path) -> list[Path]:
    """Draw :func:`curves_figure` into ``folder``."""
    from odebench.reading import plots

    with plots.theme():
        return plots.save(curves_figure(curves), Path(folder), CURVES_FIGURE)


def curves_figure(curves: pd.DataFrame) -> plt.Figure:
    """Training loss per observed point and the test readings against iteration, one column
    per observation count: mean over seeds, the range of the seeds shaded (call inside
    ``plots.theme()``)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    counts = sorted(curves["n_obs"].unique())
    metrics = [(k, label) for k, label in (
        ("loss", "training loss per observed point"),
        ("rmse_window", "test RMSE, window"),
        ("rmse_extrap10", f"test RMSE, extrap {SHORT_EXTRAP}"),
        ("rmse_extrap", "test RMSE, extrap 100 (small radii)"),
    ) if k in curves]  # fmt: skip
    colours = dict(zip(MODELS, ("tab:blue", "tab:orange", "tab:green", "tab:purple"),
                       strict=True))  # fmt: skip
    fig, axes = plt.subplots(len(metrics), len(counts), squeeze=False, sharex=True,
                             figsize=(3.9 * len(counts), 2.7 * len(metrics)))  # fmt: skip
    for c, n_obs in enumerate(counts):
        sub = curves[curves.n_obs == n_obs]
        for r, (key, label) in enumerate(metrics):
            ax = axes[r][c]
            for name in [m for m in MODELS if m in set(sub["model"])]:
                g = sub[sub.model == name].groupby("iter")[key]
                scale = n_obs if key == "loss" else 1
                mean, lo, hi = g.mean() / scale, g.min() / scale, g.max() / scale
                ax.plot(mean.index, mean.values, color=colours[name], lw=1.3,
                        label=MODELS[name])  # fmt: skip
                ax.fill_between(mean.index, lo.values, hi.values, color=colours[name],
                                alpha=0.2, lw=0)  # fmt: skip
            if (sub[key] > 0).all():  # a log axis shows whether the tail is flat
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
                ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
                ax.tick_params(axis="y", which="minor", labelsize=6)
            if r == 0:
                ax.set_title(f"{n_obs} observations", fontsize=10)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == len(metrics) - 1:
                ax.set_xlabel("iteration")
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
