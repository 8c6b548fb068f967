"""Whether a drawn figure can be read: every text on the canvas, none overprinting another,
axes of a usable size, short legends, and series told apart.

Measured with matplotlib's own renderer (``get_window_extent`` after a draw at the saving
resolution), not by looking at pixels, so a failure names the artist that caused it. The
figures call :func:`legibility_problems` in the tests; a figure that fails is a defect of
the figure code, never of the results.
"""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

#: At most this many entries in one legend: beyond it a reader cannot match line to label.
MAX_LEGEND_ENTRIES = 8
#: An axes keeps at least this share of the figure's width (or height) per grid column (row):
#: a one-panel figure gives its axes >= 50 % of the width, a two-panel one >= 25 % each.
MIN_AXES_SHARE = 0.5
#: The same for the height, per grid row (a title and a caption share the height with it).
MIN_AXES_HEIGHT_SHARE = 0.4
#: Pixels two boxes may share before they count as overlapping (antialiased glyph edges).
TOLERANCE_PX = 1.0


def _drawn_ticklabels(axis: Axis) -> Iterator[Text]:
    """The tick labels the axis draws: visible, non-empty, at a tick inside the view."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9 + 1e-300
    for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                        (axis.get_minorticklocs(), axis.get_minor_ticks)):  # fmt: skip
        for loc, tick in zip(locs, ticks(len(locs)), strict=False):
            if not lo - span <= loc <= hi + span:
                continue
            for label in (tick.label1, tick.label2):
                if label.get_visible() and label.get_text().strip():
                    yield label


def _texts(fig: plt.Figure) -> Iterator[tuple[str, Text]]:
    """Every drawn text outside a legend, with a name for the message."""
    for t in fig.texts:
        if t.get_visible() and t.get_text().strip():
            yield "figure text", t
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"axes {i}"
        for t in (ax.title, *ax.texts, ax.xaxis.label, ax.yaxis.label):
            if t.get_visible() and t.get_text().strip():
                yield where, t
        for loc in ("left", "right"):
            t = getattr(ax, f"_{loc}_title", None)
            if isinstance(t, Text) and t.get_visible() and t.get_text().strip():
                yield where, t
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible():
                for t in _drawn_ticklabels(axis):
                    yield f"{where} tick", t


def _legends(fig: plt.Figure) -> list[Legend]:
    """Every legend: the figure's, each axes' own and any added back as an artist."""
    found = fig.findobj(match=Legend)
    return [lg for lg in dict.fromkeys(found) if lg.get_visible()]


def _overlap(a: Bbox, b: Bbox) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > TOLERANCE_PX and h > TOLERANCE_PX


def _label(t: Text) -> str:
    text = " ".join(t.get_text().split())
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _series_key(line: matplotlib.lines.Line2D) -> tuple[str, str]:
    marker = str(line.get_marker())
    if marker in ("None", "none", "", " "):
        marker = "line " + str(line.get_linestyle())
    return to_hex(line.get_color()), marker


def legibility_problems(
    fig: plt.Figure,
    *,
    max_legend: int = MAX_LEGEND_ENTRIES,
    min_axes_share: float = MIN_AXES_SHARE,
    dpi: float | None = None,
) -> list[str]:
    """What stops ``fig`` from being read, one sentence each (empty: legible).

    The figure is drawn once (at ``dpi``, default the figure's: pass the saving resolution)
    so the layout engine has placed everything; then, in display pixels: no text or legend
    outside the canvas, no two texts (titles, axis and tick labels, annotations, legends)
    overlapping, each axes at least ``min_axes_share / columns`` of the width and
    :data:`MIN_AXES_HEIGHT_SHARE` ``/ rows`` of the height, at most ``max_legend`` entries
    per legend, and no two labelled series of one axes with the same colour and marker.
    """
    if dpi is not None:
        fig.set_dpi(dpi)  # axis labels are placed in pixels: measure at the drawn resolution
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    problems: list[str] = []

    boxes: list[tuple[str, Bbox]] = []
    for where, t in _texts(fig):
        box = t.get_window_extent(renderer)
        if box.width <= 0 or box.height <= 0:
            continue
        boxes.append((f"{where} {_label(t)}", box))
    for i, lg in enumerate(_legends(fig)):
        boxes.append((f"legend {i}", lg.get_window_extent(renderer)))
        entries = len([t for t in lg.get_texts() if t.get_text().strip()])
        if entries > max_legend:
            problems.append(f"legend {i} has {entries} entries (at most {max_legend}).")

    inside = canvas.padded(TOLERANCE_PX)
    for name, box in boxes:
        if not (inside.x0 <= box.x0 and inside.y0 <= box.y0 and box.x1 <= inside.x1
                and box.y1 <= inside.y1):  # fmt: skip
            problems.append(f"{name} lies outside the canvas.")
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1 :]:
            if _overlap(a, b):
                problems.append(f"{name_a} overlaps {name_b}.")

    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not isinstance(ax, Axes):
            continue
        spec = ax.get_subplotspec()
        rows, cols = spec.get_gridspec().get_geometry() if spec is not None else (1, 1)
        pos = ax.get_window_extent(renderer)
        if pos.width < min_axes_share / cols * canvas.width:
            problems.append(f"axes {i} is {pos.width:.0f} px wide of {canvas.width:.0f} "
                            f"(at least {min_axes_share / cols:.0%}).")  # fmt: skip
        if pos.height < MIN_AXES_HEIGHT_SHARE / rows * canvas.height:
            problems.append(f"axes {i} is {pos.height:.0f} px high of {canvas.height:.0f} "
                            f"(at least {MIN_AXES_HEIGHT_SHARE / rows:.0%}).")  # fmt: skip
        seen: dict[tuple[str, str], str] = {}
        for line in ax.get_lines():
            label = str(line.get_label())
            if label.startswith("_") or not line.get_visible():
                continue
            key = _series_key(line)
            if key in seen and seen[key] != label:
                problems.append(f"axes {i}: series {label!r} and {seen[key]!r} share colour "
                                f"{key[0]} and marker {key[1]}.")  # fmt: skip
            seen.setdefault(key, label)
    return problems
