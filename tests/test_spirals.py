"""Spiral data: seeded generation, subsampling, splitting and input checks."""

from __future__ import annotations

import math

import pytest
import torch

from odebench.data.spirals import (
    check_observations,
    make_spirals,
    subsample,
    train_test_split,
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
    torch.testing.assert_close(theta[:, 1:] - theta[:, :-1], torch.full_like(x[:, 1:], step),
                               atol=1e-3, rtol=0)
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
