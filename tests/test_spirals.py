"""Spiral data (seeded generation, subsampling, splitting, radii, input checks) and Table 2."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

import odebench.cli.app as cli
from odebench.cli import spirals as command
from odebench.experiments.spirals import (
    figures,
    render,
    run,
    score,
    settings,
    split,
    train,
)
from odebench.workloads.data.spirals import (
    Spirals,
    check_observations,
    make_spirals,
    radius,
    subsample,
    train_test_split,
    within_training_radii,
)


def test_same_seed_gives_same_spirals_and_another_seed_differs() -> None:
    a, b, c = make_spirals(20, seed=3), make_spirals(20, seed=3), make_spirals(20, seed=4)
    assert torch.equal(a.noisy, b.noisy) and torch.equal(a.clockwise, b.clockwise)
    assert not torch.equal(a.noisy, c.noisy)


def test_shapes_and_time_grid_start_at_zero_and_extrapolation_follows_window() -> None:
    d = make_spirals(10, n_points=100, n_extrap=20)
    assert d.truth.shape == d.noisy.shape == (10, 100, 2)
    assert d.extrap_truth.shape == (10, 20, 2) and d.extrap_times.shape == (20,)
    assert float(d.times[0]) == 0.0
    assert bool((d.times[1:] > d.times[:-1]).all())
    assert float(d.extrap_times[0]) > float(d.times[-1])


def test_exactly_half_the_spirals_turn_clockwise() -> None:
    assert int(make_spirals(50).clockwise.sum()) == 25


def test_observation_noise_has_the_requested_std() -> None:
    d = make_spirals(400, noise_std=0.3)
    assert float((d.noisy - d.truth).std()) == pytest.approx(0.3, rel=0.02)


def test_counter_clockwise_truth_lies_on_archimedean_spiral() -> None:
    d = make_spirals(40, b=0.3, n_extrap=0)
    cc = d.truth[~d.clockwise].double()
    x, y = cc[..., 0] - 5.0, cc[..., 1]
    r = torch.sqrt(x**2 + y**2)
    theta = r / 0.3  # r = b * theta with a = 0
    torch.testing.assert_close(torch.cos(theta) * r, x, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.sin(theta) * r, y, atol=1e-4, rtol=0)
    # theta grows with time at unit rate
    step = float(d.times[1] - d.times[0])
    torch.testing.assert_close(
        theta[:, 1:] - theta[:, :-1], torch.full_like(x[:, 1:], step), atol=1e-3, rtol=0
    )
    assert step == pytest.approx(6 * math.pi / 999, rel=1e-6)


def test_subsample_keeps_n_obs_points_per_series_at_different_times() -> None:
    mask = subsample(30, 100, 30, seed=1)
    assert mask.dtype == torch.bool
    assert mask.sum(dim=1).tolist() == [30] * 30
    assert len({tuple(row.nonzero().flatten().tolist()) for row in mask}) == 30
    assert torch.equal(mask, subsample(30, 100, 30, seed=1))
    assert bool(subsample(5, 100, 100).all())


def test_observing_more_points_than_the_series_holds_raises() -> None:
    with pytest.raises(ValueError, match="n_obs <= 100"):
        subsample(4, 100, 101)


def test_train_test_split_is_disjoint_and_covers_every_series() -> None:
    tr, te = train_test_split(100, 0.2, seed=0)
    assert len(te) == 20 and len(tr) == 80
    assert sorted(tr.tolist() + te.tolist()) == list(range(100))


def test_unsorted_times_raise_and_say_to_sort() -> None:
    values = torch.zeros(2, 3, 2)
    with pytest.raises(ValueError, match="sort"):
        check_observations(torch.tensor([0.0, 2.0, 1.0]), values)


def test_mismatched_times_and_values_lengths_raise() -> None:
    with pytest.raises(ValueError, match="mismatched lengths"):
        check_observations(torch.tensor([0.0, 1.0]), torch.zeros(2, 3, 2))


def test_series_without_observations_or_wrong_mask_shape_raise() -> None:
    times, values = torch.tensor([0.0, 1.0, 2.0]), torch.zeros(2, 3, 2)
    with pytest.raises(ValueError, match="at least one observed"):
        check_observations(times, values, torch.tensor([[True, False, False], [False] * 3]))
    with pytest.raises(ValueError, match="mask must be"):
        check_observations(times, values, torch.ones(2, 2, dtype=torch.bool))


def test_radius_is_the_distance_from_each_spirals_centre() -> None:
    xy = torch.tensor([[[8.0, 4.0]], [[-2.0, -4.0]]])  # (5 + 3, 4) and (-5 + 3, -4)
    assert radius(xy, torch.tensor([False, True])).flatten().tolist() == [5.0, 5.0]
    d = make_spirals(40, n_extrap=0)
    cc = radius(d.truth, d.clockwise)[~d.clockwise]
    t_abs = cc / 0.3  # counter-clockwise: r = 0.3 t, t growing by one grid step per point
    torch.testing.assert_close(
        t_abs[:, 1:] - t_abs[:, :-1],
        torch.full_like(t_abs[:, 1:], 6 * math.pi / 999),
        atol=1e-4,
        rtol=0,
    )


def _hand_spirals(truth: list, extrap: list, clockwise: list) -> Spirals:
    t = torch.tensor(truth, dtype=torch.float32)
    e = torch.tensor(extrap, dtype=torch.float32)
    n, length = t.shape[:2]
    return Spirals(times=torch.arange(length, dtype=torch.float32), truth=t, noisy=t.clone(),
                   extrap_times=length + torch.arange(e.shape[1], dtype=torch.float32),
                   extrap_truth=e, clockwise=torch.tensor(clockwise), noise_std=0.3)  # fmt: skip


def test_extrapolation_is_in_range_only_within_the_training_windows_radii() -> None:
    # training: counter-clockwise radii 1..3 (centre x = 5), clockwise radii 2..4 (x = -5)
    train_set = _hand_spirals([[[6, 0], [8, 0]], [[-3, 0], [-1, 0]]], [[[5, 0]], [[-5, 0]]],
                              [False, True])  # fmt: skip
    test_set = _hand_spirals(
        [[[6, 0], [6, 0]]] * 4,
        [[[7.5, 0]], [[8.5, 0]], [[-8.5, 0]], [[-5.5, 0]]],
        [False, False, True, True],
    )  # radii 2.5 (in), 3.5 (beyond 3), 3.5 (in 2..4), 0.5 (below 2)
    assert within_training_radii(train_set, test_set).tolist() == [True, False, True, False]


def _split(test: Spirals, mask: list) -> split.Split:
    m = torch.tensor(mask)
    return split.Split(test, test, m, m, torch.ones(len(test), dtype=torch.bool))


def test_baselines_forecast_from_the_observations_strictly_before_each_time() -> None:
    # one series, observed at t = 0 and 2 at (1, 1) and (3, 3); queries at t = 0..3 and 4, 5
    test = _hand_spirals([[[1, 1], [0, 0], [3, 3], [0, 0]]], [[[0, 0], [0, 0]]], [False])
    split = _split(test, [[True, False, True, False]])
    hold = score.baseline_prediction("hold_last", split)[0, :, 0].tolist()
    assert hold == [1, 1, 1, 3, 3, 3]  # t=0: nothing before it, the first observation
    line = score.baseline_prediction("linear", split)[0, :, 0].tolist()
    assert line == pytest.approx([1, 1, 1, 4, 5, 6])  # slope 1 from t = 3 on


def test_rmse_is_per_coordinate_and_nan_over_nothing() -> None:
    pred = torch.zeros(1, 2, 2)
    truth = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]])
    # squared errors per point, averaged over the 2 coordinates: 12.5 and 0
    assert score.rmse(pred, truth) == pytest.approx(math.sqrt(12.5 / 2))
    assert score.rmse(pred, truth, torch.tensor([[True, False]])) == pytest.approx(math.sqrt(12.5))
    assert math.isnan(score.rmse(pred, truth, torch.tensor([[False, False]])))


def test_forecast_times_start_strictly_after_the_first_observation() -> None:
    mask = torch.tensor([[False, True, False, True], [True, False, False, False]])
    expected = [[False, False, True, True], [False, True, True, True]]
    assert score.after_first_observation(mask).tolist() == expected


def test_plateau_compares_the_last_twentieth_with_the_one_ending_at_three_quarters() -> None:
    losses = [100.0] * 76 + [90.0] * 4  # 80 iterations: windows of 4, at 56..59 and 76..79
    assert score.plateau_change(losses) == pytest.approx(-0.10)
    assert score.plateau_change([5.0] * 40) == 0.0
    assert math.isnan(score.plateau_change([3.0, 2.0, 1.0]))  # too short: no crash, no figure


def test_cosine_schedule_runs_from_lr_to_a_hundredth_and_constant_stays() -> None:
    rate = train.learning_rate
    # 5 iterations: cos(pi * k / 4) for k = 0..4 is 1, sqrt(1/2), 0, -sqrt(1/2), -1
    got = [rate(it, lr=0.01, iters=5, schedule="cosine") for it in range(1, 6)]
    half = (0.01 + 1e-4) / 2
    amp = (0.01 - 1e-4) / 2
    want = [0.01, half + amp * 0.5**0.5, half, half - amp * 0.5**0.5, 1e-4]
    assert got == pytest.approx(want, rel=1e-12)
    assert [rate(it, lr=0.01, iters=5, schedule="constant") for it in (1, 3, 5)] == [0.01] * 3
    assert rate(1, lr=0.5, iters=1, schedule="cosine") == 0.5  # one iteration: lr itself


def test_training_applies_the_schedule_and_saves_the_rates(tmp_path: Path) -> None:
    s = settings.Settings(
        iters=3, n_spirals=20, n_extrap=5, method="rk4", steps=3, eval_every=2, obs=(20,),
        figure_obs=20, seeds=(0,), lr=0.02,
    )  # fmt: skip
    assert s.lr_schedule == "cosine"  # the default: the loss settles at the end
    train.train_job(s, "rnn", 20, 0, str(tmp_path))
    saved = train.load_checkpoint(train.checkpoint_path(tmp_path, "rnn", 20, 0))
    assert saved["lrs"].tolist() == pytest.approx([0.02, (0.02 + 2e-4) / 2, 2e-4], rel=1e-12)
    assert saved["training"]["lr_schedule"] == "cosine"
    with pytest.raises(settings.SpiralsError, match="lr_schedule"):
        settings.Settings(iters=3, lr_schedule="step").check()


def test_a_model_saved_before_the_schedule_counts_as_trained_at_a_constant_rate(tmp_path):
    s = settings.Settings(
        iters=2, n_spirals=20, n_extrap=5, method="rk4", steps=3, eval_every=2, obs=(20,),
        figure_obs=20, seeds=(0,), models=("rnn",), lr_schedule="constant",
    )  # fmt: skip
    train.train_job(s, "rnn", 20, 0, str(tmp_path))
    path = train.checkpoint_path(tmp_path, "rnn", 20, 0)
    state = torch.load(path, weights_only=True)
    del state["training"]["lr_schedule"]  # as written before the schedule existed
    torch.save(state, path)
    assert train.pending(s, tmp_path) == []  # constant: usable
    with pytest.raises(settings.SpiralsError, match="lr_schedule=constant"):
        train.pending(dataclasses.replace(s, lr_schedule="cosine"), tmp_path)


def test_verdict_asks_whether_the_gap_exceeds_the_spread() -> None:
    ode = pd.Series([1.0, 1.1, 0.9])  # mean 1.0, sd 0.1
    rnn = pd.Series([2.0, 2.2, 1.8])  # mean 2.0, sd 0.2
    assert render.verdict(ode, rnn) == (
        "latent ODE better, beyond the spread (latent ODE lower in 3/3 seeds)"
    )
    assert render.verdict(rnn, ode).startswith("latent ODE worse, beyond the spread")
    close = pd.Series([1.05, 1.25, 0.85])  # mean 1.05, sd 0.2: ranges overlap
    assert render.verdict(ode, close).startswith("within the spread")


def _rows(values: dict) -> pd.DataFrame:
    rows = []
    for (model, n_obs), cols in values.items():
        rows.append({"model": model, "n_obs": n_obs, "seed": 0, "status": "ok", **cols})
    return pd.DataFrame(rows)


def test_the_reading_closest_to_the_papers_six_numbers_is_named_with_its_distance() -> None:
    paper = settings.PAPER_RMSE
    values = {}
    for model, ours in (("latent_ode", "latent_ode"), ("rnn", "rnn")):
        for n_obs, p in paper[model].items():
            # window: exactly the paper's; extrap10: 2x; extrap: 3x; all: 4x
            values[ours, n_obs] = {"rmse_window": p, "rmse_extrap10": 2 * p,
                                   "rmse_extrap": 3 * p, "rmse_extrap_all": 4 * p}  # fmt: skip
    dist = render.reading_distances(_rows(values)).set_index("column")["distance"]
    expected = {"rmse_window": 0.0, "rmse_extrap10": 1.0, "rmse_extrap": 2.0,
                "rmse_extrap_all": 3.0}  # fmt: skip
    assert dist.to_dict() == pytest.approx(expected)
    match = render.matching_reading(render.reading_distances(_rows(values)))
    assert match["columns"] == ["rmse_window"]


def test_prediction_is_drawn_after_the_first_observation() -> None:
    mine = pd.DataFrame({"t": [0.0, 1.0, 2.0, 3.0], "x": [0.0, 0.0, 5.0, 6.0], "y": [0.0] * 4})
    # at t=0 and at the first observation (t=1) an RNN answers with its prior guess
    assert figures.drawn_prediction(mine, first_observed=1.0)["t"].tolist() == [2.0, 3.0]


# --- odebench spirals: the Table 2 experiment -------------------------------------------

TINY = ["spirals", "--iters", "3", "--seeds", "0,1", "--obs", "20,30", "--n-spirals",
        "20", "--n-extrap", "5", "--method", "rk4", "--steps", "3", "--eval-every", "2",
        "--no-cost-check", "--jobs", "1"]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".odebench.lock"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("table2") / "run"
    assert cli.main([*TINY, "--out", str(out)]) == 0
    return out


def test_default_settings_are_the_papers_at_the_examples_budget() -> None:
    args = cli.build_parser().parse_args(["spirals"])
    s = command.settings_from_args(args)
    assert s.models == ("latent_ode", "rnn", "rnn_gap")
    assert s.obs == (30, 50, 100) and len(s.seeds) >= 3
    assert (s.n_spirals, s.n_points, s.n_extrap, s.dynamics_layers) == (1000, 100, 100, 1)
    assert s.figure_obs == 30 and s.iters == settings.BUDGETS["default"] >= 2000
    assert 1 <= s.workers <= 2 and s.threads == 1
    assert args.out == "results/table2"  # a folder of its own, never results/ itself
    other = cli.build_parser().parse_args(["spirals", "--obs", "100,50"])
    assert command.settings_from_args(other).figure_obs == 50  # the smallest run
    adjoint = settings.Settings(iters=1, gradient="adjoint").solver()
    assert adjoint.gradient == "adjoint" and adjoint.rtol == adjoint.atol == 1.5e-8


def test_run_writes_every_reading_baselines_curves_models_and_figures(tiny_run: Path) -> None:
    df = pd.read_csv(tiny_run / "table2.csv")
    assert len(df) == 2 * 2 * (3 + 2)  # seeds x counts x (models + baselines)
    assert set(df["model"]) == {"latent_ode", "rnn", "rnn_gap", "hold_last", "linear"}
    assert (df["status"] == "ok").all()
    assert df[["rmse_window", "rmse_extrap10", "rmse_extrap_all"]].notna().all().all()
    rnns = df[df.model.isin(["rnn", "rnn_gap"])]
    assert rnns["rmse_one_step_window"].notna().all()
    assert df.loc[df.model == "latent_ode", "rmse_one_step_window"].isna().all()
    trained = df[df["iters"] > 0]
    assert (trained["iters"] == 3).all() and len(trained) == 12
    ode = df[df.model == "latent_ode"]
    assert (ode["nfe_forward"] == 4 * 3).all() and (ode["nfe_backward"] == 0).all()
    curves = pd.read_csv(tiny_run / "table2_curves.csv")
    assert sorted(curves["iter"].unique()) == [2, 3]  # every 2 iterations, and the last
    assert len(curves) == len(trained) * 2
    assert len(list((tiny_run / "table2_models").glob("*.pt"))) == 12
    md = (tiny_run / "table2.md").read_text()
    assert "0.1642" in md and "Which reading reproduces the paper" in md and "±" in md
    assert "not measurable in 12 runs" in md  # 3 iterations: no plateau figure, no crash
    for name in ("spirals", "table2_curves"):
        for ext in ("png", "svg"):
            assert (tiny_run / "plots" / f"{name}.{ext}").stat().st_size > 0
    assert json.loads((tiny_run / "provenance.json").read_text())["status"] == "complete"


def test_render_twice_gives_identical_files(tiny_run: Path) -> None:
    first = _snapshot(tiny_run)
    assert cli.main(["spirals", "--render-only", "--out", str(tiny_run)]) == 0
    assert _snapshot(tiny_run) == first


def test_a_folder_holding_a_run_is_refused_and_left_as_it_was(tiny_run: Path, capsys) -> None:
    before = _snapshot(tiny_run)
    assert cli.main([*TINY, "--out", str(tiny_run)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--force" in err and "--out" in err
    assert err.count("\n") == 1
    assert _snapshot(tiny_run) == before


def test_resume_rescores_the_saved_models_without_training(tiny_run: Path, tmp_path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    models = _snapshot(copy / "table2_models")
    (copy / "table2.csv").unlink()
    assert cli.main([*TINY, "--out", str(copy), "--resume"]) == 0
    assert _snapshot(copy / "table2_models") == models  # nothing retrained
    assert (copy / "table2.csv").read_bytes() == (tiny_run / "table2.csv").read_bytes()


def test_resume_refuses_models_trained_with_other_settings(tiny_run, tmp_path, capsys) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    before = _snapshot(copy)
    assert cli.main([*TINY, "--lr", "0.5", "--out", str(copy), "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert {k: v for k, v in _snapshot(copy).items() if k != "provenance.json"} == {
        k: v for k, v in before.items() if k != "provenance.json"}  # fmt: skip


def test_force_moves_the_earlier_run_to_a_backup_first(tiny_run: Path, tmp_path) -> None:
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)
    before = _snapshot(out)
    assert cli.main([*TINY, "--seeds", "0", "--out", str(out), "--force"]) == 0
    backups = list(tmp_path.glob("run.backup-*"))
    assert len(backups) == 1 and _snapshot(backups[0]) == before
    assert set(pd.read_csv(out / "table2.csv")["seed"]) == {0}


def test_rescore_from_takes_the_trained_models_and_trains_nothing(tiny_run, tmp_path) -> None:
    out = tmp_path / "rescored"
    assert cli.main([*TINY, "--results", str(tiny_run), "--out", str(out)]) == 0
    assert _snapshot(out / "table2_models") == _snapshot(tiny_run / "table2_models")
    assert (out / "table2.csv").read_bytes() == (tiny_run / "table2.csv").read_bytes()
    info = json.loads((out / "provenance.json").read_text())
    assert info["training"] == json.loads((tiny_run / "provenance.json").read_text())["training"]


def test_a_single_iteration_runs_and_says_no_plateau_was_measurable(tmp_path: Path) -> None:
    out = tmp_path / "one"
    args = ["spirals", "--iters", "1", "--seeds", "0", "--obs", "20", "--n-spirals", "20",
            "--n-extrap", "5", "--models", "rnn", "--no-cost-check", "--jobs", "1"]  # fmt: skip
    assert cli.main([*args, "--out", str(out)]) == 0
    assert "not measurable in 1 runs" in (out / "table2.md").read_text()


def test_a_model_that_fails_to_train_gives_a_failed_row_and_exit_1(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    def diverge(*args, **kwargs):
        raise train.TrainingFailed("the training loss became nan at iteration 1")

    monkeypatch.setattr(train, "train", diverge)
    out = tmp_path / "fails"
    args = ["spirals", "--iters", "2", "--seeds", "0", "--obs", "20", "--n-spirals", "20",
            "--n-extrap", "5", "--models", "rnn", "--no-cost-check", "--jobs", "1"]  # fmt: skip
    assert cli.main([*args, "--out", str(out)]) == 1
    assert "did not train" in capsys.readouterr().err
    df = pd.read_csv(out / "table2.csv")
    bad = df[df.model == "rnn"]
    assert bad["status"].tolist() == ["failed"] and "nan" in bad["error"].iloc[0]
    assert "failed" in (out / "table2.md").read_text()


def test_bad_settings_fail_before_any_file_is_written(tmp_path: Path, capsys) -> None:
    out = tmp_path / "never"
    assert cli.main(["spirals", "--obs", "101", "--out", str(out)]) == 2
    assert "1..100" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(settings.SpiralsError, match="figure_obs"):
        run.run_table2(settings.Settings(iters=1, figure_obs=7), out)
    assert cli.main([*TINY, "--results", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert not out.exists()


def test_cuda_without_a_gpu_raises_a_typed_error_and_the_cli_names_the_fix(
    tmp_path: Path, capsys
) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="--device cpu"):
        run.run_table2(settings.Settings(iters=1, device="cuda"), tmp_path / "x")
    assert cli.main([*TINY, "--device", "cuda", "--out", str(tmp_path / "x")]) == 2
    assert "--device cpu" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_job_gives_the_same_model_inline_after_another_and_in_a_worker(tmp_path) -> None:
    s = settings.Settings(
        iters=3, n_spirals=20, n_extrap=5, method="rk4", steps=3, eval_every=2, obs=(20,),
        figure_obs=20, seeds=(0,), workers=2,
    )  # fmt: skip
    alone, after = tmp_path / "alone", tmp_path / "after"
    train.train_job(s, "latent_ode", 20, 0, str(alone))
    train.train_job(s, "rnn", 20, 0, str(after))  # another job first, in this process
    train.train_job(s, "latent_ode", 20, 0, str(after))
    worker = tmp_path / "worker"
    train.run_jobs(s, [("latent_ode", 20, 0), ("rnn", 20, 0)], worker)  # 2 spawned workers
    ref = train.load_checkpoint(train.checkpoint_path(alone, "latent_ode", 20, 0))
    for folder in (after, worker):
        got = train.load_checkpoint(train.checkpoint_path(folder, "latent_ode", 20, 0))
        assert torch.equal(got["losses"], ref["losses"])
        for key, value in ref["state_dict"].items():
            assert torch.equal(got["state_dict"][key], value), key


def test_models_taken_from_an_unfinished_run_say_so(tiny_run: Path, tmp_path: Path) -> None:
    source = tmp_path / "unfinished"
    shutil.copytree(tiny_run, source)
    info = json.loads((source / "provenance.json").read_text())
    info.update(status="training", training=[])  # as written when training starts
    (source / "provenance.json").write_text(json.dumps(info))
    out = tmp_path / "taken"
    assert cli.main([*TINY, "--seeds", "0", "--results", str(source), "--out", str(out)]) == 0
    md = (out / "table2.md").read_text()
    assert "**unfinished** (status training)" in md
    assert "**1 seed(s) only (0), fewer than the 3" in md
