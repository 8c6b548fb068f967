"""The stiff and batched tables keep every case (failures are findings) and compute their
ratios as defined; their figures draw from a table with failures in it."""

import math

import matplotlib
import pandas as pd

from odebench.reading.plots.stiff import stiff_figures
from odebench.reading.stiff import batched_table, survival_grid, survival_table
from odebench.running.results import COLUMNS

matplotlib.use("Agg")


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(COLUMNS, float("nan"))
    row.update({"model": "", "backend": "torchdiffeq", "method": "dopri5", "gradient": "backprop",
                "seminorm": False, "rtol": 1e-5, "repeat": 0, "error": ""})  # fmt: skip
    row.update(values)
    return row


def _stiff() -> pd.DataFrame:
    return pd.DataFrame([
        _row(case_id="a", problem="vdp_mu1", status="ok", nfe_forward=230, steps_accepted=29,
             steps_rejected=9, time_forward_s=0.5, time_backward_s=0.25, state_error=1e-5,
             wall_s=3.0),
        _row(case_id="b", problem="vdp_mu1000", status="max_steps", nfe_forward=12002,
             steps_accepted=1607, steps_rejected=393, wall_s=13.0),
        _row(case_id="c", problem="vdp_mu1000", gradient="adjoint", status="timeout",
             wall_s=90.0),
        _row(case_id="d", problem="vdp_mu1000", method="scipy_radau", gradient="adjoint",
             status="ok", nfe_forward=700, nfe_backward=900, time_forward_s=1.0,
             time_backward_s=2.0, state_error=1e-4, wall_s=9.0),
    ])  # fmt: skip


def test_survival_table_keeps_every_case_with_the_figures_it_reached() -> None:
    table = survival_table(_stiff())
    # problems mild to stiff, then solver and gradient by name
    assert list(table["status"]) == ["ok", "ok", "timeout", "max_steps"]
    reached = table[table["status"] == "max_steps"].iloc[0]
    assert reached["steps"] == 2000 and reached["nfe_forward"] == 12002
    assert table.iloc[0]["time_s"] == 0.75  # forward + backward
    grid = survival_grid(_stiff())
    assert grid.loc["vdp_mu1000", "torchdiffeq dopri5 / adjoint"] == "timeout"
    assert grid.loc["vdp_mu1000", "scipy_radau / adjoint"] == "ok"
    assert list(grid.index) == ["vdp_mu1", "vdp_mu1000"]  # mild to stiff


def test_batched_steps_ratio_is_steps_in_the_batch_over_steps_alone() -> None:
    df = pd.DataFrame([
        _row(case_id="s", problem="vdp_batched", batch=16, status="ok", steps_accepted=775,
             steps_accepted_mean=775, alone_steps_mean=172.1875, alone_nfe_total=20816,
             batch_dependence=6e-5, batch_dependence_median=1e-5),
        _row(case_id="p", problem="vdp_batched", backend="torchode", batch=16, status="ok",
             steps_accepted=764, steps_accepted_mean=172.375, alone_steps_mean=172.375,
             alone_nfe_total=18596, batch_dependence=1e-14, batch_dependence_median=1e-15),
    ])  # fmt: skip
    table = batched_table(df).set_index("backend")
    assert math.isclose(table.loc["torchdiffeq", "steps_ratio"], 775 / 172.1875)
    assert table.loc["torchode", "steps_ratio"] == 1.0
    assert table.loc["torchdiffeq", "nfe_per_sample_alone"] == 20816 / 16
    assert set(stiff_figures(df)) == {"batched_steps"}


def test_figures_draw_from_a_table_with_failures() -> None:
    figures = stiff_figures(_stiff())
    assert set(figures) == {"stiff_survival", "stiff_cost_vs_stiffness", "stiff_work_precision"}
    for fig in figures.values():
        fig.canvas.draw()  # a log axis with no finished solve must still draw
