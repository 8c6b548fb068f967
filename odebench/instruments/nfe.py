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
    read apart: ``field.nfe_forward``, ``field.nfe_backward``. Calls in the ``"probe"``
    phase (odebench evaluating the field once to see what it uses) are kept apart from
    :attr:`calls`. A counter nested inside another counts the same calls again: readers
    (:func:`nfe`) count at the outermost one only.
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
        # ``self.func`` would go through nn.Module.__getattr__ at every evaluation
        inner = self._modules.get("func")
        return (inner if inner is not None else self._plain)(t, y)

    @property
    def calls(self) -> int:
        """All calls so far of the solves and their backward passes (probes left out)."""
        return sum(n for name, n in self.counts.items() if name != PROBE)

    @property
    def nfe_forward(self) -> int:
        return self.counts["forward"]

    @property
    def nfe_backward(self) -> int:
        return self.counts["backward"]

    def reset(self) -> None:
        self.counts.clear()


_PHASE: list[str] = ["forward"]
#: The live stack of phases (its last item is the current one): for a wrapper that counts on
#: a :class:`CountedField`'s ``counts`` itself, saving a Python frame per evaluation.
PHASES: list[str] = _PHASE
#: The phase of odebench's own evaluation of a field (see ``odebench.instruments.probe``).
PROBE = "probe"


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
    """The outermost :class:`CountedField` submodules of ``module`` (a model may hold several).

    A counter inside another (a user's field that is already a ``CountedField``, wrapped
    again by ``measure()`` or ``solve()``) sees the same calls: only the outer one is listed,
    so every call is counted once.
    """
    found: list[CountedField] = []
    seen: set[int] = set()

    def visit(m: nn.Module) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        if isinstance(m, CountedField):
            found.append(m)
            return
        for child in m.children():
            visit(child)

    visit(module)
    return found


def nfe(module: nn.Module, which: str = "forward") -> int:
    """Calls made in phase ``which`` by the counted fields inside ``module`` (each once)."""
    return sum(m.counts[which] for m in counted_fields(module))


def reset_nfe(module: nn.Module) -> None:
    """Zero every counter inside ``module``, nested ones included."""
    for m in module.modules():
        if isinstance(m, CountedField):
            m.reset()
