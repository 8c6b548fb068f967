"""The results folder: one run at a time (a lock), never over an earlier run (refuse, or
move it whole to a timestamped backup first), and resuming only a run of the same cases."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from odebench.benchmark.cases import Case
from odebench.running.results import (
    COLUMNS,
    LOCK_FILE,
    PROVENANCE_FILE,
    RENAMED,
    RESULTS_FILE,
    EarlierRunError,
    FolderBusyError,
    ResultsError,
    header_fits,
    read_header,
    read_results,
)


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
#: same folder (the CLI around :func:`odebench.running.runner.run_cases`, which locks too) is
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
    header = read_header(path)
    if not header_fits(header):
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
