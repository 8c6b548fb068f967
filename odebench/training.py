"""Training and evaluation on MNIST with the reference recipe of ``odenet_mnist.py``.

SGD with momentum 0.9, learning rate ``0.1 * batch / 128`` decayed x0.1 at epochs 60,
100 and 140, batch 128, random-crop augmentation (pad 4, crop 28), 160 epochs. The
budget knobs (``epochs``, ``train_subset``) shrink a run to minutes on a CPU.

Every iteration is logged (loss, NFE forward/backward, time forward/backward): the data
behind the paper's Figure 3.
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

from odebench.data.mnist import MNIST, to_float
from odebench.instruments.nfe import nfe, phase, reset_nfe
from odebench.instruments.timing import Stopwatch

PAPER_EPOCHS = 160


@dataclass(frozen=True)
class TrainConfig:
    """The recipe and its budget; the defaults are the paper's (160 epochs, full 60k)."""

    epochs: int = PAPER_EPOCHS
    batch_size: int = 128
    lr: float = 0.1  # for batch 128; scaled by batch_size / 128
    momentum: float = 0.9
    boundary_epochs: tuple[int, ...] = (60, 100, 140)
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

    @property
    def initial_lr(self) -> float:
        return self.lr * self.batch_size / 128

    def lr_at(self, epoch: int) -> float:
        """Learning rate during (0-based) ``epoch``: x decay at each boundary passed."""
        passed = sum(epoch >= b for b in self.boundary_epochs)
        return self.initial_lr * self.decay**passed

    def budget(self) -> dict[str, Any]:
        """What a checkpoint must match to be reused."""
        return asdict(self)


def check_device(device: str) -> torch.device:
    """``torch.device(device)``, or a clear error when CUDA is asked for but absent."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
            "use --device cpu, or install a CUDA build of torch on a machine with a GPU."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: use 'cpu' or 'cuda'.")
    return dev


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


LOG_FIELDS = (
    "model", "epoch", "iteration", "lr", "loss", "nfe_forward", "nfe_backward",
    "time_forward_s", "time_backward_s", "time_step_s",
)  # fmt: skip


@dataclass
class TrainResult:
    """What training produced: per-iteration log rows, test error, wall time."""

    log: list[dict[str, Any]] = field(default_factory=list)
    test_error: float = math.nan
    train_time_s: float = 0.0
    epochs_done: int = 0
    loaded: bool = False


def train_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer | None
) -> dict[str, float]:
    """One iteration (forward, backward, update) measured: loss, NFE and times per phase."""
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
        "time_step_s": upd.seconds,
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


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Load weights into ``model``; returns the checkpoint's metadata."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    return ckpt["meta"]


def write_log(path: str | Path, rows: list[dict[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def train(
    model: nn.Module,
    data: MNIST,
    config: TrainConfig,
    *,
    name: str = "model",
    log_path: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    evaluate_test: bool = True,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` with ``config``; log every iteration; test at the end.

    The per-iteration log goes to ``log_path`` (CSV, rewritten after each epoch), the
    weights to ``checkpoint_path`` after each epoch (with the budget and test error).
    """
    device = check_device(config.device)
    model.to(device)
    model.train()
    torch.manual_seed(config.seed)
    g = torch.Generator().manual_seed(config.seed + 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.initial_lr, momentum=config.momentum)
    indices = subset_indices(len(data.train_images), config.train_subset, config.seed)
    result = TrainResult()
    start = time.perf_counter()
    iteration = 0
    per_epoch = len(indices) // config.batch_size
    for epoch in range(config.epochs):
        lr = config.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for batch in batches(indices, config.batch_size, g):
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
            total = per_epoch * config.epochs
            if progress is not None and (iteration % 10 == 0 or iteration == total):
                progress(
                    f"{name}: epoch {epoch + 1}/{config.epochs} iteration {iteration}/{total} "
                    f"loss {row['loss']:.3f} "
                    f"NFE {row['nfe_forward']}/{row['nfe_backward']}"
                )
        result.epochs_done = epoch + 1
        if log_path is not None:
            write_log(log_path, result.log)
        if checkpoint_path is not None:
            meta = {"name": name, "epochs_done": epoch + 1, "budget": config.budget()}
            save_checkpoint(checkpoint_path, model, meta)
    result.train_time_s = time.perf_counter() - start
    if evaluate_test:
        n_test = len(data.test_images) if config.test_subset is None else config.test_subset
        result.test_error = evaluate(
            model, data.test_images[:n_test], data.test_labels[:n_test],
            batch_size=config.test_batch_size, device=device,
        )
        if checkpoint_path is not None:
            meta = {
                "name": name,
                "epochs_done": result.epochs_done,
                "budget": config.budget(),
                "test_error": result.test_error,
                "train_time_s": result.train_time_s,
            }
            save_checkpoint(checkpoint_path, model, meta)
    return result


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def budget_matches(meta: dict[str, Any], config: TrainConfig) -> bool:
    """Whether a checkpoint was trained to completion with exactly this budget."""
    saved = meta.get("budget", {})
    current = dataclasses.asdict(config)
    saved = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}
    return saved == current and meta.get("epochs_done") == config.epochs and "test_error" in meta
