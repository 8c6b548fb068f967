"""The report's tables, computed from a results table only (never runs a model).

* :func:`memory_fits`: bytes against steps (or depth, or NFE) per variant and meter:
  slope (bytes per step), intercept, R^2, the range fitted and the largest deviation.
* :func:`scaling_fits`: the same fit for any figure against the sweep's variable.
* :func:`nfe_table`: NFE forward, backward and their ratio per tolerance.
* :func:`work_precision`: state and gradient error against NFE and time.
* :func:`time_table`: wall time per variant, median and spread over repeats.
* :func:`status_table`, :func:`backend_table`: outcomes, and ratios between solver libraries.

Medians are taken over the rows of one case only: every table groups by each identity
column that varies in it (:func:`odebench.reading.analysis.varying`, derived from the schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from odebench.reading.analysis import (
    MEMORY_METERS,
    backends,
    constant,
    fmt_bytes,
    identity_columns,
    linear_fit,
    ok_rows,
    sort_rows,
    unstable_rows,
    varying,
)

#: Shown in every table whatever varies: what a reader needs to name a solver setting.
ALWAYS: tuple[str, ...] = ("subject", "method", "gradient")
#: A first size whose residual is this many times the rest's largest is fitted apart.
OUTLIER_FACTOR = 10.0
#: ... and only when the others lie on their line within this fraction of their level (an
#: exact meter such as peak allocated; three noisy timings never qualify by chance).
ON_LINE = 1e-3



def case_key(
    data: pd.DataFrame, *, always: tuple[str, ...] = ALWAYS, drop: tuple[str, ...] = ()
) -> list[str]:
    """Group key: the identity columns that vary in ``data`` plus ``always``, in schema order."""
    wanted = set(varying(data)) | {c for c in always if c in data}
    return [c for c in identity_columns(data) if c in wanted and c not in drop]


def median_by_case(
    data: pd.DataFrame, cols: list[str], *, always: tuple[str, ...] = ALWAYS
) -> pd.DataFrame:
    """Median of ``cols`` over the rows of each case (rows differing only in ``repeat``)."""
    key = case_key(data, always=always)
    # NaN keys (rtol of a fixed grid) stay groups of their own
    out = sort_rows(data.groupby(key, dropna=False, sort=False)[cols].median().reset_index())
    out.attrs["same"] = constant(data)
    return out


# --- memory fits ----------------------------------------------------------------------------


def scaling_variable(group: pd.DataFrame) -> str | None:
    """What a group's memory scales with: fixed-grid steps, ResNet depth, or NFE."""
    for col in ("steps", "depth", "nfe_forward"):
        if col in group and group[col].notna().all() and group[col].nunique() >= 2:
            return col
    return None


@dataclass
class Fit:
    """A line fitted to ``(x, y)``; ``excluded`` holds a first size left off the line."""

    slope: float
    intercept: float
    r2: float
    x: np.ndarray
    max_dev: float
    excluded: dict[float, float] = field(default_factory=dict)  # x -> deviation from the line


def _fit(x: np.ndarray, y: np.ndarray) -> Fit:
    slope, intercept, r2 = linear_fit(x, y)
    dev = float(np.abs(y - (intercept + slope * x)).max())
    return Fit(slope, intercept, r2, x, dev)


def fit_line(x: np.ndarray, y: np.ndarray) -> Fit:
    """The linear fit of ``y`` on ``x`` over the range where the data lie on a line.

    Rule: with four or more sizes, the smallest is fitted apart when the others lie on a
    line (within :data:`ON_LINE` of their level) at least :data:`OUTLIER_FACTOR` times
    closer than all of them do (the adjoint's peak allocated: flat from 2 steps, lower at
    1, where the reverse solve has no step before its last). Its deviation from the line
    is kept in ``excluded``.
    """
    order = np.argsort(x)
    x, y = x[order].astype(float), y[order].astype(float)
    full = _fit(x, y)
    if len(np.unique(x)) >= 4:
        rest = x > x.min()
        tail = _fit(x[rest], y[rest])
        level = float(np.abs(y[rest]).mean())
        on_line = tail.max_dev <= ON_LINE * level
        # a first point on the line too (within the same tolerance) is never fitted apart:
        # an exact meter's rounding residue is not a deviation
        off_line = full.max_dev > ON_LINE * level
        if on_line and off_line and full.max_dev > OUTLIER_FACTOR * tail.max_dev:
            first = x[~rest]
            dev = y[~rest] - (tail.intercept + tail.slope * first)
            tail.excluded = {float(first[0]): float(np.median(dev))}
            return tail
    return full


def scaling_fits(df: pd.DataFrame, figures: Mapping[str, str]) -> pd.DataFrame:
    """One row per variant and figure: the linear fit of the figure on size (:func:`fit_line`).

    ``figures`` maps result columns to the names shown in the ``meter`` column. A variant is
    every varying identity column except the swept sizes; the size is fixed-grid steps,
    ResNet depth, or (for a tolerance sweep) NFE forward.
    """
    rows: list[dict[str, Any]] = []
    data = ok_rows(df)
    data = data[data[list(figures)].notna().any(axis=1)]
    if data.empty:
        return pd.DataFrame()
    key = case_key(data, drop=("steps", "depth", "rtol", "atol", "step_size"))
    for values, group in data.groupby(key, dropna=False, sort=False):
        var = scaling_variable(group)
        if var is None:
            continue
        for col, label in figures.items():
            g = group[[var, col]].dropna()
            if g[var].nunique() < 2:
                continue
            fit = fit_line(g[var].to_numpy(float), g[col].to_numpy(float))
            constant_line = g.loc[g[var].isin(fit.x), col].nunique() == 1
            rows.append({
                **dict(zip(key, values, strict=True)), "meter": label, "per": var,
                "points": len(g), "x_range": f"{fit.x.min():g}-{fit.x.max():g}",
                "per_unit": 0.0 if constant_line else fit.slope,
                "intercept": fit.intercept, "r2": fit.r2, "max_dev": fit.max_dev,
                "constant": bool(constant_line),
                "excluded": "; ".join(f"{var} = {x:g}: {fmt_bytes(abs(d))} "
                                      f"{'below' if d < 0 else 'above'} the line"
                                      for x, d in fit.excluded.items()),
            })  # fmt: skip
    if not rows:
        return pd.DataFrame()
    out = sort_rows(pd.DataFrame(rows))
    out.attrs["same"] = constant(data)
    return out


def memory_fits(df: pd.DataFrame) -> pd.DataFrame:
    """One row per variant and memory meter: bytes per unit of size, intercept, R^2.

    Columns: the varying identity columns (``subject``, ``method``, ``gradient`` always),
    ``meter``, ``per`` (steps, depth or nfe_forward), ``points``, ``x_range`` (the sizes
    fitted), ``bytes_per_unit``, ``intercept_bytes``, ``r2`` (NaN for a constant),
    ``max_dev_bytes`` (largest distance of a fitted point from the line), ``constant``,
    ``excluded`` (a first size fitted apart, see :func:`fit_line`).
    """
    fits = scaling_fits(df, MEMORY_METERS)
    if fits.empty:
        return fits
    out = fits.rename(columns={"per_unit": "bytes_per_unit", "intercept": "intercept_bytes",
                               "max_dev": "max_dev_bytes"})  # fmt: skip
    out.attrs = fits.attrs
    return out


# --- NFE, work-precision, time --------------------------------------------------------------


def nfe_table(df: pd.DataFrame) -> pd.DataFrame:
    """NFE forward/backward (median over a case's rows) and NFE-B/NFE-F per tolerance."""
    data = ok_rows(df)
    data = data[data["rtol"].notna() & data["nfe_forward"].notna()]
    if data.empty:
        return pd.DataFrame()
    out = median_by_case(data, ["nfe_forward", "nfe_backward"], always=ALWAYS + ("rtol",))
    out["nfe_ratio_b_f"] = out["nfe_backward"] / out["nfe_forward"]
    return out


def work_precision(df: pd.DataFrame) -> pd.DataFrame:
    """State and gradient error against NFE (forward, backward, total) and time per setting."""
    data = ok_rows(df)
    data = data[data["state_error"].notna()]
    if data.empty:
        return pd.DataFrame()
    data = data.assign(
        nfe_total=data["nfe_forward"] + data["nfe_backward"].fillna(0),
        time_total_s=data["time_forward_s"] + data["time_backward_s"],
    )
    cols = ["nfe_forward", "nfe_backward", "nfe_total", "state_error", "grad_error",
            "time_total_s"]  # fmt: skip
    return median_by_case(data, cols)


#: A timing whose IQR exceeds this fraction of its median is marked unstable.
UNSTABLE_SPREAD = 0.25


def time_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wall time per case: median forward/backward seconds and their IQR over timed passes;
    ``unstable`` where a row of the case has a spread (IQR/median) above 25 %."""

    data = ok_rows(df)
    data = data[data["time_forward_s"].notna()]
    if data.empty:
        return pd.DataFrame()
    cols = ["time_forward_s", "time_forward_iqr_s", "time_backward_s", "time_backward_iqr_s"]
    out = median_by_case(data, cols)
    key = case_key(data)
    marks = (data.assign(unstable=unstable_rows(data, UNSTABLE_SPREAD))
             .groupby(key, dropna=False, sort=False)["unstable"].max().reset_index())  # fmt: skip
    same = out.attrs.get("same", {})
    out = out.merge(marks, on=key, how="left", sort=False)
    out["unstable"] = out["unstable"].astype("boolean").fillna(False).astype(bool)
    out.attrs["same"] = same
    return out


def status_table(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("status").size().rename("cases").reset_index()


#: Figures compared between backends, in the order shown.
BACKEND_FIGURES: tuple[str, ...] = (
    "nfe_forward", "nfe_backward", "saved_bytes", "peak_alloc_bytes", "time_forward_s",
    "time_backward_s", "state_error", "grad_error",
)  # fmt: skip


def backend_table(df: pd.DataFrame, *, reference: str = "torchdiffeq") -> pd.DataFrame:
    """Ratio other/reference of each figure on identical cases (all identity columns but
    ``backend`` equal); empty when fewer than two backends are present.

    One row per case measured with both; a ratio is empty where either figure is missing
    or the reference's is 0.
    """
    data = ok_rows(df)
    names = backends(data)
    if len(names) < 2:
        return pd.DataFrame()
    ref = reference if reference in names else names[0]
    figures = [c for c in BACKEND_FIGURES if c in data and data[c].notna().any()]
    key = [c for c in case_key(data) if c != "backend"]
    med = data.groupby(key + ["backend"], dropna=False)[figures].median().reset_index()
    base = med[med["backend"] == ref].drop(columns="backend")
    rows = []
    for other in (n for n in names if n != ref):
        pair = base.merge(med[med["backend"] == other].drop(columns="backend"), on=key,
                          suffixes=("_ref", "_other"))  # fmt: skip
        if pair.empty:
            continue
        out = pair[key].copy()
        out.insert(len(key), "backends", f"{other} / {ref}")
        for c in figures:
            den = pair[f"{c}_ref"].where(pair[f"{c}_ref"] != 0)
            out[f"{c}_ratio"] = pair[f"{c}_other"] / den
        rows.append(out)
    return sort_rows(pd.concat(rows, ignore_index=True)) if rows else pd.DataFrame()
