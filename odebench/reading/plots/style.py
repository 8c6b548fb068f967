"""The figures' shared style: theme, colours per gradient mode, axes in bytes and base-2
steps, lines per variant, legends, and saving deterministic PNG/SVG files."""

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
    NullLocator,
)

from odebench.reading.analysis import (  # noqa: E402
    SEMINORM,
    backends,
    describe,
    line_key,
)

#: Dots per inch of every saved PNG (measure legibility at it: axis labels sit in pixels).
SAVE_DPI = 120

PlotFn = Callable[[pd.DataFrame], "plt.Figure | None"]

#: rcParams of every figure: the theme, and SVG ids from a fixed salt (deterministic files).
RC: dict[str, object] = {"svg.hashsalt": "odebench", "svg.fonttype": "path"}
#: One look per gradient mode (line style and marker, drawn in the colour of its line's other
#: identity), so coincident lines stay visible (hollow markers on top) and no two modes share
#: a marker.
GRADIENT_STYLE: dict[str, dict[str, object]] = {
    "backprop": {"ls": "-", "marker": "o", "ms": 6, "mfc": None},
    "adjoint": {"ls": "--", "marker": "s", "ms": 9, "mfc": "none"},
    "adjoint" + SEMINORM: {"ls": ":", "marker": "x", "ms": 7, "mfc": None},
    "checkpoint": {"ls": "-.", "marker": "^", "ms": 7, "mfc": None},
    "aca": {"ls": ":", "marker": "D", "ms": 6, "mfc": None},
    "adjoint_joint": {"ls": "--", "marker": "v", "ms": 7, "mfc": None},
}
#: Markers for modes outside :data:`GRADIENT_STYLE`, by the mode's name (stable across figures).
SPARE_MARKERS: tuple[str, ...] = ("P", "*", "h", "<", ">", "p", "X", "d")


def mode_style(gradient: str) -> dict[str, object]:
    if gradient in GRADIENT_STYLE:
        return GRADIENT_STYLE[gradient]
    marker = SPARE_MARKERS[sum(map(ord, gradient)) % len(SPARE_MARKERS)]
    return {"ls": "-.", "marker": marker, "ms": 7, "mfc": None}


def new_figure(
    ncols: int = 1, *, sharey: bool = False, width: float = 8.0
) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(1, ncols, figsize=(width if ncols == 1 else 5.2 * ncols, 4.4),
                             layout="constrained", sharey=sharey, squeeze=False)  # fmt: skip
    return fig, axes[0]


def bytes_label(v: float, _pos: object = None) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} B"


def bytes_axis(ax: plt.Axes, *, log: bool) -> None:
    """Bytes in binary units; on a log axis, ticks at powers of 2."""
    if log:
        ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(FuncFormatter(bytes_label))


def base2_ticks(ax: plt.Axes, values: pd.Series) -> None:
    """Log-2 x axis with a tick at each measured power of two, labelled as integers."""
    ax.set_xscale("log", base=2)
    ticks = sorted(float(v) for v in values.dropna().unique())
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))


#: The swept columns along a line of a tolerance or grid sweep.
SWEEP: tuple[str, ...] = ("rtol", "steps", "step_size")


def variants(
    data: pd.DataFrame, sweep: tuple[str, ...], *, drop: tuple[str, ...] = ("gradient",)
) -> tuple[pd.DataFrame, list[str]]:
    """``data`` with a ``variant`` column naming each line, and the key it was built from:
    the identity columns that vary (:func:`odebench.reading.analysis.line_key`), as in the
    report."""
    key = line_key(data, sweep, drop=drop)
    names = [describe(row, key) for _, row in data[key].iterrows()] if len(data) else []
    return data.assign(variant=names), key


def one_mode(rows: pd.DataFrame, y: str, by: list[str]) -> pd.DataFrame:
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


def hue_palette(names: pd.Series) -> dict[Any, Any]:
    """One colour per name, the same in every panel of a figure (a panel drawing fewer
    lines must not shift the colours of the others)."""
    order = list(dict.fromkeys(names))
    return dict(zip(order, sns.color_palette(n_colors=max(len(order), 1)), strict=False))


def draw_lines(ax: plt.Axes, data: pd.DataFrame, x: str, y: str, hue: str, *,
           xerr: str | None = None, by: list[str] | None = None,
           palette: dict[Any, Any] | None = None) -> None:  # fmt: skip
    """One line per (hue, gradient), coloured by hue, styled by gradient mode; sorted by x.

    The points are the medians over the rows of each value of ``by`` (default ``x``): over
    the repeats of one case when ``by`` names the sweep.
    """
    palette = palette or hue_palette(data[hue])
    # markers shrink from one backend to the next: equal lines of two libraries stay visible
    libs = backends(data)
    grow = {b: 2.5 * (len(libs) - 1 - i) for i, b in enumerate(libs)} if len(libs) > 1 else {}
    for (h, gradient), g in data.groupby([hue, "gradient"], sort=False):
        extra = grow.get(str(g["backend"].iloc[0]), 0.0) if grow else 0.0
        keys = by or [x]
        cols = [c for c in (x, y, xerr) if c and c in g and not (by and c in by)]
        g = g.groupby(keys, dropna=False)[cols].median().reset_index(drop=by is None)
        g = g.dropna(subset=[x, y]).sort_values(x, kind="stable")
        st = mode_style(str(gradient))
        label = f"{h} · {gradient}" if gradient and hue != "gradient" else str(h)
        kwargs = {"color": palette[h], "ls": st["ls"], "marker": st["marker"],
                  "ms": float(st["ms"]) + extra, "mfc": st["mfc"] or palette[h],
                  "label": label, "lw": 1.6}  # fmt: skip
        if xerr is not None and xerr in g and g[xerr].notna().any():
            ax.errorbar(g[x], g[y], xerr=g[xerr].fillna(0) / 2, capsize=2, **kwargs)
        else:
            ax.plot(g[x], g[y], **kwargs)


def add_legend(fig: plt.Figure, ax: plt.Axes, title: str | None = None) -> None:
    """One legend for the figure, outside the axes so it hides no data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", frameon=False, fontsize="small",
                   title=title, title_fontsize="small")  # fmt: skip


def key_title(key: list[str]) -> str:
    """The legend's title: what its entries tell apart (line style: the gradient mode)."""
    return "lines: " + ", ".join(key) if key else "lines"


def line_columns(data: pd.DataFrame) -> list[str]:
    """The sweep columns of ``data`` that hold values: one point per value along a line."""
    return [c for c in SWEEP if c in data and data[c].notna().any()]


#: Short names of identity columns in tick labels.
TICK_NAMES: dict[str, str] = {"step_size": "h", "gradient": "", "method": ""}




@contextmanager
def theme() -> Iterator[None]:
    """The seaborn theme and deterministic-SVG settings, without touching global rcParams."""
    with plt.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        plt.rcParams.update(RC)
        yield


def save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG with no date stamp (the same table gives the same bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=SAVE_DPI, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]
