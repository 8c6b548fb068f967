"""An FFJORD-style continuous normalizing flow on 2-D points, with RNODE's regulariser states.

The state is ``[z (2), delta_logp (1)]``, or with ``regularise=True``
``[z, delta_logp, kinetic, jacobian_frobenius]``: ``dz/dt = f(t, z)``,
``d delta_logp/dt = -tr(df/dz)``, ``d kinetic/dt = |f|^2`` and
``d jacobian_frobenius/dt = |df/dz|_F^2`` (Finlay et al. 2020). Starting from data ``x``
with zeros, ``log p(x) = log N(z(T)) - delta_logp(T)``.

The trace is exact (two vector-Jacobian products: cheap in 2-D) or Hutchinson's estimate
``e^T (df/dz) e``. The noise ``e`` must be held fixed over a solve (:meth:`CNFField.set_noise`,
FFJORD's way): drawn anew at every evaluation (``trace="hutchinson_per_eval"``, the mistake of
torchdiffeq issue #120) the field is a different function at each call and an adaptive
solver's NFE explodes. That mode is kept as a labelled diagnostic.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: how the field computes the log-density's derivative
TRACES: tuple[str, ...] = ("exact", "hutchinson", "hutchinson_per_eval")
#: the data's dimension
DIM = 2


class CNFError(ValueError):
    """A CNF used in a way that cannot give a right answer; the message names the fix."""


class CNFNet(nn.Module):
    """``f(t, z)``: an MLP of ``[z, t]`` (two tanh layers), FFJORD's concat-time field."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(DIM + 1, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, DIM),
        )  # fmt: skip

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        tt = t.to(z.dtype)
        if tt.ndim == z.ndim - 1:  # one time per sample (torchode steps samples apart)
            tt = tt.unsqueeze(-1)
        tt = tt.expand(*z.shape[:-1], 1)
        return self.net(torch.cat([z, tt], dim=-1))


class CNFField(nn.Module):
    """The augmented CNF field (see the module docstring) around a :class:`CNFNet`.

    Under ``torch.no_grad()`` (an adjoint's forward solve, a test-time solve) the Jacobian is
    still taken (inside ``enable_grad``), but no graph is kept for the caller.
    """

    def __init__(
        self, hidden: int = 64, *, trace: str = "exact", regularise: bool = False
    ) -> None:
        super().__init__()
        if trace not in TRACES:
            raise CNFError(f"unknown trace {trace!r}; choose one of: {', '.join(TRACES)}.")
        self.net = CNFNet(hidden)
        self.trace = trace
        self.regularise = regularise
        self.register_buffer("noise", torch.zeros(0), persistent=False)

    @property
    def state_dim(self) -> int:
        return DIM + 1 + (2 if self.regularise else 0)

    def set_noise(self, noise: torch.Tensor) -> None:
        """Hold Hutchinson's noise ``e`` (shape ``(batch, 2)``) fixed for the next solves."""
        if noise.ndim < 1 or noise.shape[-1] != DIM:
            raise CNFError(f"noise must end in dimension {DIM}; got shape {tuple(noise.shape)}.")
        self.noise = noise

    def draw_noise(self, batch: int, *, generator: torch.Generator | None = None) -> None:
        """Draw a fresh standard-normal noise for the next solve (FFJORD: once per solve)."""
        p = next(self.parameters())
        self.set_noise(torch.randn(batch, DIM, generator=generator, dtype=p.dtype).to(p.device))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            z = y[..., :DIM]
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            dz = self.net(t, z)
            trace, frobenius = self._trace(dz, z, outer)
        parts = [dz, -trace.unsqueeze(-1)]
        if self.regularise:
            parts += [(dz**2).sum(-1, keepdim=True), frobenius.unsqueeze(-1)]
        out = torch.cat(parts, dim=-1)
        return out if outer else out.detach()

    def _trace(
        self, dz: torch.Tensor, z: torch.Tensor, outer: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(tr J, |J|_F^2) exactly, or both estimated from the same noise (RNODE's estimator)."""
        if self.trace == "exact":
            rows = [
                torch.autograd.grad(dz[..., i].sum(), z, create_graph=outer, retain_graph=True)[0]
                for i in range(DIM)
            ]
            trace = sum(rows[i][..., i] for i in range(DIM))
            frobenius = sum((r**2).sum(-1) for r in rows)
            return trace, frobenius  # type: ignore[return-value]
        if self.trace == "hutchinson_per_eval":
            noise = torch.randn_like(z)
        else:
            noise = self.noise
            if noise.shape != z.shape:
                raise CNFError(
                    f"Hutchinson's noise has shape {tuple(noise.shape)}, the state's points "
                    f"{tuple(z.shape)}: call field.draw_noise(batch) (or set_noise) before each "
                    "solve; a solver that evaluates samples apart (torchode's per-sample "
                    "adjoint) cannot pair them with a batch's noise: use trace='exact' there, "
                    "or gradient='adjoint_joint'."
                )
            noise = noise.to(z.dtype)
        vjp = torch.autograd.grad(dz, z, noise, create_graph=outer, retain_graph=True)[0]
        return (vjp * noise).sum(-1), (vjp**2).sum(-1)


def standard_normal_logprob(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last dimension."""
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def initial_state(x: torch.Tensor, field: CNFField) -> torch.Tensor:
    """The augmented initial state: the points, then zeros for the integrated quantities."""
    return torch.cat([x, x.new_zeros(*x.shape[:-1], field.state_dim - DIM)], dim=-1)


def log_density_from_state(y1: torch.Tensor) -> torch.Tensor:
    """``log p(x)`` from the augmented state at T: ``log N(z(T)) - delta_logp(T)``."""
    return standard_normal_logprob(y1[..., :DIM]) - y1[..., DIM]
