"""Wall-clock timing: warm-up, repeats, median and interquartile range."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds of each repeat, with their median and interquartile range."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        q = statistics.quantiles(self.times, n=4, method="inclusive")
        return q[2] - q[0]


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work so a timer measures it (no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeat: int = 5,
    device: str | torch.device = "cpu",
) -> Timing:
    """Time ``fn()`` ``repeat`` times after ``warmup`` untimed calls."""
    if repeat < 1 or warmup < 0:
        raise ValueError("repeat must be >= 1 and warmup >= 0.")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(tuple(times))


class Stopwatch:
    """``with Stopwatch(device) as sw: ...``; then ``sw.seconds`` (GPU-synchronized)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = device
        self.seconds = float("nan")

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


@dataclass(frozen=True)
class Interleaved:
    """Two functions timed alternately in one process: their timings and the ratio of medians."""

    a: Timing
    b: Timing

    @property
    def ratio(self) -> float:
        """median(b) / median(a): how much slower ``b`` is than ``a`` (1.0: as fast)."""
        return self.b.median / self.a.median


def time_interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    warmup: int = 3,
    repeat: int = 50,
    device: str | torch.device = "cpu",
    clock: Callable[[], float] = time.perf_counter,
) -> Interleaved:
    """Time ``a`` and ``b`` alternately (``a b b a a b ...``), so that a load that comes and
    goes on a shared machine falls on both alike; compare their medians, not single runs.
    ``clock``: ``time.process_time`` counts only this process's CPU time (on a CPU, one
    thread: the work done, not the waits for a core)."""
    if repeat < 1 or warmup < 0:
        raise ValueError("repeat must be >= 1 and warmup >= 0.")
    for _ in range(warmup):
        a()
        b()
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeat):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            fn = a if which == 0 else b
            synchronize(device)
            start = clock()
            fn()
            synchronize(device)
            times[which].append(clock() - start)
    return Interleaved(Timing(tuple(times[0])), Timing(tuple(times[1])))
