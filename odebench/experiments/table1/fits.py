"""Table 1's fits: the slopes of saved bytes, peak bytes and time over each row's sweep."""

from __future__ import annotations

from typing import Any

import pandas as pd

from odebench.benchmark.cases import Case
from odebench.experiments.table1.config import SCALING_UNITS, RowSpec

#: Results column -> meter name of the fits (time: one forward + backward, medians summed).
FIT_FIGURES: dict[str, str] = {
    "saved_bytes": "saved",
    "peak_alloc_bytes": "peak",
    "time_forward_backward_s": "time",
}

def with_time(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["time_forward_backward_s"] = df["time_forward_s"] + df["time_backward_s"]
    return df


def row_fits(spec: RowSpec, df: pd.DataFrame, cases: list[Case]) -> dict[str, Any]:
    """Slopes of saved bytes, peak bytes and time over the row's sweep (report's fits)."""
    from odebench.reading.tables import scaling_fits

    ids = {c.case_id for c in cases}
    sweep = df[df["case_id"].isin(ids)]
    if len(sweep) < 2:
        return {}
    fits = scaling_fits(sweep, FIT_FIGURES)
    if fits.empty:
        return {}
    out: dict[str, Any] = {"scaling_unit": SCALING_UNITS[spec.scaling]}
    for _, fit in fits.iterrows():
        prefix = fit["meter"]
        out[f"{prefix}_slope"] = fit["per_unit"]
        out[f"{prefix}_intercept"] = fit["intercept"]
        out[f"{prefix}_r2"] = fit["r2"]
        out["scaling_range"] = str(fit["x_range"]).replace("-", "..")
        out["scaling_points"] = int(fit["points"])
    return out
