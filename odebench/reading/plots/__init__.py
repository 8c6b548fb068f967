"""Seaborn figures from a results table (and a training log, when one exists).

One figure per file, PNG and SVG, into ``<results>/plots/``. Plots read only tables.
Files are deterministic (fixed SVG ids, no date stamp), so drawing twice leaves git clean.
Where the table holds more than one solver ``backend`` the comparisons get it as hue.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from odebench.reading.plots.fig3 import (
    FIG3_SOLVER_COLORS,
    fig3a_error_vs_nfe,
    fig3b_time_vs_nfe,
    fig3c_nfe_backward_vs_forward,
    fig3d_nfe_over_training,
    write_fig3,
)
from odebench.reading.plots.frontier import FRONTIER_STYLE, gradient_frontier
from odebench.reading.plots.stiff import stiff_figures
from odebench.reading.plots.style import RC, save, theme
from odebench.reading.plots.suite import PLOTS, PlotFn, nfe_over_training
from odebench.running.results import read_results


def draw_all(df: pd.DataFrame, out_dir: str | Path) -> dict[str, list[Path]]:
    """Every figure of :data:`PLOTS` that ``df`` supports, written into ``out_dir``."""
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    with theme():
        for name, plot in PLOTS.items():
            fig = plot(df)
            if fig is not None:
                written[name] = save(fig, out_dir, name)
        for name, fig in gradient_frontier(df).items():
            written[name] = save(fig, out_dir, name)
        for name, fig in stiff_figures(df).items():  # the stiff and batched suites
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
        with theme():
            fig = nfe_over_training(pd.read_csv(log_path))
            if fig is not None:
                written += save(fig, out_dir, "nfe_over_training")
    return written


__all__ = [
    "FIG3_SOLVER_COLORS",
    "FRONTIER_STYLE",
    "PLOTS",
    "RC",
    "PlotFn",
    "draw_all",
    "fig3a_error_vs_nfe",
    "fig3b_time_vs_nfe",
    "fig3c_nfe_backward_vs_forward",
    "fig3d_nfe_over_training",
    "gradient_frontier",
    "nfe_over_training",
    "save",
    "theme",
    "write_fig3",
    "write_plots",
]
