"""What the report and the plots compute from a results table, in one place.

Both :mod:`odebench.reading.report` (tables) and :mod:`odebench.reading.plots` (figures) read a
results
table through these helpers, so a figure and the table beside it agree on which rows
count, how a case is named and how a line is fitted. Nothing here runs a model.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd

MEMORY_METERS: dict[str, str] = {
    "saved_bytes": "saved activations",
    "peak_alloc_bytes": "peak allocated",
    "peak_rss_bytes": "peak RSS",
}
#: Columns that label a row or say how it was measured rather than what: never a group key
#: (``meters`` and ``timed_passes`` choose the figures and their precision, not the case).
ROW_LABELS: tuple[str, ...] = ("suite", "case_id", "repeat", "meters", "timed_passes")
#: Identity columns swept as sizes or tolerances, in the order a size is looked for.
SIZES: tuple[str, ...] = ("steps", "depth", "step_size", "rtol", "atol", "batch")
#: Sweeps read from coarse to fine: tolerances and step sizes descending, counts ascending.
DESCENDING: tuple[str, ...] = ("rtol", "atol", "step_size")
SEMINORM = " (seminorm)"


def gradient_of(label: str) -> str:
    """The gradient mode of a label :func:`prepare` made: "adjoint (seminorm)" -> "adjoint"."""
    return label.removesuffix(SEMINORM)


@functools.cache
def case_columns() -> tuple[str, ...]:
    """The identity columns of a results row, from the schema (``results.IDENTITY``: every
    field of a case), less :data:`ROW_LABELS`; ``model`` and ``problem`` first."""
    from odebench.running.results import IDENTITY

    cols = [c for c in IDENTITY if c not in ROW_LABELS]
    return tuple(sorted(cols, key=lambda c: c not in ("model", "problem")))


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``subject`` (model or problem) and the seminorm folded into ``gradient``."""
    df = df.copy()
    for col in ("model", "problem", "method", "gradient", "backend"):
        if col not in df:
            df[col] = ""
        df[col] = df[col].astype("object").where(df[col].notna(), "").astype(str)
    df["subject"] = df["model"].where(df["model"] != "", df["problem"])
    if "seminorm" in df:
        seminorm = df["seminorm"].astype(str).str.lower().eq("true")
        df.loc[seminorm, "gradient"] = df.loc[seminorm, "gradient"] + SEMINORM
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows whose case finished (``status == "ok"``), prepared."""
    return prepare(df[df["status"] == "ok"])


def identity_columns(df: pd.DataFrame) -> list[str]:
    """``subject`` then the case columns of ``df`` (model/problem folded into subject).

    ``seminorm`` is left out: :func:`prepare` folds it into ``gradient``.
    """
    cols = [c for c in case_columns() if c in df.columns]
    return ["subject"] + [c for c in cols if c not in ("model", "problem", "seminorm")]


def varying(df: pd.DataFrame, columns: list[str] | None = None) -> list[str]:
    """The identity columns (or ``columns``) with more than one value in ``df`` (NaN counts)."""
    columns = identity_columns(df) if columns is None else columns
    return [c for c in columns if c in df and _values(df, c).nunique(dropna=False) > 1]


@functools.cache
def _solver_fields() -> tuple[str, ...]:
    from odebench.running import results

    return tuple(getattr(results, "SOLVER_FIELDS", ("backend", "method", "gradient")))


def _values(df: pd.DataFrame, column: str) -> pd.Series:
    """A column's values; a solver field's empty value (a model with no ODE solve, which its
    subject already tells apart) is no value of its own."""
    values = df[column]
    if column in _solver_fields():
        values = values[values.astype(str) != ""]
    return values


def constant(df: pd.DataFrame, columns: list[str] | None = None) -> dict[str, object]:
    """The identity columns with a single non-empty value in ``df``: ``{column: value}``."""
    columns = identity_columns(df) if columns is None else columns
    out: dict[str, object] = {}
    for c in columns:
        if c in df and _values(df, c).nunique(dropna=False) == 1:
            value = _values(df, c).iloc[0]
            if not (pd.isna(value) or value == ""):
                out[c] = value
    return out


def determined(df: pd.DataFrame, column: str, by: list[str]) -> bool:
    """Whether ``column`` holds one value for each combination of ``by`` (``atol = "rtol"``:
    atol is determined by rtol, so it names no line of its own)."""
    by = [c for c in by if c in df and c != column]
    if not by or column not in df:
        return False
    counts = df.groupby(by, dropna=False)[column].nunique(dropna=False)
    return bool((counts <= 1).all())


def line_key(
    df: pd.DataFrame,
    sweep: tuple[str, ...],
    *,
    always: tuple[str, ...] = ("subject", "method"),
    drop: tuple[str, ...] = (),
) -> list[str]:
    """The columns that split a figure's points into lines, as the report's tables group rows.

    ``always`` (where present), then every identity column that varies in ``df``
    (:func:`varying`), less the ``sweep`` along each line, less ``drop`` (shown another way,
    e.g. the gradient mode as line style), less any size the sweep determines (an atol tied
    to rtol). A size that varies on its own (atol crossed with rtol) splits the lines, so
    no line joins points of different cases at one sweep value.
    """
    sweep_present = [c for c in sweep if c in df]
    out = [c for c in always if c in df and c not in drop]
    for c in varying(df):
        if c in out or c in sweep or c in drop:
            continue
        if c in SIZES and determined(df, c, sweep_present):
            continue
        out.append(c)
    return out


def fmt_value(v: Any) -> str:
    """An identity value as text: floats in %g, missing as ''."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float | np.floating):
        return f"{v:g}"
    return str(v)


def describe(row: Any, key: list[str], *, always: tuple[str, ...] = ("subject", "method")) -> str:
    """A line's name from its key: "harmonic_oscillator / dopri5, atol 1e-06"."""
    named = [fmt_value(row[c]) for c in key if c in always and fmt_value(row[c])]
    other = [f"{c} {fmt_value(row[c])}" for c in key if c not in always and fmt_value(row[c])]
    return " / ".join(named) + "".join(f", {o}" for o in other)


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One order for every table: by identity column, sizes coarse to fine."""
    keys = [c for c in identity_columns(df) if c in df.columns]
    if not keys or df.empty:
        return df.reset_index(drop=True)
    ascending = [c not in DESCENDING for c in keys]
    return df.sort_values(
        keys, ascending=ascending, na_position="first", kind="stable"
    ).reset_index(drop=True)


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``y = intercept + slope x``; returns (slope, intercept, R^2).

    R^2 is NaN when ``y`` is constant: there is no variance to explain.
    """
    slope, intercept = np.polyfit(x, y, 1)
    pred = intercept + slope * x
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return float(slope), float(intercept), r2


def backends(df: pd.DataFrame) -> list[str]:
    """The solver backends named in ``df`` (empty where the column is absent or blank)."""
    if "backend" not in df:
        return []
    values = df["backend"].dropna().astype(str)
    return sorted(v for v in values.unique() if v)


def fmt_seconds(v: Any) -> str:
    """Seconds in µs, ms or s, 3 significant digits; '' for missing."""
    if v is None or pd.isna(v):
        return ""
    v = float(v)
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v * 1e6:.3g} µs"
    if abs(v) < 1:
        return f"{v * 1e3:.3g} ms"
    return f"{v:.3g} s"


def fmt_bytes(v: Any) -> str:
    """Bytes in B, KiB, MiB or GiB (binary units), 4 significant digits; '' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    v = float(v)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:.4g} {unit}"
    return f"{v:.4g} B" if abs(v) >= 0.01 else "0 B"


#: A timing whose IQR exceeds this fraction of its median is marked unstable.
UNSTABLE = 0.25
#: Each timing column and the column of its interquartile range.
TIMINGS: dict[str, str] = {
    "time_forward_s": "time_forward_iqr_s",
    "time_backward_s": "time_backward_iqr_s",
}


def relative_spread(median: Any, iqr: Any) -> float:
    """IQR / median (nan where either is missing or the median is not positive)."""
    try:
        m, q = float(median), float(iqr)
    except (TypeError, ValueError):
        return math.nan
    if not (math.isfinite(m) and math.isfinite(q)) or m <= 0:
        return math.nan
    return q / m


def unstable_rows(df: pd.DataFrame, limit: float = UNSTABLE) -> pd.Series:
    """True for each row whose forward or backward timing spread exceeds ``limit``."""
    marks = pd.Series(False, index=df.index)
    for col, iqr in TIMINGS.items():
        if col in df and iqr in df:
            spread = [relative_spread(m, q) for m, q in zip(df[col], df[iqr], strict=True)]
            marks |= pd.Series([s > limit for s in spread], index=df.index)
    return marks
