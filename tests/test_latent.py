"""Latent ODE and RNN baselines: shapes, sizes, training, irregular sampling, NFE, bad inputs."""

from __future__ import annotations

import pytest
import torch

from odebench.instruments import nfe, phase, reset_nfe
from odebench.solvers import SolverConfig
from odebench.workloads.data.spirals import make_spirals, subsample
from odebench.workloads.models.latent import LatentODE, RNNBaseline, compact, to_shared_grid

FAST = SolverConfig(method="rk4", steps=4)
#: The baselines as odebench spirals builds them (the paper's two and the earlier GRU).
BASELINES = {
    "rnn": {"cell": "rnn", "time_input": False},
    "rnn_gap": {"cell": "rnn", "time_input": True},
    "gru_gap": {"cell": "gru", "time_input": True},
}


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    d = make_spirals(16, n_points=20, n_extrap=5, n_total=200, seed=0)
    return d.times, d.noisy, subsample(16, 20, 8, seed=0)


def _train(model: torch.nn.Module, times, values, mask, iters: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(iters):
        opt.zero_grad()
        parts = model.loss(times, values, mask)
        parts.loss.backward()
        opt.step()
        losses.append(float(parts.loss.detach()))
    return losses


@pytest.mark.parametrize("kind", ["latent_ode", *sorted(BASELINES)])
def test_predictions_have_one_point_per_series_and_query_time(kind, tiny) -> None:
    times, values, mask = tiny
    model = LatentODE(config=FAST) if kind == "latent_ode" else RNNBaseline(**BASELINES[kind])
    query = torch.linspace(0.0, float(times[-1]) * 1.5, 7)
    assert model.predict(times, values, mask, query).shape == (16, 7, 2)


@pytest.mark.parametrize("kind", ["latent_ode", *sorted(BASELINES)])
def test_training_lowers_the_loss(kind, tiny) -> None:
    torch.manual_seed(0)
    times, values, mask = tiny
    model = LatentODE(config=FAST) if kind == "latent_ode" else RNNBaseline(**BASELINES[kind])
    losses = _train(model, times, values, mask, 30)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_per_series_irregular_times_give_the_same_loss_as_a_masked_shared_grid(tiny) -> None:
    times, values, mask = tiny
    n_obs = int(mask[0].sum())
    per_times = times.expand(16, -1)[mask].view(16, n_obs)  # each series its own times
    per_values = values[mask].view(16, n_obs, 2)
    grid, _, grid_mask = to_shared_grid(per_times, per_values)
    assert bool((grid[:, None] == times[None, :]).any(dim=1).all())  # union of observed times
    assert int(grid_mask.sum()) == int(mask.sum())
    for model in (LatentODE(config=FAST), RNNBaseline(time_input=False), RNNBaseline()):
        torch.manual_seed(1)
        shared = model.loss(times, values, mask).nll
        torch.manual_seed(1)
        per_series = model.loss(per_times, per_values).nll
        assert per_series == pytest.approx(shared, rel=1e-5)


def test_regular_sampling_without_mask_trains(tiny) -> None:
    torch.manual_seed(0)
    times, values, _ = tiny
    losses = _train(LatentODE(config=FAST), times, values, None, 10)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_compact_left_aligns_observed_points_in_time_order() -> None:
    grid = torch.tensor([0.0, 1.0, 2.0, 3.0])
    values = torch.arange(8.0).view(2, 4, 1)
    mask = torch.tensor([[False, True, False, True], [True, True, True, False]])
    t, x, lengths = compact(grid, values, mask)
    assert lengths.tolist() == [2, 3]
    assert t.tolist() == [[1.0, 3.0, 0.0], [0.0, 1.0, 2.0]]
    assert x[..., 0].tolist() == [[1.0, 3.0, 0.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("kind", sorted(BASELINES))
def test_rnn_vectorised_loss_matches_its_step_by_step_scan(kind, tiny) -> None:
    times, values, mask = tiny
    torch.manual_seed(0)
    model = RNNBaseline(**BASELINES[kind])
    grid, v, m = to_shared_grid(times, values, mask)
    pred, _ = model._scan(grid, v, m)
    nll = -(torch.distributions.Normal(pred, 0.3).log_prob(v).sum(-1) * m).sum(-1)
    expected = float(nll.detach().mean())
    assert model.loss(times, values, mask).nll == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", sorted(BASELINES))
def test_rnn_never_uses_an_observation_to_predict_itself(kind, tiny) -> None:
    times, values, mask = tiny
    model = RNNBaseline(**BASELINES[kind])
    k = int(mask[0].nonzero()[2])
    changed = values.clone()
    changed[0, k] += 10.0
    before = model.predict(times, values, mask, times)
    after = model.predict(times, changed, mask, times)
    assert torch.equal(before[0, : k + 1], after[0, : k + 1])
    assert not torch.equal(before[0, k + 1 :], after[0, k + 1 :])


def test_paper_sizes_give_hand_counted_parameters() -> None:
    # encoder nn.RNN(2 + 1 -> 25): 25*3 + 25*25 + 2*25 = 750; to q(z0), 25 -> 8: 208;
    # dynamics 4 -> 20 -> 4: 100 + 84 = 184; decoder 4 -> 20 -> 2: 100 + 42 = 142.
    assert sum(p.numel() for p in LatentODE(config=FAST).parameters()) == 750 + 208 + 184 + 142
    # baselines: nn.RNN(2 -> 25) 25*2 + 625 + 50 = 725 (or 750 with the gap); readout
    # 25 -> 20 -> 2: 520 + 42 = 562.
    assert sum(p.numel() for p in RNNBaseline(time_input=False).parameters()) == 725 + 562
    assert sum(p.numel() for p in RNNBaseline(time_input=True).parameters()) == 750 + 562
    assert len(LatentODE(config=FAST).field.func.net) == 3  # Linear, ELU, Linear: one hidden
    assert len(LatentODE(config=FAST, dynamics_layers=2).field.func.net) == 5


def test_rnn_without_time_input_cannot_tell_when_a_query_falls(tiny) -> None:
    times, values, mask = tiny
    torch.manual_seed(0)
    plain, gap = RNNBaseline(time_input=False), RNNBaseline(time_input=True)
    obs = mask[0].nonzero().flatten()
    a, b = float(times[obs[3]]), float(times[obs[4]])
    between = torch.tensor([a + 0.25 * (b - a), a + 0.75 * (b - a)])
    p = plain.predict(times, values, mask, between)[0]
    assert torch.equal(p[0], p[1])  # same state, same input: the same prediction
    g = gap.predict(times, values, mask, between)[0]
    assert not torch.equal(g[0], g[1])  # the gap differs, so does the prediction
    # beyond the window the plain RNN takes one step per query, whatever the times
    end = float(times[-1])
    near = plain.predict(times, values, mask, torch.tensor([end + 0.1, end + 0.2]))
    far = plain.predict(times, values, mask, torch.tensor([end + 5.0, end + 50.0]))
    torch.testing.assert_close(near, far)


def test_latent_ode_counts_nfe_fixed_grid_backprop_and_adjoint(tiny) -> None:
    times, values, mask = tiny
    for gradient, expect_backward in (("backprop", False), ("adjoint", True)):
        model = LatentODE(config=SolverConfig(method="rk4", steps=5, gradient=gradient))
        reset_nfe(model)
        loss = model.loss(times, values, mask).loss
        assert nfe(model, "forward") == 4 * 5  # rk4: 4 calls per step
        with phase("backward"):
            loss.backward()
        assert (nfe(model, "backward") > 0) is expect_backward
        assert model.field.func.net[0].weight.grad is not None


def test_latent_ode_extrapolates_beyond_the_window_with_an_adaptive_solver(tiny) -> None:
    times, values, mask = tiny
    model = LatentODE(config=SolverConfig(rtol=1e-3, atol=1e-4))
    query = torch.linspace(0.0, 2 * float(times[-1]), 9)
    out = model.predict(times, values, mask, query)
    assert out.shape == (16, 9, 2) and bool(torch.isfinite(out).all())


def test_bad_inputs_to_models_raise_clear_errors(tiny) -> None:
    times, values, mask = tiny
    model = LatentODE(config=FAST)
    with pytest.raises(ValueError, match="sort"):
        model.loss(times.flip(0), values, mask)
    with pytest.raises(ValueError, match="mismatched lengths"):
        model.loss(times[:-1], values, mask)
    with pytest.raises(ValueError, match="strictly increasing"):
        RNNBaseline().predict(times, values, mask, torch.tensor([1.0, 0.5]))
