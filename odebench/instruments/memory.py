"""Three memory meters: saved activations, peak allocated, peak RSS.

* :class:`SavedTensors` counts the bytes autograd saves for backward (exact,
  deterministic: the figure to gate on and to fit O(L) against O(1)).
* :func:`peak_allocated` is the running peak of allocations during a call: CUDA's
  ``max_memory_allocated`` on a GPU, ``torch.profiler`` memory events on the CPU.
* :func:`peak_rss` is the process's peak resident memory during a call (the kernel's
  high-water mark on Linux, memory-profiler's sampling elsewhere); measure it in a fresh
  process (the runner does).
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
    reused is not mistaken for the new one. Storages of ``params`` (everything that lives
    beyond a pass: weights, buffers) count apart::

        with SavedTensors(params=model.parameters()) as saved:
            loss = model(x).sum()     # keep the loss: its graph holds the saved tensors
            saved.watch(loss)         # optional: count the numbers its graph saves too
        saved.activation_bytes, saved.other_bytes

    ``other_bytes`` is what is kept for backward that ``saved_tensors_hooks`` never see:
    per ``torch.utils.checkpoint`` call (non-reentrant) the RNG states it stashes (and any
    tensor it holds outside its saved inputs: keyword arguments, tensors inside containers)
    and its non-tensor inputs, plus the numbers autograd's nodes save (a Python scalar, a
    dimension, a size: 8 B each) in the graphs of the outputs given to :meth:`watch`.
    """

    params: Iterable[torch.Tensor] = ()
    activation_bytes: int = 0
    param_bytes: int = 0
    count: int = 0
    other_bytes: int = 0
    _storages: dict[tuple[str, int], _Storage] = field(default_factory=dict)
    _param_keys: set[tuple[str, int]] = field(default_factory=set)
    _hooks: Any = None
    _frames: list[weakref.ref] = field(default_factory=list)
    _outputs: list[torch.Tensor] = field(default_factory=list)
    _unpatch: Callable[[], None] | None = None

    def __enter__(self) -> SavedTensors:
        self._param_keys = {_storage_key(p) for p in self.params}
        self._storages = {}
        self._frames, self._outputs = [], []
        self._unpatch = _watch_checkpoint_frames(self._frames)
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def watch(self, *outputs: torch.Tensor) -> None:
        """Count, at the block's end, the numbers saved in the graphs of ``outputs``."""
        self._outputs.extend(o for o in outputs if isinstance(o, torch.Tensor))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hooks.__exit__(exc_type, exc, tb)
        if self._unpatch is not None:
            self._unpatch()
            self._unpatch = None
        live = {k: s for k, s in self._storages.items() if s.alive}
        self.activation_bytes = sum(s.nbytes for s in live.values() if not s.is_param)
        self.param_bytes = sum(s.nbytes for s in live.values() if s.is_param)
        self.count = sum(1 for s in live.values() if not s.is_param)
        frames = [f for f in (ref() for ref in self._frames) if f is not None]
        seen = set(live) | self._param_keys
        self.other_bytes = sum(_frame_bytes(f, seen) for f in frames)
        self.other_bytes += graph_number_bytes(*self._outputs)
        self._storages, self._frames, self._outputs = {}, [], []

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


#: Bytes counted per number an autograd node saves (a C++ double or int64).
NUMBER_BYTES = 8


def _watch_checkpoint_frames(frames: list[weakref.ref]) -> Callable[[], None]:
    """Note every ``torch.utils.checkpoint`` frame made until the returned undo is called.

    Non-reentrant checkpoint keeps, per call, a frame holding its inputs (those through the
    saved-tensor hooks, non-tensors as they are) and a closure holding the RNG states it
    restores before recomputing: the only handle on them is the frame.
    """
    try:
        from torch.utils.checkpoint import _CheckpointFrame
    except ImportError:  # pragma: no cover - a torch without non-reentrant checkpoint
        return lambda: None
    original = _CheckpointFrame.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frames.append(weakref.ref(self))

    _CheckpointFrame.__init__ = init  # type: ignore[method-assign]

    def undo() -> None:
        _CheckpointFrame.__init__ = original  # type: ignore[method-assign]

    return undo


def _frame_bytes(frame: Any, seen: set[tuple[str, int]]) -> int:
    """Bytes a checkpoint frame keeps outside the saved-tensor hooks (see SavedTensors)."""
    total = 0
    tensors: list[torch.Tensor] = []
    for arg in getattr(frame, "saved_args", ()):
        if isinstance(arg, torch.Tensor):
            tensors.append(arg)  # held directly: a tensor the hooks did not see
        elif type(arg).__name__ != "SavedTensor":
            total += _number_bytes(arg, tensors)
    closure = getattr(getattr(frame, "recompute_fn", None), "__closure__", None) or ()
    for cell in closure:
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        _collect_tensors(value, tensors, depth=2)
    for t in tensors:
        key = _storage_key(t)
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def _collect_tensors(value: Any, out: list[torch.Tensor], depth: int) -> None:
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif depth > 0 and isinstance(value, list | tuple):
        for item in value:
            _collect_tensors(item, out, depth - 1)
    elif depth > 0 and isinstance(value, dict):
        for item in value.values():
            _collect_tensors(item, out, depth - 1)


def _number_bytes(value: Any, tensors: list[torch.Tensor] | None = None) -> int:
    """Bytes of the numbers in ``value`` (8 each; complex 16); tensors are set aside."""
    if isinstance(value, bool | int | float):
        return NUMBER_BYTES
    if isinstance(value, complex):
        return 2 * NUMBER_BYTES
    if isinstance(value, torch.Tensor):
        if tensors is not None:
            tensors.append(value)
        return 0
    if isinstance(value, list | tuple | torch.Size):
        return sum(_number_bytes(v, tensors) for v in value)
    return 0


def graph_number_bytes(*outputs: torch.Tensor) -> int:
    """Bytes of the numbers autograd's nodes save in the graphs of ``outputs`` (8 B each).

    Neither passes through the saved-tensor hooks: a Python scalar operand (saved as a
    "wrapped number", a 0-d float64 or int64 tensor, which torch keeps from the hooks), and a
    node's other ``_saved_*`` attributes (a dimension, a size). A wrapped number is told from
    a hooked tensor without unpacking anything (unpacking a checkpointed one would recompute
    it): only a saved tensor without hooks accepts new ones, identity hooks here.
    """
    stack = [o.grad_fn for o in outputs if isinstance(o, torch.Tensor)]
    visited: set[Any] = set()
    total = 0
    while stack:
        node = stack.pop()
        if node is None or node in visited:
            continue
        visited.add(node)
        for name in dir(node):
            try:
                if name.startswith("_raw_saved_"):
                    raw = getattr(node, name)
                    for saved in raw if isinstance(raw, list | tuple) else [raw]:
                        total += _unhooked_bytes(saved)
                elif name.startswith("_saved_") and not hasattr(node, "_raw" + name):
                    total += _number_bytes(getattr(node, name))
            except RuntimeError:  # a graph already freed by backward
                pass
        stack.extend(fn for fn, _ in node.next_functions)
    return total


def _unhooked_bytes(saved: Any) -> int:
    """Storage bytes of a saved tensor that no hook packed (a wrapped number); else 0."""
    got: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        got.append(t)
        return t

    try:
        saved.register_hooks(pack, _identity)
    except RuntimeError:  # hooks already set (packed: counted as a tensor), or no value
        return 0
    return sum(t.untyped_storage().nbytes() for t in got)


def _identity(t: torch.Tensor) -> torch.Tensor:
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


#: How a peak RSS figure was measured (the ``peak_rss_method`` column).
RSS_KERNEL = "kernel_vmhwm"  # the kernel's high-water mark: exact, every page counted
RSS_SAMPLED = "sampled_5ms"  # memory-profiler polling: misses peaks shorter than a sample
#: Where the RSS meter refuses: the process measured another case before (its allocator
#: holds freed memory that a pass reuses without the RSS growing).
RSS_NOT_FRESH = "refused_not_fresh"
_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def _status_bytes(field_name: str) -> int | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return None


def _reset_high_water_mark() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False where impossible."""
    if _status_bytes("VmHWM") is None:
        return False
    try:
        with open(_CLEAR_REFS, "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def rss_method() -> str:
    """The method :func:`peak_rss` uses in this process: the kernel's mark where it can."""
    return RSS_KERNEL if _reset_high_water_mark() else RSS_SAMPLED


def peak_rss(
    fn: Callable[[], Any], *, interval: float = 0.005, method: str | None = None
) -> tuple[int, Any]:
    """Peak resident memory of this process above its level before ``fn()``; (peak, fn()).

    On Linux the kernel's own high-water mark: ``VmHWM`` reset to the current RSS (by
    writing 5 to ``/proc/self/clear_refs``) before the call, read after it, so no peak is
    missed however short. Its resolution is the kernel's RSS counter: per-CPU batches (32
    pages a CPU on kernels >= 6.2) may not yet be summed, so a reading can be short by up to
    32 x CPUs pages (256 KiB on 2 CPUs). Elsewhere memory-profiler samples every
    ``interval`` seconds.
    ``method`` forces one (see :func:`rss_method`). Run in a fresh process with
    :data:`RSS_ENV` set for repeatable figures.
    """
    if (method or rss_method()) == RSS_KERNEL:
        if not _reset_high_water_mark():
            raise OSError(f"cannot reset VmHWM through {_CLEAR_REFS}; use method={RSS_SAMPLED!r}.")
        base = _status_bytes("VmHWM")
        out = fn()
        peak = _status_bytes("VmHWM")
        assert base is not None and peak is not None  # checked by the reset
        return max(peak - base, 0), out
    import psutil
    from memory_profiler import memory_usage

    base = psutil.Process(os.getpid()).memory_info().rss
    peak_mib, out = memory_usage(
        (fn, (), {}), interval=interval, max_usage=True, retval=True, include_children=False
    )
    return max(int(peak_mib * 2**20) - base, 0), out
