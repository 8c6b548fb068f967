"""Worker processes that measure cases: a spawned long-lived one, and fresh ones forked.

A memory case needs a clean process, not a fresh interpreter: importing torch and
odebench costs about 2 s and 300 MiB, ten times over in the quick suite. So fresh workers
are forked from a *fork server* (:mod:`multiprocessing`'s ``forkserver``), a process that
imported odebench (torch with it) and has run nothing; forking one costs milliseconds. The
server starts with :data:`~odebench.instruments.memory.RSS_ENV` in its environment (glibc
reads it once, at start-up, so it cannot be set later), and every child checks that it got
it. Cases that are timed run in a spawned worker without it: the setting changes malloc's
speed, and those workers' timings must not move.

Workers die with the parent (Linux: ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread; a
forked one with the fork server, which ends when the parent does), measure with the
parent's torch thread count, and import the user's modules (``imports``) before the first
case, so problems registered there exist in them too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from odebench.benchmark.cases import Case
from odebench.instruments.memory import RSS_ENV

Record = dict[str, Any]
#: What the fork server imports before it forks anyone (nothing is run).
PRELOAD: tuple[str, ...] = (
    "odebench.benchmark.measure",
    "odebench.running.execute",
    "odebench.running.workers",
)
#: Seconds between samples of a busy worker's memory (reported if it dies).
RSS_SAMPLE_S = 1.0


class WorkerStartError(RuntimeError):
    """A worker process died or hung before it was ready to measure."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(parent: int) -> None:
    """Make this process end when its parent does (an orphan must not run on unattended).

    ``parent`` is the run's process. A forked worker's own parent is the fork server,
    which ends when the run's process does, so the kernel's signal reaches it through
    that chain.
    """
    direct = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        # PR_SET_PDEATHSIG: the kernel kills this process when its parent dies
        armed = libc.prctl(1, signal.SIGKILL) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != direct or not _alive(parent):  # died before the line above took effect
        os._exit(1)
    if armed:
        return

    def watch() -> None:  # where prctl does not exist
        while os.getppid() == direct and _alive(parent):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def prepare(threads: int | None, imports: Sequence[str], search: Sequence[str]) -> None:
    if imports:
        from odebench.benchmark.usermodules import import_modules

        import_modules(imports, search=search)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _serve(
    conn: Connection,
    log: str | None = None,
    parent: int | None = None,
    threads: int | None = None,
    imports: Sequence[str] = (),
    search: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    required: Mapping[str, str] | None = None,
) -> None:
    """Child loop: receive (case, repeat), send back the record, until told to stop.

    The child's stdout and stderr (torch's C++ messages included) go to ``log``, so
    they never break the parent's progress bar. ``environ`` replaces this process's
    environment (a forked worker inherits the fork server's, fixed when it started);
    ``required`` are variables this process must have had from its start.
    """
    if parent is not None:
        _die_with_parent(parent)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    try:
        missing = {k: v for k, v in (required or {}).items() if os.environ.get(k) != v}
        if missing:
            raise WorkerStartError(
                f"this worker started without {missing} in its environment (the fork server "
                "was started by other code); run odebench in a fresh Python process."
            )
        if environ is not None:
            os.environ.clear()
            os.environ.update(environ)
        import odebench.benchmark.measure  # noqa: F401  (import torch etc. before the first timed case)
        from odebench.running.execute import collect_leftovers, execute  # (and pandas too)

        prepare(threads, imports, search)
        collect_leftovers()  # freezes what the imports made: later collections scan cases only
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
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``extra`` set, restored afterwards."""
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


_SERVER_LOCK = threading.Lock()


def _noop() -> None:
    """What the first fork runs: its return says the server has finished importing."""


def fork_server(*, wait: bool = True) -> Any:
    """The ``forkserver`` context, its server started (with :data:`RSS_ENV`).

    ``wait``: block until the server has imported :data:`PRELOAD` (one throwaway fork), so
    that nothing imports while a case is measured; without it, return at once (the server
    imports while the caller does something else). Started once per process and reused.
    """
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    with _SERVER_LOCK:
        with environment(RSS_ENV):
            ctx.set_forkserver_preload(list(PRELOAD))
            forkserver.ensure_running()
        if wait:
            probe = ctx.Process(target=_noop, daemon=True)
            probe.start()
            probe.join()
    return ctx


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


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its children (0 where unknown): for a death report."""
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


def failure(case: Case, repeat: int, status: str, error: str, wall: float) -> Record:
    """The record of a case that did not run to the end."""
    from odebench.running.results import case_columns

    record = case_columns(case, repeat)
    record.update(status=status, error=error, wall_s=wall)
    return record


class Worker:
    """A child process that measures cases sent to it; killed on timeout.

    ``forked``: from the fork server, with :data:`RSS_ENV` (a memory case's clean
    process); otherwise spawned, with this process's environment plus ``env``.
    """

    STARTUP_TIMEOUT = 300.0  # importing torch on a loaded machine can take a while

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        *,
        forked: bool = False,
        threads: int | None = None,
        imports: Sequence[str] = (),
        search: Sequence[str] = (),
    ):
        try:
            ctx = fork_server(wait=False) if forked else mp.get_context("spawn")
        except (OSError, RuntimeError) as exc:
            raise WorkerStartError(f"the fork server did not start: {exc}") from exc
        # a forked child's environment is the server's: it gets this one's from here;
        # a spawned child's is this process's at the start, ``env`` added
        environ = None
        if forked:
            with _SERVER_LOCK:  # fork_server() changes os.environ for a moment
                environ = {**os.environ, **RSS_ENV, **(env or {})}
        self.conn, child = ctx.Pipe()
        args = (child, str(log) if log else None, os.getpid(), threads, tuple(imports),
                tuple(search), environ, RSS_ENV if forked else None)  # fmt: skip
        with environment({} if forked else dict(env or {})):
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
            return failure(case, repeat, "timeout", f"exceeded the {timeout:g} s timeout",
                           time.perf_counter() - start)  # fmt: skip
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            status, error = _death(self.process.exitcode, oom_before)
            if rss:
                error += f"; its last sampled memory (RSS): {rss / 2**20:.0f} MiB"
            return failure(case, repeat, status, error, time.perf_counter() - start)

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
    """What every worker needs before its first case: torch threads, user modules, a log."""

    threads: int | None = None
    imports: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    log: Path | None = None

    def start(self, *, forked: bool) -> Worker:
        """A ready worker: forked from the fork server (with :data:`RSS_ENV`) or spawned."""
        return Worker(log=self.log, forked=forked, threads=self.threads, imports=self.imports,
                      search=self.search)  # fmt: skip
