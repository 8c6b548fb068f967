"""``odebench training-dynamics --model latent`` and ``--resume``: the spiral latent ODE's
regulariser terms, end times and solver counts, its re-solves and summary, option checks, and a
run cut short then resumed.

Expected values are derived by hand: the linear field ``f(z) = A z`` with
``A = [[a, -w], [w, a]]`` has ``|z(t)| = |z0| e^{at}``, ``|f|^2 = (a^2 + w^2) |z|^2`` and
``|A|_F^2 = 2 (a^2 + w^2)``; rk4 makes 4 evaluations a step and dopri5 2 + 6 per attempted step.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from torch import nn

from odebench.cli import dynamics as cli_dynamics
from odebench.cli.app import main
from odebench.experiments.dynamics import run as run_module
from odebench.experiments.dynamics.evaluate import EVAL_SOLVERS
from odebench.experiments.dynamics.latent_task import N_SPIRALS, TEST_FRACTION, steer_times
from odebench.experiments.dynamics.models import MODELS
from odebench.experiments.dynamics.run import run_dynamics, summarise
from odebench.experiments.dynamics.spec import (
    LAMBDA_JACOBIAN,
    LAMBDA_KINETIC,
    MAX_BATCH,
    MODEL_NAMES,
    STEER_HALF_WIDTH,
    WINDOW,
    ArmSpec,
    DynamicsError,
)
from odebench.experiments.dynamics.train import train_arm
from odebench.solvers import SolverConfig, solve
from odebench.workloads.models.rnode import RNODEField, rnode_initial_state

TINY = {"model": "latent", "iterations": 2, "batch": 8, "hidden": 6}
#: the spirals' grid step (1000 points over [0, 6 pi]); the window's last time is 99 steps
DT = 6 * math.pi / 999


class Linear(nn.Module):
    """``f(t, z) = A z`` with ``A = [[a, -w], [w, a]]``: a rotation that grows as ``e^{at}``."""

    def __init__(self, a: float, w: float):
        super().__init__()
        self.register_buffer("A", torch.tensor([[a, -w], [w, a]], dtype=torch.float64))

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return z @ self.A.T


def test_rnode_states_integrate_kinetic_energy_and_the_jacobians_frobenius_norm():
    a, w, T = -0.3, 2.0, 1.5
    field = RNODEField(Linear(a, w), dim=2)
    z0 = torch.tensor([[1.0, 0.5], [1.0, 0.5]], dtype=torch.float64)
    # one basis vector per row as Hutchinson's noise: |e_i^T A|^2 is the squared norm of row i
    # of A, so the two rows' Jacobian integrals add up to |A|_F^2 T exactly
    field.set_noise(torch.eye(2, dtype=torch.float64))
    with torch.no_grad():  # the Jacobian product is still taken, inside the field
        sol = solve(
            field,
            rnode_initial_state(z0),
            torch.tensor([0.0, T], dtype=torch.float64),
            SolverConfig(method="dopri5", rtol=1e-11, atol=1e-11),
        )
    y1 = sol.ys[-1]
    sq = 1.0**2 + 0.5**2
    kinetic = (a**2 + w**2) * sq * (math.exp(2 * a * T) - 1) / (2 * a)
    assert y1[:, 2].tolist() == pytest.approx([kinetic, kinetic], rel=1e-8)
    assert y1[:, 3].tolist() == pytest.approx([(a**2 + w**2) * T] * 2, rel=1e-10)
    assert float(y1[:, 3].sum()) == pytest.approx(2 * (a**2 + w**2) * T, rel=1e-10)  # |A|_F^2 T
    # and the latent state itself is the plain flow: |z(T)| = |z0| e^{aT}
    assert float(y1[0, :2].norm()) == pytest.approx(math.sqrt(sq) * math.exp(a * T), rel=1e-8)


def test_rnode_field_refuses_noise_that_does_not_match_the_state():
    field = RNODEField(Linear(0.1, 1.0), dim=2)
    field.set_noise(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="set_noise"):
        field(torch.tensor(0.0), torch.zeros(4, 4, dtype=torch.float64))


def test_latent_rnode_loss_adds_both_penalties_at_their_weights_and_other_arms_none():
    rnode = train_arm(ArmSpec("rnode", **TINY))[1]
    for r in rnode:
        assert r["kinetic"] > 0 and r["jacobian"] > 0
        expected = r["neg_elbo"] + LAMBDA_KINETIC * r["kinetic"] + LAMBDA_JACOBIAN * r["jacobian"]
        assert r["loss"] == pytest.approx(expected, rel=1e-5)
    for r in train_arm(ArmSpec("none", **TINY))[1]:
        assert math.isnan(r["kinetic"]) and r["loss"] == r["neg_elbo"]


def test_steer_moves_only_the_last_observation_time():
    times = torch.tensor([0.0, 1.0, 2.0, 4.0])
    assert steer_times(times, 1.5).tolist() == [0.0, 1.0, 2.0, 5.0]
    assert steer_times(times, 0.5).tolist() == [0.0, 1.0, 2.0, 3.0]
    rows = train_arm(ArmSpec("steer", **{**TINY, "iterations": 4}))[1]
    lo, hi = (99 - STEER_HALF_WIDTH) * DT, (99 + STEER_HALF_WIDTH) * DT
    assert all(lo - 1e-6 <= r["t1"] <= hi + 1e-6 for r in rows)
    assert len({r["t1"] for r in rows}) == len(rows)
    assert {round(r["t1"], 5) for r in train_arm(ArmSpec("none", **TINY))[1]} == {round(99 * DT, 5)}


def test_latent_solves_cost_what_their_methods_make():
    for r in train_arm(ArmSpec("fixed_rk4", **TINY))[1]:
        # 4 rk4 steps over the whole window whatever the 100 output times: 16 evaluations
        assert (r["nfe_forward"], r["steps_accepted"]) == (16, 4)
        assert r["nfe_backward"] > 0
    for r in train_arm(ArmSpec("none", **TINY))[1]:
        assert r["nfe_forward"] == 2 + 6 * (r["steps_accepted"] + r["steps_rejected"])


def test_latent_resolves_report_the_test_losses_under_every_solver():
    task = train_arm(ArmSpec("none", **TINY))[0]
    rows = {r["eval_solver"]: r for r in task.resolve_rows()}
    assert list(rows) == list(EVAL_SOLVERS)
    assert rows["rk4 4 steps"]["nfe"] == 16 and rows["rk4 64 steps"]["nfe"] == 256
    for r in rows.values():
        assert r["test_rmse"] > 0 and math.isfinite(r["test_neg_elbo"])
        if r["eval_solver"].startswith("dopri5"):
            assert r["nfe"] == 2 + 6 * (r["steps_accepted"] + r["steps_rejected"])


def test_latent_summary_reads_its_own_losses_and_the_gap_from_the_rmse():
    it = pd.DataFrame([{"arm": "none", "seed": s, "iteration": i, "nfe_forward": 20 + 10 * s,
                        "nfe_backward": 800, "neg_elbo": 100.0 - s, "time_s": 0.5}
                       for s in (0, 1) for i in range(WINDOW)])  # fmt: skip
    res = pd.DataFrame([{"arm": "none", "seed": s, "eval_solver": k, "test_rmse": v + 0.1 * s,
                         "test_neg_elbo": 50.0, "nfe": 30}
                        for s in (0, 1) for k, v in (("dopri5 1e-3", 0.9), ("dopri5 1e-5", 0.7),
                                                     ("dopri5 1e-8", 0.6))])  # fmt: skip
    row = summarise(it, res, model="latent").iloc[0]
    assert row.model == "latent" and row.nfe_forward_final_mean == 25
    assert row.train_neg_elbo_final_mean == pytest.approx(99.5)
    assert row.test_rmse_fine_mean == pytest.approx(0.65)  # 0.6 and 0.7
    assert row.test_rmse_loose_mean == pytest.approx(0.95)
    assert row.solver_gap_mean == pytest.approx(0.1)  # dopri5 1e-5 minus dopri5 1e-8
    assert row.test_neg_elbo_train_solver_mean == 50.0


def test_the_registries_agree():
    assert tuple(MODELS) == MODEL_NAMES == cli_dynamics.MODELS
    assert MAX_BATCH["latent"] == round(N_SPIRALS * (1 - TEST_FRACTION))


def test_latent_specs_refuse_the_cnfs_settings_and_too_large_a_batch():
    with pytest.raises(DynamicsError, match="density"):
        ArmSpec("none", model="latent", density="moons")
    with pytest.raises(DynamicsError, match="t1"):
        ArmSpec("none", model="latent", t1=2.0)
    with pytest.raises(DynamicsError, match="800"):
        ArmSpec("none", model="latent", batch=801)
    with pytest.raises(DynamicsError, match="cnf, latent"):
        ArmSpec("none", model="rnn")
    assert ArmSpec("none", model="latent").hidden == 20  # the paper's dynamics width
    assert ArmSpec("none").as_dict()["density"] == "8gaussians"


def test_bad_model_options_fail_in_one_line_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "td"
    for argv, said in (
        (["--model", "latent", "--density", "moons"], "--density"),
        (["--model", "latent", "--batch", "900"], "800"),
        (["--fit-problem-weights", "--model", "latent"], "--model"),
        (["--resume"], "no training-dynamics run"),
    ):
        assert main(["training-dynamics", "--out", str(out), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exc:
        main(["training-dynamics", "--out", str(out), "--model", "rnn"])
    assert exc.value.code == 2
    assert not out.exists()


def test_latent_command_writes_its_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "td"
    argv = ["training-dynamics", "--model", "latent", "--out", str(out), "--arms", "none",
            "--seeds", "0", "--iterations", "2", "--batch", "8", "--format", "csv"]  # fmt: skip
    code = main(argv)
    assert code == 0
    for name in ("iterations.csv", "resolve.csv", "summary.csv", "provenance.json",
                 "nfe_vs_iteration.png", "loss_vs_nfe.png", "resolve.png",
                 "weights/none_seed0.pt"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not (out / "noise.csv").exists()  # the noise diagnostic is the CNF's
    assert json.loads((out / "provenance.json").read_text())["model"] == "latent"
    assert "test_rmse_train_solver_mean" in capsys.readouterr().out
    assert set(pd.read_csv(out / "resolve.csv").eval_solver) == set(EVAL_SOLVERS)


CNF_TINY = {"iterations": 2, "batch": 8, "hidden": 8}


def test_an_interrupted_run_resumes_keeping_its_finished_arms(tmp_path, monkeypatch):
    out = tmp_path / "td"
    specs = [ArmSpec("none", **CNF_TINY), ArmSpec("steer", **CNF_TINY)]
    real = run_module.train_arm
    trained: list[str] = []

    def cut_at_steer(spec):  # the run is stopped while the second arm trains
        if spec.arm == "steer":
            raise KeyboardInterrupt
        trained.append(spec.arm)
        return real(spec)

    monkeypatch.setattr(run_module, "train_arm", cut_at_steer)
    with pytest.raises(KeyboardInterrupt):
        run_dynamics(out, specs)
    first = pd.read_csv(out / "iterations.csv")
    assert set(first.arm) == {"none"} and trained == ["none"]
    # a pair cut off after its re-solves were written but before its iterations: dropped
    resolve = pd.read_csv(out / "resolve.csv")
    pd.concat([resolve, resolve.assign(arm="steer")]).to_csv(out / "resolve.csv", index=False)

    def count(spec):
        trained.append(spec.arm)
        return real(spec)

    monkeypatch.setattr(run_module, "train_arm", count)
    summary = run_dynamics(out, specs, resume=True)
    assert trained == ["none", "steer"]  # "none" was not trained again
    it = pd.read_csv(out / "iterations.csv")
    pd.testing.assert_frame_equal(it[it.arm == "none"].reset_index(drop=True), first)
    assert sorted(set(it.arm)) == ["none", "steer"] and len(it) == 4
    res = pd.read_csv(out / "resolve.csv")
    assert len(res) == 2 * len(EVAL_SOLVERS)  # one set of re-solves per pair
    assert list(summary.arm) == ["none", "steer"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["resumed"][0]["finished_before"] == 1


def test_resume_is_refused_when_the_folders_settings_differ(tmp_path, capsys):
    out = tmp_path / "td"
    args = ["training-dynamics", "--out", str(out), "--arms", "none", "--seeds", "0",
            "--iterations", "2", "--batch", "8", "--format", "csv"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main([*args[:-2], "--iterations", "3", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "iterations=2" in err
    assert main([*args, "--model", "latent", "--resume"]) == 2
    assert "model='cnf'" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # the same settings: every pair is finished, nothing trains, the tables stay
    rows = len(pd.read_csv(out / "iterations.csv"))
    assert main([*args, "--resume"]) == 0
    assert len(pd.read_csv(out / "iterations.csv")) == rows
