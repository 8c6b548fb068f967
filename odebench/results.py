"""The results schema, reading and appending records, the results folder, and provenance.

One tidy CSV per run (a row per case and repeat), appended to as records arrive so an
interrupted sweep keeps what it finished, and a ``provenance.json`` beside it. This module
also guards the folder: one run at a time (a lock), never over an earlier run (refuse, or
move it to a timestamped backup), and a torn last row (a crash mid-write) dropped and
kept aside, never glued to the next row.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.cases import Case

#: Identity columns: the suite, the case id, every field of :class:`~odebench.cases.Case` (in
#: its order: a field added there is a column here), then the repeat.
CASE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Case) if f.name != "suite")
IDENTITY: tuple[str, ...] = ("suite", "case_id", *CASE_FIELDS, "repeat")
FIGURES: tuple[str, ...] = (
    "status", "error", "params", "nfe_forward", "nfe_backward", "saved_bytes",
    "peak_alloc_bytes", "peak_rss_bytes", "time_forward_s", "time_backward_s",
    "state_error", "grad_error", "loss", "accuracy",
)  # fmt: skip
#: Columns beyond the design's schema: detail that the reports use.
EXTRA: tuple[str, ...] = (
    "steps_accepted", "steps_rejected", "time_forward_iqr_s", "time_backward_iqr_s", "wall_s",
    # bytes kept for backward outside saved_tensors_hooks (checkpoint's RNG states, numbers)
    "saved_other_bytes",
    # how peak_rss_bytes was measured (kernel_vmhwm, sampled_5ms) or why not (refused_...)
    "peak_rss_method",
)  # fmt: skip
COLUMNS: tuple[str, ...] = IDENTITY + FIGURES + EXTRA
#: Columns renamed since older results files were written: old name -> new name.
RENAMED: dict[str, str] = {"loss_reduction": "reduction"}
#: Case fields that mean nothing for a case without an ODE solve (written empty there).
SOLVER_FIELDS: tuple[str, ...] = ("backend", "method", "gradient")

#: Columns that hold numbers (or nothing): the Case's numeric fields, then the figures.
NUMERIC: tuple[str, ...] = (
    *(f.name for f in dataclasses.fields(Case)
      if f.name != "seminorm" and ("int" in str(f.type) or "float" in str(f.type))),
    "repeat", *(c for c in FIGURES + EXTRA if c not in ("status", "error", "peak_rss_method")),
)  # fmt: skip

STATUSES: tuple[str, ...] = ("ok", "failed", "diverged", "oom", "timeout", "crashed")
#: Statuses that ``--retry-failed`` runs again (diverged and oom repeat by construction).
RETRYABLE: tuple[str, ...] = ("failed", "timeout", "crashed")

RESULTS_FILE = "results.csv"
PROVENANCE_FILE = "provenance.json"
LOCK_FILE = ".odebench.lock"
#: Where a torn last row (a crash mid-write) is kept after it is dropped from the table.
TORN_FILE = "results.torn.txt"


class ResultsError(ValueError):
    """A results file or folder that cannot be used as asked; the message says the fix."""


class FolderBusyError(ResultsError):
    """Another odebench run holds the results folder."""


class EarlierRunError(ResultsError):
    """The results folder holds an earlier run and neither resume nor force was asked for."""


class DiskFullError(ResultsError):
    """A row could not be written whole (disk full, quota, file-size limit)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"cannot write {path} ({why}): free disk space or raise the file-size limit "
            "(ulimit -f), then continue with `odebench run --resume` (a partial last row "
            "is dropped and kept aside)."
        )


def case_columns(case: Case, repeat: int) -> dict[str, Any]:
    """The identity columns of a case for one repeat: every field of the Case."""
    row: dict[str, Any] = {"suite": case.suite, "case_id": case.case_id}
    for name in CASE_FIELDS:
        value = getattr(case, name)
        if name in SOLVER_FIELDS and not case.uses_solver:
            value = ""
        elif isinstance(value, tuple):
            value = ",".join(map(str, value))
        row[name] = value
    row["repeat"] = repeat
    return row


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):  # one record, one physical line: a torn row is then detectable
        return " ".join(value.splitlines())
    return value


def _line(fields: Sequence[str], row: Mapping[str, Any] | None) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(fields if row is None else [_cell(row.get(k)) for k in fields])
    return buf.getvalue()


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", errors="replace") as fh:
            return next(csv.reader(fh), [])
    except csv.Error:  # a NUL byte or the like: not a table this module wrote
        return []


def _fits(header: Sequence[str]) -> bool:
    """Whether rows of :data:`COLUMNS` can be appended under ``header``: the same columns in
    the same order, some perhaps under an older name (:data:`RENAMED`). The one rule both
    the writer and :func:`check_resumable` apply, so a resume refused by one is refused by
    the other before anything is written."""
    return [RENAMED.get(c, c) for c in header] == list(COLUMNS)


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one row (with the header if the file is new) in one write, then fsync.

    Refuses to append after a torn last line (see :func:`drop_torn_tail`) or to a file
    whose columns differ from :data:`COLUMNS` (:func:`_fits`): either would corrupt the
    table. A file written under a column's older name gets the row under that name.
    """
    unknown = set(record) - set(COLUMNS)
    if unknown:
        raise ResultsError(f"record has columns outside the schema: {sorted(unknown)}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            text = _line(COLUMNS, None) + _line(COLUMNS, record)
        else:
            if os.pread(fd, 1, size - 1) != b"\n":
                raise ResultsError(
                    f"{path} ends in a torn row; run `odebench run --resume` (it drops and "
                    "keeps aside a torn row) before appending."
                )
            header = _header(path)
            if not _fits(header):
                raise ResultsError(
                    f"{path} has other columns than this odebench writes (an older version?); "
                    "write into a new folder with --out."
                )
            old = {v: k for k, v in RENAMED.items() if k in header}
            text = _line(header, {old.get(k, k): v for k, v in record.items()})
        data = text.encode()
        try:
            written = os.write(fd, data)  # a regular file takes the whole line at once
            os.fsync(fd)
        except OSError as exc:
            raise DiskFullError(path, exc.strerror or str(exc)) from None
        if written != len(data):
            raise DiskFullError(path, f"wrote {written} of {len(data)} bytes")
    finally:
        os.close(fd)


def drop_torn_tail(path: str | Path) -> str:
    """Drop a torn last line (no final newline: the writer died mid-row); return its text.

    The dropped text is appended to :data:`TORN_FILE` beside the table, so nothing that
    reached the disk is lost; the case it belonged to runs again on resume.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return ""
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return ""
    cut = data.rfind(b"\n") + 1
    torn = data[cut:]
    with (path.parent / TORN_FILE).open("ab") as fh:
        fh.write(torn + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    with path.open("r+b") as fh:
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())
    return torn.decode(errors="replace")


def read_results(path: str | Path, *, history: bool = False) -> pd.DataFrame:
    """Read a results CSV (or a run folder holding one), checking its columns.

    A torn last line is left out. A case and repeat recorded more than once (a run with
    ``--retry-failed`` appends the new attempt) reads as its latest row unless
    ``history=True``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(
            f"no results at {str(path)!r}; run `odebench run` first (it writes "
            f"results/<suite>/{RESULTS_FILE}) or pass --results PATH."
        )
    if not path.is_file():
        raise ResultsError(f"{path} is not a file; pass a results CSV or the folder holding one.")
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]  # a torn last row is not a record
    if not data:
        if path.stat().st_size:
            raise ResultsError(
                f"{path} holds no complete row: not an odebench results file; pass --results "
                "a results.csv that `odebench run` wrote."
            )
        raise ResultsError(f"{path} is empty: no case has finished yet. Run `odebench run`.")
    try:
        df = pd.read_csv(io.BytesIO(data), keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path} is corrupted and cannot be parsed: {exc}") from None
    df = df.rename(columns={k: v for k, v in RENAMED.items() if v not in df.columns})
    missing = [c for c in ("case_id", "status", "repeat") if c not in df.columns]
    if missing:
        raise ResultsError(
            f"{path} is not an odebench results file: missing columns {missing}. "
            f"Expected columns: {', '.join(COLUMNS)}."
        )
    _check_values(path, df)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    if not history:
        df = df.drop_duplicates(["case_id", "repeat"], keep="last").reset_index(drop=True)
    return df


def _check_values(path: Path, df: pd.DataFrame) -> None:
    """Numbers where the schema has numbers, a known status, a whole repeat: a hand-edited
    or foreign cell is refused with where it is, rather than failing in a plot or a resume.
    Numeric columns are converted in place."""

    def refuse(col: str, row: int, why: str) -> None:
        raise ResultsError(
            f"{path}: line {row + 2}, column {col} holds {df[col].iloc[row]!r}: {why}; fix or "
            "delete that row (or rerun the case with `odebench run --resume`)."
        )

    for col in NUMERIC:
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            refuse(col, int(bad.to_numpy().argmax()), "not a number")
        df[col] = values
    repeat = df["repeat"]
    bad = repeat.isna() | (repeat < 0) | (repeat % 1 != 0)
    if bad.any():
        refuse("repeat", int(bad.to_numpy().argmax()), "not a whole number >= 0")
    bad = ~df["status"].isin(STATUSES)
    if bad.any():
        refuse("status", int(bad.to_numpy().argmax()), f"not one of {', '.join(STATUSES)}")


def completed_keys(path: str | Path, *, retry_failed: bool = False) -> set[tuple[str, int]]:
    """``(case_id, repeat)`` pairs already recorded in ``path`` (for --resume).

    With ``retry_failed``, pairs whose latest row is one of :data:`RETRYABLE` are left out,
    so they run again.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return set()
    df = read_results(path)
    if retry_failed:
        df = df[~df["status"].isin(RETRYABLE)]
    return {(str(c), int(r)) for c, r in zip(df["case_id"], df["repeat"], strict=True)}


# --- the results folder ---------------------------------------------------------------------


def check_folder_path(folder: str | Path) -> Path:
    """Check that ``folder`` is, or can become, a folder; returns its nearest existing part."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"--out {folder} is a file, not a folder; pass a folder path.")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ResultsError(f"--out {folder}: {probe} is a file; pass a folder path.")
    return probe


def check_folder(folder: str | Path, *, resume: bool = False, force: bool = False) -> None:
    """Check, without touching the disk, that a run may write into ``folder``.

    A folder that holds anything (an earlier run) is refused unless ``resume`` (continue it)
    or ``force`` (move it to a timestamped backup first, see :func:`backup_folder`).
    """
    folder = Path(folder)
    probe = check_folder_path(folder)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"--out {folder}: cannot write in {probe}; pass a folder you can write.")
    entries = _entries(folder) if folder.is_dir() else []
    if force and entries and not {RESULTS_FILE, PROVENANCE_FILE} & {p.name for p in entries}:
        raise EarlierRunError(
            f"{folder} holds files but no odebench run (no {RESULTS_FILE} or {PROVENANCE_FILE}); "
            "--force moves only a results folder aside: pass --out a new folder."
        )
    if entries and not resume and not force:
        raise EarlierRunError(
            f"{folder} holds an earlier run; pass --resume to continue it, --force to start "
            "over (the earlier run moves to a timestamped backup), or --out NEW_FOLDER."
        )


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != LOCK_FILE)


#: Folders this process holds locked: ``[count, lock]``. A nested ``locked_folder`` of the
#: same folder (the CLI around :func:`odebench.runner.run_cases`, which locks too) is
#: re-entrant; :func:`backup_folder` swaps the lock when it swaps the folder.
_HELD: dict[Path, list[Any]] = {}


def _new_lock(folder: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(folder / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusyError(
            f"{folder} is in use by another odebench run; wait for it to finish, or pass "
            "--out OTHER_FOLDER."
        ) from None
    except OSError as exc:
        raise ResultsError(
            f"cannot lock {folder} ({exc.strerror}); pass --out a folder you can write."
        ) from None
    return lock


@contextmanager
def locked_folder(folder: str | Path) -> Iterator[Path]:
    """Create ``folder`` and hold its lock for the block: one run at a time per folder.

    Another process holding it raises :class:`FolderBusyError` at once; this process may
    nest the block (the lock is held until the outermost block ends).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(
            f"cannot create {folder} ({exc.strerror}); pass --out a folder you can write."
        ) from None
    key = folder.resolve()
    if key in _HELD:
        _HELD[key][0] += 1
        try:
            yield folder
        finally:
            _HELD[key][0] -= 1
        return
    _HELD[key] = [1, _new_lock(folder)]
    try:
        yield folder
    finally:
        _, lock = _HELD.pop(key)
        lock.release()


@dataclasses.dataclass(frozen=True)
class Claim:
    """A results folder claimed for one run: held locked for the ``with`` block."""

    folder: Path
    #: Where ``force`` moved the earlier run (``None``: there was none, or no ``force``).
    backup: Path | None


@contextmanager
def claim_folder(
    folder: str | Path, *, resume: bool = False, force: bool = False
) -> Iterator[Claim]:
    """Claim ``folder`` for a run exactly as ``odebench run`` does; hold it for the block.

    The one way an experiment (``odebench table1``, ``odebench spirals``, ...) takes its
    output folder, so no run is ever written over or into another:

    1. :func:`check_folder` before anything is created: a folder that holds an earlier run
       is refused with :class:`EarlierRunError` naming ``--resume``, ``--force`` and
       ``--out`` (the message is one line; the CLI prints it and exits 2); nothing changes.
    2. The folder's lock (:func:`locked_folder`): another run holding it raises
       :class:`FolderBusyError` at once.
    3. :func:`check_folder` again under the lock: a run that finished between the first
       check and the lock is refused, never appended to.
    4. With ``force``, the earlier run moves as a whole to ``<folder>.backup-<UTC time>``
       in one atomic rename (:func:`backup_folder`); ``Claim.backup`` says where. With
       ``resume`` the folder is left as it is for the caller to continue.

    Call it after every other option is checked and before anything is written; write the
    run's files inside the block. Example::

        check_folder(out, resume=args.resume, force=args.force)  # early, optional
        ...  # train, prepare
        with claim_folder(out, resume=args.resume, force=args.force) as claim:
            if claim.backup:
                print(f"the earlier run in {out} moved to {claim.backup}", file=sys.stderr)
            ...  # write into claim.folder
    """
    folder = Path(folder)
    check_folder(folder, resume=resume, force=force)
    with locked_folder(folder):
        check_folder(folder, resume=resume, force=force)
        yield Claim(folder=folder, backup=backup_folder(folder) if force else None)


#: ``renameat2``'s flag that swaps two paths in one step (Linux 3.15+).
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2``); False where that is unavailable."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def backup_folder(folder: str | Path) -> Path | None:
    """Move the run in ``folder`` as a whole to a new sibling ``<name>.backup-<UTC time>``.

    Returns the backup (``None`` when the folder held nothing). The move is one atomic
    step (the folder is swapped with a new empty one), so a kill at any moment leaves the
    earlier run whole, in the folder or in the backup, never split. Call it with the folder
    locked: the lock moves to the new folder with it.
    """
    folder = Path(folder)
    entries = _entries(folder) if folder.is_dir() else []
    if not entries:
        return None
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = folder.with_name(f"{folder.name}.backup-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = folder.with_name(f"{folder.name}.backup-{stamp}-{n}")
    held = _HELD.get(folder.resolve())
    backup.mkdir()
    lock = _new_lock(backup) if held else None  # the new folder's lock, taken before the swap
    try:
        swapped = _exchange(backup, folder)
    except BaseException:
        if lock is not None:
            lock.release()
        (backup / LOCK_FILE).unlink(missing_ok=True)
        backup.rmdir()
        raise
    if not swapped:  # no atomic swap here: one rename of the whole folder, then a new one
        if lock is not None:
            lock.release()
        (backup / LOCK_FILE).unlink(missing_ok=True)
        backup.rmdir()
        os.rename(folder, backup)
        folder.mkdir()
        lock = _new_lock(folder) if held else None
    if held:
        held[1].release()  # the earlier run's lock, now in the backup
        held[1] = lock
        (backup / LOCK_FILE).unlink(missing_ok=True)
    return backup


def check_resumable(path: str | Path, cases: Iterable[Case]) -> None:
    """Refuse to resume into ``path`` when it holds another suite's rows or other columns."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ResultsError(
            f"{path} is not a file; pass --out a folder whose {RESULTS_FILE} is one."
        )
    if not path.exists() or path.stat().st_size == 0:
        return
    header = _header(path)
    if not _fits(header):
        renamed = [RENAMED.get(c, c) for c in header]
        missing = [c for c in COLUMNS if c not in renamed] or ["(the order)"]
        raise ResultsError(
            f"{path} was written with other columns (an older odebench? missing {missing[:3]}); "
            "it cannot be resumed: pass --force to start over (it is kept as a backup) or "
            "--out NEW_FOLDER."
        )
    suites = {c.suite for c in cases}
    found = set(read_results(path)["suite"].dropna().astype(str))
    foreign = sorted(found - suites)
    if foreign:
        raise ResultsError(
            f"{path} holds results of suite {', '.join(map(repr, foreign))}, not "
            f"{', '.join(map(repr, sorted(suites)))}; resume only the suite that wrote it, "
            "or pass --out NEW_FOLDER."
        )


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10,
            cwd=Path(__file__).resolve().parent,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _outside(folder: str | Path | None) -> list[str]:
    """A git pathspec for the whole tree except ``folder`` (nothing if it lies outside it)."""
    if folder is None:
        return []
    top = _git("rev-parse", "--show-toplevel")
    if not top:
        return []
    try:
        rel = Path(folder).resolve().relative_to(Path(top).resolve())
    except ValueError:
        return []
    return ["--", ":/", f":(top,exclude){rel.as_posix()}"]


def provenance(
    *,
    suite: str,
    device: str = "cpu",
    argv: Iterable[str] | None = None,
    threads: int | None = None,
    imports: Sequence[str] = (),
    out: str | Path | None = None,
) -> dict:
    """Where and with what a run was made: commit, versions, hardware, threads, date.

    ``threads``: the torch threads the cases measure with (default: this process's);
    ``imports``: user modules loaded into every worker; ``out``: the results folder being
    written, left out of the "-dirty" check (``--force`` has just moved its committed files
    away, which says nothing about the code that measures).
    """
    import torch
    import torchdiffeq

    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", *_outside(out)))
    gpu = ""
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    return {
        "commit": commit + ("-dirty" if dirty and commit else ""),
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "device": device,
        "threads": threads if threads is not None else torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite": suite,
        "command": " ".join(argv if argv is not None else sys.argv),
        "imports": list(imports),
        # cuDNN's choices move GPU peaks (workspace) and results: recorded, on any device
        "cudnn": {
            "available": torch.backends.cudnn.is_available(),
            "version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
            else None,
            "enabled": torch.backends.cudnn.enabled,
            "benchmark": torch.backends.cudnn.benchmark,
            "deterministic": torch.backends.cudnn.deterministic,
        },  # fmt: skip
    }


def write_provenance(folder: str | Path, info: Mapping[str, Any]) -> Path:
    """Write ``provenance.json`` (atomically: a crash leaves the old or the new one)."""
    path = Path(folder) / PROVENANCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(info), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def record_run(folder: str | Path, info: Mapping[str, Any], *, resume: bool = False) -> Path:
    """Write the provenance of a run; a resumed run keeps the first run's and lists itself."""
    path = Path(folder) / PROVENANCE_FILE
    previous = read_provenance(folder) if resume else {}
    if resume and not previous and path.is_file() and path.stat().st_size:
        # unreadable: keep it aside rather than write over it
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = path.with_name(f"provenance.unreadable-{stamp}.json")
        os.replace(path, kept)
        info = {**info, "previous_provenance": kept.name}
    if previous:
        resumed = previous.pop("resumed", [])
        keys = ("commit", "torch", "torchdiffeq", "device", "threads", "date", "command")
        info = {**previous, "resumed": [*resumed, {k: info.get(k) for k in keys}]}
    return write_provenance(folder, info)


def read_provenance(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
