"""Running cases: isolation, timeouts, failures as records, appending, resuming, progress.

Every case runs in a child process: memory cases (``peak_rss``/``peak_alloc`` meters)
each in a fresh one, with ``MALLOC_MMAP_THRESHOLD_`` set so RSS repeats; the others
share a long-lived worker that is replaced if it dies or hangs. A case that raises,
diverges, runs out of memory, crashes its process or passes its timeout becomes a
record with ``status`` and ``error``; the sweep goes on. Records are appended to the
results file as they arrive, so an interrupted run keeps everything it finished.

Workers die with the parent (Linux: ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread),
measure with the parent's torch thread count, and import the user's modules (``imports``)
before the first case, so problems registered there exist in them too.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from odebench.cases import Case
from odebench.instruments.memory import RSS_ENV
from odebench.results import (
    append_record,
    case_columns,
    completed_keys,
    drop_torn_tail,
    locked_folder,
)

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


class CaseTimeout(Exception):
    """Raised inside an inline case when its time is up (``SIGALRM``)."""


class WorkerStartError(RuntimeError):
    """A worker process died or hung before it was ready to measure."""


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


def execute(case: Case, repeat: int = 0, *, timeout: float | None = None) -> Record:
    """Measure one case here and now; never raises for a failing case.

    ``timeout`` (seconds) is enforced in this process with ``SIGALRM`` where that works
    (the main thread on Unix): the inline executor's timeout.
    """
    from odebench.measure import measure

    record = case_columns(case, repeat)
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
    record["wall_s"] = time.perf_counter() - start
    return record


def _execute_job(
    case: Case, repeat: int, threads: int | None, imports: Sequence[str], search: Sequence[str]
) -> Record:
    """A submitit job: a fresh process, so set threads and import the user's modules first."""
    _prepare(threads, imports, search)
    return execute(case, repeat)


def _prepare(threads: int | None, imports: Sequence[str], search: Sequence[str]) -> None:
    if imports:
        from odebench.usermodules import import_modules

        import_modules(imports, search=search)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _failure(case: Case, repeat: int, status: str, error: str, wall: float) -> Record:
    record = case_columns(case, repeat)
    record.update(status=status, error=error, wall_s=wall)
    return record


# --- child processes ------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Make this process end when ``parent`` does (an orphan must not run on unattended)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        # PR_SET_PDEATHSIG: the kernel kills this process when its parent dies
        armed = libc.prctl(1, signal.SIGKILL) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    if armed:
        return

    def watch() -> None:  # where prctl does not exist
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _serve(
    conn: Connection,
    log: str | None = None,
    parent: int | None = None,
    threads: int | None = None,
    imports: Sequence[str] = (),
    search: Sequence[str] = (),
) -> None:
    """Child loop: receive (case, repeat), send back the record, until told to stop.

    The child's stdout and stderr (torch's C++ messages included) go to ``log``, so
    they never break the parent's progress bar.
    """
    if parent is not None:
        _die_with_parent(parent)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    try:
        import odebench.measure  # noqa: F401  (import torch etc. before the first timed case)

        _prepare(threads, imports, search)
    except Exception as exc:
        conn.send(("error", " ".join(f"{type(exc).__name__}: {exc}".split())[:2000]))
        return
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


def _oom_kills() -> int | None:
    """The kernel's count of OOM kills (system-wide, ``/proc/vmstat``); None where unknown."""
    try:
        with open("/proc/vmstat") as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


#: Seconds between samples of a busy worker's memory (reported if it dies).
RSS_SAMPLE_S = 1.0


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children (0 where unknown)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except Exception:  # the process is gone, or psutil cannot read it
        return 0


def _death(code: int | None, oom_before: int | None) -> tuple[str, str]:
    """Status and message for a worker that died with exit ``code`` while measuring."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        oom_after = _oom_kills()
        if oom_before is not None and oom_after is not None and oom_after > oom_before:
            return "oom", f"worker process killed by {name}: the kernel's OOM killer ran"
        why = (
            "not by the kernel's OOM killer, whose count did not move"
            if oom_before is not None and oom_after is not None
            else "whether for lack of memory cannot be told here"
        )
        return "crashed", f"worker process killed by {name} ({why})"
    return "crashed", f"worker process died, exit code {code}"


class Worker:
    """A child process that measures cases sent to it; killed on timeout."""

    STARTUP_TIMEOUT = 300.0  # importing torch on a loaded machine can take a while

    def __init__(
        self,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        *,
        threads: int | None = None,
        imports: Sequence[str] = (),
        search: Sequence[str] = (),
    ):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        args = (child, str(log) if log else None, os.getpid(), threads, tuple(imports),
                tuple(search))  # fmt: skip
        with _environment(env or {}):
            # not a daemon: memory-profiler starts a process of its own inside it
            self.process = ctx.Process(target=_serve, args=args, daemon=False)
            self.process.start()
        child.close()
        # the case timeout starts once the child is ready, not while it imports
        try:
            ready = self.conn.recv() if self.conn.poll(self.STARTUP_TIMEOUT) else None
        except (EOFError, OSError):
            ready = None
        if ready != "ready":
            self.kill()
            if isinstance(ready, tuple):
                why = f"it failed to start: {ready[1]}"
            elif ready is None and self.process.exitcode is not None:
                why = f"it died while starting, exit code {self.process.exitcode}"
            else:
                why = f"it was not ready within {self.STARTUP_TIMEOUT:g} s"
            raise WorkerStartError(f"worker process did not start: {why}")

    def run(self, case: Case, repeat: int, timeout: float) -> Record:
        start = time.perf_counter()
        oom_before = _oom_kills()
        rss = 0
        try:
            self.conn.send((case, repeat))
            deadline = start + timeout
            while True:  # wait in slices, noting the worker's memory for a death report
                left = deadline - time.perf_counter()
                finished = self.conn.poll(max(0.0, min(RSS_SAMPLE_S, left)))
                if finished or left <= 0:
                    break
                rss = _rss(self.process.pid) or rss
        except (EOFError, OSError, BrokenPipeError):
            finished = True  # the worker is gone; recv below says so
        if not finished:
            self.kill()
            return _failure(case, repeat, "timeout", f"exceeded the {timeout:g} s timeout",
                            time.perf_counter() - start)  # fmt: skip
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            status, error = _death(self.process.exitcode, oom_before)
            if rss:
                error += f"; its last sampled memory (RSS): {rss / 2**20:.0f} MiB"
            return _failure(case, repeat, status, error, time.perf_counter() - start)

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


@dataclass(frozen=True)
class Setup:
    """What every worker needs before its first case: torch threads and user modules."""

    threads: int | None = None
    imports: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


# --- executors ------------------------------------------------------------------------------


Job = tuple[Case, int]


def _run_local(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    log: Path | None = None,
    setup: Setup = Setup(),
) -> None:
    def start(env: dict[str, str] | None = None) -> Worker:
        return Worker(env=env, log=log, threads=setup.threads, imports=setup.imports,
                      search=setup.search)  # fmt: skip

    shared: Worker | None = None
    try:
        for case, repeat in jobs:
            began = time.perf_counter()
            try:
                if ISOLATED_METERS & set(case.meters):
                    worker = start(RSS_ENV)
                    try:
                        emit(worker.run(case, repeat, timeout))
                    finally:
                        worker.close()
                    continue
                if shared is None or not shared.alive:
                    shared = start()
            except WorkerStartError as exc:  # record it and go on: the next case gets a new one
                emit(_failure(case, repeat, "crashed", str(exc), time.perf_counter() - began))
                continue
            record = shared.run(case, repeat, timeout)
            if record["status"] in ("timeout", "crashed", "oom") and not shared.alive:
                shared = None
            emit(record)
    finally:
        if shared is not None:
            shared.close()


def _run_inline(jobs: Sequence[Job], timeout: float, emit: Callable[[Record], None]) -> None:
    for case, repeat in jobs:
        emit(execute(case, repeat, timeout=timeout))


def slurm_minutes(timeout: float) -> int:
    """Slurm limits jobs in whole minutes: the timeout rounded up, plus one for start-up."""
    return max(1, math.ceil(timeout / 60)) + 1


def slurm_available() -> bool:
    """Whether submitit would submit to Slurm here (its own test: ``srun`` on PATH)."""
    import shutil

    return shutil.which("srun") is not None


def _run_submitit(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    *,
    folder: Path,
    cluster: str | None = None,
    max_parallel: int | None = None,
    slurm: dict[str, Any] | None = None,
    setup: Setup = Setup(),
) -> None:
    """Submit each case as a job through submitit (Slurm, or local processes without it).

    The job's limit is :func:`slurm_minutes` (Slurm counts whole minutes), so a case may
    run up to a minute past ``timeout`` before it is killed and recorded as crashed.
    """
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    params: dict[str, Any] = {"timeout_min": slurm_minutes(timeout)}
    if executor.cluster == "slurm":
        setup_lines = [f"export {k}={v}" for k, v in RSS_ENV.items()]
        params.update(slurm_setup=setup_lines,
                      **{f"slurm_{k}": v for k, v in (slurm or {}).items()})  # fmt: skip
    executor.update_parameters(**params)
    parallel = max_parallel or (64 if executor.cluster == "slurm" else 1)
    pending: list[tuple[Job, Any, float]] = []
    queue = list(jobs)
    with _environment(RSS_ENV):
        while queue or pending:
            while queue and len(pending) < parallel:
                case, repeat = queue.pop(0)
                handle = executor.submit(_execute_job, case, repeat, setup.threads,
                                         setup.imports, setup.search)  # fmt: skip
                pending.append(((case, repeat), handle, time.perf_counter()))
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


def pending_jobs(
    cases: Sequence[Case],
    results_path: str | Path,
    *,
    repeats: int = 1,
    resume: bool = False,
    retry_failed: bool = False,
) -> list[Job]:
    """The (case, repeat) pairs a run still has to measure (all of them unless resuming)."""
    done = completed_keys(results_path, retry_failed=retry_failed) if resume else set()
    return [(c, r) for c in cases for r in range(repeats) if (c.case_id, r) not in done]


class _Progress:
    """A tqdm bar on a terminal; elsewhere (a log file) a plain line every ``every`` seconds."""

    def __init__(self, jobs: Sequence[Job], *, enabled: bool, every: float = 30.0) -> None:
        self.jobs, self.done, self.failures = jobs, 0, 0
        self.start = self.last = time.perf_counter()
        self.every = every
        self.tty = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.tty
        self.bar = None
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(jobs), unit="case", dynamic_ncols=True)
            if jobs:
                self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            running = self.jobs[self.done][0].case_id if self.done < len(self.jobs) else "-"
            self.bar.set_postfix_str(f"running {running} | failed {self.failures}")

    def update(self, record: Record) -> None:
        self.done += 1
        bad = record.get("status") != "ok"
        self.failures += bad
        line = f"  {record['case_id']}: {record['status']}: {record.get('error', '')}"
        if self.bar is not None:
            if bad:
                self.bar.write(line)
            self.bar.update(1)
            self._postfix()
            return
        if not self.plain:
            return
        now = time.perf_counter()
        if bad:
            print(line, file=sys.stderr, flush=True)
        if bad or now - self.last >= self.every or self.done == len(self.jobs):
            self.last = now
            elapsed = int(now - self.start)
            print(f"odebench: {self.done}/{len(self.jobs)} cases done, {self.failures} not ok, "
                  f"{elapsed // 60}:{elapsed % 60:02d} elapsed", file=sys.stderr,
                  flush=True)  # fmt: skip

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_cases(
    cases: Sequence[Case],
    results_path: str | Path,
    *,
    repeats: int = 1,
    timeout: float = 600.0,
    executor: str = "local",
    resume: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    slurm: dict[str, Any] | None = None,
    cluster: str | None = None,
    threads: int | None = None,
    imports: Sequence[str] = (),
    search: Sequence[str] = (),
) -> list[Record]:
    """Run every (case, repeat) not yet in ``results_path``; append each record as it arrives.

    ``executor``: ``local`` (child processes, the default), ``inline`` (this process: no
    isolation; the timeout is enforced with ``SIGALRM``, in the main thread only; for
    debugging), ``slurm`` (submitit; local processes when there is no Slurm; the timeout
    rounds up to whole minutes, see :func:`slurm_minutes`). ``retry_failed`` (with
    ``resume``) runs again the cases whose latest row is failed, timeout or crashed; the
    new row is appended and the table reads the latest. ``threads`` sets torch's threads
    in every worker (inline: in this process); ``imports`` are user modules imported in
    every worker (see :mod:`odebench.usermodules`). Returns the records of this call.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}.")
    if executor == "slurm" and cluster is None and not slurm_available():
        raise ValueError(  # submitit would silently run local processes instead
            "executor='slurm': no Slurm here (no srun on PATH); use executor='local', or "
            "cluster='local' for submitit's local processes."
        )
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be an integer >= 1.")
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout={timeout!r} must be a finite number of seconds > 0.")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):  # fmt: skip
        raise ValueError(f"threads={threads!r} must be an integer >= 1.")
    results_path = Path(results_path)
    with locked_folder(results_path.parent):  # one run at a time per folder (re-entrant)
        if resume:
            drop_torn_tail(results_path)  # kept aside by results.drop_torn_tail
        return _run_cases(
            cases, results_path, repeats=repeats, timeout=timeout, executor=executor,
            resume=resume, retry_failed=retry_failed, progress=progress, slurm=slurm,
            cluster=cluster, threads=threads, imports=imports, search=search,
        )  # fmt: skip


def _run_cases(
    cases: Sequence[Case],
    results_path: Path,
    *,
    repeats: int,
    timeout: float,
    executor: str,
    resume: bool,
    retry_failed: bool,
    progress: bool,
    slurm: dict[str, Any] | None,
    cluster: str | None,
    threads: int | None,
    imports: Sequence[str],
    search: Sequence[str],
) -> list[Record]:
    jobs = pending_jobs(cases, results_path, repeats=repeats, resume=resume,
                        retry_failed=retry_failed)  # fmt: skip
    setup = Setup(threads=threads, imports=tuple(imports), search=tuple(search))
    records: list[Record] = []
    bar = _Progress(jobs, enabled=progress)

    def emit(record: Record) -> None:
        append_record(results_path, record)
        records.append(record)
        bar.update(record)

    try:
        if executor == "inline":
            if threads:
                import torch

                torch.set_num_threads(threads)
            _run_inline(jobs, timeout, emit)
        elif executor == "local":
            _run_local(jobs, timeout, emit, log=results_path.parent / "worker.log", setup=setup)
        else:
            folder = results_path.parent / "submitit"
            _run_submitit(jobs, timeout, emit, folder=folder, cluster=cluster, slurm=slurm,
                          setup=setup)  # fmt: skip
    finally:
        bar.close()
    return records
