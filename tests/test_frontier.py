"""The frontier's rules (odebench.reading.frontier) on a hand-made table, its figure and
headline."""

from __future__ import annotations

import pandas as pd
import pytest

from odebench.reading.frontier import format_rows, frontier_rows


def _table() -> pd.DataFrame:
    """Two modes x two tolerances on one problem; figures chosen so each rule has one answer."""
    rows = []
    figures = {  # (gradient, rtol): (saved, other, steps, peak, fwd, bwd, grad_error)
        ("backprop", 1e-3): (8000, 0, 4, 9000, 0.010, 0.010, 5e-3),
        ("backprop", 1e-5): (16000, 0, 8, 17000, 0.020, 0.020, 5e-5),
        ("aca", 1e-3): (1000, 0, 4, 3000, 0.010, 0.020, 6e-3),
        ("aca", 1e-5): (2000, 0, 8, 5000, 0.020, 0.040, 6e-5),
        ("checkpoint", 1e-5): (4000, 20000, 8, 30000, 0.030, 0.050, 5e-5),
    }
    for (gradient, rtol), (saved, other, steps, peak, fwd, bwd, err) in figures.items():
        rows.append({
            "suite": "gradients", "case_id": f"{gradient}-{rtol}", "problem": "p", "model": "",
            "backend": "torchdiffeq", "method": "dopri5", "gradient": gradient, "rtol": rtol,
            "output_times": 2, "status": "ok", "saved_bytes": saved, "saved_other_bytes": other,
            "steps_accepted": steps, "peak_alloc_bytes": peak, "time_forward_s": fwd,
            "time_backward_s": bwd, "grad_error": err, "nfe_forward": 10, "nfe_backward": 10,
            "seminorm": False,
        })  # fmt: skip
    from odebench.running.results import COLUMNS

    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    return table.assign(repeat=0, dtype="float64", device="cpu", seed=0, reduction="sum")


def test_rows_add_other_bytes_and_divide_by_steps() -> None:
    rows = frontier_rows(_table())
    ck = rows[rows["mode"] == "checkpoint"].iloc[0]
    assert ck["memory_bytes"] == 24000 and ck["bytes_per_step"] == 3000
    assert ck["time_s"] == pytest.approx(0.080)
    assert list(rows["mode"].unique()) == ["backprop", "checkpoint", "aca"]


def test_rows_of_two_batches_are_never_merged() -> None:
    # the profile's batch-16 and batch-128 timing cases beside the batch-64 one: each keeps
    # its own time (the median of 21.6 / 35.0 / 86.7 ms read 35 ms for all three before)
    table = _table()
    bp = table[(table["gradient"] == "backprop") & (table["rtol"] == 1e-5)]
    times = {16: 0.0108, 64: 0.0175, 128: 0.04335}  # forward = backward: 21.6/35/86.7 ms
    table = pd.concat([table.assign(batch=64)] + [
        bp.assign(batch=b, time_forward_s=times[b], time_backward_s=times[b], saved_bytes=None)
        for b in (16, 128)], ignore_index=True)  # fmt: skip
    table.loc[table["batch"] == 64, ["time_forward_s", "time_backward_s"]] = None
    table.loc[(table["batch"] == 64) & (table["gradient"] == "backprop")
              & (table["rtol"] == 1e-5), ["time_forward_s", "time_backward_s"]] = 0.0108
    rows = frontier_rows(table)
    bp_rows = rows[(rows["mode"] == "backprop") & (rows["rtol"] == 1e-5)].set_index("batch")
    assert bp_rows["time_s"].to_dict() == pytest.approx({16: 0.0216, 64: 0.0216, 128: 0.0867})
    assert bp_rows.loc[64, "memory_bytes"] == 16000  # memory from the batch-64 row only
    assert pd.isna(bp_rows.loc[16, "memory_bytes"])
    assert "batch" in format_rows(rows).columns


def test_rows_of_two_dtypes_are_never_merged() -> None:
    table = pd.concat([_table(), _table().assign(dtype="float32", grad_error=1e-3)],
                      ignore_index=True)  # fmt: skip
    rows = frontier_rows(table)
    assert len(rows) == 2 * len(frontier_rows(_table()))
    assert set(rows[rows["dtype"] == "float32"]["grad_error"]) == {1e-3}


def test_a_spread_above_the_limit_marks_the_row_unstable() -> None:
    table = _table().assign(time_forward_iqr_s=0.001, time_backward_iqr_s=0.001)
    table.loc[table["case_id"] == "aca-1e-05", "time_backward_iqr_s"] = 0.011  # 27.5% of 40 ms
    rows = frontier_rows(table).set_index(["mode", "rtol"])
    assert rows.loc[("aca", 1e-5), "unstable"]
    assert rows.loc[("aca", 1e-5), "time_iqr_s"] == pytest.approx(0.012)
    assert not rows.loc[("backprop", 1e-5), "unstable"]


def test_frontier_figure_and_headline(tmp_path: object) -> None:
    from odebench.reading.headline import headline
    from odebench.reading.plots import gradient_frontier

    figs = gradient_frontier(_table())
    assert list(figs) == ["gradient_frontier_p"]
    head = headline(_table())
    assert head.tables[0][0].startswith("Which gradient method")
    decision = head.tables[0][1]
    assert list(decision["use"]) == ["backprop at rtol 1e-05"]


def test_profile_runs_every_mode_and_prints_the_frontier() -> None:
    from odebench.experiments.profile import battery, decision_lines

    cases = battery("mlp_small", batch=4)
    assert len({c.case_id for c in cases}) == len(cases)
    dopri5 = [c for c in cases if c.method == "dopri5" and c.backend == "torchdiffeq"]
    for mode in ("backprop", "checkpoint", "aca", "adjoint"):
        metered = [c for c in dopri5 if c.gradient == mode and "saved" in c.meters]
        assert {c.rtol for c in metered} == {1e-3, 1e-5, 1e-7}, mode
    lines = decision_lines(_table())
    assert lines[0].startswith("Which gradient method?")
    assert lines[1].startswith("- p, loss on y(t1): use backprop at rtol 1e-05")


def test_no_frontier_where_only_backprop_and_the_adjoint_ran() -> None:
    from odebench.reading.headline import headline
    from odebench.reading.plots import gradient_frontier

    table = _table()
    table.loc[table["gradient"] != "backprop", "gradient"] = "adjoint"
    assert gradient_frontier(table) == {}
    assert not any("frontier" in title for title, _ in headline(table).tables)
    # the seminorm is an option of the adjoint, not a third mode (the quick suite runs it)
    table.loc[table["case_id"] == "aca-1e-05", "seminorm"] = True
    assert set(frontier_rows(table)["mode"]) == {"backprop", "adjoint", "adjoint (seminorm)"}
    assert gradient_frontier(table) == {}
    assert not any("frontier" in title for title, _ in headline(table).tables)


def test_a_subject_without_gradient_error_is_not_decided() -> None:
    from odebench.reading.decision import decide

    table = _table()
    extra = table.iloc[:1].assign(problem="", model="odenet", grad_error=float("nan"))
    found = decide(frontier_rows(pd.concat([table, extra], ignore_index=True))).set_index(
        "subject")
    assert found.loc["p", "mode"] == "backprop"
    assert found.loc["odenet", "mode"] == ""
    assert "no gradient error measured" in found.loc["odenet", "why"]


def test_profile_decides_with_the_memory_of_the_modes_own_memory_cases() -> None:
    # the profile measures backprop's memory in cases of their own (no gradient error);
    # the decision must still read its peak from them
    from odebench.experiments.profile import decision_lines

    table = _table()
    memory = table[table["gradient"] == "backprop"].assign(
        grad_error=None, time_forward_s=None, time_backward_s=None, meters="nfe,saved")
    table.loc[table["gradient"] == "backprop", "peak_alloc_bytes"] = None
    lines = decision_lines(pd.concat([table, memory], ignore_index=True))
    assert "use backprop at rtol 1e-05" in lines[1]
    assert "peak 16.6 KiB" in lines[1]  # 17000 B, from the memory case
