"""Spiral data (seeded generation, subsampling, splitting, input checks) and Table 2."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from odebench import cli
from odebench.data.spirals import (
    check_observations,
    make_spirals,
    subsample,
    train_test_split,
)
from odebench.experiments import spirals as experiment


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


# --- odebench spirals: the Table 2 experiment -------------------------------------------

TINY = ["spirals", "--iters", "3", "--seeds", "0", "1", "--obs", "20", "30", "--n-spirals",
        "20", "--n-extrap", "5", "--method", "rk4", "--steps", "3", "--eval-every", "2",
        "--no-cost-check"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("table2")
    assert cli.main([*TINY, "--out", str(out)]) == 0
    return out


def test_default_settings_are_the_papers() -> None:
    s = experiment.settings_from_args(cli.build_parser().parse_args(["spirals"]))
    assert s.models == ("latent_ode", "rnn", "rnn_gap")
    assert s.obs == (30, 50, 100) and len(s.seeds) >= 3
    assert (s.n_spirals, s.n_points, s.n_extrap, s.dynamics_layers) == (1000, 100, 100, 1)
    assert s.figure_obs == 30 and s.iters == experiment.BUDGETS["default"]
    other = cli.build_parser().parse_args(["spirals", "--obs", "100", "50"])
    assert experiment.settings_from_args(other).figure_obs == 50  # the smallest run
    adjoint = experiment.Settings(iters=1, gradient="adjoint").solver()
    assert adjoint.gradient == "adjoint" and adjoint.rtol == adjoint.atol == 1.5e-8


def test_run_writes_one_row_per_seed_count_and_model_with_curves(tiny_run: Path) -> None:
    df = pd.read_csv(tiny_run / "table2.csv")
    assert len(df) == 2 * 2 * 3 and set(df["model"]) == {"latent_ode", "rnn", "rnn_gap"}
    assert df[["rmse_extrap", "rmse_interp"]].notna().all().all()
    assert (df["iters"] == 3).all()
    ode = df[df.model == "latent_ode"]
    assert (ode["nfe_forward"] == 4 * 3).all() and (ode["nfe_backward"] == 0).all()
    curves = pd.read_csv(tiny_run / "table2_curves.csv")
    assert sorted(curves["iter"].unique()) == [2, 3]  # every 2 iterations, and the last
    assert len(curves) == len(df) * 2
    md = (tiny_run / "table2.md").read_text()
    assert "0.1642" in md  # the paper's figure beside ours
    assert "Verdicts" in md and "±" in md
    for name in ("spirals", "table2_curves"):
        for ext in ("png", "svg"):
            assert (tiny_run / "plots" / f"{name}.{ext}").stat().st_size > 0
    assert not (tiny_run / "table2.partial.csv").exists()


def test_render_twice_gives_identical_svgs(tiny_run: Path) -> None:
    first = {p.name: p.read_bytes() for p in (tiny_run / "plots").glob("*.svg")}
    experiment.render(tiny_run)
    again = {p.name: p.read_bytes() for p in (tiny_run / "plots").glob("*.svg")}
    assert first == again and len(first) == 2


def test_bad_settings_fail_before_any_file_is_written(tmp_path: Path, capsys) -> None:
    out = tmp_path / "never"
    assert cli.main(["spirals", "--obs", "101", "--out", str(out)]) == 2
    assert "1..100" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(experiment.SpiralsError, match="figure_obs"):
        experiment.run_table2(experiment.Settings(iters=1, figure_obs=7), out)
    assert not out.exists()


def test_cuda_without_a_gpu_raises_a_typed_error_and_the_cli_names_the_fix(
    tmp_path: Path, capsys
) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="--device cpu"):
        experiment.run_table2(experiment.Settings(iters=1, device="cuda"), tmp_path)
    assert cli.main([*TINY, "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_rmse_is_per_coordinate() -> None:
    pred = torch.zeros(1, 2, 2)
    truth = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]])
    # squared errors per point, averaged over the 2 coordinates: 12.5 and 0
    assert experiment.rmse(pred, truth) == pytest.approx(math.sqrt(12.5 / 2))
    where = torch.tensor([[True, False]])
    assert experiment.rmse(pred, truth, where) == pytest.approx(math.sqrt(12.5))


def test_relative_change_over_the_last_quarter() -> None:
    evals = [{"iter": i, "r": r} for i, r in ((25, 4.0), (50, 3.0), (75, 2.0), (100, 1.0))]
    assert experiment.relative_change_last_quarter(evals, "r") == pytest.approx(-0.5)
    assert math.isnan(experiment.relative_change_last_quarter(evals[:1], "r"))


def test_verdict_asks_whether_the_gap_exceeds_the_spread() -> None:
    ode = pd.Series([1.0, 1.1, 0.9])  # mean 1.0, sd 0.1
    rnn = pd.Series([2.0, 2.2, 1.8])  # mean 2.0, sd 0.2
    assert experiment.verdict(ode, rnn) == (
        "latent ODE better, beyond the spread (latent ODE lower in 3/3 seeds)"
    )
    assert experiment.verdict(rnn, ode).startswith("RNN better, beyond the spread")
    close = pd.Series([1.05, 1.25, 0.85])  # mean 1.05, sd 0.2: ranges overlap
    assert experiment.verdict(ode, close).startswith("within the spread")


def test_rnn_prediction_is_drawn_after_the_first_observation() -> None:
    mine = pd.DataFrame({
        "t": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        "kind": ["prediction"] * 4 + ["extrapolation"] * 2,
        "x": [0.0, 0.0, 5.0, 6.0, 7.0, 8.0], "y": [0.0] * 6,
    })  # fmt: skip
    inside, beyond = experiment.drawn_prediction(mine, first_observed=1.0)
    # at t=0 and at the first observation (t=1) the RNN answers with its prior guess
    assert inside["t"].tolist() == [2.0, 3.0]
    assert beyond["t"].tolist() == [3.0, 4.0, 5.0]  # joined to the window's last point


def test_forecast_times_start_strictly_after_the_first_observation() -> None:
    mask = torch.tensor([[False, True, False, True], [True, False, False, False]])
    expected = [[False, False, True, True], [False, True, True, True]]
    assert experiment.after_first_observation(mask).tolist() == expected


def test_convergence_is_judged_on_the_training_loss_over_the_last_quarter() -> None:
    iters = [25, 50, 75, 100]
    flat = {"loss": [9.0, 5.0, 4.0, 4.1], "rmse_extrap": [3.0, 2.0, 1.0, 1.5]}  # +2.5%, +50%
    falling = {"loss": [9.0, 5.0, 4.0, 3.0], "rmse_extrap": [3.0, 2.0, 1.0, 1.0]}  # -25%, 0%
    rows = [{"model": "rnn", "n_obs": 30, "seed": 0, "iter": i, "loss": flat["loss"][k],
             "rmse_extrap": flat["rmse_extrap"][k]} for k, i in enumerate(iters)]  # fmt: skip
    moved = experiment.movement(pd.DataFrame(rows))
    assert moved["loss"].iloc[0] == pytest.approx(0.025)
    assert moved["rmse_extrap"].iloc[0] == pytest.approx(0.5)
    note = experiment.convergence_note(moved)
    assert "in 1 of 1 runs" in note and "not converged" not in note
    assert "largest swing +50.0%" in note
    rows += [{"model": "latent_ode", "n_obs": 30, "seed": 0, "iter": i,
              "loss": falling["loss"][k], "rmse_extrap": falling["rmse_extrap"][k]}
             for k, i in enumerate(iters)]  # fmt: skip
    note = experiment.convergence_note(experiment.movement(pd.DataFrame(rows)))
    assert "in 1 of 2 runs" in note and "**not converged**: Latent ODE at 30 obs" in note
