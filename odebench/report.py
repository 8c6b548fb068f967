"""Report tables computed from a results table only (never runs a model).

* :func:`memory_fits`: bytes against steps (or depth, or NFE) per subject, gradient mode
  and meter: slope (bytes per step), intercept, R^2.
* :func:`nfe_table`: NFE forward, backward and their ratio per tolerance.
* :func:`work_precision`: state and gradient error against NFE and time.
* :func:`time_table`: wall time per variant, median and spread over repeats.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odebench.results import read_provenance, read_results

MEMORY_METERS: dict[str, str] = {
    "saved_bytes": "saved activations",
    "peak_alloc_bytes": "peak allocated",
    "peak_rss_bytes": "peak RSS",
}
VARIANT = ["subject", "method", "gradient"]


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in ("model", "problem", "method", "gradient"):
        df[col] = df[col].astype("object").where(df[col].notna(), "").astype(str)
    df["subject"] = df["model"].where(df["model"] != "", df["problem"])
    seminorm = df["seminorm"].astype(str).str.lower().eq("true")
    df.loc[seminorm, "gradient"] = df.loc[seminorm, "gradient"] + " (seminorm)"
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return _prepare(df[df["status"] == "ok"])


def _scaling_variable(group: pd.DataFrame) -> str | None:
    """What a group's memory scales with: fixed-grid steps, ResNet depth, or NFE."""
    for col in ("steps", "depth", "nfe_forward"):
        if col in group and group[col].notna().all() and group[col].nunique() >= 2:
            return col
    return None


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``y = intercept + slope x``; returns (slope, intercept, R^2)."""
    slope, intercept = np.polyfit(x, y, 1)
    pred = intercept + slope * x
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return float(slope), float(intercept), r2


def memory_fits(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (subject, method, gradient, meter): the linear fit of bytes on size."""
    rows: list[dict[str, Any]] = []
    data = ok_rows(df)
    for key, group in data.groupby(VARIANT + ["dtype", "batch"], dropna=False):
        var = _scaling_variable(group)
        if var is None:
            continue
        for meter, label in MEMORY_METERS.items():
            g = group[[var, meter]].dropna()
            if g[var].nunique() < 2:
                continue
            x, y = g[var].to_numpy(float), g[meter].to_numpy(float)
            slope, intercept, r2 = linear_fit(x, y)
            slope, intercept = round(slope, 3) + 0.0, round(intercept, 1) + 0.0  # sub-byte: noise
            rows.append({
                "subject": key[0], "method": key[1], "gradient": key[2], "meter": label,
                "per": var, "points": len(g), "x_range": f"{x.min():g}-{x.max():g}",
                "bytes_per_unit": slope, "intercept_bytes": intercept, "r2": r2,
            })  # fmt: skip
    return pd.DataFrame(rows)


def nfe_table(df: pd.DataFrame) -> pd.DataFrame:
    """NFE forward/backward (median over repeats) and NFE-B/NFE-F per tolerance."""
    data = ok_rows(df)
    data = data[data["rtol"].notna() & data["nfe_forward"].notna()]
    if data.empty:
        return pd.DataFrame()
    out = (
        data.groupby(VARIANT + ["rtol"], dropna=False)[["nfe_forward", "nfe_backward"]]
        .median()
        .reset_index()
    )
    out["nfe_ratio_b_f"] = out["nfe_backward"] / out["nfe_forward"]
    return out.sort_values(VARIANT + ["rtol"], ascending=[True, True, True, False])


def work_precision(df: pd.DataFrame) -> pd.DataFrame:
    """State and gradient error against NFE and forward+backward time, per solver setting."""
    data = ok_rows(df)
    data = data[data["state_error"].notna()]
    if data.empty:
        return pd.DataFrame()
    data = data.assign(time_total_s=data["time_forward_s"] + data["time_backward_s"])
    cols = ["nfe_forward", "nfe_backward", "state_error", "grad_error", "time_total_s"]
    out = data.groupby(VARIANT + ["rtol", "steps"], dropna=False)[cols].median().reset_index()
    return out.sort_values(VARIANT + ["nfe_forward"])


def time_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wall time per variant: median forward/backward seconds and their spread (IQR)."""
    data = ok_rows(df)
    data = data[data["time_forward_s"].notna()]
    if data.empty:
        return pd.DataFrame()
    keys = VARIANT + ["rtol", "steps", "depth", "batch"]
    agg = data.groupby(keys, dropna=False).agg(
        time_forward_s=("time_forward_s", "median"),
        forward_iqr_s=("time_forward_iqr_s", "median"),
        time_backward_s=("time_backward_s", "median"),
        backward_iqr_s=("time_backward_iqr_s", "median"),
        rows=("time_forward_s", "size"),
    )
    return agg.reset_index()


def status_table(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("status").size().rename("cases").reset_index()


def _md(df: pd.DataFrame) -> str:
    if df.empty:
        return "_no rows_\n"
    return df.to_markdown(index=False, floatfmt=".4g") + "\n"


def sections(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, explanation, table) for each report section."""
    failed = _prepare(df[df["status"] != "ok"])[["case_id", "status", "error"]]
    return [
        ("Status", "Cases per status; failures are listed below with their error.",
         status_table(df)),
        ("Failures", "Cases that did not finish, and why.", failed),
        ("Memory scaling",
         "Least-squares fit of each memory meter on the number of solver steps (or ResNet "
         "depth, or NFE across tolerances): bytes per unit, intercept, R^2. O(1) memory "
         "shows as a slope near zero next to backprop's.", memory_fits(df)),
        ("NFE forward and backward",
         "Median over repeats. With backprop through the solver NFE-B is 0 (the backward "
         "pass replays the graph); with the adjoint it is the reverse solve's NFE.",
         nfe_table(df)),
        ("Work-precision",
         "Relative L2 error at t1 (state) and of the loss gradient, against NFE and "
         "forward+backward seconds.", work_precision(df)),
        ("Wall time", "Seconds per forward and backward pass: median, and IQR over repeats.",
         time_table(df)),
    ]  # fmt: skip


def render_markdown(df: pd.DataFrame, provenance: dict[str, Any]) -> str:
    lines = ["# odebench report", ""]
    if provenance:
        lines += ["## Provenance", ""]
        lines += [f"- **{k}**: `{v}`" for k, v in provenance.items()]
        lines.append("")
    for title, text, table in sections(df):
        lines += [f"## {title}", "", text, "", _md(table)]
    return "\n".join(lines)


def render_html(df: pd.DataFrame, provenance: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>odebench report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>",
        "<h1>odebench report</h1>",
    ]
    if provenance:
        parts.append("<h2>Provenance</h2><ul>")
        parts += [f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in
                  provenance.items()]  # fmt: skip
        parts.append("</ul>")
    for title, text, table in sections(df):
        parts += [f"<h2>{html.escape(title)}</h2>", f"<p>{html.escape(text)}</p>"]
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}")
                     if not table.empty else "<p><i>no rows</i></p>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write ``report.md`` and ``report.html`` beside the results (or into ``out``)."""
    results = Path(results)
    folder = results if results.is_dir() else results.parent
    df = read_results(results)
    prov = read_provenance(folder)
    out_dir = Path(out) if out else folder
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(render_markdown(df, prov))
    page.write_text(render_html(df, prov))
    return [md, page]
