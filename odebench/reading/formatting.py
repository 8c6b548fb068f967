"""How a figure is written in a table: ratios, counts, bytes, seconds, headers; shared by the
report, the headline and compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from odebench.reading.analysis import fmt_bytes, fmt_seconds, gradient_of, identity_columns
from odebench.solvers.config import GRADIENTS


def fmt_ratio(v: Any) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.3g}"


def fmt_count(v: Any) -> str:
    """A count with thousands separators; text (a table already formatted, e.g. the
    decision's identity columns) passes as it is."""
    if isinstance(v, str):
        return v
    return "" if pd.isna(v) else f"{float(v):,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def fmt_general(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else ""
    if isinstance(v, float | np.floating):
        return f"{v:g}"
    return str(v)


def formatter(col: str) -> Callable[[Any], str]:
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
        return fmt_count
    return fmt_general


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


def header(col: str) -> str:
    if col.endswith("_ratio") and col != "nfe_ratio_b_f":
        return f"{header(col[: -len('_ratio')])} ratio"
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
        fmt = formatter("rtol" if col == "rtol = atol" else str(col))
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
    return out.rename(columns=lambda c: header(str(c)))
