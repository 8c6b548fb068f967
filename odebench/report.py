"""Report tables computed from a results table only (never runs a model), and the report.

* :func:`memory_fits`: bytes against steps (or depth, or NFE) per variant and meter:
  slope (bytes per step), intercept, R^2, the range fitted and the largest deviation.
* :func:`nfe_table`: NFE forward, backward and their ratio per tolerance.
* :func:`work_precision`: state and gradient error against NFE and time.
* :func:`time_table`: wall time per variant, median and spread over repeats.
* :func:`backend_table`: ratios of each figure between solver libraries on identical cases.
* :func:`headline`: the verdicts at the top of the report.

Medians are taken over the rows of one case only: every table groups by each identity
column that varies in it (:func:`odebench.analysis.varying`, derived from the schema) and
shows those columns. :func:`write_report` renders ``report.md`` and ``report.html`` from
``odebench/templates/`` with the figures of :mod:`odebench.plots` beside their tables.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odebench.analysis import (
    DESCENDING,
    MEMORY_METERS,
    backends,
    constant,
    fmt_bytes,
    fmt_seconds,
    gradient_of,
    identity_columns,
    linear_fit,
    ok_rows,
    prepare,
    sort_rows,
    varying,
)
from odebench.results import read_provenance, read_results
from odebench.solvers.config import GRADIENTS

__all__ = [
    "MEMORY_METERS", "backend_table", "format_table", "headline", "linear_fit",
    "memory_fits", "nfe_table", "ok_rows", "sections", "time_table", "work_precision",
    "write_report",
]  # fmt: skip

#: Shown in every table whatever varies: what a reader needs to name a solver setting.
ALWAYS: tuple[str, ...] = ("subject", "method", "gradient")
#: A first size whose residual is this many times the rest's largest is fitted apart.
OUTLIER_FACTOR = 10.0
#: ... and only when the others lie on their line within this fraction of their level (an
#: exact meter such as peak allocated; three noisy timings never qualify by chance).
ON_LINE = 1e-3


def _key(
    data: pd.DataFrame, *, always: tuple[str, ...] = ALWAYS, drop: tuple[str, ...] = ()
) -> list[str]:
    """Group key: the identity columns that vary in ``data`` plus ``always``, in schema order."""
    wanted = set(varying(data)) | {c for c in always if c in data}
    return [c for c in identity_columns(data) if c in wanted and c not in drop]


def _median_by_case(
    data: pd.DataFrame, cols: list[str], *, always: tuple[str, ...] = ALWAYS
) -> pd.DataFrame:
    """Median of ``cols`` over the rows of each case (rows differing only in ``repeat``)."""
    key = _key(data, always=always)
    # NaN keys (rtol of a fixed grid) stay groups of their own
    out = sort_rows(data.groupby(key, dropna=False, sort=False)[cols].median().reset_index())
    out.attrs["same"] = constant(data)
    return out


# --- memory fits ----------------------------------------------------------------------------


def _scaling_variable(group: pd.DataFrame) -> str | None:
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
    key = _key(data, drop=("steps", "depth", "rtol", "atol", "step_size"))
    for values, group in data.groupby(key, dropna=False, sort=False):
        var = _scaling_variable(group)
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
    out = _median_by_case(data, ["nfe_forward", "nfe_backward"], always=ALWAYS + ("rtol",))
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
    return _median_by_case(data, cols)


#: A timing whose IQR exceeds this fraction of its median is marked unstable.
UNSTABLE_SPREAD = 0.25


def time_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wall time per case: median forward/backward seconds and their IQR over timed passes;
    ``unstable`` where a row of the case has a spread (IQR/median) above 25 %."""
    from odebench.compare import unstable_rows

    data = ok_rows(df)
    data = data[data["time_forward_s"].notna()]
    if data.empty:
        return pd.DataFrame()
    cols = ["time_forward_s", "time_forward_iqr_s", "time_backward_s", "time_backward_iqr_s"]
    out = _median_by_case(data, cols)
    key = _key(data)
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
    key = [c for c in _key(data) if c != "backend"]
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


# --- headline -------------------------------------------------------------------------------


@dataclass
class Headline:
    """The verdicts: sentences, and the tables they are read from."""

    sentences: list[str]
    tables: list[tuple[str, pd.DataFrame]]


def _memory_verdicts(fits: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """Adjoint bytes per step against backprop's, per variant (all but gradient) and meter."""
    if fits.empty or not {"backprop", "adjoint"} <= set(fits["gradient"]):
        return [], pd.DataFrame()
    fits = fits[fits["per"] == "steps"]
    key = [c for c in identity_columns(fits) if c in fits and c != "gradient"] + ["meter"]
    rows, sentences = [], []
    for values, g in fits.groupby(key, sort=False, dropna=False):
        by = g.set_index("gradient")
        if not {"backprop", "adjoint"} <= set(by.index) or by.index.duplicated().any():
            continue
        ids = dict(zip(key, values, strict=True))
        meter = ids["meter"]
        bp, adj = by.loc["backprop"], by.loc["adjoint"]
        ratio = adj["bytes_per_unit"] / bp["bytes_per_unit"] if bp["bytes_per_unit"] else np.nan
        rows.append({
            **ids,
            "backprop_per_step": bp["bytes_per_unit"], "adjoint_per_step": adj["bytes_per_unit"],
            "adjoint_level_bytes": adj["intercept_bytes"] + adj["bytes_per_unit"] * _x_max(adj),
            "ratio_adjoint_backprop": ratio, "adjoint_fitted_over": adj["x_range"],
            "adjoint_constant": adj["constant"],
        })  # fmt: skip
        if not bp["r2"] >= 0.9:  # backprop itself does not grow (RSS of a GPU run, say)
            how = "constant" if bp["constant"] else f"R² {bp['r2']:.2f}"
            verdict = (f"this meter shows no growth even for backprop ({how}): it cannot "
                       "tell O(1) from O(L) here")  # fmt: skip
        elif abs(ratio) < 0.01:
            verdict = "O(1)"
        elif not adj["r2"] >= 0.9:
            verdict = f"no clear trend (adjoint R² {adj['r2']:.2f}: noise of this meter)"
        else:
            verdict = "grows with steps"
        adj_text = ("constant" if adj["constant"]
                    else f"{fmt_bytes(adj['bytes_per_unit'])} per step")  # fmt: skip
        share = ("" if adj["constant"] or np.isnan(ratio)
                 else f" ({fmt_ratio(ratio)} of backprop's)")  # fmt: skip
        sentences.append(
            f"{meter} ({_variant(pd.Series(ids), skip=('meter',))}): backprop "
            f"{fmt_bytes(bp['bytes_per_unit'])} per "
            f"step, adjoint {adj_text} over steps {adj['x_range']}{share}: {verdict}."
            + (f" Fitted apart: {adj['excluded']}." if adj["excluded"] else "")
        )
    return sentences, pd.DataFrame(rows)


def _x_max(fit: pd.Series) -> float:
    return float(str(fit["x_range"]).split("-")[-1])


def _pivot_by_tolerance(table: pd.DataFrame, value: str, columns: str) -> pd.DataFrame:
    """``value`` with a column per ``columns`` value, rows keyed by the rest of the key."""
    key = [c for c in table.columns if c in identity_columns(table) and c != columns]
    same_tol = "atol" in key and (table["rtol"].fillna(-1) == table["atol"].fillna(-1)).all()
    if same_tol:  # atol follows rtol: one of them is enough
        key.remove("atol")
    # a missing key value (no batch for a problem) is a value of its own, not a dropped row
    keyed = table.assign(**{c: table[c].astype(object).where(table[c].notna(), "") for c in key})
    wide = keyed.pivot_table(index=key, columns=columns, values=value, sort=False)
    if columns in DESCENDING:  # tolerances loose to tight
        wide = wide[sorted(wide.columns, reverse=True)]
    else:  # in the order the rows name them (backprop, adjoint, adjoint (seminorm))
        wide = wide[sorted(wide.columns, key=lambda c: (not str(c).startswith("backprop"), str(c)))]
    wide = wide.reset_index()
    wide.columns.name = None
    for c in key:
        wide[c] = wide[c].where(wide[c] != "", np.nan)
    return sort_rows(wide)


def _variant(row: pd.Series, skip: tuple[str, ...] = ()) -> str:
    """A row's identity values as words: "spiral_trained dopri5 adjoint, batch 8"."""
    names = [c for c in identity_columns(pd.DataFrame(columns=row.index)) if c not in skip]
    named = [c for c in names if c in ALWAYS and _fmt_general(row[c])]
    other = [f"{HEADERS.get(c, c)} {_fmt_general(row[c])}" for c in names
             if c not in ALWAYS and _fmt_general(row[c])]  # fmt: skip
    return " ".join(_fmt_general(row[c]) for c in named) + ("".join(f", {o}" for o in other))


def headline(df: pd.DataFrame) -> Headline:
    """The verdicts: adjoint memory per step against backprop's, NFE-B/NFE-F of the adjoint,
    and the gradient error of each mode at each tolerance (rules stated in the sentences)."""
    sentences, tables = [], []
    mem_sentences, mem = _memory_verdicts(memory_fits(df))
    sentences += mem_sentences
    if not mem.empty:
        tables.append(("Memory per step: adjoint against backprop (verdict O(1) when the "
                       "adjoint's slope is below 1% of backprop's)", mem))  # fmt: skip
    nfe = nfe_table(df)
    if not nfe.empty:
        adj = nfe[nfe["gradient"].str.startswith("adjoint")]
        if not adj.empty:
            wide = _pivot_by_tolerance(adj.drop(columns=["nfe_forward", "nfe_backward"]),
                                       "nfe_ratio_b_f", "rtol")  # fmt: skip
            tables.append(("NFE-B / NFE-F of the adjoint per tolerance (the paper: about 1/2)",
                           _tolerance_headers(wide)))  # fmt: skip
            tols = [c for c in wide.columns if isinstance(c, float)]
            for _, row in wide.iterrows():
                ratios = ", ".join(f"{row[t]:.2f} at {t:g}" for t in tols if pd.notna(row[t]))
                if ratios:
                    sentences.append(f"NFE-B/NFE-F, {_variant(row)}: {ratios}.")
    wp = work_precision(df)
    if not wp.empty and "rtol" in wp and wp["grad_error"].notna().any():
        grad = wp[wp["rtol"].notna() & wp["grad_error"].notna()]
        if grad["gradient"].nunique() > 1:
            keep = [c for c in grad.columns if c in identity_columns(grad)] + ["grad_error"]
            wide = _pivot_by_tolerance(grad[keep].drop(columns=["atol"], errors="ignore"),
                                       "grad_error", "gradient")  # fmt: skip
            tables.append(("Gradient error (relative L2) of each mode at each tolerance", wide))
            if {"backprop", "adjoint"} <= set(wide.columns):
                key = [c for c in wide.columns if c in identity_columns(wide) and c != "rtol"]
                ratio = wide.assign(ratio=wide["adjoint"] / wide["backprop"])
                ratio = ratio[ratio["ratio"].notna()]
                parts = []
                for _, g in ratio.groupby(key, sort=False, dropna=False):
                    lo, hi = g["ratio"].min(), g["ratio"].max()
                    span = f"{lo:.3g}x" if lo == hi else f"{lo:.3g}x to {hi:.3g}x"
                    parts.append(f"{_variant(g.iloc[0], skip=('rtol',))} {span}")
                if parts:
                    sentences.append(
                        "Gradient error of the adjoint against backprop's at equal tolerance "
                        f"(above 1: the adjoint's is larger): {'; '.join(parts)}."
                    )
    times = time_table(df)
    if not times.empty and times["unstable"].any():
        sentences.append(f"Timings of {int(times['unstable'].sum())} of {len(times)} timed cases "
                         f"spread by more than {UNSTABLE_SPREAD:.0%} (IQR/median): marked "
                         "unstable in the Wall time table, not to be trusted.")  # fmt: skip
    # the gradient-mode frontier (odebench.frontier), where more modes than backprop and the
    # adjoint ran: the cheapest mode in time and in memory reaching each gradient error
    from odebench.frontier import beyond_the_papers_modes, cheapest, frontier_rows, summary_lines

    modes = frontier_rows(df)
    if beyond_the_papers_modes(modes):
        best = cheapest(modes)
        if not best.empty:
            tables.append(("Cheapest gradient mode reaching each gradient error (time: forward "
                           "+ backward; peak: allocated over both; kept: bytes kept for "
                           "backward)", best))  # fmt: skip
            sentences += summary_lines(df)
    return Headline(sentences, tables)


def _tolerance_headers(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.rename(columns={c: f"rtol {c:g}" for c in wide.columns if isinstance(c, float)})


# --- formatting -----------------------------------------------------------------------------


def fmt_ratio(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.3g}"


def _fmt_count(v: Any) -> str:
    return "" if pd.isna(v) else f"{float(v):,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _fmt_general(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else ""
    if isinstance(v, float | np.floating):
        return f"{v:g}"
    return str(v)


def _formatter(col: str) -> Callable[[Any], str]:
    if col.endswith("_bytes") or col in ("bytes_per_unit", "backprop_per_step",
                                         "adjoint_per_step"):  # fmt: skip
        return fmt_bytes
    if col.endswith("_s"):
        return fmt_seconds
    # a column named after a gradient mode holds that mode's gradient error (the pivot above)
    if col.endswith("_error") or gradient_of(col) in GRADIENTS:
        return lambda v: "" if pd.isna(v) else f"{float(v):.2e}"
    if col.endswith("ratio") or col.startswith("rtol ") or "ratio" in col:
        return fmt_ratio
    if col == "r2":
        return lambda v: "" if pd.isna(v) else f"{float(v):.4f}"
    if col.startswith("nfe") or col in ("steps", "depth", "batch", "points", "params", "seed",
                                        "cases", "steps_accepted", "steps_rejected"):  # fmt: skip
        return _fmt_count
    return _fmt_general


#: Column headers a reader understands (unlisted columns keep their name).
HEADERS: dict[str, str] = {
    "nfe_forward": "NFE-F", "nfe_backward": "NFE-B", "nfe_total": "NFE-F + NFE-B",
    "nfe_ratio_b_f": "NFE-B / NFE-F", "bytes_per_unit": "bytes per unit",
    "intercept_bytes": "intercept", "r2": "R²", "max_dev_bytes": "max deviation",
    "x_range": "fitted over", "time_forward_s": "forward", "time_forward_iqr_s": "forward IQR",
    "time_backward_s": "backward", "time_backward_iqr_s": "backward IQR",
    "time_total_s": "forward + backward", "state_error": "state error",
    "grad_error": "gradient error", "backprop_per_step": "backprop per step",
    "adjoint_per_step": "adjoint per step", "adjoint_level_bytes": "adjoint level",
    "ratio_adjoint_backprop": "adjoint / backprop", "adjoint_fitted_over": "adjoint fitted over",
    "loss_reduction": "loss", "reduction": "loss", "step_size": "step size",
    "excluded": "fitted apart", "saved_bytes": "saved", "peak_alloc_bytes": "peak allocated",
}  # fmt: skip


def _header(col: str) -> str:
    if col.endswith("_ratio") and col != "nfe_ratio_b_f":
        return f"{_header(col[: -len('_ratio')])} ratio"
    return HEADERS.get(col, col)


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Strings for display: bytes in KiB/MiB, times in ms, empty cells empty, "constant"
    for a constant fit, and an ``atol`` equal to ``rtol`` in every row dropped."""
    t = table.copy()
    empty = [
        c for c in t.columns if c in identity_columns(t) and t[c].replace("", np.nan).isna().all()
    ]
    t = t.drop(columns=empty)  # an identity column empty in every row says nothing
    if {"rtol", "atol"} <= set(t.columns) and (t["rtol"].fillna(-1) == t["atol"].fillna(-1)).all():
        t = t.drop(columns="atol").rename(columns={"rtol": "rtol = atol"})
    flags = t.pop("constant") if "constant" in t else None
    out = pd.DataFrame(index=t.index)
    for col in t.columns:
        fmt = _formatter("rtol" if col == "rtol = atol" else str(col))
        out[col] = [fmt(v) for v in t[col]]
    if flags is not None:
        per = "bytes_per_unit" if "bytes_per_unit" in out else "per_unit"
        flags = flags.fillna(False).astype(bool)
        out.loc[flags, per] = "constant"
        if "r2" in out:
            out.loc[flags, "r2"] = ""
    for col in ("adjoint_per_step",):
        if col in t and "adjoint_constant" in t:
            out.loc[t["adjoint_constant"].astype(bool), col] = "constant"
    out = out.drop(columns=[c for c in ("adjoint_constant",) if c in out])
    return out.rename(columns=lambda c: _header(str(c)))


# --- sections and rendering -----------------------------------------------------------------


@dataclass
class Section:
    """One part of the report: a title, what it shows and how, a table, its figures."""

    title: str
    text: str
    table: pd.DataFrame
    figures: tuple[str, ...] = ()
    note: str = ""


def _constant_note(table: pd.DataFrame) -> str:
    """The identity columns with one value in every row a table was computed from."""
    same = {k: v for k, v in table.attrs.get("same", {}).items() if k not in table.columns}
    return ", ".join(f"{HEADERS.get(k, k)} {_fmt_general(v)}" for k, v in same.items())


def sections(df: pd.DataFrame) -> list[Section]:
    """Every report section, in order; tables are numeric (see :func:`format_table`)."""
    data = prepare(df)
    failed = data[data["status"] != "ok"][["case_id", "status", "error"]]
    out = [
        Section("Memory scaling",
                "Least-squares fit of each memory meter on the number of solver steps (or "
                "ResNet depth, or NFE across tolerances): bytes per unit, intercept, R² and "
                "the largest distance of a fitted point from the line. O(1) memory shows as "
                "'constant' or a slope near zero next to backprop's. Where the smallest "
                "size lies off an otherwise straight line it is fitted apart and listed: "
                "the adjoint's peak allocated is lower at 1 step than from 2 steps on. On "
                "the MLP field the gap is exactly three augmented states of the reverse "
                "solve (y, a(t), the parameter adjoint and t's: 98,820 B each at batch 128, "
                "296,460 B), consistent with the reverse solve holding the state carried "
                "from a previous step beside the step it computes, which a single step never "
                "does; from 2 steps on the peak grows only by the time grid (4 B per step).",
                memory_fits(df), ("memory_vs_steps", "memory_vs_depth")),
        Section("NFE forward and backward",
                "Median over a case's rows. With backprop through the solver NFE-B is 0 "
                "(the backward pass replays the graph); with the adjoint it is the reverse "
                "solve's NFE, which depends on the loss's scale (atol applies to the "
                "adjoint state too).",
                nfe_table(df), ("nfe_forward_vs_backward",)),
        Section("Work-precision",
                "Relative L2 error at t1 of the state and of the loss gradient, against NFE "
                "(forward, and forward + backward for the gradient) and forward + backward "
                "seconds; median over a case's rows.",
                work_precision(df),
                ("error_vs_tolerance", "work_precision_nfe", "work_precision_time")),
        Section("Wall time",
                "Seconds per forward and backward pass: median, and the interquartile range "
                "over the timed passes (after a warm-up pass; no meter on). 'unstable': a "
                f"spread (IQR/median) above {UNSTABLE_SPREAD:.0%} in a row of the case, a "
                "timing not to be trusted (see the load average under Provenance).",
                time_table(df), ("time_per_model", "time_vs_batch")),
    ]  # fmt: skip
    if len(backends(ok_rows(df))) >= 2:
        out.append(Section(
            "Solver libraries compared",
            "Ratio of each figure between backends on identical cases (every other identity "
            "column equal): below 1 the other library needs less. Times are ratios of "
            "medians measured in the same run.",
            backend_table(df)))  # fmt: skip
    out += [
        Section("Status", "Cases per status.", status_table(df)),
        Section("Failures", "Cases that did not finish, and why.", failed),
    ]
    for s in out:
        s.note = _constant_note(s.table)
    return out


def provenance_lines(prov: Mapping[str, Any]) -> tuple[list[tuple[str, str]], str]:
    """(key, value) pairs to show, and a warning when the run (or a resumption of it) was
    made from uncommitted code or from more than one commit."""

    def text(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{k} {v}" for k, v in value.items() if v not in (None, ""))
        if isinstance(value, list):
            return "; ".join(text(v) for v in value)
        return str(value)

    items = [(str(k), text(v)) for k, v in prov.items()]
    runs = [prov, *[r for r in prov.get("resumed", []) if isinstance(r, Mapping)]]
    commits = [str(r.get("commit") or "") for r in runs]
    warnings = []
    dirty = [c for c in commits if c.endswith("-dirty")]
    if dirty:
        base = dirty[0].removesuffix("-dirty")[:12]
        warnings.append(f"This run was made from uncommitted changes on top of commit {base}: "
                        "its figures may not be reproducible from that commit alone.")  # fmt: skip
    if not commits[0]:
        warnings.append("No commit recorded: the code that made this run is unknown.")
    if len({c.removesuffix("-dirty") for c in commits if c}) > 1:
        warnings.append("The run was resumed at another commit: its rows come from more than "
                        "one version of the code.")  # fmt: skip
    return items, " ".join(warnings)


def _figure_assets(df: pd.DataFrame, out_dir: Path) -> dict[str, dict[str, str]]:
    """Draw every figure (files under ``out_dir/plots``); {name: {png, svg, base64, title}}."""
    from odebench.plots import PLOTS, draw_all

    assets = {}
    for name, paths in draw_all(df, out_dir / "plots").items():
        png = next(p for p in paths if p.suffix == ".png")
        data = png.read_bytes()
        width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR width
        assets[name] = {
            "png": f"plots/{png.name}",
            "wide": width > 1100,
            "base64": base64.b64encode(data).decode("ascii"),
            "title": _figure_title(name, PLOTS),
        }
    return assets


def _figure_title(name: str, plots: Mapping[str, Any]) -> str:
    """The first line of the drawing function's docstring; a figure drawn under a name of
    its own (``gradient_frontier_<problem>``, one per problem) gets its name in words."""
    plot = plots.get(name)
    doc = (plot.__doc__ or "") if plot is not None else ""
    return doc.strip().splitlines()[0] if doc.strip() else name.replace("_", " ")


def _template(name: str):  # type: ignore[no-untyped-def]
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("odebench", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)


def _html_table(table: pd.DataFrame) -> str:
    shown = format_table(table)
    uid = hashlib.sha1(shown.to_csv().encode()).hexdigest()[:8]  # not random: same table, same page
    styler = shown.style.set_uuid(uid).hide(axis="index").set_table_attributes('class="data"')
    numeric = [c for c in shown.columns if c not in _TEXT_HEADERS]
    styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    return styler.to_html()


_TEXT_HEADERS = {"subject", "method", "gradient", "meter", "per", "status", "error", "case_id",
                 "dtype", "device", "backend", "backends", "loss", "fitted apart",
                 "fitted over", "adjoint fitted over", "suite", "unstable"}  # fmt: skip


def _md_table(table: pd.DataFrame) -> str:
    shown = format_table(table)
    align = ["left" if c in _TEXT_HEADERS else "right" for c in shown.columns]
    return shown.to_markdown(index=False, colalign=align, disable_numparse=True)


def render(df: pd.DataFrame, provenance: Mapping[str, Any], *, fmt: str,
           figures: Mapping[str, Mapping[str, str]] | None = None) -> str:  # fmt: skip
    """The report as ``fmt`` ("md" or "html") from its template."""
    table = _html_table if fmt == "html" else _md_table
    head = headline(df)
    prov, warning = provenance_lines(provenance)
    return _template(f"report.{fmt}.j2").render(
        headline=head.sentences,
        headline_tables=[(title, table(t)) for title, t in head.tables],
        sections=[
            {
                "title": s.title,
                "text": s.text,
                "note": s.note,
                "table": table(s.table) if not s.table.empty else "",
                "figures": [figures[n] | {"name": n} for n in s.figures if n in (figures or {})],
            }
            for s in sections(df)
        ],  # fmt: skip
        provenance=prov,
        warning=warning,
    )


def render_markdown(df: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    return render(df, provenance, fmt="md")


def render_html(df: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    return render(df, provenance, fmt="html")


def write_report(results: str | Path, out: str | Path | None = None, *,
                 figures: bool = True) -> list[Path]:  # fmt: skip
    """Write ``report.md`` and ``report.html`` beside the results (or into ``out``).

    With ``figures`` (the default) the figures of :mod:`odebench.plots` are drawn into
    ``<out>/plots/``, linked from the Markdown and embedded in the HTML (base64, so the
    page stands alone). Returns every file written.
    """
    results = Path(results)
    folder = results if results.is_dir() else results.parent
    df = read_results(results)  # validated before anything is written
    prov = read_provenance(folder)
    out_dir = Path(out) if out else folder
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = _figure_assets(df, out_dir) if figures else {}
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(render(df, prov, fmt="md", figures=assets))
    page.write_text(render(df, prov, fmt="html", figures=assets))
    written = [md, page]
    for name in assets:
        written += [out_dir / "plots" / f"{name}.png", out_dir / "plots" / f"{name}.svg"]
    return written
