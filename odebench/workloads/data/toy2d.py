"""Toy 2-D densities for continuous normalizing flows, generated in code (no download).

The three FFJORD toy sets (Grathwohl et al. 2019, ``lib/toy_data.py``): eight Gaussians on a
circle, two moons, a checkerboard. Each sampler draws from its own ``torch.Generator``, so a
seed gives the same points on every machine and process (float64 values).
"""

from __future__ import annotations

import math

import torch

#: the densities a CNF can be fitted to
TOY_DENSITIES: tuple[str, ...] = ("8gaussians", "moons", "checkerboard")


class ToyDataError(ValueError):
    """An unknown density or a bad sample size; the message names the fix."""


def sample_toy(name: str, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` points (float64, shape ``(n, 2)``) of the toy density ``name``, drawn from ``seed``."""
    if name not in TOY_DENSITIES:
        raise ToyDataError(
            f"unknown toy density {name!r}; choose one of: {', '.join(TOY_DENSITIES)}."
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ToyDataError(f"n={n!r} must be an integer >= 1.")
    gen = torch.Generator().manual_seed(seed)
    if name == "8gaussians":
        angles = torch.randint(0, 8, (n,), generator=gen).double() * (2 * math.pi / 8)
        centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
        return centres + 0.2 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    if name == "moons":
        upper = torch.rand(n, generator=gen, dtype=torch.float64) < 0.5
        s = math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
        x = torch.where(upper, s.cos(), 1.0 - s.cos())
        y = torch.where(upper, s.sin(), 0.5 - s.sin())
        noise = 0.05 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        pts = torch.stack([x, y], dim=1) + noise
        return 2.0 * (pts - torch.tensor([0.5, 0.25], dtype=torch.float64))
    # checkerboard: FFJORD's, 8 squares of side 1 alternating on [-2, 2]^2
    x1 = 4.0 * torch.rand(n, generator=gen, dtype=torch.float64) - 2.0
    x2 = (
        torch.rand(n, generator=gen, dtype=torch.float64)
        - 2.0 * torch.randint(0, 2, (n,), generator=gen).double()
        + torch.floor(x1) % 2
    )
    return torch.stack([x1, x2], dim=1)
