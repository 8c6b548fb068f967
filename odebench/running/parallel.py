"""``jobs > 1``: exact meters side by side, what is timed or measures RSS alone.

A timing or a peak RSS taken while other cases run is biased by them; NFE, saved bytes,
peak allocated (the profiler's count) and errors are not. So each case is split by meter:

* the *alone* part: the case without its ``error`` meter, when it has a ``time`` or
  ``peak_rss`` meter. It keeps every meter that :func:`odebench.benchmark.measure.measure` runs
  before the timed passes, so they follow the same passes as in a serial run. These parts
  run one at a time, with no other case running.
* the *side* part: the ``error`` meter of such a case (a float64 reference solve and its
  gradient, most of a timed case's time), and every case with no timed or RSS meter. These
  run ``jobs`` at a time, in workers forked from the fork server.

The two records of a case merge into the row a serial run writes (a part that failed gives
the row its status, error and the figures it reached before it stopped, as a serial run's
failed case has them). Jobs go in windows: a window's side parts run in parallel, then its
alone parts in order, then its rows are written in the order of the jobs, so the file reads
as a serial run's and an interrupted run loses at most one window.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from odebench.benchmark.cases import Case
from odebench.running.results import case_columns
from odebench.running.workers import Setup, Worker, WorkerStartError, failure, fork_server

Record = dict[str, Any]
Job = tuple[Case, int]
#: Meters that another process running at the same time would bias.
ALONE_METERS = frozenset({"time", "peak_rss"})
#: Meters of a timed case that are measured apart, side by side with others.
SIDE_METERS = ("error",)
#: Meters that need a process of their own (as in :mod:`odebench.running.runner`).
FRESH_METERS = frozenset({"peak_rss", "peak_alloc"})


@dataclass(frozen=True)
class Part:
    """What one worker measures for job ``index``: ``case`` (some of the job's meters)."""

    index: int
    case: Case
    alone: bool

    @property
    def fresh(self) -> bool:
        return bool(FRESH_METERS & set(self.case.meters))


def split(index: int, case: Case) -> list[Part]:
    """The parts of a job, the alone one first."""
    meters = tuple(case.meters)
    if not ALONE_METERS & set(meters):
        return [Part(index, case, alone=False)]
    side = tuple(m for m in meters if m in SIDE_METERS)
    if not side:
        return [Part(index, case, alone=True)]
    rest = tuple(m for m in meters if m not in SIDE_METERS)
    return [Part(index, case.with_(meters=rest), alone=True),
            Part(index, case.with_(meters=side), alone=False)]  # fmt: skip


def merge(case: Case, repeat: int, records: Sequence[Record]) -> Record:
    """The row of ``case`` from the records of its parts (in :func:`split`'s order)."""
    row = case_columns(case, repeat)
    identity = set(row)
    wall = sum(float(r.get("wall_s") or 0.0) for r in records)
    bad = next((r for r in records if r.get("status") != "ok"), None)
    if bad is not None:  # its status, error and the figures it reached, as a serial run's row
        row.update({k: v for k, v in bad.items() if k not in identity})
        row["wall_s"] = wall
        return row
    for record in records:
        for key, value in record.items():
            if key not in identity and key not in row:
                row[key] = value
    row["wall_s"] = wall
    return row


def windows(jobs: Sequence[Job], size: int) -> list[list[tuple[int, Job]]]:
    numbered = list(enumerate(jobs))
    return [numbered[i : i + size] for i in range(0, len(numbered), size)]


class _SidePool:
    """``n`` threads, each with a forked worker; fresh parts get a forked worker of their own."""

    def __init__(self, n: int, setup: Setup, timeout: float) -> None:
        self.setup, self.timeout = setup, timeout
        self.idle: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(n):
            self.idle.put(None)  # started on first use, in its thread
        self.threads = ThreadPoolExecutor(max_workers=n, thread_name_prefix="odebench-side")
        self.n = n

    def _run(self, part: Part, repeat: int) -> Record:
        began = time.perf_counter()
        try:
            if part.fresh:
                worker = self.setup.start(forked=True)
                try:
                    return worker.run(part.case, repeat, self.timeout)
                finally:
                    worker.close()
            shared = self.idle.get()
            try:
                if shared is None or not shared.alive:
                    shared = None
                    shared = self.setup.start(forked=True)
                return shared.run(part.case, repeat, self.timeout)
            finally:
                if shared is not None and not shared.alive:
                    shared.kill()  # its pipe closed; the next part starts a new one
                    shared = None
                self.idle.put(shared)
        except WorkerStartError as exc:
            return failure(part.case, repeat, "crashed", str(exc), time.perf_counter() - began)

    def run(self, parts: Sequence[tuple[Part, int]]) -> list[Record]:
        """Records of ``parts`` (part, repeat), in their order."""
        return list(self.threads.map(lambda item: self._run(*item), parts))

    def close(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        while not self.idle.empty():
            worker = self.idle.get()
            if worker is not None:
                worker.close()


def run_parallel(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    *,
    setup: Setup,
    jobs_n: int,
    window: int | None = None,
) -> None:
    """Run ``jobs`` with ``jobs_n`` side workers; rows are emitted in the order of ``jobs``."""
    size = window or max(8, 4 * jobs_n)
    pool = _SidePool(jobs_n, setup, timeout)
    alone: Worker | None = None
    try:
        fork_server(wait=True)
        for chunk in windows(jobs, size):
            parts = {i: split(i, case) for i, (case, _) in chunk}
            repeat_of = {i: r for i, (_, r) in chunk}
            side = [(p, repeat_of[p.index]) for i, _ in chunk for p in parts[i] if not p.alone]
            done: dict[Part, Record] = dict(zip([p for p, _ in side], pool.run(side),
                                                strict=True))  # fmt: skip
            for i, _ in chunk:  # then the alone parts, one at a time, nothing else running
                for part in parts[i]:
                    if part.alone:
                        done[part], alone = _run_alone(part, repeat_of[i], timeout, setup, alone)
            for i, (case, repeat) in chunk:
                emit(merge(case, repeat, [done[p] for p in parts[i]]))
    finally:
        pool.close()
        if alone is not None:
            alone.close()


def _run_alone(
    part: Part, repeat: int, timeout: float, setup: Setup, shared: Worker | None
) -> tuple[Record, Worker | None]:
    """Measure an alone part: a fresh forked worker for a memory meter, else the spawned
    worker of timed cases (started here if needed); returns the record and that worker."""
    began = time.perf_counter()
    try:
        if part.fresh:
            worker = setup.start(forked=True)
            try:
                return worker.run(part.case, repeat, timeout), shared
            finally:
                worker.close()
        if shared is None or not shared.alive:
            shared = setup.start(forked=False)
    except WorkerStartError as exc:
        return failure(part.case, repeat, "crashed", str(exc), time.perf_counter() - began), shared
    record = shared.run(part.case, repeat, timeout)
    if not shared.alive:
        shared.kill()
        return record, None
    return record, shared
