"""``odebench spirals``: latent ODE vs RNN on irregularly sampled spirals (the paper's Table 2).

For each observation count (30, 50, 100 of 100 points) both models train on the same
seeded spirals; predictive RMSE against the noiseless spiral is measured on the test
set over the observed window (interpolation, all 100 grid times) and beyond it
(extrapolation), reported apart. Training records NFE forward/backward and the time
of every iteration. Writes ``table2.csv``, ``table2.md`` and ``plots/spirals.{png,svg}``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchdiffeq
from torch import nn

from odebench.data.spirals import PAPER_OBS, Spirals, make_spirals, subsample, train_test_split
from odebench.instruments import Stopwatch, nfe, phase, reset_nfe
from odebench.models.latent import LatentODE, RNNBaseline
from odebench.solvers import ADAPTIVE_METHODS, METHODS, SolverConfig, SolverConfigError

#: The paper's Table 2 (predictive RMSE on the test set), by model and observed points.
PAPER_RMSE: dict[str, dict[int, float]] = {
    "rnn": {30: 0.3937, 50: 0.3202, 100: 0.1813},
    "latent_ode": {30: 0.1642, 50: 0.1502, 100: 0.1346},
}

#: Training budgets: iterations per model and observation count, and a wall-clock cap (s).
#: ``paper`` follows torchdiffeq's example (2000 full-batch Adam iterations, no cap).
BUDGETS: dict[str, dict[str, float | int | None]] = {
    "default": {"iters": 400, "max_train_s": 150.0},
    "paper": {"iters": 2000, "max_train_s": None},
}

MODELS: tuple[str, ...] = ("rnn", "latent_ode")


@dataclass
class TrainLog:
    """Per-iteration figures of one training run."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    nfe_forward: list[int] = field(default_factory=list)
    nfe_backward: list[int] = field(default_factory=list)

    @property
    def iters(self) -> int:
        return len(self.losses)


def train(
    model: nn.Module,
    data: Spirals,
    mask: torch.Tensor,
    *,
    iters: int,
    lr: float,
    max_seconds: float | None,
    device: str,
) -> TrainLog:
    """Full-batch Adam on ``model.loss``; stops after ``iters`` or once ``max_seconds`` pass."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    times, values, mask = data.times.to(device), data.noisy.to(device), mask.to(device)
    start = time.perf_counter()
    for _ in range(iters):
        reset_nfe(model)
        with Stopwatch(device) as sw:
            opt.zero_grad()
            parts = model.loss(times, values, mask)  # type: ignore[operator]
            with phase("backward"):
                parts.loss.backward()
            opt.step()
        log.losses.append(parts.nll + parts.kl)
        log.seconds.append(sw.seconds)
        log.nfe_forward.append(nfe(model, "forward"))
        log.nfe_backward.append(nfe(model, "backward"))
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return log


def rmse(pred: torch.Tensor, truth: torch.Tensor, where: torch.Tensor | None = None) -> float:
    """Root mean squared error over all points, or over the (N, T) points ``where`` is True."""
    sq = ((pred - truth) ** 2).mean(-1)
    return float(sq.mean().sqrt() if where is None else sq[where].mean().sqrt())


def after_first_observation(mask: torch.Tensor) -> torch.Tensor:
    """(N, T) True from each series' first observed time on."""
    return mask.cumsum(dim=1) > 0


def predict_all(model: nn.Module, data: Spirals, mask: torch.Tensor, device: str) -> torch.Tensor:
    """Predictions at every window time and every extrapolation time: (N, T + E, 2), on CPU."""
    query = torch.cat((data.times, data.extrap_times)).to(device)
    model.eval()
    pred = model.predict(  # type: ignore[operator]
        data.times.to(device), data.noisy.to(device), mask.to(device), query
    )
    model.train()
    return pred.cpu()


def build_model(name: str, config: SolverConfig, noise_std: float) -> nn.Module:
    if name == "latent_ode":
        return LatentODE(config=config, noise_std=noise_std)
    if name == "rnn":
        return RNNBaseline(noise_std=noise_std)
    raise ValueError(f"unknown model {name!r}; choose one of {MODELS}.")


#: Tolerances for adaptive methods unless --rtol/--atol say otherwise.
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-4


def solver_config(args: argparse.Namespace) -> SolverConfig:
    """The latent ODE's SolverConfig from the command line (default: dopri5, rtol 1e-3)."""
    if args.method in ADAPTIVE_METHODS and args.steps is None:
        rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
        atol = DEFAULT_ATOL if args.atol is None else args.atol
        return SolverConfig(method=args.method, gradient=args.gradient, rtol=rtol, atol=atol)
    return SolverConfig(
        method=args.method, gradient=args.gradient, rtol=args.rtol, atol=args.atol,
        steps=args.steps,
    )


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "error: --device cuda asked for, but this torch build sees no CUDA GPU "
            f"(torch {torch.__version__}); run with --device cpu or install a CUDA build."
        )


def write_markdown(df: object, path: Path, provenance: str) -> None:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
    show = pd.DataFrame(
        {
            "model": df["model"].map({"rnn": "RNN", "latent_ode": "Latent ODE"}),
            "observed points": df["n_obs"],
            "RMSE interp (ours)": df["rmse_interp"].map("{:.4f}".format),
            "RMSE extrap (ours)": df["rmse_extrap"].map("{:.4f}".format),
            "RMSE interp from 1st obs": df["rmse_interp_after_first_obs"].map("{:.4f}".format),
            "RMSE (paper, Table 2)": df["paper_rmse"].map(
                lambda v: "" if pd.isna(v) else f"{v:.4f}"
            ),
            "NFE-F/iter": df["nfe_forward"].map("{:.1f}".format),
            "NFE-B/iter": df["nfe_backward"].map("{:.1f}".format),
            "s/iter (median)": df["time_iter_s"].map("{:.3f}".format),
            "iters": df["iters"],
        }
    )
    lines = [
        "# Table 2: latent ODE vs RNN on irregularly sampled spirals",
        "",
        show.to_markdown(index=False, disable_numparse=True),
        "",
        "RMSE against the noiseless spirals on the test set: *interp* over all 100 times of",
        "the observed window (observed and unobserved), *extrap* over the times after it;",
        "*from 1st obs* leaves out the window times before a spiral's first observation",
        "(which a forward RNN can only guess from its initial state).",
        "The paper's column is its Table 2 (reference values, copied from the paper; the",
        "paper does not split interpolation and extrapolation). NFE-F/B are mean calls of",
        "the latent ODE field per training iteration; the RNN has no ODE (0).",
        "",
        provenance,
        "",
    ]
    path.write_text("\n".join(lines))


def plot(
    results: dict[str, torch.Tensor], data: Spirals, mask: torch.Tensor, n_obs: int, path: Path
) -> None:
    """Ground truth, observations, prediction and extrapolation; one row per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    palette = sns.color_palette("deep")
    picks = list(range(min(3, len(data))))
    t = data.times.numel()
    fig, axes = plt.subplots(
        len(MODELS), len(picks), figsize=(3.6 * len(picks), 3.4 * len(MODELS)), squeeze=False
    )
    titles = {"rnn": "RNN", "latent_ode": "Latent ODE"}
    for r, name in enumerate(MODELS):
        pred = results[name]
        for c, i in enumerate(picks):
            ax = axes[r][c]
            full = torch.cat((data.truth[i], data.extrap_truth[i]))
            obs = data.noisy[i][mask[i]]
            ax.plot(full[:, 0], full[:, 1], color="0.6", lw=2.5, label="ground truth")
            ax.scatter(obs[:, 0], obs[:, 1], s=9, color=palette[0], label="observations", zorder=3)
            ax.plot(pred[i, :t, 0], pred[i, :t, 1], color=palette[3], lw=1.5, label="prediction")
            ax.plot(
                pred[i, t - 1 :, 0], pred[i, t - 1 :, 1], color=palette[2], lw=1.5, ls="--",
                label="extrapolation",
            )
            ax.set_title(f"{titles[name]}, test spiral {i} ({n_obs} obs)")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.set_aspect("equal", adjustable="datalim")
    axes[0][0].legend(loc="best", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=150)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    check_device(args.device)
    torch.set_num_threads(args.threads)
    budget = BUDGETS[args.budget]
    iters = int(args.iters if args.iters is not None else budget["iters"])  # type: ignore[arg-type]
    max_s = args.max_train_seconds if args.max_train_seconds is not None else budget["max_train_s"]
    if args.iters is not None and args.max_train_seconds is None:
        max_s = None  # explicit --iters means exactly that many
    try:
        config = solver_config(args)
    except SolverConfigError as exc:
        raise SystemExit(f"error: {exc}") from exc
    obs_counts = sorted(set(args.obs))
    data = make_spirals(args.n_spirals, 100, args.n_extrap, seed=args.seed)
    if max(obs_counts) > data.times.numel():
        raise SystemExit(
            f"error: --obs values must be <= {data.times.numel()} (the series length)."
        )
    train_idx, test_idx = train_test_split(len(data), 0.2, seed=args.seed)
    train_set, test_set = data.select(train_idx), data.select(test_idx)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    figure_obs = min(obs_counts) if args.figure_obs is None else args.figure_obs
    figure_preds: dict[str, torch.Tensor] = {}
    figure_mask = None
    wall = time.perf_counter()
    for n_obs in obs_counts:
        train_mask = subsample(len(train_set), 100, n_obs, seed=args.seed + 1)
        test_mask = subsample(len(test_set), 100, n_obs, seed=args.seed + 2)
        for name in MODELS:
            torch.manual_seed(args.seed)
            model = build_model(name, config, data.noise_std).to(args.device)
            log = train(
                model, train_set, train_mask, iters=iters, lr=args.lr, max_seconds=max_s,
                device=args.device,
            )
            pred = predict_all(model, test_set, test_mask, args.device)
            t = data.times.numel()
            row: dict[str, object] = {
                "model": name,
                "n_obs": n_obs,
                "rmse_interp": rmse(pred[:, :t], test_set.truth),
                "rmse_extrap": rmse(pred[:, t:], test_set.extrap_truth),
                "rmse_interp_after_first_obs": rmse(
                    pred[:, :t], test_set.truth, after_first_observation(test_mask)
                ),
                "paper_rmse": PAPER_RMSE[name].get(n_obs, float("nan")),
                "iters": log.iters,
                "loss": statistics.fmean(log.losses[-10:]),
                "nfe_forward": statistics.fmean(log.nfe_forward),
                "nfe_backward": statistics.fmean(log.nfe_backward),
                "nfe_forward_last": log.nfe_forward[-1],
                "time_iter_s": statistics.median(log.seconds),
                "train_time_s": sum(log.seconds),
                "params": sum(p.numel() for p in model.parameters()),
                "method": config.method if name == "latent_ode" else "",
                "gradient": config.gradient if name == "latent_ode" else "backprop",
                "rtol": config.rtol if name == "latent_ode" else None,
                "atol": config.atol if name == "latent_ode" else None,
                "steps": config.steps if name == "latent_ode" else None,
                "batch": len(train_set),
                "n_test": len(test_set),
                "lr": args.lr,
                "dtype": "float32",
                "device": args.device,
                "seed": args.seed,
                "threads": args.threads,
                "status": "ok",
            }
            rows.append(row)
            print(
                f"{name:10s} obs={n_obs:3d} iters={log.iters:4d} "
                f"rmse interp={row['rmse_interp']:.4f} extrap={row['rmse_extrap']:.4f} "
                f"(paper {row['paper_rmse']}) nfe_f={row['nfe_forward']:.1f} "
                f"s/iter={row['time_iter_s']:.3f} elapsed={time.perf_counter() - wall:.0f}s",
                flush=True,
            )
            if n_obs == figure_obs:
                figure_preds[name] = pred
                figure_mask = test_mask
            pd.DataFrame(rows).to_csv(out / "table2.csv", index=False)  # keep partial results
    df = pd.DataFrame(rows)
    df.to_csv(out / "table2.csv", index=False)
    provenance = (
        f"Settings: budget {args.budget}, iters {iters}, training cap {max_s} s per model, "
        f"obs {obs_counts}, lr {args.lr}; "
        f"solver {config.method} ({config.gradient}, rtol={config.rtol}, atol={config.atol}, "
        f"steps={config.steps}); {len(train_set)} train / {len(test_set)} test spirals; "
        f"seed {args.seed}; torch {torch.__version__}, torchdiffeq {torchdiffeq.__version__}, "
        f"Python {platform.python_version()}, {args.device}, {args.threads} thread(s); "
        f"training + evaluation wall time {time.perf_counter() - wall:.0f} s; "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}."
    )
    write_markdown(df, out / "table2.md", provenance)
    if figure_mask is not None:
        plot(figure_preds, test_set, figure_mask, figure_obs, out / "plots" / "spirals.png")
    print(f"wrote {out / 'table2.csv'}, {out / 'table2.md'}, {out / 'plots' / 'spirals.png'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "spirals",
        help="latent ODE vs RNN on irregularly sampled spirals (paper Table 2)",
        description=__doc__,
    )
    p.add_argument("--budget", choices=sorted(BUDGETS), default="default",
                   help="default: 400 iters, capped at 150 s of training per model and "
                        "observation count (~10-16 min on 2 CPU cores); paper: 2000 iters, no cap")
    p.add_argument("--iters", type=int, default=None, help="training iterations (overrides budget)")
    p.add_argument("--max-train-seconds", type=float, default=None,
                   help="stop training a model after this many seconds")
    p.add_argument("--obs", type=int, nargs="+", default=list(PAPER_OBS),
                   help="observed points per spiral, out of 100 (default: 30 50 100)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--n-spirals", type=int, default=1000)
    p.add_argument("--n-extrap", type=int, default=50, help="extrapolation points after the window")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--method", choices=METHODS, default="dopri5")
    p.add_argument("--gradient", choices=("backprop", "adjoint"), default="backprop")
    p.add_argument("--rtol", type=float, default=None,
                   help=f"adaptive methods' rtol (default {DEFAULT_RTOL})")
    p.add_argument("--atol", type=float, default=None,
                   help=f"adaptive methods' atol (default {DEFAULT_ATOL})")
    p.add_argument("--steps", type=int, default=None,
                   help="steps over the window for fixed-grid methods (rk4, euler, ...)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: small ops on a shared 2-core machine run fastest)")
    p.add_argument("--figure-obs", type=int, default=None,
                   help="observation count shown in the figure (default: the smallest)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    return run(args)
