"""What a vector field really uses: evaluate it once, off the count, and read its graph.

Python hides what a function uses in too many places (a bound method's object, a
comprehension's globals, a chain of helpers, a plain list inside a module) for any static
search to be complete. The autograd graph of one output is not: every tensor requiring
grad that the output depends on is a leaf of it (``AccumulateGrad.variable``), wherever
the field keeps it, and every tensor the field keeps and autograd saves (weights,
buffers, constants of a closure) passes through ``saved_tensors_hooks``.

The probe leaves no trace: its call is counted in the ``"probe"`` phase (not in NFE), it
runs with the RNG forked (a field with dropout draws the same numbers afterwards), and a
module field's buffers are restored (a batch norm's running statistics).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from odebench.instruments.nfe import PROBE, CountedField, phase


@dataclass
class FieldUse:
    """What one evaluation of a field used.

    ``leaves``: tensors requiring grad that the output depends on (the state excluded),
    not reached only through a ``covered`` tensor. ``constants``: tensors the field keeps
    (alive after the call) that autograd saved for backward: its weights, buffers and
    closure constants; never activations of a solve.
    """

    leaves: list[torch.Tensor] = field(default_factory=list)
    constants: list[torch.Tensor] = field(default_factory=list)


def _module_of(func: Callable[..., object]) -> nn.Module | None:
    while isinstance(func, CountedField):
        func = func.inner
    return func if isinstance(func, nn.Module) else None


def probe_field(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    t: torch.Tensor,
    y: torch.Tensor,
    *,
    covered: Iterable[torch.Tensor] = (),
) -> FieldUse:
    """Evaluate ``func(t, y)`` once and return what it used (see :class:`FieldUse`)."""
    y_probe = y.detach().clone().requires_grad_(torch.is_floating_point(y))
    t_probe = t.detach()
    own = {id(y_probe), id(t_probe)}
    seen: list[weakref.ref[torch.Tensor]] = []

    def pack(x: torch.Tensor) -> torch.Tensor:
        if x.grad_fn is None and id(x) not in own:
            try:
                seen.append(weakref.ref(x))
            except TypeError:  # pragma: no cover - a tensor subclass without weakrefs
                pass
        return x.detach()

    module = _module_of(func)
    buffers = (
        [(b, b.detach().clone()) for b in module.buffers()] if module is not None else []
    )
    devices = [y.device] if y.device.type == "cuda" else []
    out: object = None
    # no automatic collection while the probe runs, so every object it makes is still in the
    # youngest generation after it: collecting that one alone (microseconds, not a full
    # collection's 0.1 s) frees whatever cycle its graph formed
    collecting = gc.isenabled()
    gc.disable()
    try:
        with torch.random.fork_rng(devices=devices), phase(PROBE), torch.enable_grad():
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
                out = func(t_probe, y_probe)
            leaves = _leaves(out, exclude={id(y_probe)}, covered=covered)
    finally:
        with torch.no_grad():
            for live, kept in buffers:
                live.copy_(kept)
        del out
        gc.collect(0)  # drop the probe's graph: what stays alive is kept by the field itself
        if collecting:
            gc.enable()
    constants: dict[int, torch.Tensor] = {}
    for ref in seen:
        x = ref()
        if x is not None and x.untyped_storage().data_ptr() != y_probe.untyped_storage().data_ptr():
            constants.setdefault(id(x), x)
    return FieldUse(leaves=leaves, constants=list(constants.values()))


def _leaves(
    out: object, *, exclude: set[int], covered: Iterable[torch.Tensor]
) -> list[torch.Tensor]:
    """Leaves requiring grad under ``out``'s graph; the walk stops at ``covered`` tensors."""
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        return []
    covered = list(covered)
    covered_ids = {id(p) for p in covered}
    stops = {p.grad_fn for p in covered if p.grad_fn is not None}
    found: dict[int, torch.Tensor] = {}
    visited = set()
    stack = [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in visited or node in stops:
            continue
        visited.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad: a leaf
        if isinstance(variable, torch.Tensor):
            if id(variable) not in exclude and id(variable) not in covered_ids:
                found.setdefault(id(variable), variable)
            continue
        stack.extend(fn for fn, _ in node.next_functions)
    return list(found.values())
