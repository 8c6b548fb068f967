"""Training Table 1's models: load a finished checkpoint of this budget, or train (resuming)."""

from __future__ import annotations

import shutil
from typing import Any

import pandas as pd
import torch
from torch import nn

from odebench.benchmark.measure import MODEL_STEM
from odebench.experiments.table1.config import (
    RowSpec,
    Table1Config,
    checkpoint_path,
    epochs_path,
    log_path,
)
from odebench.experiments.training import budget_matches, load_checkpoint, stderr_progress, train
from odebench.workloads.data.mnist import MNIST
from odebench.workloads.models.mnist import build_model


class TrainedElsewhereError(ValueError):
    """``--results`` names a folder without a finished checkpoint of this budget."""


def _finished(path: Any, cfg: Table1Config) -> bool:
    if not path.exists():
        return False
    meta = torch.load(path, map_location="cpu", weights_only=False).get("meta", {})
    return budget_matches(meta, cfg.train)


def check_trained_from(cfg: Table1Config) -> None:
    """Refuse, before anything is written, a ``trained_from`` lacking a model of this budget."""
    if cfg.trained_from is None:
        return
    source = Table1Config(**{**cfg.__dict__, "out": cfg.trained_from})
    missing = [m for m in cfg.models if not _finished(checkpoint_path(source, m), cfg)]
    if missing:
        raise TrainedElsewhereError(
            f"--results {cfg.trained_from}: no finished checkpoint of this budget for "
            f"{', '.join(missing)} (checkpoints/<model>.pt trained with the same options); "
            "train them there first, or drop --results."
        )


def import_trained(cfg: Table1Config) -> None:
    """Copy the finished checkpoints, logs and curves of ``trained_from`` into ``out``."""
    if cfg.trained_from is None:
        return
    source = Table1Config(**{**cfg.__dict__, "out": cfg.trained_from})
    for name in cfg.models:
        for where in (checkpoint_path, log_path, epochs_path):
            src, dst = where(source, name), where(cfg, name)
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)


def train_row(spec: RowSpec, cfg: Table1Config, data: MNIST) -> tuple[nn.Module, dict[str, Any]]:
    """Load the row's model trained with this budget, or train (resuming) it.

    Returns the model and what training gave: test error (the final model's), training time,
    the per-epoch curve and ``weights`` (``"loaded checkpoint"`` or ``"trained"``).
    """
    torch.manual_seed(cfg.train.seed)
    model = build_model(spec.kind, stem=MODEL_STEM, solver=spec.solver)
    ckpt = checkpoint_path(cfg, spec.name)
    row: dict[str, Any] = {}
    if not cfg.retrain and _finished(ckpt, cfg):
        meta = load_checkpoint(ckpt, model)
        row.update(test_error=meta["test_error"], train_time_s=meta.get("train_time_s"))
        row["weights"] = "loaded checkpoint"
        row["epochs"] = list(meta.get("epochs", []))
        return model, row
    result = train(
        model,
        data,
        cfg.train,
        name=spec.name,
        log_path=log_path(cfg, spec.name),
        checkpoint_path=ckpt,
        resume=not cfg.retrain,
        progress=stderr_progress,
        epochs_path=epochs_path(cfg, spec.name),
    )
    row.update(test_error=result.test_error, train_time_s=result.train_time_s)
    row["weights"] = "trained"
    row["epochs"] = result.epochs
    return model, row


def log_summary(cfg: Table1Config, name: str) -> dict[str, Any]:
    """Median time per training iteration (the first left out) and mean NFE from the log."""
    path = log_path(cfg, name)
    if not path.exists():
        return {}
    log = pd.read_csv(path)
    if log.empty:
        return {}
    per_iter = log["time_forward_s"] + log["time_backward_s"] + log["time_update_s"]
    timed = per_iter.iloc[1:] if len(log) > 1 else per_iter  # the first warms up
    return {
        "time_per_iter_s": float(timed.median()),
        "train_iterations": len(log),
        "train_nfe_forward_mean": float(log["nfe_forward"].mean()),
        "train_nfe_backward_mean": float(log["nfe_backward"].mean()),
    }


def epoch_curves(cfg: Table1Config, trained: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Every model's test error after every epoch, one row per (model, epoch)."""
    rows = [e for name in cfg.models for e in trained.get(name, {}).get("epochs", [])]
    return pd.DataFrame(rows)
