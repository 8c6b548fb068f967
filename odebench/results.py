"""The results schema, reading and appending records, and run provenance.

One tidy CSV per run (a row per case and repeat), appended to as records arrive so
an interrupted sweep keeps what it finished, and a ``provenance.json`` beside it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

IDENTITY: tuple[str, ...] = (
    "suite", "case_id", "model", "problem", "method", "gradient", "rtol", "atol",
    "step_size", "steps", "depth", "batch", "dtype", "device", "seed", "repeat",
)  # fmt: skip
FIGURES: tuple[str, ...] = (
    "status", "error", "params", "nfe_forward", "nfe_backward", "saved_bytes",
    "peak_alloc_bytes", "peak_rss_bytes", "time_forward_s", "time_backward_s",
    "state_error", "grad_error", "loss", "accuracy",
)  # fmt: skip
#: Columns beyond the design's schema: detail that the reports use.
EXTRA: tuple[str, ...] = (
    "loss_reduction", "seminorm", "meters", "steps_accepted", "steps_rejected",
    "time_forward_iqr_s", "time_backward_iqr_s", "wall_s",
)  # fmt: skip
COLUMNS: tuple[str, ...] = IDENTITY + FIGURES + EXTRA

STATUSES: tuple[str, ...] = ("ok", "failed", "diverged", "oom", "timeout", "crashed")

RESULTS_FILE = "results.csv"
PROVENANCE_FILE = "provenance.json"


class ResultsError(ValueError):
    """A results file that cannot be read; the message says what is wrong."""


def case_columns(case: Any, repeat: int) -> dict[str, Any]:
    """The identity columns of a case (``odebench.cases.Case``) for one repeat."""
    return {
        "suite": case.suite,
        "case_id": case.case_id,
        "model": case.model,
        "problem": case.problem,
        "method": case.method if case.uses_solver else "",
        "gradient": case.gradient if case.uses_solver else "",
        "rtol": case.rtol,
        "atol": case.atol,
        "step_size": case.step_size,
        "steps": case.steps,
        "depth": case.depth,
        "batch": case.batch,
        "dtype": case.dtype,
        "device": case.device,
        "seed": case.seed,
        "repeat": repeat,
        "loss_reduction": case.loss,
        "seminorm": case.seminorm,
        "meters": ",".join(case.meters),
    }


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one row (header first if the file is new); flushed to disk at once."""
    unknown = set(record) - set(COLUMNS)
    if unknown:
        raise ResultsError(f"record has columns outside the schema: {sorted(unknown)}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: _cell(record.get(k)) for k in COLUMNS})
        fh.flush()
        os.fsync(fh.fileno())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results CSV (or a run folder holding one), checking its columns."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise ResultsError(
            f"no results at {str(path)!r}; run `odebench run` first (it writes "
            f"results/<suite>/{RESULTS_FILE}) or pass --results PATH."
        )
    if path.stat().st_size == 0:
        raise ResultsError(f"{path} is empty: no case has finished yet. Run `odebench run`.")
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path} is corrupted and cannot be parsed: {exc}") from None
    missing = [c for c in ("case_id", "status", "repeat") if c not in df.columns]
    if missing:
        raise ResultsError(
            f"{path} is not an odebench results file: missing columns {missing}. "
            f"Expected columns: {', '.join(COLUMNS)}."
        )
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    return df


def completed_keys(path: str | Path) -> set[tuple[str, int]]:
    """``(case_id, repeat)`` pairs already recorded in ``path`` (for --resume)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return set()
    df = read_results(path)
    return {(str(c), int(r)) for c, r in zip(df["case_id"], df["repeat"], strict=True)}


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


def provenance(*, suite: str, device: str = "cpu", argv: Iterable[str] | None = None) -> dict:
    """Where and with what a run was made: commit, versions, hardware, threads, date."""
    import torch
    import torchdiffeq

    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
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
        "threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite": suite,
        "command": " ".join(argv if argv is not None else sys.argv),
    }


def write_provenance(folder: str | Path, info: Mapping[str, Any]) -> Path:
    path = Path(folder) / PROVENANCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(info), indent=2) + "\n")
    return path


def read_provenance(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / PROVENANCE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
