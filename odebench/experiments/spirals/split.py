"""One seed's data at one observation count: train and test spirals and their masks.

Made from the seed alone, so every process (and the scorer) builds the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from odebench.experiments.spirals.settings import Settings

if TYPE_CHECKING:
    import torch

    from odebench.workloads.data.spirals import Spirals


@dataclass(frozen=True)
class Split:
    """One seed's train and test spirals and their observation masks at one count."""

    train: Spirals
    test: Spirals
    train_mask: torch.Tensor
    test_mask: torch.Tensor
    #: (N_test,) test spirals whose extrapolation lies within the training windows' radii
    in_range: torch.Tensor


def mask_seed(seed: int, n_obs: int, split: str) -> int:
    return 100_000 * seed + 2 * n_obs + (1 if split == "test" else 0)


def make_split(settings: Settings, seed: int, n_obs: int) -> Split:
    """The data of one (seed, count): generated from the seed, the same in every process."""
    from odebench.workloads.data.spirals import (
        make_spirals,
        subsample,
        train_test_split,
        within_training_radii,
    )

    data = make_spirals(settings.n_spirals, settings.n_points, settings.n_extrap,
                        noise_std=settings.noise_std, seed=seed)  # fmt: skip
    train_idx, test_idx = train_test_split(len(data), settings.test_fraction, seed=seed)
    train, test = data.select(train_idx), data.select(test_idx)
    return Split(
        train, test,
        subsample(len(train), settings.n_points, n_obs, seed=mask_seed(seed, n_obs, "train")),
        subsample(len(test), settings.n_points, n_obs, seed=mask_seed(seed, n_obs, "test")),
        within_training_radii(train, test),
    )  # fmt: skip
