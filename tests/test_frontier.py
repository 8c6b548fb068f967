"""The frontier's rules (odebench.reading.frontier) on a hand-made table, its figure and
headline."""

from __future__ import annotations

import pandas as pd
import pytest

from odebench.reading.frontier import cheapest, frontier_rows, main, summary_lines


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


def test_cheapest_mode_per_target() -> None:
    best = cheapest(frontier_rows(_table()), targets=(1e-2, 1e-4, 1e-6)).set_index("target")
    # 1e-2: every row reaches it; fastest backprop 1e-3 (20 ms), smallest aca 1e-3 (1000 B)
    assert best.loc[1e-2, "fastest"].startswith("backprop at rtol 0.001")
    assert best.loc[1e-2, "least kept"].startswith("aca at rtol 0.001")
    assert best.loc[1e-2, "lowest peak"].startswith("aca at rtol 0.001")
    # 1e-4: backprop 1e-5 (40 ms), aca 1e-5 (60 ms) and checkpoint (80 ms) reach it
    assert best.loc[1e-4, "fastest"].startswith("backprop at rtol 1e-05")
    assert best.loc[1e-4, "least kept"].startswith("aca at rtol 1e-05")
    assert best.loc[1e-4, "lowest peak"].startswith("aca at rtol 1e-05")
    assert best.loc[1e-6, "fastest"] == "none reaches it"
    assert len(summary_lines(_table())) == 3


def test_frontier_figure_and_headline(tmp_path: object) -> None:
    from odebench.reading.headline import headline
    from odebench.reading.plots import gradient_frontier

    figs = gradient_frontier(_table())
    assert list(figs) == ["gradient_frontier_p"]
    head = headline(_table())
    assert any("Cheapest gradient mode" in title for title, _ in head.tables)
    assert any(s.startswith("p, loss on y(t1): gradient error <= 0.0001") for s in head.sentences)


def test_command_prints_the_table_and_refuses_nothing_to_show(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.csv"  # type: ignore[operator]
    _table().to_csv(path, index=False)
    assert main([str(path), "--rtol", "1e-5"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint" in out and "0.001" not in out
    assert main([str(path), "--subject", "nope"]) == 2


def test_profile_runs_every_mode_and_prints_the_frontier() -> None:
    from odebench.experiments.profile import battery, summary

    cases = battery("mlp_small", batch=4)
    assert len({c.case_id for c in cases}) == len(cases)
    dopri5 = [c for c in cases if c.method == "dopri5" and c.backend == "torchdiffeq"]
    for mode in ("backprop", "checkpoint", "aca", "adjoint"):
        metered = [c for c in dopri5 if c.gradient == mode and "saved" in c.meters]
        assert {c.rtol for c in metered} == {1e-3, 1e-5, 1e-7}, mode
    lines = summary(_table())
    assert any(line.startswith("p, loss on y(t1): gradient error <= 0.01") for line in lines)


def test_no_frontier_where_only_backprop_and_the_adjoint_ran() -> None:
    from odebench.reading.headline import headline
    from odebench.reading.plots import gradient_frontier

    table = _table()
    table.loc[table["gradient"] != "backprop", "gradient"] = "adjoint"
    assert gradient_frontier(table) == {}
    assert not any("Cheapest" in title for title, _ in headline(table).tables)
    # the seminorm is an option of the adjoint, not a third mode (the quick suite runs it)
    table.loc[table["case_id"] == "aca-1e-05", "seminorm"] = True
    assert set(frontier_rows(table)["mode"]) == {"backprop", "adjoint", "adjoint (seminorm)"}
    assert gradient_frontier(table) == {}
    assert not any("Cheapest" in title for title, _ in headline(table).tables)


def test_a_subject_without_gradient_error_is_not_ranked() -> None:
    table = _table()
    extra = table.iloc[:1].assign(problem="", model="odenet", grad_error=float("nan"))
    best = cheapest(frontier_rows(pd.concat([table, extra], ignore_index=True)))
    assert set(best["subject"]) == {"p"}
