"""How a figure scales with the grid: which identities become panels, which the colour, and
the gradient mode always the line style and marker, with two short legends.

One legend cannot carry more than :data:`MAX_LINES` entries (beyond it a reader cannot match
line to label), so when the lines of a figure outnumber it, :func:`encode` moves identity
columns (the subject first, then the backend, then the others) from the colour into the
panels until each legend fits. What is held fixed goes to a caption line under the figure.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from odebench.reading.analysis import constant, describe, fmt_value, line_key  # noqa: E402
from odebench.reading.plots.legibility import MAX_LEGEND_ENTRIES  # noqa: E402
from odebench.reading.plots.style import hue_palette, mode_style  # noqa: E402

#: Lines one colour legend may name (the gradient modes have a legend of their own).
MAX_LINES = MAX_LEGEND_ENTRIES
#: Identity columns tried as panels, in this order, before the others of the line key.
FACET_ORDER: tuple[str, ...] = ("subject", "backend", "dtype", "batch")
#: Columns named in a caption's "held fixed" line (the rest say how, not what, was measured).
SHOWN_FIXED: tuple[str, ...] = ("subject", "method", "backend", "gradient", "dtype", "batch",
                                "output_times", "device", "reduction")  # fmt: skip


@dataclass
class Encoding:
    """A table's rows with ``variant`` (the colour) and ``facet`` (the panel) columns."""

    data: pd.DataFrame
    colour_key: list[str]
    facet_key: list[str]
    facets: list[str] = field(default_factory=list)
    palette: dict[Any, Any] = field(default_factory=dict)
    modes: list[str] = field(default_factory=list)
    #: set by :func:`legends` when a legend went under the panels (the caption moves up)
    legend_below: bool = False

    def rows(self, facet: str) -> pd.DataFrame:
        return self.data[self.data["facet"] == facet]


#: Identity columns whose values name themselves (``float64``, ``torchode``): no column name.
SELF_NAMED: tuple[str, ...] = ("subject", "method", "backend", "dtype")


def _name(row: Any, key: list[str]) -> str:
    return describe(row, key, always=SELF_NAMED).removeprefix(", ") if key else ""


def encode(data: pd.DataFrame, sweep: tuple[str, ...], *, max_lines: int = MAX_LINES) -> Encoding:
    """Split ``data``'s lines (:func:`odebench.reading.analysis.line_key`, the gradient mode
    apart) into panels until at most ``max_lines`` colours remain."""
    key = line_key(data, sweep, drop=("gradient",))
    order = [c for c in FACET_ORDER if c in key] + [c for c in key if c not in FACET_ORDER]
    facet_key: list[str] = []
    colour_key = list(key)

    def colours(k: list[str]) -> int:
        return data[k].drop_duplicates().shape[0] if k else 1

    for c in order:
        if colours(colour_key) <= max_lines:
            break
        if data[c].nunique(dropna=False) < 2:
            continue
        facet_key.append(c)
        colour_key.remove(c)
    keep = [c for c in colour_key if data[c].nunique(dropna=False) > 1] or colour_key[:1]
    rows = data.reset_index(drop=True)
    variant = [_name(r, keep) or "all" for _, r in rows.iterrows()]
    facet = [_name(r, facet_key) for _, r in rows.iterrows()]
    rows = rows.assign(variant=variant, facet=facet)
    return Encoding(
        data=rows,
        colour_key=keep,
        facet_key=facet_key,
        facets=list(dict.fromkeys(rows["facet"])),
        palette=hue_palette(rows["variant"]),
        modes=list(dict.fromkeys(rows["gradient"])),
    )


def grid(n_facets: int, n_metrics: int, *, width: float = 4.4,
         height: float = 3.0) -> tuple[plt.Figure, list[list[plt.Axes]]]:  # fmt: skip
    """Axes per (facet, metric): one row per facet; a single metric wraps into 2 columns.
    Unused cells are hidden."""
    if n_metrics == 1:
        ncols = min(2, n_facets)
        nrows = math.ceil(n_facets / ncols)
        width = width if n_facets > 1 else width * 1.4  # one panel: room beside its legends
    else:
        ncols, nrows = n_metrics, n_facets
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 3.4, height * nrows + 1.3),
                             layout="constrained", squeeze=False)  # fmt: skip
    flat = list(axes.flat)
    for ax in flat[n_facets * n_metrics :]:
        ax.set_visible(False)
    if n_metrics == 1:
        return fig, [[ax] for ax in flat[:n_facets]]
    return fig, [list(row) for row in axes]


def mode_handles(modes: list[str]) -> list[Line2D]:
    handles = []
    for mode in modes:
        st = mode_style(mode)
        handles.append(Line2D([], [], color="0.25", ls=st["ls"], marker=st["marker"],
                              ms=float(st["ms"]), mfc=st["mfc"] or "0.25",
                              label=mode or "none"))  # fmt: skip
    return handles


def legends(fig: plt.Figure, enc: Encoding, *, extra: list[Line2D] | None = None) -> None:
    """The colour legend (what the colour tells apart) beside the top right panel, the line
    legend (gradient mode and any reference lines) beside the bottom right one; a legend of
    one entry is left out (the caption names it). Anchored to the axes, so the layout engine
    keeps them clear of the title and the caption."""
    shown = [ax for ax in fig.axes if ax.get_visible()]
    right = max(ax.get_position().x1 for ax in shown)
    column = sorted((ax for ax in shown if abs(ax.get_position().x1 - right) < 1e-6),
                    key=lambda ax: -ax.get_position().y1)  # fmt: skip
    top, bottom = column[0], column[-1]
    colours = list(dict.fromkeys(enc.data["variant"]))
    kw: dict[str, Any] = {"frameon": False, "fontsize": "small", "title_fontsize": "small",
                          "borderaxespad": 0.0}  # fmt: skip
    first: Any = None
    if len(colours) > 1:
        handles = [Line2D([], [], color=enc.palette[v], lw=3, label=v) for v in colours]
        first = top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                           title="colour: " + ", ".join(enc.colour_key), **kw)  # fmt: skip
    lines = (mode_handles(enc.modes) if len(enc.modes) > 1 or extra else []) + (extra or [])
    if not lines:
        return
    if first is None or bottom is not top:
        bottom.legend(handles=lines, loc="lower left", bbox_to_anchor=(1.03, 0.0),
                      title="line: gradient mode", **kw)  # fmt: skip
    else:  # one axes holds one legend the layout engine sees: the second goes under the row
        fig.legend(handles=lines, loc="outside lower center", ncol=min(len(lines), 4),
                   title="line: gradient mode", **kw)  # fmt: skip
        enc.legend_below = True


def caption(fig: plt.Figure, title: str, enc: Encoding, *notes: str) -> None:
    """The title, and under the panels one caption line: what is held fixed, what each panel
    is, and any notes (load, unstable cases)."""
    fixed = constant(enc.data, [c for c in SHOWN_FIXED if c in enc.data])
    parts = []
    if fixed:
        parts.append("held fixed: " + ", ".join(f"{c} {fmt_value(v)}" for c, v in fixed.items()))
    if enc.facet_key:
        parts.append("panels: " + ", ".join(enc.facet_key))
    parts += [n for n in notes if n]
    width = int(fig.get_size_inches()[0] * 13)
    text = textwrap.fill("; ".join(parts) + ".", width) if parts else ""
    if text and enc.legend_below:  # the caption would share the bottom with it: under the title
        text = textwrap.fill("; ".join(parts) + ".", int(width * 0.8))
        fig.suptitle(f"{title}\n{text}", fontsize="medium")
        return
    fig.suptitle(title, fontsize="medium")
    if text:
        fig.supxlabel(text, fontsize="small", ha="center")


def facet_title(enc: Encoding, facet: str, what: str) -> str:
    return f"{facet}: {what}" if facet else what



def _load_value(v: Any) -> str:
    """The 1-minute figure of a load average (a number or the list of 1, 5, 15 minutes)."""
    if isinstance(v, list | tuple) and v:
        v = v[0]
    try:
        return f"{float(v):.1f}"
    except (TypeError, ValueError):
        return "?"


def _load_span(entry: Any) -> str:
    if not isinstance(entry, dict):
        return ""
    text = f"{_load_value(entry.get('before'))} -> {_load_value(entry.get('after'))}"
    return text + (f" on {entry['cpus']} CPUs" if entry.get("cpus") else "")


def load_note(provenance: dict[str, Any] | None) -> str:
    """"measured under load 6.0 -> 6.8 on 2 CPUs" (1-minute load average before -> after
    the run, as :func:`odebench.running.runner.note_load` records it, and for each resumed
    run); otherwise that it was not recorded."""
    prov = provenance or {}
    spans = [_load_span(prov.get("load_average"))]
    resumed = prov.get("resumed")
    if isinstance(resumed, list):
        spans += [_load_span(r.get("load_average")) for r in resumed if isinstance(r, dict)]
    spans = [s for s in spans if s]
    if not spans:
        return "load average not recorded: timings on a shared machine may drift"
    return "measured under load " + "; resumed under load ".join(spans) + " (before -> after)"


def ring_unstable(ax: plt.Axes, rows: pd.DataFrame, x: str, y: str) -> None:
    """A grey ring around each point whose timing is unstable (IQR beyond
    :data:`odebench.reading.analysis.UNSTABLE` of its median)."""
    from odebench.reading.analysis import unstable_rows

    bad = rows[unstable_rows(rows) & rows[x].notna() & rows[y].notna()]
    if not bad.empty:
        ax.plot(bad[x], bad[y], "o", ms=15, mfc="none", mec="0.5", mew=1.2)


def time_note(data: pd.DataFrame, provenance: dict[str, Any] | None = None, *,
              how: str = "ringed in grey") -> str:  # fmt: skip
    """The caption of a time figure: timed passes per case, the unstable cases (``how``
    they are drawn), and the load the timings were taken under."""
    from odebench.reading.analysis import UNSTABLE, unstable_rows

    parts = []
    if "timed_passes" in data and data["timed_passes"].notna().any():
        passes = sorted({int(p) for p in data["timed_passes"].dropna()})
        parts.append("timed passes per case: " + "/".join(map(str, passes)))
    unstable = int(unstable_rows(data).sum())
    if unstable:
        parts.append(f"{unstable} case(s) unstable (IQR > {UNSTABLE:.0%} of the median), "
                     f"{how}")  # fmt: skip
    parts.append(load_note(provenance))
    return "; ".join(parts)
