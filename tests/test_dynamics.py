"""``odebench training-dynamics``: the training loop's records, the summary, the command."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from odebench.cli import dynamics as cli_dynamics
from odebench.cli.app import main
from odebench.experiments.dynamics.run import run_dynamics, summarise
from odebench.experiments.dynamics.spec import (
    ARMS,
    STEER_HALF_WIDTH,
    WINDOW,
    ArmSpec,
    DynamicsError,
)
from odebench.experiments.dynamics.train import train_arm

TINY = {"iterations": 3, "batch": 16, "hidden": 8}


def test_the_same_spec_trains_to_the_same_rows():
    a = train_arm(ArmSpec("none", seed=1, **TINY))[1]
    b = train_arm(ArmSpec("none", seed=1, **TINY))[1]
    keys = ("loss", "nfe_forward", "nfe_backward", "steps_accepted", "steps_rejected")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    c = train_arm(ArmSpec("none", seed=2, **TINY))[1]
    assert [r["loss"] for r in a] != [r["loss"] for r in c]


def test_fixed_grid_arm_costs_four_rk4_steps_each_way():
    rows = train_arm(ArmSpec("fixed_rk4", **TINY))[1]
    # rk4 makes 4 evaluations per step: 4 steps forward, the adjoint's 4 steps backward
    assert {(r["nfe_forward"], r["nfe_backward"], r["steps_accepted"]) for r in rows} == {
        (16, 16, 4)
    }


def test_adaptive_arms_count_two_plus_six_per_attempted_step():
    for arm in ("none", "rnode"):
        for r in train_arm(ArmSpec(arm, **TINY))[1]:
            # dopri5 (FSAL): 2 evaluations to start, 6 per attempted step
            assert r["nfe_forward"] == 2 + 6 * (r["steps_accepted"] + r["steps_rejected"])
            assert r["nfe_backward"] > 0  # the adjoint's reverse solve calls the field


def test_steer_draws_end_times_inside_its_window_and_others_keep_t1():
    steer = train_arm(ArmSpec("steer", iterations=8, batch=8, hidden=8))[1]
    t1s = [r["t1"] for r in steer]
    assert all(1 - STEER_HALF_WIDTH <= t <= 1 + STEER_HALF_WIDTH for t in t1s)
    assert len(set(t1s)) == len(t1s)
    assert {r["t1"] for r in train_arm(ArmSpec("none", **TINY))[1]} == {1.0}


def test_only_rnode_records_its_penalties():
    rnode = train_arm(ArmSpec("rnode", **TINY))[1]
    assert all(r["kinetic"] > 0 and r["jacobian"] > 0 and r["loss"] > r["nll"] for r in rnode)
    none = train_arm(ArmSpec("none", **TINY))[1]
    assert all(math.isnan(r["kinetic"]) and r["loss"] == r["nll"] for r in none)


def test_bad_specs_refuse_with_the_choices():
    with pytest.raises(DynamicsError, match="rnode"):
        ArmSpec("ronde")
    with pytest.raises(DynamicsError, match="iterations"):
        ArmSpec("none", iterations=0)


def test_cli_arms_are_the_experiments_arms():
    assert cli_dynamics.ARMS == ARMS


def _iterations(arm: str, seed: int, nfe: list[int]) -> list[dict]:
    return [{"arm": arm, "seed": seed, "iteration": i, "nfe_forward": n, "nfe_backward": 2 * n,
             "nll": 1.0, "time_s": 0.1} for i, n in enumerate(nfe)]  # fmt: skip


def test_summary_means_first_and_last_windows_then_seeds():
    n = 2 * WINDOW
    it = pd.DataFrame(
        _iterations("none", 0, [10] * WINDOW + [20] * WINDOW)
        + _iterations("none", 1, [10] * WINDOW + [40] * WINDOW)
    )
    solvers = {"dopri5 1e-3": 1.5, "dopri5 1e-5": 1.2, "dopri5 1e-8": 1.0, "rk4 4 steps": 9.0}
    res = pd.DataFrame([{"arm": "none", "seed": s, "eval_solver": k, "test_nll": v + s, "nfe": 7}
                        for s in (0, 1) for k, v in solvers.items()])  # fmt: skip
    row = summarise(it, res).iloc[0]
    assert row.iterations == n and row.seeds == 2
    assert row.nfe_forward_first_mean == 10 and row.nfe_forward_final_mean == 30
    assert row.nfe_forward_final_sd == pytest.approx(math.sqrt(200))  # sample sd of 20, 40
    assert row.nfe_backward_final_mean == 60
    assert row.solver_gap_mean == pytest.approx(0.2)  # dopri5 1e-5 minus dopri5 1e-8
    assert row.test_nll_loose_mean == pytest.approx(2.0)  # 1.5 and 2.5


def test_command_writes_every_table_and_figure(tmp_path, capsys):
    out = tmp_path / "td"
    code = main(["training-dynamics", "--out", str(out), "--arms", "none", "--seeds", "0",
                 "--iterations", "2", "--batch", "8", "--format", "csv"])  # fmt: skip
    assert code == 0
    for name in ("iterations.csv", "resolve.csv", "noise.csv", "summary.csv", "provenance.json",
                 "nfe_vs_iteration.png", "loss_vs_nfe.png", "resolve.png",
                 "weights/none_seed0.pt"):  # fmt: skip
        assert (out / name).is_file(), name
    assert len(pd.read_csv(out / "iterations.csv")) == 2
    assert "nfe_forward_final_mean" in capsys.readouterr().out
    noise = pd.read_csv(out / "noise.csv")
    fixed = noise[noise.trace == "hutchinson"].nfe
    assert fixed.nunique() == 1  # the same noise, the same solve


def test_command_refuses_an_earlier_run_and_bad_options_before_writing(tmp_path, capsys):
    out = tmp_path / "td"
    out.mkdir()
    (out / "provenance.json").write_text("{}")
    assert main(["training-dynamics", "--out", str(out), "--iterations", "1"]) == 2
    assert "earlier run" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["provenance.json"]
    assert main(["training-dynamics", "--out", str(tmp_path / "x"), "--arms", "none,ronde"]) == 2
    assert "ronde" in capsys.readouterr().err
    assert main(["training-dynamics", "--out", str(tmp_path / "y"), "--force"]) == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_run_refuses_a_folder_holding_an_earlier_run(tmp_path):
    (tmp_path / "iterations.csv").write_text("arm\n")
    from odebench.running.results import ResultsError

    with pytest.raises(ResultsError):
        run_dynamics(tmp_path, [ArmSpec("none", **TINY)])


def test_refitting_committed_weights_needs_force(capsys):
    from odebench.workloads.problems.cnf import WEIGHTS

    if not WEIGHTS.exists():
        pytest.skip("no committed weights to protect")
    before = WEIGHTS.read_bytes()
    assert main(["training-dynamics", "--fit-problem-weights"]) == 2
    assert "--force" in capsys.readouterr().err
    assert WEIGHTS.read_bytes() == before
