"""The built-in neural vector fields: a 64-wide MLP and a 2-D spiral field, random or briefly
trained (the trained weights cached on disk), with float64 references."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchdiffeq import odeint

from odebench.workloads.problems.registry import Problem, builtin_problem


class MLPField(nn.Module):
    """``f(t, y) = W2 tanh(W1 y + b1) + b2``: the MLP vector field of the memory benchmarks."""

    def __init__(self, dim: int = 64, hidden: int = 64, *, seed: int = 0):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        torch.random.set_rng_state(gen_state)
        self.dim = dim
        self.hidden = hidden

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def mlp_problem(
    *, dim: int = 64, hidden: int = 64, batch: int = 128, seed: int = 0, t1: float = 1.0
) -> Problem:
    """A random MLP field with a batch of random initial states; reference by dopri8 at 1e-12."""
    gen = torch.Generator().manual_seed(seed + 1)
    y0 = torch.randn(batch, dim, generator=gen).double()  # float32 draws, kept in float64
    return Problem(
        name="mlp",
        make_field=lambda: MLPField(dim, hidden, seed=seed),
        y0=y0,
        t1=t1,
        description=f"random MLP field {dim}->{hidden} tanh->{dim}, batch {batch}",
    )


def _mlp(batch: int, seed: int) -> Problem:
    return mlp_problem(batch=batch, seed=seed)


def _mlp_small(batch: int, seed: int) -> Problem:
    return mlp_problem(dim=8, hidden=32, batch=batch, seed=seed)


builtin_problem("mlp", batched=_mlp)(lambda: _mlp(128, 0))
builtin_problem("mlp_small", batched=_mlp_small)(lambda: _mlp_small(16, 0))


def _trained_mlp_field() -> MLPField:
    field = MLPField(64, 64)
    field.load_state_dict(trained_mlp_state())
    return field


builtin_problem("mlp_trained")(
    lambda: Problem(
        name="mlp_trained",
        make_field=_trained_mlp_field,
        y0=mlp_problem().y0,
        description="MLP field 64->64 tanh->64 trained 300 Adam steps, batch 128; "
        "reference dopri8 1e-12",
    )
)


class SpiralField(nn.Module):
    """torchdiffeq's ode_demo field: a 2-D MLP that learns the cubic spiral ``y' = (y^3) A``."""

    def __init__(self, hidden: int = 50):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y**3)


_SPIRAL_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


def _cached_fit(key: str, fit: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The weights ``fit()`` trains, cached under ``$ODEBENCH_CACHE`` (a fit takes seconds)."""
    cache = _cache_dir() / f"{key}_torch{torch.__version__}.pt"
    if cache.exists():
        return torch.load(cache)
    gen_state = torch.random.get_rng_state()
    try:
        state = {k: v.detach().clone() for k, v in fit().state_dict().items()}
    finally:
        torch.random.set_rng_state(gen_state)  # a fit never moves the caller's RNG
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, tmp)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only home only costs the refit
    return state


@functools.cache
def trained_spiral_state(iters: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of a :class:`SpiralField` fitted for ``iters`` Adam steps to the true spiral.

    A random MLP is too easy for tolerance sweeps (dopri5 takes the same few steps at
    any tolerance); this trained field has real dynamics, so NFE and error move with
    tolerance. Fitted with fixed-grid rk4 (deterministic for a seed).
    """

    def fit() -> nn.Module:
        torch.manual_seed(seed)
        field = SpiralField()
        t = torch.linspace(0.0, 5.0, 26)
        y0 = torch.tensor([[2.0, 0.0]])
        with torch.no_grad():
            true = odeint(lambda t, y: (y**3) @ _SPIRAL_A, y0, t, method="dopri5")
        opt = torch.optim.Adam(field.parameters(), lr=1e-2)
        for _ in range(iters):
            opt.zero_grad()
            pred = odeint(field, y0, t, method="rk4", options={"step_size": 0.2})
            loss = (pred - true).abs().mean()
            loss.backward()
            opt.step()
        return field

    return _cached_fit(f"spiral_field_{iters}_{seed}", fit)


@functools.cache
def trained_mlp_state(iters: int = 300, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of the 64-wide :class:`MLPField` fitted for ``iters`` Adam steps.

    The target maps each of the ``mlp`` problem's 128 initial states to
    ``1.5 tanh(y0 Q)`` at t = 1 (Q a fixed random rotation): real dynamics, so dopri5's
    steps follow the tolerance, and with a sum loss the adjoint state is large enough
    for the seminorm to change NFE-B (on the random field it changes nothing).
    """

    def fit() -> nn.Module:
        field = MLPField(64, 64, seed=seed)
        y0 = mlp_problem(seed=seed).y0.float()
        rotation, _ = torch.linalg.qr(
            torch.randn(64, 64, generator=torch.Generator().manual_seed(seed + 2))
        )
        target = 1.5 * torch.tanh(y0 @ rotation)
        opt = torch.optim.Adam(field.parameters(), lr=3e-3)
        t = torch.tensor([0.0, 1.0])
        for _ in range(iters):
            opt.zero_grad()
            y1 = odeint(field, y0, t, method="rk4", options={"step_size": 0.1})[-1]
            ((y1 - target) ** 2).mean().backward()
            opt.step()
        return field

    return _cached_fit(f"mlp_field_{iters}_{seed}", fit)


def _cache_dir() -> Path:
    return Path(os.environ.get("ODEBENCH_CACHE", Path.home() / ".cache" / "odebench"))


def _trained_spiral_field() -> SpiralField:
    field = SpiralField()
    field.load_state_dict(trained_spiral_state())
    return field


builtin_problem("spiral_trained")(
    lambda: Problem(
        name="spiral_trained",
        make_field=_trained_spiral_field,
        y0=torch.tensor([[2.0, 0.0]], dtype=torch.float64),
        t1=5.0,
        description="MLP field trained 200 Adam steps on the cubic spiral; reference dopri8 1e-12",
    )
)
