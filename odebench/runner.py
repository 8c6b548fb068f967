"""Running cases: isolation, timeouts, failures as records, appending, resuming, progress.

Every case runs in a child process: memory cases (``peak_rss``/``peak_alloc`` meters)
each in a fresh one, with ``MALLOC_MMAP_THRESHOLD_`` set so RSS repeats; the others
share a long-lived worker that is replaced if it dies or hangs. A case that raises,
diverges, runs out of memory, crashes its process or passes its timeout becomes a
record with ``status`` and ``error``; the sweep goes on. Records are appended to the
results file as they arrive, so an interrupted run keeps everything it finished.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from odebench.cases import Case
from odebench.instruments.memory import RSS_ENV
from odebench.results import append_record, case_columns, completed_keys

Record = dict[str, Any]
EXECUTORS: tuple[str, ...] = ("local", "inline", "slurm")
ISOLATED_METERS = frozenset({"peak_rss", "peak_alloc"})


def classify(exc: BaseException) -> str:
    """The ``status`` of a failed case."""
    from odebench.measure import DivergedError
    from odebench.solvers import failure_status

    # the solver's typed status (SolveError.status; the adjoint's reverse solve included)
    if isinstance(exc, DivergedError) or failure_status(exc) is not None:
        return "diverged"
    msg = str(exc).lower()
    if isinstance(exc, MemoryError) or "out of memory" in msg:
        return "oom"
    return "failed"


def execute(case: Case, repeat: int = 0) -> Record:
    """Measure one case here and now; never raises for a failing case."""
    from odebench.measure import measure

    record = case_columns(case, repeat)
    start = time.perf_counter()
    try:
        record.update(measure(case))
        record["status"], record["error"] = "ok", ""
    except Exception as exc:  # a failing case is a result, not a crash of the sweep
        record["status"] = classify(exc)
        record["error"] = f"{type(exc).__name__}: {exc}".strip()[:2000]
    record["wall_s"] = time.perf_counter() - start
    return record


def _failure(case: Case, repeat: int, status: str, error: str, wall: float) -> Record:
    record = case_columns(case, repeat)
    record.update(status=status, error=error, wall_s=wall)
    return record


# --- child processes ------------------------------------------------------------------------


def _serve(conn: Connection, log: str | None = None) -> None:
    """Child loop: receive (case, repeat), send back the record, until told to stop.

    The child's stdout and stderr (torch's C++ messages included) go to ``log``, so
    they never break the parent's progress bar.
    """
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    import odebench.measure  # noqa: F401  (import torch etc. before the first timed case)

    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(execute(*job))


@contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Worker:
    """A child process that measures cases sent to it; killed on timeout."""

    STARTUP_TIMEOUT = 300.0  # importing torch on a loaded machine can take a while

    def __init__(self, env: dict[str, str] | None = None, log: Path | None = None):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        with _environment(env or {}):
            # not a daemon: memory-profiler starts a process of its own inside it
            self.process = ctx.Process(
                target=_serve, args=(child, str(log) if log else None), daemon=False
            )
            self.process.start()
        child.close()
        # the case timeout starts once the child is ready, not while it imports
        if not self.conn.poll(self.STARTUP_TIMEOUT) or self.conn.recv() != "ready":
            self.kill()
            raise RuntimeError("the worker process did not start; is odebench importable?")

    def run(self, case: Case, repeat: int, timeout: float) -> Record:
        start = time.perf_counter()
        self.conn.send((case, repeat))
        if not self.conn.poll(timeout):
            self.kill()
            return _failure(case, repeat, "timeout", f"exceeded the {timeout:g} s timeout",
                            time.perf_counter() - start)  # fmt: skip
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            status = "oom" if code == -9 else "crashed"
            hint = " (killed: likely out of memory)" if code == -9 else ""
            return _failure(case, repeat, status, f"worker process died, exit code {code}{hint}",
                            time.perf_counter() - start)  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            self.process.join(5)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


# --- executors ------------------------------------------------------------------------------


Job = tuple[Case, int]


def _run_local(
    jobs: Sequence[Job], timeout: float, emit: Callable[[Record], None], log: Path | None = None
) -> None:
    shared: Worker | None = None
    try:
        for case, repeat in jobs:
            if ISOLATED_METERS & set(case.meters):
                worker = Worker(env=RSS_ENV, log=log)
                try:
                    emit(worker.run(case, repeat, timeout))
                finally:
                    worker.close()
                continue
            if shared is None or not shared.alive:
                shared = Worker(log=log)
            record = shared.run(case, repeat, timeout)
            if record["status"] in ("timeout", "crashed", "oom") and not shared.alive:
                shared = None
            emit(record)
    finally:
        if shared is not None:
            shared.close()


def _run_inline(jobs: Sequence[Job], timeout: float, emit: Callable[[Record], None]) -> None:
    for case, repeat in jobs:
        emit(execute(case, repeat))


def _run_submitit(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    *,
    folder: Path,
    cluster: str | None = None,
    max_parallel: int | None = None,
    slurm: dict[str, Any] | None = None,
) -> None:
    """Submit each case as a job through submitit (Slurm, or local processes without it)."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    params: dict[str, Any] = {"timeout_min": max(1, int(timeout // 60) + 1)}
    if executor.cluster == "slurm":
        setup = [f"export {k}={v}" for k, v in RSS_ENV.items()]
        params.update(slurm_setup=setup, **{f"slurm_{k}": v for k, v in (slurm or {}).items()})
    executor.update_parameters(**params)
    parallel = max_parallel or (64 if executor.cluster == "slurm" else 1)
    pending: list[tuple[Job, Any, float]] = []
    queue = list(jobs)
    with _environment(RSS_ENV):
        while queue or pending:
            while queue and len(pending) < parallel:
                job = queue.pop(0)
                pending.append((job, executor.submit(execute, *job), time.perf_counter()))
            for item in list(pending):
                (case, repeat), handle, started = item
                if not handle.done():
                    continue
                pending.remove(item)
                try:
                    emit(handle.result())
                except Exception as exc:  # the job itself died (timeout, node failure)
                    emit(_failure(case, repeat, "crashed", f"{type(exc).__name__}: {exc}"[:2000],
                                  time.perf_counter() - started))  # fmt: skip
            time.sleep(0.2)


def run_cases(
    cases: Sequence[Case],
    results_path: str | Path,
    *,
    repeats: int = 1,
    timeout: float = 600.0,
    executor: str = "local",
    resume: bool = False,
    progress: bool = True,
    slurm: dict[str, Any] | None = None,
    cluster: str | None = None,
) -> list[Record]:
    """Run every (case, repeat) not yet in ``results_path``; append each record as it arrives.

    ``executor``: ``local`` (child processes, the default), ``inline`` (this process: no
    isolation or timeout; for debugging), ``slurm`` (submitit; local processes when
    there is no Slurm). Returns the records of this call.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}.")
    if repeats < 1:
        raise ValueError("repeats must be >= 1.")
    if timeout <= 0:
        raise ValueError("timeout must be > 0 seconds.")
    results_path = Path(results_path)
    done = completed_keys(results_path) if resume else set()
    jobs = [(c, r) for c in cases for r in range(repeats) if (c.case_id, r) not in done]
    records: list[Record] = []

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), unit="case", disable=not progress, dynamic_ncols=True)
    failures = 0

    def emit(record: Record) -> None:
        nonlocal failures
        append_record(results_path, record)
        records.append(record)
        if record.get("status") != "ok":
            failures += 1
            bar.write(f"  {record['case_id']}: {record['status']}: {record.get('error', '')}")
        bar.update(1)
        _show(len(records))

    def _show(done: int) -> None:
        running = jobs[done][0].case_id if done < len(jobs) else "-"
        bar.set_postfix_str(f"running {running} | failed {failures}")

    if jobs:
        _show(0)
    try:
        if executor == "inline":
            _run_inline(jobs, timeout, emit)
        elif executor == "local":
            _run_local(jobs, timeout, emit, log=results_path.parent / "worker.log")
        else:
            folder = results_path.parent / "submitit"
            _run_submitit(jobs, timeout, emit, folder=folder, cluster=cluster, slurm=slurm)
    finally:
        bar.close()
    return records
