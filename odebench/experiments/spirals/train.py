"""Training Table 2's models: one job per (model, observation count, seed), each saved.

A job builds its data from the seed alone, seeds torch, trains full-batch Adam for
exactly ``iters`` iterations and writes a checkpoint (weights and the per-iteration log)
atomically. Nothing else is shared, so a job gives the same weights inline or in a worker
process, first or after any other: :func:`run_jobs` spreads them over worker processes.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odebench.experiments.spirals.settings import (
    LR_FLOOR,
    LR_SCHEDULES,
    MODELS,
    MODELS_DIR,
    Settings,
    SpiralsError,
)
from odebench.experiments.spirals.split import Split, make_split

if TYPE_CHECKING:
    from torch import nn


#: Settings fields that change what training produces; a checkpoint is reused only when
#: they all match (``--resume``).
TRAINING_FIELDS: tuple[str, ...] = (
    "iters", "method", "gradient", "rtol", "atol", "steps", "dynamics_layers", "lr",
    "lr_schedule", "n_spirals", "n_points", "n_extrap", "noise_std", "test_fraction",
    "eval_every", "device",
)  # fmt: skip


class TrainingFailed(RuntimeError):
    """A job whose loss became non-finite or whose solver failed."""


def build_model(name: str, settings: Settings) -> nn.Module:
    from odebench.workloads.models.latent import LatentODE, RNNBaseline

    if name == "latent_ode":
        return LatentODE(config=settings.solver(), noise_std=settings.noise_std,
                         dynamics_layers=settings.dynamics_layers)  # fmt: skip
    if name == "rnn":
        return RNNBaseline(cell="rnn", time_input=False, noise_std=settings.noise_std)
    if name == "rnn_gap":
        return RNNBaseline(cell="rnn", time_input=True, noise_std=settings.noise_std)
    if name == "gru_gap":
        return RNNBaseline(cell="gru", time_input=True, noise_std=settings.noise_std)
    raise SpiralsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")


@dataclass
class TrainLog:
    """Per-iteration figures of one training run, and the test readings at evaluations."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    nfe_forward: list[int] = field(default_factory=list)
    nfe_backward: list[int] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)

    @property
    def iters(self) -> int:
        return len(self.losses)


def learning_rate(it: int, *, lr: float, iters: int, schedule: str) -> float:
    """Adam's learning rate at iteration ``it`` (1-based): ``lr`` throughout (constant), or
    a half cosine from ``lr`` at the first iteration to ``lr * LR_FLOOR`` at the last."""
    if schedule == "constant" or iters == 1:
        return lr
    if schedule != "cosine":
        raise SpiralsError(f"lr_schedule={schedule!r}: choose one of {', '.join(LR_SCHEDULES)}.")
    floor = lr * LR_FLOOR
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * (it - 1) / (iters - 1)))


def train(
    model: nn.Module,
    split: Split,
    *,
    iters: int,
    lr: float,
    device: str,
    lr_schedule: str = "constant",
    eval_every: int = 0,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainLog:
    """Full-batch Adam on ``model.loss`` for exactly ``iters`` iterations, its learning
    rate set by :func:`learning_rate` before each step.

    Each iteration is timed and its NFE split into forward and backward; ``evaluate``
    (test readings) runs outside the timed region every ``eval_every`` iterations and at
    the end. A non-finite loss raises :class:`TrainingFailed`.
    """
    import torch

    from odebench.instruments import Stopwatch, nfe, phase, reset_nfe

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    times, values = split.train.times.to(device), split.train.noisy.to(device)
    mask = split.train_mask.to(device)
    for it in range(1, iters + 1):
        rate = learning_rate(it, lr=lr, iters=iters, schedule=lr_schedule)
        for group in opt.param_groups:
            group["lr"] = rate
        reset_nfe(model)
        with Stopwatch(device) as sw:
            opt.zero_grad()
            parts = model.loss(times, values, mask)  # type: ignore[operator]
            with phase("backward"):
                parts.loss.backward()
            opt.step()
        value = parts.nll + parts.kl
        if not math.isfinite(value):
            raise TrainingFailed(f"the training loss became {value} at iteration {it}")
        log.losses.append(value)
        log.lrs.append(rate)
        log.seconds.append(sw.seconds)
        log.nfe_forward.append(nfe(model, "forward"))
        log.nfe_backward.append(nfe(model, "backward"))
        if evaluate is not None and eval_every > 0 and (it % eval_every == 0 or it == iters):
            since = log.losses[-min(eval_every, it) :]
            log.evals.append({"iter": it, "loss": statistics.fmean(since), **evaluate(model)})
            if progress is not None:
                shown = (f"{k} {v:.4g}" for k, v in log.evals[-1].items() if k != "iter")
                progress(f"  iter {it:5d} " + " ".join(shown))
    return log


def checkpoint_path(folder: Path, name: str, n_obs: int, seed: int) -> Path:
    return Path(folder) / MODELS_DIR / f"{name}-obs{n_obs}-seed{seed}.pt"


def training_key(settings: Settings) -> dict[str, Any]:
    s = asdict(settings)
    return {k: s[k] for k in TRAINING_FIELDS}


def train_job(settings: Settings, name: str, n_obs: int, seed: int, folder: str) -> dict[str, Any]:
    """Train one model and save it; returns a summary (status ``ok`` or ``failed``).

    Runs in a worker process or inline: torch's threads and seed are set here, the data
    are made from ``seed``, and the checkpoint is written to a temporary name and renamed.
    """
    import torch

    from odebench.experiments.spirals.score import readings

    torch.set_num_threads(settings.threads)
    split = make_split(settings, seed, n_obs)
    torch.manual_seed(seed)
    model = build_model(name, settings).to(settings.device)

    def evaluate(m: nn.Module) -> dict[str, float]:
        return readings(m, split, settings.device)

    start = time.perf_counter()
    try:
        log = train(model, split, iters=settings.iters, lr=settings.lr, device=settings.device,
                    lr_schedule=settings.lr_schedule, eval_every=settings.eval_every,
                    evaluate=evaluate)  # fmt: skip
    except Exception as exc:  # a job's failure is a row, not the end of the run
        return {"model": name, "n_obs": n_obs, "seed": seed, "status": "failed",
                "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]}  # fmt: skip
    path = checkpoint_path(Path(folder), name, n_obs, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": name, "n_obs": n_obs, "seed": seed, "status": "ok",
        "training": training_key(settings),
        "state_dict": model.state_dict(),
        "losses": torch.tensor(log.losses, dtype=torch.float64),
        "seconds": torch.tensor(log.seconds, dtype=torch.float64),
        "nfe_forward": torch.tensor(log.nfe_forward),
        "nfe_backward": torch.tensor(log.nfe_backward),
        "lrs": torch.tensor(log.lrs, dtype=torch.float64),
        "evals": {k: [e[k] for e in log.evals] for k in (log.evals[0] if log.evals else {})},
        "wall_s": time.perf_counter() - start, "pid": os.getpid(),
    }  # fmt: skip
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return {"model": name, "n_obs": n_obs, "seed": seed, "status": "ok", "path": str(path),
            "wall_s": state["wall_s"], "final_loss": log.losses[-1]}  # fmt: skip


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpiralsError(
            f"{path} is not a readable Table 2 checkpoint ({type(exc).__name__}); delete it "
            "and run again with --resume to retrain that model."
        ) from None


def jobs(settings: Settings) -> list[tuple[str, int, int]]:
    """Every (model, count, seed): seed by seed (a run cut short still holds whole seeds,
    which ``--seeds`` can score), the costliest first within a seed so workers balance."""
    cost = {"latent_ode": 3.0, "gru_gap": 1.5}
    all_jobs = [(m, n, s) for s in settings.seeds for n in settings.obs for m in settings.models]
    rank = {s: k for k, s in enumerate(settings.seeds)}
    return sorted(all_jobs, key=lambda j: (rank[j[2]], -cost.get(j[0], 1.0) * j[1]))


def pending(settings: Settings, folder: Path) -> list[tuple[str, int, int]]:
    """The jobs without a usable checkpoint in ``folder``; a checkpoint trained under other
    settings is refused (it would mix budgets in one table)."""
    todo = []
    key = training_key(settings)
    for name, n_obs, seed in jobs(settings):
        path = checkpoint_path(folder, name, n_obs, seed)
        if not path.exists():
            todo.append((name, n_obs, seed))
            continue
        # a model saved before the schedule existed was trained at a constant rate
        saved = {"lr_schedule": "constant", **load_checkpoint(path).get("training", {})}
        diff = sorted(k for k in key if saved.get(k) != key[k])
        if diff:
            what = ", ".join(f"{k}={saved.get(k)}" for k in diff)
            raise SpiralsError(
                f"{path} was trained with other settings ({what}); resume with those "
                "settings, or pass --force to start over."
            )
    return todo


def run_jobs(
    settings: Settings,
    todo: Sequence[tuple[str, int, int]],
    folder: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``todo`` in ``settings.workers`` processes (inline with one); returns summaries."""
    done: list[dict[str, Any]] = []
    wall = time.perf_counter()

    def report(summary: dict[str, Any]) -> None:
        done.append(summary)
        if progress is not None:
            what = (f"loss {summary['final_loss']:.2f}, {summary['wall_s']:.0f} s"
                    if summary["status"] == "ok" else summary["error"])  # fmt: skip
            progress(f"[{len(done)}/{len(todo)}] {summary['model']} obs {summary['n_obs']} "
                     f"seed {summary['seed']}: {summary['status']} ({what}); "
                     f"elapsed {time.perf_counter() - wall:.0f} s")  # fmt: skip

    if settings.workers == 1 or len(todo) <= 1:
        for job in todo:
            report(train_job(settings, *job, str(folder)))
        return done
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state
    with ProcessPoolExecutor(max_workers=settings.workers, mp_context=ctx) as pool:
        futures = [pool.submit(train_job, settings, *job, str(folder)) for job in todo]
        for fut in as_completed(futures):
            report(fut.result())
    return done
