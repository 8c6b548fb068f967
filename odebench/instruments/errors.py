"""Error against a reference: state at t1 and gradients (relative L2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def relative_l2(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``||value - reference|| / ||reference||`` in float64 (absolute if the reference is 0)."""
    if value.shape != reference.shape:
        raise ValueError(
            f"shapes differ: value {tuple(value.shape)} vs reference {tuple(reference.shape)}."
        )
    v, r = value.detach().double().cpu(), reference.detach().double().cpu()
    norm = torch.linalg.vector_norm(r)
    diff = torch.linalg.vector_norm(v - r)
    return float(diff / norm) if norm > 0 else float(diff)


def state_error(y: torch.Tensor, y_ref: torch.Tensor) -> float:
    """Relative L2 error of a state (e.g. y(t1)) against the exact or reference state."""
    return relative_l2(y, y_ref)


def grad_error(
    grads: Sequence[torch.Tensor | None], ref_grads: Sequence[torch.Tensor | None]
) -> float:
    """Relative L2 error of a list of gradients, flattened together, against a reference."""
    if len(grads) != len(ref_grads):
        raise ValueError(f"{len(grads)} gradients against {len(ref_grads)} reference gradients.")
    pairs = [(g, r) for g, r in zip(grads, ref_grads, strict=True) if r is not None]
    if not pairs:
        raise ValueError("no reference gradient to compare against.")
    for i, (g, r) in enumerate(pairs):
        if g is None and bool(r.ne(0).any()):
            # a missing gradient is a measurement that did not happen, not an error of 1.0
            raise ValueError(
                f"gradient {i} is missing (None) where the reference is non-zero: the pass "
                "did not differentiate it (an input that was not the one solved from?)."
            )
    flat = torch.cat(
        [
            (torch.zeros_like(r) if g is None else g).detach().double().cpu().flatten()
            for g, r in pairs
        ]
    )
    ref = torch.cat([r.detach().double().cpu().flatten() for _, r in pairs])
    return relative_l2(flat, ref)
