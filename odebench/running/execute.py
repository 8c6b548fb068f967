"""One case measured in this process, never raising: a failure becomes a record's status.

Used by the workers (each case in a child process), the inline executor and Slurm jobs.
"""

from __future__ import annotations

import gc
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from odebench.benchmark.cases import Case
from odebench.running.results import case_columns

Record = dict[str, Any]


def classify(exc: BaseException) -> str:
    """The ``status`` of a failed case."""
    from odebench.benchmark.measure import DivergedError
    from odebench.solvers import failure_status

    # the solver's typed status (SolveError.status; the adjoint's reverse solve included)
    status = failure_status(exc)
    if status is not None and status.value == "max_steps":
        return "max_steps"  # the case's step budget: a finding, with the figures it reached
    if isinstance(exc, DivergedError) or status is not None:
        return "diverged"
    msg = str(exc).lower()
    if isinstance(exc, MemoryError) or "out of memory" in msg:
        return "oom"
    return "failed"


class CaseTimeout(Exception):
    """Raised inside an inline case when its time is up (``SIGALRM``)."""


def _allocation_failed(exc: BaseException) -> bool:
    """torch's CPU allocator raises a plain RuntimeError; this is the one way to know it."""
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(
        exc
    )


@contextmanager
def _alarm(timeout: float | None) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in this thread after ``timeout`` seconds (main thread only)."""
    usable = (
        timeout is not None
        and math.isfinite(timeout)
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"exceeded the {timeout:g} s timeout")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_frozen = False


def collect_leftovers() -> None:
    """Free what earlier cases of this process left in reference cycles, before the next.

    Cycles (a meter's hooks bound to itself, a library's closures, a model's modules) are
    freed only by the cyclic collector, which runs when it likes; left there, they made the
    timings of later cases slower (a case's backward pass 8.6 -> 11 ms over 40 cases in one
    process; steady with a collection between cases). A full collection scans every object
    of a process with torch loaded (about 140 ms), so the first one here also freezes what
    the process holds then (``gc.freeze``: never scanned again) and each later one scans
    only what the cases made since (well under a millisecond).
    """
    global _frozen
    gc.collect()
    if not _frozen:
        gc.freeze()
        _frozen = True


def execute(case: Case, repeat: int = 0, *, timeout: float | None = None) -> Record:
    """Measure one case here and now; never raises for a failing case.

    ``timeout`` (seconds) is enforced in this process with ``SIGALRM`` where that works
    (the main thread on Unix): the inline executor's timeout.
    """
    from odebench.benchmark.measure import measure

    record = case_columns(case, repeat)
    collect_leftovers()  # a figure never depends on what ran before it
    start = time.perf_counter()
    try:
        with _alarm(timeout):
            record.update(measure(case))
        record["status"], record["error"] = "ok", ""
    except CaseTimeout as exc:
        record["status"], record["error"] = "timeout", str(exc)
    except Exception as exc:  # a failing case is a result, not a crash of the sweep
        record["status"] = "oom" if _allocation_failed(exc) else classify(exc)
        record["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
        record.update(getattr(exc, "record", None) or {})  # the figures it reached
    record["wall_s"] = time.perf_counter() - start
    return record
