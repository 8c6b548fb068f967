"""Provenance: where a run's figures came from (commit, versions, device, threads, seed, load),
stored once per results folder as ``provenance.json``."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from odebench.running.results import PROVENANCE_FILE


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


def provenance_problem(folder: str | Path) -> str | None:
    """Why ``provenance.json`` in ``folder`` cannot be read (None when it reads or is absent):
    :func:`read_provenance` returns ``{}`` for both, and a reader must name the difference."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"{path} is unreadable ({type(exc).__name__}): its provenance is unknown"
    if not isinstance(info, dict):
        return f"{path} holds no provenance object: its provenance is unknown"
    return None
