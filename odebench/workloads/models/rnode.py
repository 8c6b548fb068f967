"""RNODE's regulariser states (Finlay et al. 2020) beside any field's state.

:class:`RNODEField` wraps ``f(t, z)`` into the augmented field of state ``[z, kinetic,
jacobian]`` with ``d kinetic/dt = |f(t, z)|^2`` and ``d jacobian/dt = |e^T df/dz|^2``:
Hutchinson's estimate of the Jacobian's squared Frobenius norm, ``E_e |e^T J|^2 = |J|_F^2``
for standard-normal ``e``. The noise ``e`` is held fixed over a solve (:meth:`set_noise`, one
vector per batch row, FFJORD's and RNODE's way): drawn anew at every evaluation the field would
be a different function at each call. Starting the two extra states at zero, their values at
T are the integrals over ``[0, T]`` that RNODE adds to the loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class RNODEError(ValueError):
    """An RNODE field used in a way that cannot give a right answer; the message names the fix."""


class RNODEField(nn.Module):
    """``[z, kinetic, jacobian]`` -> ``[f, |f|^2, |e^T df/dz|^2]`` for a field ``f`` of ``z``.

    ``dim`` is the size of ``z`` (the last dimension of the state is ``dim + 2``). Under
    ``torch.no_grad()`` (an adjoint's forward solve) the Jacobian product is still taken
    (inside ``enable_grad``), but no graph is kept for the caller.
    """

    def __init__(
        self, func: nn.Module | Callable[[torch.Tensor, torch.Tensor], torch.Tensor], dim: int
    ) -> None:
        super().__init__()
        self.func = func
        self.dim = dim
        self.register_buffer("noise", torch.zeros(0), persistent=False)

    def set_noise(self, noise: torch.Tensor) -> None:
        """Hold Hutchinson's noise ``e`` (shape ``(batch, dim)``) fixed for the next solves."""
        if noise.ndim < 1 or noise.shape[-1] != self.dim:
            raise RNODEError(
                f"noise must end in dimension {self.dim}; got shape {tuple(noise.shape)}."
            )
        self.noise = noise

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            z = y[..., : self.dim]
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            dz = self.func(t, z)
            if self.noise.shape != z.shape:
                raise RNODEError(
                    f"Hutchinson's noise has shape {tuple(self.noise.shape)}, the state "
                    f"{tuple(z.shape)}: call set_noise with one row per state before each solve."
                )
            vjp = torch.autograd.grad(
                dz, z, self.noise.to(z.dtype), create_graph=outer, retain_graph=True
            )[0]
        out = torch.cat([dz, (dz**2).sum(-1, keepdim=True), (vjp**2).sum(-1, keepdim=True)], dim=-1)
        return out if outer else out.detach()


def rnode_initial_state(z0: torch.Tensor) -> torch.Tensor:
    """``[z0, 0, 0]``: the regulariser integrals start at zero."""
    return torch.cat([z0, z0.new_zeros(*z0.shape[:-1], 2)], dim=-1)
