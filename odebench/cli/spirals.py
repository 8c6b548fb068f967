"""``odebench spirals``: latent ODE vs RNNs on irregularly sampled spirals (paper Table 2).

Parses, builds :class:`Settings`, runs :mod:`odebench.experiments.spirals`, prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from odebench.experiments.spirals.settings import (
    BACKPROP_ATOL,
    BACKPROP_RTOL,
    BUDGETS,
    DEFAULT_SEEDS,
    LR_FLOOR,
    LR_SCHEDULES,
    MODELS,
    NOISE_STD,
    PAPER_MODELS,
    PAPER_OBS,
    PAPER_TOL,
    Settings,
    SpiralsError,
)

#: Where ``odebench spirals`` writes by default: a folder of its own inside results/.
DEFAULT_OUT = "results/table2"


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from odebench.experiments import spirals

    p = subparsers.add_parser(
        "spirals",
        help="latent ODE vs RNNs on irregularly sampled spirals (paper Table 2)",
        description=spirals.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--budget",
        choices=sorted(BUDGETS),
        default="default",
        help=f"training iterations per model, count and seed: {BUDGETS}",
    )
    p.add_argument("--iters", type=int, default=None, help="iterations (overrides --budget)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument(
        "--obs",
        type=int,
        nargs="+",
        default=list(PAPER_OBS),
        help="observed points per spiral, out of --n-points",
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(PAPER_MODELS),
        help="rnn: input x; rnn_gap: input [x, time to next obs]; gru_gap: "
        "odebench's earlier GRU baseline",
    )
    p.add_argument("--method", default="dopri5", help="the latent ODE's solver method")
    p.add_argument(
        "--gradient",
        choices=("backprop", "adjoint"),
        default="backprop",
        help=f"adjoint defaults to the paper's rtol = atol = {PAPER_TOL}",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=None,
        help=f"default {BACKPROP_RTOL} (backprop) or {PAPER_TOL} (adjoint)",
    )
    p.add_argument(
        "--atol",
        type=float,
        default=None,
        help=f"default {BACKPROP_ATOL} (backprop) or {PAPER_TOL} (adjoint)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps over the span for fixed-grid methods (rk4, euler, ...)",
    )
    p.add_argument(
        "--dynamics-layers",
        type=int,
        default=1,
        help="hidden layers of the latent dynamics (paper 1; torchdiffeq's example 2)",
    )
    p.add_argument(
        "--noise-std",
        type=float,
        default=NOISE_STD,
        help="observation noise sd (the paper gives none; torchdiffeq's example 0.3)",
    )
    p.add_argument("--n-spirals", type=int, default=1000)
    p.add_argument(
        "--n-extrap",
        type=int,
        default=100,
        help="points beyond the window scored by the extrapolation readings",
    )
    p.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate at the start")
    p.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="cosine",
        help=f"cosine: annealed to lr x {LR_FLOOR:g} at the last iteration, so the loss "
        "settles; constant: torchdiffeq's example",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=20,
        help="iterations between test-RMSE points of the training curves",
    )
    p.add_argument(
        "--figure-obs",
        type=int,
        default=None,
        help="observation count of the figure (default: 30 where run, else the smallest)",
    )
    p.add_argument(
        "--no-cost-check",
        action="store_true",
        help="skip timing the trained latent ODE under the other solver settings",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per worker (1: small ops on a shared machine run fastest)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=_default_workers(),
        help="worker processes training models side by side (default: up to 2 cores)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (Table 2's own)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: train only the models not yet saved, then "
        "score them all (also: rescore after a scoring change)",
    )
    mode.add_argument(
        "--force",
        action="store_true",
        help="start over in --out; the earlier run moves to a timestamped backup",
    )
    p.add_argument(
        "--rescore-from",
        default=None,
        metavar="FOLDER",
        help="take the trained models of the finished run in FOLDER (no training) and "
        "score and render them into --out",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="redraw table2.md and the figures from the result files in --out",
    )
    p.set_defaults(func=main)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        iters=args.iters if args.iters is not None else BUDGETS[args.budget],
        budget="custom" if args.iters is not None else args.budget,
        seeds=tuple(args.seeds),
        obs=tuple(args.obs),
        models=tuple(args.models),
        method=args.method,
        gradient=args.gradient,
        rtol=args.rtol,
        atol=args.atol,
        steps=args.steps,
        dynamics_layers=args.dynamics_layers,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        n_spirals=args.n_spirals,
        n_extrap=args.n_extrap,
        noise_std=args.noise_std,
        eval_every=args.eval_every,
        figure_obs=args.figure_obs
        if args.figure_obs is not None
        else (30 if 30 in args.obs else min(args.obs)),
        cost_check=not args.no_cost_check,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
    )


def main(args: argparse.Namespace) -> int:
    """Run (or render) Table 2; one line and exit 2 on bad input, exit 1 when a model failed."""
    from odebench.benchmark.measure import DeviceUnavailableError
    from odebench.experiments.spirals.render import render
    from odebench.experiments.spirals.run import run_table2
    from odebench.running.results import ResultsError

    out = Path(args.out)
    try:
        if args.render_only:
            md, counts = render(out), {}
        else:
            if args.rescore_from is not None and args.resume:
                raise SpiralsError(
                    "--rescore-from starts a folder afresh: pass --force or a "
                    "new --out, not --resume."
                )
            md, counts = run_table2(
                settings_from_args(args),
                out,
                resume=args.resume,
                force=args.force,
                rescore_from=Path(args.rescore_from) if args.rescore_from else None,
                argv=sys.argv,
                progress=lambda line: print(line, flush=True),
            )
    except (SpiralsError, DeviceUnavailableError, ResultsError) as exc:
        print(f"odebench spirals: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"wrote {md} and its figures under {out / 'plots'}")
    failed = sum(n for status, n in counts.items() if status != "ok")
    if failed:
        print(
            f"odebench spirals: {failed} model(s) did not train (status failed in "
            f"{out / 'table2.csv'}); fix the cause and continue with --resume",
            file=sys.stderr,
        )
        return 1
    return 0
