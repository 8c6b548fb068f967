"""The results table: its schema (a fixed tuple of columns), appending records, reading them.

One tidy CSV per run (a row per case and repeat), appended to as records arrive so an
interrupted sweep keeps what it finished; a torn last row (a crash mid-write) is dropped and
kept aside, never glued to the next row. The folder around it is :mod:`.folders`'s, the
``provenance.json`` beside it :mod:`.provenance`'s.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.benchmark.cases import Case

#: Identity columns: the suite, the case id, every field of
#: :class:`~odebench.benchmark.cases.Case` (in
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
    # issue 33 (stiff, batched): rejected / attempted steps; per-sample step means and the
    # library's own NFE count (torchode steps each sample apart); the library's loop time
    "rejected_step_ratio", "steps_accepted_mean", "steps_rejected_mean", "library_nfe",
    "library_nfe_mean", "field_eval_s", "loop_time_per_step_s",
    # a batch of independent problems solved one sample at a time (odebench.benchmark.solo)
    "alone_steps_mean", "alone_nfe_total", "alone_time_forward_s", "batch_dependence",
    "batch_dependence_median",
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

STATUSES: tuple[str, ...] = (
    "ok", "failed", "diverged", "oom", "timeout", "crashed",
    "max_steps",  # a solve reached the case's step budget (Case.max_steps)
)  # fmt: skip
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


def read_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", errors="replace") as fh:
            return next(csv.reader(fh), [])
    except csv.Error:  # a NUL byte or the like: not a table this module wrote
        return []


def header_fits(header: Sequence[str]) -> bool:
    """Whether rows of :data:`COLUMNS` can be appended under ``header``: the same columns in
    the same order, some perhaps under an older name (:data:`RENAMED`). The one rule both
    the writer and :func:`check_resumable` apply, so a resume refused by one is refused by
    the other before anything is written."""
    return [RENAMED.get(c, c) for c in header] == list(COLUMNS)


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one row (with the header if the file is new) in one write, then fsync.

    Refuses to append after a torn last line (see :func:`drop_torn_tail`) or to a file
    whose columns differ from :data:`COLUMNS` (:func:`header_fits`): either would corrupt the
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
            header = read_header(path)
            if not header_fits(header):
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
