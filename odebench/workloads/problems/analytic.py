"""The built-in problems with exact solutions: decay, oscillator, non-autonomous, linear
systems (batched), logistic."""

from __future__ import annotations

import math

import torch

from odebench.workloads.problems.registry import Problem, builtin_problem


@builtin_problem("exponential_decay")
def _exponential_decay() -> Problem:
    k = 1.5
    y0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return Problem(
        name="exponential_decay",
        make_field=lambda: lambda t, y: -k * y,
        y0=y0,
        t1=2.0,
        exact=lambda t: y0 * torch.exp(-k * t)[:, None],
        description="dy/dt = -1.5 y",
    )


@builtin_problem("harmonic_oscillator")
def _harmonic_oscillator() -> Problem:
    w = 2.0
    x0, v0 = 1.0, 0.0

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[1], -(w**2) * y[0]])

    def exact(t: torch.Tensor) -> torch.Tensor:
        x = x0 * torch.cos(w * t) + v0 / w * torch.sin(w * t)
        v = -x0 * w * torch.sin(w * t) + v0 * torch.cos(w * t)
        return torch.stack([x, v], dim=-1)

    return Problem(
        name="harmonic_oscillator",
        make_field=lambda: f,
        y0=torch.tensor([x0, v0], dtype=torch.float64),
        t1=2 * math.pi,
        exact=exact,
        description="x'' = -4 x (omega 2, period pi), two full periods on [0, 2 pi]",
    )


@builtin_problem("nonautonomous")
def _nonautonomous() -> Problem:
    y0 = torch.tensor([1.0], dtype=torch.float64)
    return Problem(
        name="nonautonomous",
        make_field=lambda: lambda t, y: torch.cos(t) * y,
        y0=y0,
        t1=4.0,
        exact=lambda t: y0 * torch.exp(torch.sin(t))[:, None],
        description="dy/dt = cos(t) y, y = exp(sin t)",
    )


def _mixed_matrix(dtype: torch.dtype) -> torch.Tensor:
    # eigenvalues -0.1 +- 2i (rotation), -1 and -3 (decay): mixed real and complex
    block = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[:2, :2] = block
    a[2:, 2:] = torch.tensor([[-1.0, 0.5], [0.0, -3.0]], dtype=torch.float64)
    q, _ = torch.linalg.qr(
        torch.tensor(
            [
                [1.0, 0.2, 0.0, 0.1],
                [0.3, 1.0, 0.4, 0.0],
                [0.0, 0.1, 1.0, 0.2],
                [0.2, 0.0, 0.3, 1.0],
            ],
            dtype=torch.float64,
        )
    )
    return (q @ a @ q.T).to(dtype)


def _linear_problem(name: str, batch: int | None) -> Problem:
    a64 = _mixed_matrix(torch.float64)
    gen = torch.Generator().manual_seed(0)
    shape = (4,) if batch is None else (batch, 4)
    y0 = torch.randn(shape, generator=gen, dtype=torch.float64)

    def exact(t: torch.Tensor) -> torch.Tensor:
        expm = torch.linalg.matrix_exp(t.double()[:, None, None] * a64)  # (T, 4, 4)
        return torch.einsum("tij,...j->t...i", expm, y0)

    return Problem(
        name=name,
        make_field=lambda: lambda t, y: y @ a64.T.to(y),  # y's dtype and device
        y0=y0,
        t1=3.0,
        exact=exact,
        description="dy/dt = A y, eigenvalues -0.1+-2i, -1, -3; exact via matrix exponential"
        + ("" if batch is None else f"; a batch of {batch} initial states"),
    )


builtin_problem("linear_mixed")(lambda: _linear_problem("linear_mixed", None))
builtin_problem("linear_batched")(lambda: _linear_problem("linear_batched", 16))


@builtin_problem("logistic")
def _logistic() -> Problem:
    r, y0v = 3.0, 0.05
    return Problem(
        name="logistic",
        make_field=lambda: lambda t, y: r * y * (1 - y),
        y0=torch.tensor([y0v], dtype=torch.float64),
        t1=3.0,
        exact=lambda t: (1 / (1 + (1 / y0v - 1) * torch.exp(-r * t)))[:, None],
        description="dy/dt = 3 y (1 - y), logistic growth from 0.05",
    )
