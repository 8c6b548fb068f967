"""Training and evaluation on MNIST with the reference recipe of ``odenet_mnist.py``.

SGD with momentum 0.9, learning rate ``0.1 * batch / 128`` decayed x0.1 at epochs 60,
100 and 140, batch 128, random-crop augmentation (pad 4, crop 28), 160 epochs. The
budget knobs (``epochs``, ``train_subset``) shrink a run to minutes on a CPU; the decay
boundaries are fractions of the run (60/160, 100/160, 140/160 by default), so a short
run decays at the same points of its course as the paper's (a fixed epoch 60 would never
be reached by a run shorter than 60 epochs).

Every iteration is logged (loss, NFE forward/backward, time of forward, backward and the
optimiser update): the data behind the paper's Figure 3. The test error is measured after
every epoch (the curve; the headline figure stays the final model's, never the best
epoch's, which would select on the test set). A run interrupted between epochs resumes
from its checkpoint (weights, optimiser, data order, the curve so far) to the same result.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from odebench.benchmark.measure import check_device
from odebench.instruments.nfe import nfe, phase, reset_nfe
from odebench.instruments.timing import Stopwatch
from odebench.workloads.data.mnist import MNIST, to_float

PAPER_EPOCHS = 160
#: The paper's decay epochs (60, 100, 140 of 160) as fractions of the run.
PAPER_LR_BOUNDARIES: tuple[float, ...] = (60 / 160, 100 / 160, 140 / 160)


@dataclass(frozen=True)
class TrainConfig:
    """The recipe and its budget; the defaults are the paper's (160 epochs, full 60k)."""

    epochs: int = PAPER_EPOCHS
    batch_size: int = 128
    lr: float = 0.1  # for batch 128; scaled by batch_size / 128
    momentum: float = 0.9
    lr_boundaries: tuple[float, ...] = PAPER_LR_BOUNDARIES  # fractions of the run, in [0, 1]
    decay: float = 0.1
    train_subset: int | None = None  # None: all 60,000 training images
    augment: bool = True
    seed: int = 0
    test_batch_size: int = 1000
    test_subset: int | None = None  # None: all 10,000 test images; else the first N
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "test_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1.")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name}={value!r} must be an integer >= 1, or None for all.")
        if not (self.lr > 0 and 0 <= self.momentum < 1 and 0 < self.decay <= 1):
            raise ValueError("need lr > 0, 0 <= momentum < 1 and 0 < decay <= 1.")
        bounds = tuple(self.lr_boundaries)
        if any(not 0 <= b <= 1 for b in bounds) or list(bounds) != sorted(bounds):
            raise ValueError(
                f"lr_boundaries={bounds!r} must be increasing fractions of the run in [0, 1] "
                "(the paper's: 0.375, 0.625, 0.875)."
            )
        object.__setattr__(self, "lr_boundaries", tuple(float(b) for b in bounds))

    @property
    def initial_lr(self) -> float:
        return self.lr * self.batch_size / 128

    def lr_at(self, iteration: int, total: int) -> float:
        """Learning rate of (0-based) ``iteration`` of ``total``: x decay per boundary passed.

        A boundary ``b`` is passed from iteration ``ceil(b * total)`` on; with 160 epochs of
        equal length the paper's boundaries fall exactly on epochs 60, 100 and 140.
        """
        passed = sum(iteration >= math.ceil(b * total - 1e-9) for b in self.lr_boundaries)
        return self.initial_lr * self.decay**passed

    def boundary_epochs(self) -> tuple[float, ...]:
        """The decay points in epochs (fractional for runs not a multiple of 160/20 epochs)."""
        return tuple(b * self.epochs for b in self.lr_boundaries)

    def budget(self) -> dict[str, Any]:
        """What a checkpoint must match to be reused."""
        return asdict(self)


def random_crop(images: torch.Tensor, pad: int = 4, generator: torch.Generator | None = None):
    """Zero-pad (N, C, H, W) by ``pad`` and crop back to H x W at a random place per image."""
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    chans = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def subset_indices(n_total: int, subset: int | None, seed: int) -> torch.Tensor:
    """A fixed random subset (all of it, shuffled, if ``subset`` is None)."""
    if subset is not None and subset > n_total:
        raise ValueError(f"train_subset={subset} exceeds the {n_total} training images.")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n_total, generator=g)
    return perm if subset is None else perm[:subset]


def batches(
    indices: torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Shuffled batches of ``indices``; the last, smaller one is dropped like the reference."""
    order = indices[torch.randperm(len(indices), generator=generator)]
    full = len(order) // batch_size
    if full == 0:
        raise ValueError(
            f"{len(order)} training images make no batch of {batch_size}; "
            "raise the subset or lower the batch size."
        )
    for i in range(full):
        yield order[i * batch_size : (i + 1) * batch_size]


#: Columns of the per-epoch curve (one row per finished epoch).
EPOCH_FIELDS = ("model", "epoch", "iterations", "lr", "train_loss", "test_error", "train_time_s")

LOG_FIELDS = (
    "model", "epoch", "iteration", "lr", "loss", "nfe_forward", "nfe_backward",
    "time_forward_s", "time_backward_s", "time_update_s",
)  # fmt: skip


@dataclass
class TrainResult:
    """What training produced: per-iteration log rows, the per-epoch curve, test error, time.

    ``test_error`` is the final model's (the last row of ``epochs``).
    """

    log: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    test_error: float = math.nan
    train_time_s: float = 0.0
    epochs_done: int = 0
    loaded: bool = False


def train_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer | None
) -> dict[str, float]:
    """One iteration (forward, backward, update) measured: loss, NFE and times per phase.

    ``time_update_s`` is the optimiser update alone (forward and backward are timed apart).
    """
    device = x.device
    reset_nfe(model)
    with Stopwatch(device) as fwd:
        loss = F.cross_entropy(model(x), y)
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
    with Stopwatch(device) as bwd, phase("backward"):
        loss.backward()
    with Stopwatch(device) as upd:
        if optimizer is not None:
            optimizer.step()
    return {
        "loss": float(loss.detach()),
        "nfe_forward": nfe(model, "forward"),
        "nfe_backward": nfe(model, "backward"),
        "time_forward_s": fwd.seconds,
        "time_backward_s": bwd.seconds,
        "time_update_s": upd.seconds,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1000,
    device: str | torch.device = "cpu",
) -> float:
    """Classification error (fraction wrong) of ``model`` on uint8 ``images``."""
    was_training = model.training
    model.eval()
    wrong = 0
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size]).to(device)
        y = labels[start : start + batch_size].to(device)
        wrong += int((model(x).argmax(dim=1) != y).sum())
    model.train(was_training)
    return wrong / len(images)


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any], **extra: Any) -> None:
    """Write weights and ``meta`` (plus ``extra`` state, e.g. for resuming) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"state_dict": model.state_dict(), "meta": meta, **extra}, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Load weights into ``model``; returns the checkpoint's metadata."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    return ckpt["meta"]


def write_log(
    path: str | Path, rows: list[dict[str, Any]], fields: tuple[str, ...] = LOG_FIELDS
) -> None:
    """Write ``rows`` as CSV atomically (a crash leaves the earlier file whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _resume_state(
    checkpoint_path: str | Path | None, log_path: str | Path | None, config: TrainConfig
) -> dict[str, Any] | None:
    """The saved state of an unfinished run with this exact budget, or None to start afresh."""
    if checkpoint_path is None or log_path is None:
        return None
    if not Path(checkpoint_path).exists() or not Path(log_path).exists():
        return None
    ckpt = torch.load(Path(checkpoint_path), map_location="cpu", weights_only=False)
    meta = ckpt.get("meta", {})
    if "resume" not in ckpt:
        return None
    done = meta.get("epochs_done", 0)
    if not 0 < done < config.epochs:
        return None
    with Path(log_path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != ckpt["resume"]["iterations"] or not _same_past(meta, config, len(rows)):
        return None
    for row in rows:
        for key in LOG_FIELDS[1:]:
            row[key] = int(row[key]) if key in _INT_FIELDS else float(row[key])
    curve = list(ckpt["resume"].get("epochs", []))
    if len(curve) != done:
        return None  # a checkpoint from before the per-epoch curve: start afresh
    return {**ckpt, "log": rows, "epochs_done": done, "epochs": curve}


_INT_FIELDS = ("epoch", "iteration", "nfe_forward", "nfe_backward")


def _same_past(meta: dict[str, Any], config: TrainConfig, iterations: int) -> bool:
    """Whether a checkpoint's ``iterations`` are exactly what ``config`` would have run.

    Same budget, or one differing only in ``epochs`` whose learning rate agreed at every
    iteration done (a 4-epoch run after its first epoch is a 3-epoch run after its first:
    both decay first at 3/8 of their course, later than iteration 468): the data order
    per epoch does not depend on the number of epochs.
    """
    saved, current = _budget(meta), _budget({"budget": config.budget()})
    if saved == current:
        return True
    if {k: v for k, v in saved.items() if k != "epochs"} != {
        k: v for k, v in current.items() if k != "epochs"
    }:
        return False
    try:
        old = TrainConfig(**{k: saved[k] for k in current})
    except (KeyError, TypeError, ValueError):
        return False
    done = meta.get("epochs_done", 0)
    if iterations % done:
        return False
    per_epoch = iterations // done
    old_total, new_total = per_epoch * old.epochs, per_epoch * config.epochs
    return all(old.lr_at(i, old_total) == config.lr_at(i, new_total) for i in range(iterations))


def train(
    model: nn.Module,
    data: MNIST,
    config: TrainConfig,
    *,
    name: str = "model",
    log_path: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    evaluate_test: bool = True,
    resume: bool = True,
    progress: Callable[[str], None] | None = None,
    epochs_path: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``config``; log every iteration; test every epoch.

    The per-iteration log goes to ``log_path`` (CSV, rewritten after each epoch), the
    per-epoch curve (test error after each epoch) to ``epochs_path``, the weights to
    ``checkpoint_path`` after each epoch (with the budget, the optimiser, the data-order
    generator and the curve, so that with ``resume`` an interrupted run carries on from its
    last finished epoch). The final checkpoint holds the weights and metadata only (the
    final model's test error, the curve): small enough to commit.
    """
    device = check_device(config.device)
    model.to(device)
    model.train()
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.initial_lr, momentum=config.momentum)
    indices = subset_indices(len(data.train_images), config.train_subset, config.seed)
    result = TrainResult()
    per_epoch = len(indices) // config.batch_size
    total = per_epoch * config.epochs
    first_epoch, previous_s = 0, 0.0
    state = _resume_state(checkpoint_path, log_path, config) if resume else None
    if state is not None:
        model.load_state_dict(state["state_dict"])
        model.to(device)
        optimizer.load_state_dict(state["resume"]["optimizer"])
        g.set_state(state["resume"]["generator"])
        result.log = state["log"]
        result.epochs = state["epochs"]
        first_epoch = state["epochs_done"]
        previous_s = state["resume"]["train_time_s"]
        if progress is not None:
            progress(f"{name}: resuming after epoch {first_epoch} of {config.epochs}")
    n_test = len(data.test_images) if config.test_subset is None else config.test_subset
    start = time.perf_counter()
    iteration = len(result.log)
    for epoch in range(first_epoch, config.epochs):
        epoch_start = len(result.log)
        for batch in batches(indices, config.batch_size, g):
            lr = config.lr_at(iteration, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = to_float(data.train_images[batch])
            if config.augment:
                x = random_crop(x, 4, generator=g)
            x, y = x.to(device), data.train_labels[batch].to(device)
            row = train_step(model, x, y, optimizer)
            if not math.isfinite(row["loss"]):
                raise FloatingPointError(
                    f"{name}: loss became {row['loss']} at iteration {iteration}; "
                    "lower the learning rate."
                )
            result.log.append(
                {"model": name, "epoch": epoch, "iteration": iteration, "lr": lr, **row}
            )
            iteration += 1
            if progress is not None and (iteration % 10 == 0 or iteration == total):
                progress(
                    f"{name}: epoch {epoch + 1}/{config.epochs} iteration {iteration}/{total} "
                    f"lr {lr:g} loss {row['loss']:.3f} "
                    f"NFE {row['nfe_forward']}/{row['nfe_backward']}"
                )
        result.epochs_done = epoch + 1
        paused = time.perf_counter()
        elapsed = previous_s + paused - start  # training only: testing and writing excluded
        test_error = math.nan
        if evaluate_test:
            test_error = evaluate(
                model,
                data.test_images[:n_test],
                data.test_labels[:n_test],
                batch_size=config.test_batch_size,
                device=device,
            )
            if progress is not None:
                progress(f"{name}: epoch {epoch + 1}/{config.epochs} test error {test_error:.4f}")
        epoch_rows = result.log[epoch_start:]
        result.epochs.append(
            {
                "model": name,
                "epoch": epoch + 1,
                "iterations": len(result.log),
                "lr": epoch_rows[-1]["lr"] if epoch_rows else math.nan,
                "train_loss": sum(r["loss"] for r in epoch_rows) / max(len(epoch_rows), 1),
                "test_error": test_error,
                "train_time_s": elapsed,
            }
        )
        if log_path is not None:
            write_log(log_path, result.log)
        if epochs_path is not None:
            write_log(epochs_path, result.epochs, EPOCH_FIELDS)
        if checkpoint_path is not None:
            meta = {"name": name, "epochs_done": epoch + 1, "budget": config.budget()}
            resume_state = {
                "optimizer": optimizer.state_dict(),
                "generator": g.get_state(),
                "iterations": len(result.log),
                "train_time_s": elapsed,
                "epochs": result.epochs,
            }
            save_checkpoint(checkpoint_path, model, meta, resume=resume_state)
        start += time.perf_counter() - paused
    result.epochs_done = config.epochs
    result.train_time_s = result.epochs[-1]["train_time_s"] if result.epochs else previous_s
    result.test_error = result.epochs[-1]["test_error"] if result.epochs else math.nan
    if evaluate_test and checkpoint_path is not None:
        meta = {
            "name": name,
            "epochs_done": result.epochs_done,
            "budget": config.budget(),
            "test_error": result.test_error,
            "train_time_s": result.train_time_s,
            "epochs": result.epochs,
        }
        save_checkpoint(checkpoint_path, model, meta)
    return result


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _budget(meta: dict[str, Any]) -> dict[str, Any]:
    saved = meta.get("budget", {})
    return {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}


def budget_matches(meta: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a checkpoint was trained to completion with exactly this budget."""
    current = dataclasses.asdict(config)
    return (
        _budget(meta) == current
        and meta.get("epochs_done") == config.epochs
        and "test_error" in meta
    )
