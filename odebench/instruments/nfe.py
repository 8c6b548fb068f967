"""Counting function evaluations inside the vector field, split by phase."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


class CountedField(nn.Module):
    """Wraps a vector field ``f(t, y)`` and counts its calls.

    Calls are attributed to the current phase (``"forward"`` unless changed with
    :func:`phase`), so the calls made by the solve and by ``loss.backward()`` can be
    read apart: ``field.nfe_forward``, ``field.nfe_backward``.
    """

    def __init__(self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | nn.Module):
        super().__init__()
        if isinstance(func, nn.Module):
            self.func = func
        else:
            self._plain = func  # a plain function: not a submodule
        self.counts: Counter[str] = Counter()

    @property
    def inner(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return self.func if "func" in self._modules else self._plain

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.counts[_PHASE[-1]] += 1
        return self.inner(t, y)

    @property
    def calls(self) -> int:
        """All calls so far, whatever the phase."""
        return sum(self.counts.values())

    @property
    def nfe_forward(self) -> int:
        return self.counts["forward"]

    @property
    def nfe_backward(self) -> int:
        return self.counts["backward"]

    def reset(self) -> None:
        self.counts.clear()


_PHASE: list[str] = ["forward"]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Attribute every :class:`CountedField` call made inside the block to ``name``.

    Use ``with phase("backward"): loss.backward()`` to split NFE-F from NFE-B.
    """
    _PHASE.append(name)
    try:
        yield
    finally:
        _PHASE.pop()


def counted_fields(module: nn.Module) -> list[CountedField]:
    """All :class:`CountedField` submodules of ``module`` (a model may hold several)."""
    return [m for m in module.modules() if isinstance(m, CountedField)]


def nfe(module: nn.Module, which: str = "forward") -> int:
    """Calls made in phase ``which`` by all counted fields inside ``module``."""
    return sum(m.counts[which] for m in counted_fields(module))


def reset_nfe(module: nn.Module) -> None:
    for m in counted_fields(module):
        m.reset()
