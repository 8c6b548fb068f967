"""The Slurm executor: each case a job submitted through submitit, followed with ``sacct``.

What a cluster user meets first is handled here:

* **requests**: the partition, CPUs per job, GPUs (a ``cuda`` case asks for one unless told
  otherwise) and any extra ``sbatch`` parameter reach the job; a case with a ``time`` or
  ``peak_rss`` meter asks for an exclusive node (``--exclusive``) so no other job shares its
  CPUs, caches or memory bandwidth while it is timed (the trade-off: those jobs wait for a
  whole node each);
* **following**: job states come from ``sacct`` (Slurm's accounting, through slurmdbd): a job
  cancelled while pending never writes a result, and only accounting says it ended. Without
  it, :func:`check_accounting` refuses before anything is submitted;
* **progress**: queued / running / done counts, printed as they change;
* **interruption**: Ctrl-C, SIGTERM, SIGHUP (or any error) cancels every job of the run still
  queued or running, keeps the results of those that finished, and says so; a later ``--resume``
  submits each missing case once;
* **times**: each job's submit, start and end times go to ``slurm_jobs.csv`` in the results
  folder (queue time apart from run time); a crashed job's ``wall_s`` is its own run time
  from ``sacct``, without its wait in the queue.
"""

from __future__ import annotations

import csv
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odebench.benchmark.cases import Case
from odebench.instruments.memory import RSS_ENV
from odebench.running.execute import Record, execute
from odebench.running.workers import Setup, environment, failure, prepare

Job = tuple[Case, int]
#: Meters whose figure another job on the same node would bias: their jobs get a node alone.
EXCLUSIVE_METERS = frozenset({"time", "peak_rss"})
#: sacct states after which a job never runs again (the rest: pending, running, requeued...).
ENDED = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
         "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT")  # fmt: skip
JOBS_FILE = "slurm_jobs.csv"
JOB_NAME = "odebench"  # what squeue shows
JOBS_COLUMNS = ("case_id", "repeat", "job_id", "state", "reason", "node", "submit", "start",
                "end", "queue_s", "run_s", "exclusive", "gpus")  # fmt: skip
#: sbatch parameters odebench sets itself; --slurm-extra may not set them behind its back.
OWN_PARAMETERS = {
    "partition": "--slurm-partition", "p": "--slurm-partition", "time": "--timeout",
    "t": "--timeout", "gpus": "--slurm-gpus", "gpus-per-node": "--slurm-gpus",
    "gres": "--slurm-gpus", "G": "--slurm-gpus", "cpus-per-task": "--slurm-cpus",
    "c": "--slurm-cpus", "exclusive": "--slurm-exclusive", "job-name": "(odebench)",
    "J": "(odebench)", "output": "(submitit's log)",
    "error": "(submitit's log)", "o": "(submitit's log)", "e": "(submitit's log)",
}  # fmt: skip


class SlurmError(RuntimeError):
    """Slurm cannot run this (no accounting, a refused submission); the message names the fix."""


@dataclass(frozen=True)
class SlurmOptions:
    """What each job asks Slurm for.

    ``gpus``: per job; None asks for 1 for a case on a ``cuda`` device and 0 otherwise.
    ``cpus``: CPUs per job (Slurm's default, 1, when None). ``exclusive``: None gives a node
    alone to the cases with a :data:`EXCLUSIVE_METERS` meter; True to all, False to none.
    ``extra``: more ``sbatch`` parameters, ``{"mem": "4G"}`` -> ``--mem=4G``.
    """

    partition: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    exclusive: bool | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("gpus", "cpus"):
            value = getattr(self, name)
            low = 0 if name == "gpus" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < low):  # fmt: skip
                raise SlurmError(f"{name}={value!r} must be a whole number >= {low}.")
        for key in self.extra:
            if key.lstrip("-") in OWN_PARAMETERS:
                raise SlurmError(f"the sbatch parameter {key!r} is set by odebench; use "
                                 f"{OWN_PARAMETERS[key.lstrip('-')]} instead.")  # fmt: skip

    def gpus_for(self, case: Case) -> int:
        if self.gpus is not None:
            return self.gpus
        return 1 if case.device.startswith("cuda") else 0

    def exclusive_for(self, case: Case) -> bool:
        if self.exclusive is not None:
            return self.exclusive
        return bool(EXCLUSIVE_METERS & set(case.meters))

    def parameters(self, case: Case, timeout: float) -> dict[str, Any]:
        """submitit's ``slurm_*`` parameters of the job of ``case``."""
        params: dict[str, Any] = {
            "slurm_job_name": JOB_NAME,
            "slurm_time": slurm_minutes(timeout),
            "slurm_setup": [f"export {k}={v}" for k, v in RSS_ENV.items()],
            "slurm_partition": self.partition,
            "slurm_cpus_per_task": self.cpus,
            "slurm_gpus_per_node": self.gpus_for(case) or None,
            "slurm_exclusive": True if self.exclusive_for(case) else None,
            "slurm_additional_parameters": {k.lstrip("-"): v for k, v in self.extra.items()},
        }
        return params


def slurm_minutes(timeout: float) -> int:
    """Slurm limits jobs in whole minutes: the timeout rounded up, plus one for start-up."""
    return max(1, math.ceil(timeout / 60)) + 1


def slurm_available() -> bool:
    """Whether submitit would submit to Slurm here (its own test: ``srun`` on PATH)."""
    return shutil.which("srun") is not None


def warn(line: str) -> None:
    """What the user must see even in a quiet run (jobs cancelled, accounting silent)."""
    print(line, file=sys.stderr, flush=True)


def _run(command: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def check_accounting() -> None:
    """Refuse unless ``sacct`` answers: without accounting a job cancelled while pending
    never writes a result and nothing says it ended, so the run would wait forever."""
    if shutil.which("sacct") is None:
        raise SlurmError("sacct is not on PATH; odebench follows its Slurm jobs with sacct "
                         "(Slurm's accounting): install Slurm's client tools, or use "
                         "--executor local.")  # fmt: skip
    try:
        done = _run(["sacct", "-n", "-X", "-P", "-o", "JobID", "-j", "1"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(f"sacct did not answer ({exc}); odebench needs Slurm's accounting "
                         "(slurmdbd) to follow its jobs.") from None  # fmt: skip
    if done.returncode != 0:
        why = " ".join((done.stderr or done.stdout).split())[:300] or f"exit {done.returncode}"
        raise SlurmError(f"sacct fails here ({why}); odebench follows its Slurm jobs with "
                         "sacct, so the cluster needs accounting: AccountingStorageType="
                         "accounting_storage/slurmdbd in slurm.conf, with slurmdbd running "
                         "(docs/slurm.md).")  # fmt: skip


def check_partition(partition: str) -> None:
    """Refuse a partition this cluster does not have, naming those it has."""
    done = _run(["scontrol", "show", "partition", partition])
    if done.returncode == 0:
        return
    names = _run(["sinfo", "-h", "-o", "%R"]).stdout.split()
    raise SlurmError(f"Slurm has no partition {partition!r}; choose one of: "
                     f"{', '.join(sorted(set(names))) or '(sinfo lists none)'}.")  # fmt: skip


def sbatch_flags(params: Mapping[str, Any]) -> list[str]:
    """The ``sbatch`` flags of submitit parameters (:meth:`SlurmOptions.parameters`)."""
    flags = [f"--job-name={params['slurm_job_name']}", f"--time={params['slurm_time']}"]
    for key, flag in (("slurm_partition", "partition"), ("slurm_cpus_per_task", "cpus-per-task"),
                      ("slurm_gpus_per_node", "gpus-per-node")):  # fmt: skip
        if params.get(key) is not None:
            flags.append(f"--{flag}={params[key]}")
    if params.get("slurm_exclusive"):
        flags.append("--exclusive")
    flags += [f"--{k}={v}" for k, v in params.get("slurm_additional_parameters", {}).items()]
    return flags


def check_request(cases: Sequence[Case], options: SlurmOptions, timeout: float) -> None:
    """Ask ``sbatch --test-only`` whether Slurm would take each kind of job of ``cases`` (a
    GPU it has not, a partition's limits, an extra parameter), before anything is written."""
    seen: set[tuple[str, ...]] = set()
    for case in cases:
        flags = tuple(sbatch_flags(options.parameters(case, timeout)))
        if flags in seen:
            continue
        seen.add(flags)
        done = _run(["sbatch", "--test-only", *flags, "--wrap", "true"])
        if done.returncode != 0:
            errors = [x for x in done.stderr.splitlines() if "error" in x.lower()]
            why = " ".join((errors[-1] if errors else done.stderr or "refused").split())
            raise SlurmError(f"Slurm would refuse the job of {case.case_id} "
                             f"(sbatch {' '.join(flags)}): {why}; change the --slurm-* "
                             "options or --device.")  # fmt: skip


def execute_job(
    case: Case, repeat: int, threads: int | None, imports: Sequence[str], search: Sequence[str]
) -> Record:
    """A submitit job: a fresh process, so set threads and import the user's modules first."""
    prepare(threads, imports, search)
    return execute(case, repeat)


def job_states(job_ids: Sequence[str]) -> dict[str, dict[str, str]] | None:
    """``sacct``'s row of each job (State, Reason, NodeList, Submit, Start, End, ElapsedRaw);
    None when sacct fails (slurmdbd restarting: the caller asks again later)."""
    if not job_ids:
        return {}
    names = ["JobID", "State", "Reason", "NodeList", "Submit", "Start", "End", "ElapsedRaw"]
    try:
        done = _run(["sacct", "-n", "-X", "-P", "-o", ",".join(names), "-j", ",".join(job_ids)])
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    rows = (dict(zip(names, line.split("|"), strict=False)) for line in done.stdout.splitlines())
    return {r["JobID"]: r for r in rows if r.get("JobID")}


def _seconds(start: str, end: str) -> float | None:
    from datetime import datetime

    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:  # "Unknown", "None": not started or not ended
        return None


@dataclass
class Submitted:
    """A job of the run: its case, submitit handle, when it was sent and what it asked for."""

    case: Case
    repeat: int
    handle: Any
    started: float
    options: dict[str, Any]


class SlurmRun:
    """The jobs of one call of :func:`run_slurm`; cancels what is left if it stops early."""

    def __init__(self, folder: Path, jobs_file: Path | None, say: Callable[[str], None]) -> None:
        self.folder, self.jobs_file, self.say = folder, jobs_file, say
        self.pending: dict[str, Submitted] = {}
        self.finished: list[tuple[Submitted, str]] = []
        self.counts: tuple[int, int, int] | None = None
        self.warned = False

    def cancel_all(self, why: str) -> None:
        """``scancel`` every job still queued or running, and say which."""
        ids = list(self.pending)
        if not ids:
            return
        _run(["scancel", *ids])
        warn(f"odebench: {why}: cancelled {len(ids)} Slurm job(s) still queued or running "
                 f"({', '.join(ids)}); their cases run again with --resume.")  # fmt: skip

    def note_counts(self, states: Mapping[str, Mapping[str, str]], done: int, total: int) -> None:
        queued = sum(1 for j in self.pending if states.get(j, {}).get("State", "PENDING")
                     .startswith(("PENDING", "REQUEUED")))  # fmt: skip
        running = len(self.pending) - queued
        counts = (queued, running, done)
        if counts != self.counts:
            self.counts = counts
            self.say(f"odebench: Slurm jobs: {queued} queued, {running} running, {done} done "
                     f"(of {total})")  # fmt: skip

    def write_jobs(self) -> None:
        """One row per job of this call in ``slurm_jobs.csv`` (appended: resumes add theirs)."""
        if self.jobs_file is None or not (self.finished or self.pending):
            return
        every = [*self.finished, *((s, "") for s in self.pending.values())]
        ids = [str(s.handle.job_id) for s, _ in every]
        states = job_states(ids) or {}
        deadline = time.monotonic() + 15.0  # a job writes its result, then ends: wait for it
        while (any(states.get(j, {}).get("State", "").split(" ")[0] not in ENDED for j in ids)
               and time.monotonic() < deadline and not self.pending):  # fmt: skip
            time.sleep(0.5)
            states = job_states(ids) or states
        new = not self.jobs_file.exists()
        with self.jobs_file.open("a", newline="") as fh:
            out = csv.writer(fh)
            if new:
                out.writerow(JOBS_COLUMNS)
            for (sub, _), job_id in zip(every, ids, strict=True):
                row = states.get(job_id, {})
                submit, start, end = (row.get(k, "") for k in ("Submit", "Start", "End"))
                out.writerow([sub.case.case_id, sub.repeat, job_id, row.get("State", ""),
                              row.get("Reason", ""), row.get("NodeList", ""), submit, start, end,
                              _seconds(submit, start), _seconds(start, end),
                              bool(sub.options.get("slurm_exclusive")),
                              sub.options.get("slurm_gpus_per_node") or 0])  # fmt: skip


def crash_record(
    sub: Submitted, exc: BaseException | None, row: Mapping[str, str] | None
) -> Record:
    """A job that ended without a result: ``crashed``, with Slurm's state and reason, and its
    own run time (sacct's ElapsedRaw; not its wait in the queue) as ``wall_s``."""
    row = row or {}
    state = row.get("State") or getattr(sub.handle, "state", "") or "UNKNOWN"
    reason = row.get("Reason", "")
    head = f"Slurm job {sub.handle.job_id} {state}"
    if reason and reason != "None":
        head += f" (reason: {reason})"
    if row.get("NodeList") and row["NodeList"] != "None assigned":
        head += f" on {row['NodeList']}"
    if exc is not None:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    else:  # the end of the job's own log says what it was doing
        try:
            log = sub.handle.stderr() or ""
        except OSError:
            log = ""
        lines = [x.strip() for x in log.splitlines() if x.strip()][-3:]
        detail = "log: " + " | ".join(lines) if lines else "no result, no log"
    try:
        wall = float(row["ElapsedRaw"])
    except (KeyError, ValueError):
        wall = time.perf_counter() - sub.started
    return failure(sub.case, sub.repeat, "crashed", f"{head}; {detail}"[:2000], wall)


def run_slurm(
    jobs: Sequence[Job],
    timeout: float,
    emit: Callable[[Record], None],
    *,
    folder: Path,
    options: SlurmOptions | None = None,
    cluster: str | None = None,
    max_parallel: int | None = None,
    setup: Setup = Setup(),
    say: Callable[[str], None] = lambda line: None,
    jobs_file: Path | None = None,
    poll_s: float = 2.0,
) -> None:
    """Submit each case as a job through submitit (Slurm, or local processes without it).

    The job's limit is :func:`slurm_minutes` (Slurm counts whole minutes), so a case may
    run up to a minute past ``timeout`` before it is killed and recorded as crashed. On
    Slurm, :func:`check_accounting` first; at most ``max_parallel`` jobs (64) are queued or
    running at once. ``say`` gets the progress lines; the cancellation notice and a silent
    ``sacct`` go to stderr even in a quiet run.
    """
    import submitit

    options = options or SlurmOptions()
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    on_slurm = executor.cluster == "slurm"
    if on_slurm:
        check_accounting()
    else:
        executor.update_parameters(timeout_min=slurm_minutes(timeout))
    parallel = max_parallel or (64 if on_slurm else 1)
    run = SlurmRun(folder, jobs_file if on_slurm else None, say)
    queue = list(jobs)
    total, done = len(queue), 0
    last_poll = -math.inf
    states: dict[str, dict[str, str]] = {}
    try:
        with environment(RSS_ENV), _stop_signals_interrupt():
            while queue or run.pending:
                while queue and len(run.pending) < parallel:
                    case, repeat = queue.pop(0)
                    params = options.parameters(case, timeout) if on_slurm else {}
                    if on_slurm:
                        executor.update_parameters(**params)
                    try:
                        handle = executor.submit(execute_job, case, repeat, setup.threads,
                                                 setup.imports, setup.search)  # fmt: skip
                    except Exception as exc:  # sbatch refused (partition, gres, limits)
                        why = " ".join(str(exc).split())
                        raise SlurmError(f"Slurm refused the job of {case.case_id}: "
                                         f"{why[-400:]}") from None  # fmt: skip
                    run.pending[str(handle.job_id)] = Submitted(
                        case, repeat, handle, time.perf_counter(), params)
                if on_slurm and time.monotonic() - last_poll >= poll_s:
                    last_poll = time.monotonic()
                    fresh = job_states(list(run.pending))
                    if fresh is None and not run.warned:
                        run.warned = True
                        warn("odebench: sacct does not answer (slurmdbd down?); still waiting "
                            "for the jobs, asking again.")  # fmt: skip
                    states.update(fresh or {})
                for job_id, sub in list(run.pending.items()):
                    state = states.get(job_id, {}).get("State", "")
                    ended = state.split(" ")[0] in ENDED
                    has_result = sub.handle.paths.result_pickle.exists()
                    if not (has_result or (ended if on_slurm else sub.handle.done())):
                        continue
                    if on_slurm and ended and not has_result and not state.startswith("COMPLETED"):
                        record = crash_record(sub, None, states.get(job_id))  # no result coming
                    else:
                        try:
                            record = sub.handle.result()
                        except Exception as exc:  # the job died (cancelled, timeout, node)
                            record = crash_record(sub, exc, states.get(job_id))
                    del run.pending[job_id]
                    run.finished.append((sub, job_id))
                    emit(record)
                    done += 1
                if on_slurm:
                    run.note_counts(states, done, total)
                time.sleep(0.2)
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped by an error"
        harvest(run, emit)  # finished, not yet read: kept, and not cancelled
        if on_slurm:
            run.cancel_all(why)
            harvest(run, emit)  # a result written between the two looks is kept too
        raise
    finally:
        run.write_jobs()


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (``kill``, a closed terminal) stop the run as Ctrl-C does, so its
    jobs are cancelled too (main thread only: where Python delivers signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    saved = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, previous in saved.items():
            signal.signal(s, previous)


def harvest(run: SlurmRun, emit: Callable[[Record], None]) -> None:
    """Record the jobs that finished but were not yet read, so --resume does not redo them."""
    for job_id, sub in list(run.pending.items()):
        if not sub.handle.paths.result_pickle.exists():
            continue
        try:
            record = sub.handle.result()
        except Exception:
            continue
        del run.pending[job_id]
        run.finished.append((sub, job_id))
        emit(record)
