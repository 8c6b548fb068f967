"""Running cases: isolation, timeouts, failures as records, appending, resuming, progress.

Every case runs in a child process (:mod:`odebench.running.workers`): memory cases
(``peak_rss``/``peak_alloc`` meters) each in a fresh one forked from a fork server that
imported odebench and ran nothing (``MALLOC_MMAP_THRESHOLD_`` set, so RSS repeats); the
others share a long-lived spawned worker that is replaced if it dies or hangs. A case that
raises, diverges, runs out of memory, crashes its process or passes its timeout becomes a
record with ``status`` and ``error``; the sweep goes on. Records are appended to the
results file as they arrive, so an interrupted run keeps everything it finished.

With ``jobs > 1`` (:mod:`odebench.running.parallel`) the exact meters run side by side and what is
timed or measures RSS runs alone. The load average before and after a run goes into the
folder's provenance: a timing taken on a busy machine says so.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from odebench.benchmark.cases import Case
from odebench.running.execute import Record, execute
from odebench.running.folders import locked_folder
from odebench.running.provenance import read_provenance, write_provenance
from odebench.running.results import PROVENANCE_FILE, append_record, completed_keys, drop_torn_tail
from odebench.running.slurm import JOBS_FILE, SlurmOptions, run_slurm, slurm_available
from odebench.running.workers import (
    Setup,
    WorkerStartError,
    failure,
    fork_server,
)

EXECUTORS: tuple[str, ...] = ("local", "inline", "slurm")
ISOLATED_METERS = frozenset({"peak_rss", "peak_alloc"})


# --- executors ------------------------------------------------------------------------------


Job = tuple[Case, int]


def fresh_process(case: Case) -> bool:
    """Whether ``case`` needs a clean process of its own (a memory meter)."""
    return bool(ISOLATED_METERS & set(case.meters))


def _run_local(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    setup: Setup = Setup(),
    parallel: int = 1,
) -> None:
    """Each case in a worker: memory cases in a fresh forked one, the others in a shared one.

    Both kinds of worker are started before the first case (the fork server imports while
    the shared worker does), so nothing starts while a case is measured.
    """
    if parallel > 1:
        from odebench.running.parallel import run_parallel

        run_parallel(jobs, timeout, emit, setup=setup, jobs_n=parallel)
        return
    shared = None
    try:
        if any(fresh_process(c) for c, _ in jobs):
            try:
                fork_server(wait=False)
            except (OSError, RuntimeError):
                pass  # each memory case records why its worker did not start
        if any(not fresh_process(c) for c, _ in jobs):
            try:
                shared = setup.start(forked=False)
            except WorkerStartError:
                pass  # recorded against the first case that needs it, below
        if any(fresh_process(c) for c, _ in jobs):
            try:
                fork_server(wait=True)
            except (OSError, RuntimeError):
                pass
        for case, repeat in jobs:
            began = time.perf_counter()
            try:
                if fresh_process(case):
                    worker = setup.start(forked=True)
                    try:
                        emit(worker.run(case, repeat, timeout))
                    finally:
                        worker.close()
                    continue
                if shared is None or not shared.alive:
                    shared = setup.start(forked=False)
            except WorkerStartError as exc:  # record it and go on: the next case gets a new one
                emit(failure(case, repeat, "crashed", str(exc), time.perf_counter() - began))
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


def pending_jobs(
    cases: Sequence[Case],
    results_path: str | Path,
    *,
    repeats: int = 1,
    resume: bool = False,
    retry_failed: bool = False,
) -> list[Job]:
    """The (case, repeat) pairs a run still has to measure (all of them unless resuming),
    repeat by repeat: every case's repeat 0, then every case's repeat 1, so a case's
    repeats lie apart in time and their spread shows how its time drifts over a run (the
    test of ``odebench compare`` needs that spread, which back-to-back passes miss)."""
    done = completed_keys(results_path, retry_failed=retry_failed) if resume else set()
    return [(c, r) for r in range(repeats) for c in cases if (c.case_id, r) not in done]


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

    def note(self, line: str) -> None:
        """A line that does not break the bar (Slurm's queued / running / done counts)."""
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def note_load(
    folder: Path, before: list[float] | None, after: list[float] | None, *, resume: bool = False
) -> None:
    """Add the load averages around a run to the folder's provenance (if it has one).

    ``before`` is read just before the first case, ``after`` just after the last; the
    run's own processes count in ``after`` (a serial run adds about 1). A resumed run
    notes them in its own entry of ``resumed`` (:func:`odebench.running.results.record_run`).
    """
    if not (folder / PROVENANCE_FILE).is_file():
        return
    info = read_provenance(folder)
    if not info:
        return
    entry = {"before": before, "after": after, "cpus": os.cpu_count()}
    resumed = info.get("resumed")
    if resume and isinstance(resumed, list) and resumed and isinstance(resumed[-1], dict):
        resumed[-1]["load_average"] = entry
    else:
        info["load_average"] = entry
    write_provenance(folder, info)


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
    slurm: SlurmOptions | dict[str, Any] | None = None,
    cluster: str | None = None,
    threads: int | None = None,
    imports: Sequence[str] = (),
    search: Sequence[str] = (),
    jobs: int = 1,
) -> list[Record]:
    """Run every (case, repeat) not yet in ``results_path``; append each record as it arrives.

    ``executor``: ``local`` (child processes, the default), ``inline`` (this process: no
    isolation; the timeout is enforced with ``SIGALRM``, in the main thread only; for
    debugging), ``slurm`` (submitit; local processes when there is no Slurm; the timeout
    rounds up to whole minutes; ``slurm``: a :class:`~odebench.running.slurm.SlurmOptions`
    or its fields as a dict; see :mod:`odebench.running.slurm`). ``retry_failed`` (with
    ``resume``) runs again the cases whose latest row is failed, timeout or crashed; the
    new row is appended and the table reads the latest. ``threads`` sets torch's threads
    in every worker (inline: in this process); ``imports`` are user modules imported in
    every worker (see :mod:`odebench.benchmark.usermodules`). ``jobs`` (local executor): how many
    workers measure exact meters side by side (:mod:`odebench.running.parallel`); the rows are
    those of a serial run, in its order. Returns the records of this call.
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
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an integer >= 1.")
    if jobs > 1 and executor != "local":
        raise ValueError(f"jobs={jobs} applies to the local executor only; drop it with "
                         f"executor={executor!r}.")  # fmt: skip
    results_path = Path(results_path)
    with locked_folder(results_path.parent):  # one run at a time per folder (re-entrant)
        if resume:
            drop_torn_tail(results_path)  # kept aside by results.drop_torn_tail
        before = load_average()
        # noted now and again at the end: an interrupted run (Ctrl-C, a crash, a killed
        # resume) still says what load its timings were measured under
        note_load(results_path.parent, before, None, resume=resume)
        try:
            records = _run_cases(
                cases, results_path, repeats=repeats, timeout=timeout, executor=executor,
                resume=resume, retry_failed=retry_failed, progress=progress, slurm=slurm,
                cluster=cluster, threads=threads, imports=imports, search=search, jobs=jobs,
            )  # fmt: skip
        finally:
            note_load(results_path.parent, before, load_average(), resume=resume)
        return records


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
    slurm: SlurmOptions | dict[str, Any] | None,
    cluster: str | None,
    threads: int | None,
    imports: Sequence[str],
    search: Sequence[str],
    jobs: int,
) -> list[Record]:
    pending = pending_jobs(cases, results_path, repeats=repeats, resume=resume,
                           retry_failed=retry_failed)  # fmt: skip
    setup = Setup(threads=threads, imports=tuple(imports), search=tuple(search),
                  log=results_path.parent / "worker.log")  # fmt: skip
    records: list[Record] = []
    bar = _Progress(pending, enabled=progress)

    def emit(record: Record) -> None:
        append_record(results_path, record)
        records.append(record)
        bar.update(record)

    try:
        if executor == "inline":
            if threads:
                import torch

                torch.set_num_threads(threads)
            _run_inline(pending, timeout, emit)
        elif executor == "local":
            _run_local(pending, timeout, emit, setup=setup, parallel=jobs)
        else:
            options = SlurmOptions(**slurm) if isinstance(slurm, dict) else slurm
            run_slurm(pending, timeout, emit, folder=results_path.parent / "submitit",
                      options=options, cluster=cluster, setup=setup,
                      say=bar.note if progress else lambda line: None,
                      jobs_file=results_path.parent / JOBS_FILE)  # fmt: skip
    finally:
        bar.close()
    return records
