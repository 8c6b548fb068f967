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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch

#: Set in the environment of a process that measures RSS: without it glibc's malloc
#: makes peak RSS vary by tens of percent between identical runs (see DESIGN.md).
RSS_ENV = {"MALLOC_MMAP_THRESHOLD_": "16384"}


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return (str(t.device), storage.data_ptr())


@dataclass
class SavedTensors:
    """Context manager counting bytes of tensors saved for backward inside it.

    Tensors are deduplicated by storage (a storage counts once, whole), and the
    storages of ``params`` are counted apart in ``param_bytes``::

        with SavedTensors(params=model.parameters()) as saved:
            loss = model(x).sum()
        saved.activation_bytes
    """

    params: Iterable[torch.Tensor] = ()
    activation_bytes: int = 0
    param_bytes: int = 0
    count: int = 0
    _seen: set[tuple[str, int]] = field(default_factory=set)
    _param_keys: set[tuple[str, int]] = field(default_factory=set)
    _hooks: Any = None

    def __enter__(self) -> SavedTensors:
        self._param_keys = {_storage_key(p) for p in self.params}
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

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in self._seen:
            self._seen.add(key)
            nbytes = t.untyped_storage().nbytes()
            if key in self._param_keys:
                self.param_bytes += nbytes
            else:
                self.activation_bytes += nbytes
                self.count += 1
        return t

    @staticmethod
    def _unpack(t: torch.Tensor) -> torch.Tensor:
        return t


def _cpu_peak_from_profiler(fn: Callable[[], Any]) -> tuple[int, Any]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.device_type().name == "CPU"]
    memory = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in memory:
        current += nbytes
        peak = max(peak, current)
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
