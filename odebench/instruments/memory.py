"""Three memory meters: saved activations, peak allocated, peak RSS.

* :class:`SavedTensors` counts the bytes autograd saves for backward (exact,
  deterministic: the figure to gate on and to fit O(L) against O(1)).
* :func:`peak_allocated` is the running peak of allocations during a call: CUDA's
  ``max_memory_allocated`` on a GPU, ``torch.profiler`` memory events on the CPU.
* :func:`peak_rss` is the process's peak resident memory during a call (via
  memory-profiler); measure it in a fresh process (the runner does).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch

#: Set in the environment of a process that measures RSS: without it glibc's malloc
#: made peak RSS vary by up to 29% between identical runs and overstate the per-step slope
#: 1.5-3x (measured on 2 cores, torch 2.13); with it, runs repeated within 1% and matched
#: the profiler's peak within 3%.
RSS_ENV = {"MALLOC_MMAP_THRESHOLD_": "16384"}


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return (str(t.device), storage.data_ptr())


@dataclass
class _Storage:
    nbytes: int
    is_param: bool
    holders: list[weakref.ref] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return any(ref() is not None for ref in self.holders)


@dataclass
class SavedTensors:
    """Context manager counting bytes of tensors saved for backward inside it.

    The figure is what the graph holds when the block ends: the distinct storages of
    the saved tensors still alive then (a storage counts once, whole, however many views
    of it are saved). Tensors saved and freed inside the block (the graph of an adaptive
    solver's rejected step, say) do not count, and a freed storage whose address is
    reused is not mistaken for the new one. Storages of ``params`` count apart::

        with SavedTensors(params=model.parameters()) as saved:
            loss = model(x).sum()     # keep the loss: its graph holds the saved tensors
        saved.activation_bytes
    """

    params: Iterable[torch.Tensor] = ()
    activation_bytes: int = 0
    param_bytes: int = 0
    count: int = 0
    _storages: dict[tuple[str, int], _Storage] = field(default_factory=dict)
    _param_keys: set[tuple[str, int]] = field(default_factory=set)
    _hooks: Any = None

    def __enter__(self) -> SavedTensors:
        self._param_keys = {_storage_key(p) for p in self.params}
        self._storages = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hooks.__exit__(exc_type, exc, tb)
        live = [s for s in self._storages.values() if s.alive]
        self.activation_bytes = sum(s.nbytes for s in live if not s.is_param)
        self.param_bytes = sum(s.nbytes for s in live if s.is_param)
        self.count = sum(1 for s in live if not s.is_param)
        self._storages = {}

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        entry = self._storages.get(key)
        if entry is None or not entry.alive:  # new storage, or a dead one's address reused
            entry = _Storage(t.untyped_storage().nbytes(), key in self._param_keys)
            self._storages[key] = entry
        # hand autograd a detached alias: returning ``t`` itself would make a saved output
        # hold its own grad_fn (a reference cycle that leaks dropped graphs), and the alias
        # lives exactly as long as the graph that saved it
        alias = t.detach()
        entry.holders.append(weakref.ref(alias))
        return alias

    @staticmethod
    def _unpack(t: torch.Tensor) -> torch.Tensor:
        return t


def _walk(nodes: Iterable[Any]) -> Iterator[Any]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _cpu_peak_from_profiler(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Running peak of the bytes allocated inside ``fn`` and not yet freed.

    Only blocks whose allocation the block saw count: freeing a block allocated before
    the call (a previous case's tensors, say) is not a negative event here, so the
    figure does not depend on what ran earlier in the process.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = sorted(
        (node.start_time_ns, i, node.extra_fields)
        for i, node in enumerate(_walk(prof.profiler.kineto_results.experimental_event_tree()))
        if node.tag.name == "Allocation" and node.extra_fields.device.type == "cpu"
    )
    live: dict[int, int] = {}
    current = peak = 0
    for _, _, alloc in events:
        if alloc.alloc_size > 0:
            live[alloc.ptr] = alloc.alloc_size
            current += alloc.alloc_size
            peak = max(peak, current)
        elif alloc.ptr in live:  # a free of a block allocated inside the call
            current -= live.pop(alloc.ptr)
    return peak, out


def peak_allocated(fn: Callable[[], Any], device: str | torch.device = "cpu") -> tuple[int, Any]:
    """Peak bytes allocated above the starting level while ``fn()`` runs; returns (peak, fn())."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, out
    return _cpu_peak_from_profiler(fn)


def peak_rss(fn: Callable[[], Any], *, interval: float = 0.005) -> tuple[int, Any]:
    """Peak resident memory of this process above its level before ``fn()``; (peak, fn()).

    Run in a fresh process with :data:`RSS_ENV` set for repeatable figures.
    """
    import psutil
    from memory_profiler import memory_usage

    base = psutil.Process(os.getpid()).memory_info().rss
    peak_mib, out = memory_usage(
        (fn, (), {}), interval=interval, max_usage=True, retval=True, include_children=False
    )
    return max(int(peak_mib * 2**20) - base, 0), out
