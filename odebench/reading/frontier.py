"""The gradient-mode frontier from a results table: memory, time and gradient error per mode.

Read by the report's headline, the frontier figure
(:func:`odebench.reading.plots.gradient_frontier`)
and ``odebench profile``; nothing here runs a model. Rules, stated once:

* a row's *memory* is what its graph keeps for backward: ``saved_bytes`` plus
  ``saved_other_bytes`` (checkpoint's RNG states, autograd's saved numbers) where measured;
  *per step* divides it by the accepted steps; *peak* is ``peak_alloc_bytes``;
* a row's *time* is forward + backward (medians of the timed passes);
* a row's *spread* is the sum of the forward and backward IQRs; it is *unstable* where
  either IQR/median exceeds :data:`odebench.reading.analysis.UNSTABLE`;
* rows that differ in any identity column (batch, dtype, device, method, output times,
  backend, ...) are different rows: only the rows of one case (repeats, meters run apart)
  are merged, by their median.

Which mode to use is decided from these rows by :mod:`odebench.reading.decision`.

``odebench advise --results DIR`` prints the frontier table behind its decision
(:mod:`odebench.reading.decision`).
"""

from __future__ import annotations

import pandas as pd

from odebench.reading.analysis import (
    TIMINGS,
    determined,
    fmt_bytes,
    fmt_seconds,
    fmt_value,
    gradient_of,
    ok_rows,
    unstable_rows,
    varying,
)

#: The order modes are listed in (ties go to the earlier).
MODE_ORDER: tuple[str, ...] = (
    "backprop", "checkpoint", "aca", "adjoint", "torchode adjoint", "torchode adjoint_joint",
)  # fmt: skip


def mode_name(backend: str, gradient: str) -> str:
    """One label per (backend, gradient): torchdiffeq's modes plain, torchode's prefixed."""
    return gradient if backend in ("", "torchdiffeq") else f"{backend} {gradient}"


def loss_name(output_times: float) -> str:
    n = int(output_times)
    return "loss on y(t1)" if n == 2 else f"loss on {n} output times"


#: Identity columns the frontier folds into ``mode`` and ``loss`` or sweeps as ``rtol``.
FOLDED: tuple[str, ...] = (
    "subject", "backend", "gradient", "seminorm", "output_times", "rtol",
)  # fmt: skip


def context_columns(rows: pd.DataFrame) -> list[str]:
    """The identity columns besides subject, loss, mode and rtol that vary in ``rows``
    (batch, dtype, device, method, fixed steps, ...): frontier rows that differ in one are
    different cases and are never merged. An atol that follows rtol names nothing new."""
    cols = [c for c in varying(rows) if c not in FOLDED]
    if "atol" in cols and determined(rows, "atol", ["subject", "rtol", *cols]):
        cols.remove("atol")
    return cols


def frontier_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per finished case with a gradient mode: subject, loss, every other identity
    column that varies (:func:`context_columns`), mode, rtol and the frontier's figures
    (memory, per step, peak, time with its spread, gradient error, NFE)."""
    rows = ok_rows(df)
    if rows.empty or "gradient" not in rows:
        return pd.DataFrame()
    rows = rows[rows["gradient"] != ""]
    context = context_columns(rows)

    def col(name: str) -> pd.Series:
        if name not in rows:
            return pd.Series(float("nan"), index=rows.index)
        return pd.to_numeric(rows[name], errors="coerce")

    out = pd.DataFrame(index=rows.index)
    out["subject"] = rows["subject"]
    out["loss"] = col("output_times").fillna(2).map(loss_name)
    for c in context:  # a missing value (no batch) is a value of its own, not a dropped row
        out[c] = rows[c].astype(object).where(rows[c].notna(), "")
    out["mode"] = [mode_name(b, g) for b, g in zip(rows["backend"], rows["gradient"], strict=True)]
    out["rtol"] = col("rtol")
    out["memory_bytes"] = col("saved_bytes") + col("saved_other_bytes").fillna(0)
    steps = col("steps_accepted")
    out["bytes_per_step"] = out["memory_bytes"] / steps.where(steps > 0)
    out["peak_alloc_bytes"] = col("peak_alloc_bytes")
    for name in ("time_forward_s", "time_backward_s", *TIMINGS.values()):
        out[name] = col(name)
    for name in ("grad_error", "nfe_forward", "nfe_backward"):
        out[name] = col(name)
    # several rows of one case (repeats, or one case's meters run apart): their median
    key = ["subject", "loss", *context, "mode", "rtol"]
    out = out.groupby(key, sort=False, dropna=False, as_index=False).median(numeric_only=True)
    out["time_s"] = out["time_forward_s"] + out["time_backward_s"]
    # the spread of forward + backward: the sum of the two IQRs (a bound, not an estimate)
    out["time_iqr_s"] = out["time_forward_iqr_s"] + out["time_backward_iqr_s"]
    out["unstable"] = unstable_rows(out)
    for c in context:
        out[c] = out[c].where(out[c] != "", float("nan"))
    order = {m: i for i, m in enumerate(MODE_ORDER)}
    out["_order"] = out["mode"].map(lambda m: order.get(m, len(order)))
    out = out.sort_values(
        ["subject", "loss", *context, "_order", "rtol"],
        ascending=[True, True, *[True] * len(context), True, False],
    )
    drop = ["_order", "time_forward_s", "time_backward_s", *TIMINGS.values()]
    return out.drop(columns=drop).reset_index(drop=True)


#: The figures of a frontier row; every other column but ``mode`` and ``rtol`` names its case.
FIGURES: tuple[str, ...] = (
    "memory_bytes", "bytes_per_step", "peak_alloc_bytes", "time_s", "time_iqr_s", "unstable",
    "grad_error", "nfe_forward", "nfe_backward",
)  # fmt: skip


def group_columns(rows: pd.DataFrame) -> list[str]:
    """What one comparison of modes holds fixed: subject, loss and the context columns."""
    return [c for c in rows.columns if c not in (*FIGURES, "mode", "rtol")]


def beyond_the_papers_modes(rows: pd.DataFrame) -> bool:
    """Whether a mode other than the paper's two (backprop, torchdiffeq's adjoint, with or
    without an option such as the seminorm) ran: only then is there a frontier to draw."""
    if rows.empty:
        return False
    return not {gradient_of(str(m)) for m in rows["mode"]} <= {"backprop", "adjoint"}


def format_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The frontier rows as text columns."""
    if rows.empty:
        return rows
    context = {c: rows[c].map(fmt_value) for c in group_columns(rows)}
    return pd.DataFrame(
        {
            **context,
            "mode": rows["mode"],
            "rtol": rows["rtol"].map(lambda v: f"{v:g}"),
            "saved": rows["memory_bytes"].map(fmt_bytes),
            "saved/step": rows["bytes_per_step"].map(fmt_bytes),
            "peak": rows["peak_alloc_bytes"].map(fmt_bytes),
            "time": rows["time_s"].map(fmt_seconds),
            "spread": [
                f"{q / t:.0%}" + (" unstable" if u else "") if pd.notna(q) and t > 0 else ""
                for q, t, u in zip(rows["time_iqr_s"], rows["time_s"], rows["unstable"],
                                   strict=True)
            ],
            "grad error": rows["grad_error"].map(lambda v: f"{v:.3g}" if pd.notna(v) else ""),
            "NFE-F/B": [
                f"{int(f)}/{int(b)}" if pd.notna(f) and pd.notna(b) else ""
                for f, b in zip(rows["nfe_forward"], rows["nfe_backward"], strict=True)
            ],
        }
    )
