"""Seaborn figures from a results table (and a training log, when one exists).

One figure per file, PNG and SVG, into ``<results>/plots/``. Plots read only tables.
Files are deterministic (fixed SVG ids, no date stamp), so drawing twice leaves git clean.
Where the table holds more than one solver ``backend`` the comparisons get it as hue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def read_provenance(folder: Path) -> dict[str, Any] | None:
    """The run's provenance (its load average goes into the captions of time figures)."""
    path = folder / "provenance.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def draw_all(
    df: pd.DataFrame, out_dir: str | Path, *, provenance: dict[str, Any] | None = None
) -> dict[str, list[Path]]:
    """Every figure of :data:`PLOTS` that ``df`` supports, written into ``out_dir``.

    ``provenance`` defaults to the one beside ``out_dir`` (``<results>/plots``'s folder)."""
    out_dir = Path(out_dir)
    if provenance is None:
        provenance = read_provenance(out_dir.parent)
    df = df.copy()
    df.attrs["provenance"] = provenance or {}
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
        provenance = read_provenance(folder)
        for paths in draw_all(df, out_dir, provenance=provenance).values():
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
    "read_provenance",
    "save",
    "theme",
    "write_fig3",
    "write_plots",
]
