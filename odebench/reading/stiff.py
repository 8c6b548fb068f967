"""The stiff and batched suites' tables (issue 33): which method and gradient mode survives
each stiff problem, and what a shared step size costs a batch of independent problems.

Every row is kept: a case at its step budget, past its time limit or diverged is a status in
the table with the figures it reached, never a missing row.
"""

from __future__ import annotations

import pandas as pd

from odebench.reading.analysis import prepare

#: the stiff problems from mild to stiff within each family (the tables' row order)
STIFF_ORDER: tuple[str, ...] = (
    "vdp_mu1", "vdp_mu10", "vdp_mu100", "vdp_mu1000", "rober",
    "linear_stiff_r10", "linear_stiff_r1000", "linear_stiff_r100000",
)  # fmt: skip


def solver_label(row: pd.Series) -> str:
    """``backend method`` (torchdiffeq's scipy_* methods: scipy's, as they are)."""
    method = str(row["method"])
    if method.startswith("scipy_"):
        return method
    if row["backend"] == "scipy_odeint":
        return "odepack lsoda"
    return f"{row['backend']} {method}"


def stiff_rows(df: pd.DataFrame) -> pd.DataFrame:
    data = prepare(df)
    data = data[data["subject"].isin(STIFF_ORDER)].copy()
    if data.empty:
        return data
    data["solver"] = data.apply(solver_label, axis=1)
    data["order"] = data["subject"].map(STIFF_ORDER.index)
    return data


def survival_table(df: pd.DataFrame, rtol: float = 1e-5) -> pd.DataFrame:
    """Problem x (solver, gradient) at ``rtol``: the status of every case, with its time
    (forward + backward, s) and peak allocated memory where it finished."""
    data = stiff_rows(df)
    if data.empty:
        return pd.DataFrame()
    data = data[(data["rtol"] - rtol).abs() < 1e-12 * rtol]
    rows = []
    for _, r in data.sort_values(["order", "solver", "gradient"]).iterrows():
        seconds = r.get("time_forward_s", float("nan")) + r.get("time_backward_s", float("nan"))
        rows.append({
            "problem": r["subject"], "solver": r["solver"], "gradient": r["gradient"],
            "status": r["status"], "nfe_forward": r["nfe_forward"],
            "nfe_backward": r["nfe_backward"],
            "steps": (r["steps_accepted"] if pd.notna(r["steps_accepted"]) else 0)
            + (r["steps_rejected"] if pd.notna(r["steps_rejected"]) else 0)
            if pd.notna(r["steps_accepted"]) else float("nan"),
            "rejected_step_ratio": r["rejected_step_ratio"],
            "time_s": seconds, "peak_alloc_bytes": r["peak_alloc_bytes"],
            "saved_bytes": r["saved_bytes"], "state_error": r["state_error"],
            "grad_error": r["grad_error"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def survival_grid(df: pd.DataFrame, rtol: float = 1e-5) -> pd.DataFrame:
    """The survival table pivoted: problems as rows, ``solver / gradient`` as columns, the
    status in each cell."""
    table = survival_table(df, rtol)
    if table.empty:
        return table
    table["case"] = table["solver"] + " / " + table["gradient"]
    grid = table.pivot_table(index="problem", columns="case", values="status", aggfunc="first")
    return grid.reindex([p for p in STIFF_ORDER if p in grid.index])


def stiff_work_precision(df: pd.DataFrame) -> pd.DataFrame:
    """Every stiff case that ran with the error meter: tolerance, status, NFE, time, errors."""
    data = stiff_rows(df)
    if data.empty:
        return pd.DataFrame()
    data = data[data["gradient"].isin(["backprop", "adjoint"])]
    cols = ["subject", "solver", "gradient", "rtol", "status", "nfe_forward", "nfe_backward",
            "time_forward_s", "time_backward_s", "state_error", "grad_error"]  # fmt: skip
    return data.sort_values(["order", "solver", "rtol"])[cols].reset_index(drop=True)


def batched_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per backend, batch and tolerance: steps (the batch's, and per sample in the batch and
    alone), the shared/per-sample steps ratio, NFE, time, loop time, batch-dependence."""
    data = prepare(df)
    data = data[data["subject"] == "vdp_batched"].copy()
    if data.empty:
        return pd.DataFrame()
    data["steps_ratio"] = data["steps_accepted_mean"] / data["alone_steps_mean"]
    data["nfe_per_sample_alone"] = data["alone_nfe_total"] / data["batch"]
    cols = ["backend", "batch", "rtol", "status", "steps_accepted", "steps_accepted_mean",
            "alone_steps_mean", "steps_ratio", "rejected_step_ratio", "nfe_forward",
            "nfe_per_sample_alone", "time_forward_s", "alone_time_forward_s", "field_eval_s",
            "loop_time_per_step_s", "batch_dependence", "batch_dependence_median"]  # fmt: skip
    return data.sort_values(["rtol", "batch", "backend"])[cols].reset_index(drop=True)
