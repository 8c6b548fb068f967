"""One Table 2 run: claim the folder, train what is missing, score, write, render.

The folder is claimed like ``odebench run``'s (:func:`odebench.running.results.claim_folder`): a
folder holding a run is refused unless ``--resume`` (train only the missing models, then
score all) or ``--force`` (the earlier run moves to a backup first). ``provenance.json``
is written before training starts and completed at the end.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from odebench.experiments.spirals.settings import (
    MODELS_DIR,
    PROVENANCE_FILE,
    Settings,
    SpiralsError,
)
from odebench.experiments.spirals.train import jobs, pending, run_jobs


def _read_provenance(folder: Path) -> dict[str, Any]:
    path = folder / PROVENANCE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise SpiralsError(
            f"{path} is not readable JSON; pass --force to start over or --out NEW_FOLDER."
        ) from None


def _write_provenance(folder: Path, info: dict[str, Any]) -> None:
    from odebench.running.provenance import write_provenance

    write_provenance(folder, info)


def _unfinished(source: dict[str, Any]) -> list[dict[str, Any]]:
    """The training record of a run still training (or killed) when its models are taken:
    its start, commit and command, and the time it had run by then."""
    import datetime as dt

    if not source:
        return []
    try:
        start = dt.datetime.fromisoformat(source["date"])
        so_far = (dt.datetime.now(dt.timezone.utc) - start).total_seconds()
    except (KeyError, TypeError, ValueError):
        so_far = None
    settings = source.get("settings", {})
    return [{
        "jobs": None, "failed": None, "workers": settings.get("workers"),
        "threads": settings.get("threads"), "wall_s": None, "unfinished_s": so_far,
        "status": source.get("status", "?"), "commit": source.get("commit"),
        "date": source.get("date"), "command": source.get("command"),
    }]  # fmt: skip


def check_source(source: Path, settings: Settings) -> None:
    """``--results``: the folder must hold a trained model for every job of ``settings``."""
    if not (source / MODELS_DIR).is_dir():
        raise SpiralsError(
            f"--results {source}: no {MODELS_DIR}/ there; pass the folder of a finished "
            "`odebench spirals` run."
        )
    missing = pending(settings, source)
    if missing:
        raise SpiralsError(
            f"--results {source}: {len(missing)} trained model(s) missing (first: "
            f"{missing[0][0]} obs {missing[0][1]} seed {missing[0][2]}); finish that run with "
            "`odebench spirals --resume --out` it, or pass its settings."
        )


def run_table2(
    settings: Settings,
    out: Path,
    *,
    resume: bool = False,
    force: bool = False,
    rescore_from: Path | None = None,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, int]]:
    """Train (or take trained models from ``rescore_from``), score and render Table 2.

    Every option is validated before the folder is touched. Returns the markdown's path and
    the count of rows per status.
    """
    from odebench.benchmark.measure import check_device
    from odebench.experiments.spirals.render import render
    from odebench.experiments.spirals.tables import write_tables
    from odebench.running.folders import check_folder, claim_folder
    from odebench.running.provenance import provenance

    settings.check()
    check_device(settings.device)
    out = Path(out)
    if rescore_from is not None:
        rescore_from = Path(rescore_from)
        if rescore_from.resolve() == out.resolve():
            raise SpiralsError(
                "--results names --out itself; use --resume to rescore in place."
            )
        check_source(rescore_from, settings)
    check_folder(out, resume=resume, force=force)
    with claim_folder(out, resume=resume, force=force) as claim:
        if claim.backup is not None and progress is not None:
            progress(f"the earlier run in {out} moved to {claim.backup}")
        before = _read_provenance(out) if resume else {}
        if resume and out.exists() and (out / MODELS_DIR).exists():
            todo = pending(settings, out)  # refuses checkpoints of other settings
        else:
            todo = jobs(settings)
        info = provenance(suite="table2", device=settings.device, argv=argv,
                          threads=settings.threads, out=out)  # fmt: skip
        info["settings"] = asdict(settings)
        history = list(before.get("training", []))
        if rescore_from is not None:
            source = _read_provenance(rescore_from)
            shutil.copytree(rescore_from / MODELS_DIR, out / MODELS_DIR, dirs_exist_ok=True)
            history = list(source.get("training", [])) or _unfinished(source)
            todo = []
        info["training"] = history
        info["status"] = "training"
        _write_provenance(out, info)  # a killed run is still a run: --resume or --force
        wall = time.perf_counter()
        failures: list[dict[str, Any]] = []
        if todo:
            summaries = run_jobs(settings, todo, out, progress=progress)
            failures = [s for s in summaries if s["status"] != "ok"]
            history.append({
                "jobs": len(todo), "failed": len(failures), "workers": settings.workers,
                "threads": settings.threads, "wall_s": round(time.perf_counter() - wall, 1),
                "commit": info["commit"], "date": info["date"], "command": info["command"],
            })  # fmt: skip
        scoring = time.perf_counter()
        counts = write_tables(settings, out, failures, progress=progress)
        info["training"] = history
        info["status"] = "complete"
        info["rows"] = counts
        info["score_wall_s"] = round(time.perf_counter() - scoring, 1)
        _write_provenance(out, info)
        return render(out), counts
