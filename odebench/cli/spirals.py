"""``odebench spirals``: latent ODE vs RNNs on irregularly sampled spirals (paper Table 2).

Parses, builds :class:`Settings`, runs :mod:`odebench.experiments.spirals`, prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from odebench.cli.options import (
    DocFormatter,
    UsageError,
    add_renamed_option,
    budget,
    choice,
    comma_list,
    nonempty,
    nonnegative_int,
    plain,
    positive_float,
    positive_int,
)
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


def _default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from odebench.experiments import spirals
    from odebench.solvers import ADAPTIVE_METHODS, FIXED_GRID_METHODS, GRADIENTS

    p = subparsers.add_parser(
        "spirals",
        help="latent ODE vs RNNs on irregularly sampled spirals (paper Table 2)",
        description=plain(spirals.__doc__),
        formatter_class=DocFormatter,
    )
    p.add_argument("--budget", type=budget({"long": "full"}), default="default",
                   metavar="{quick,default,full}",
                   help="training iterations per model, count and seed: "
                   + ", ".join(f"{k}: {v}" for k, v in BUDGETS.items()))  # fmt: skip
    p.add_argument("--iters", type=positive_int, default=None,
                   help="iterations (overrides --budget)")
    p.add_argument("--seeds", type=comma_list(nonnegative_int), default=DEFAULT_SEEDS,
                   metavar="N,N,...", help="seeds (default: "
                   + ",".join(map(str, DEFAULT_SEEDS)) + ")")  # fmt: skip
    p.add_argument("--obs", type=comma_list(positive_int), default=PAPER_OBS, metavar="N,N,...",
                   help="observed points per spiral (default: "
                   + ",".join(map(str, PAPER_OBS)) + ")")  # fmt: skip
    p.add_argument("--models", type=comma_list(choice(*MODELS)), default=tuple(PAPER_MODELS),
                   metavar="A,B,...",
                   help=f"from {', '.join(MODELS)} (default: {','.join(PAPER_MODELS)}); rnn: "
                   "input x; rnn_gap: input [x, time to next obs]; gru_gap: odebench's earlier "
                   "GRU baseline")  # fmt: skip
    methods = tuple(ADAPTIVE_METHODS) + tuple(FIXED_GRID_METHODS)
    p.add_argument("--method", choices=methods, default="dopri5", metavar="METHOD",
                   help="the latent ODE's solver: adaptive " + ", ".join(ADAPTIVE_METHODS)
                   + "; fixed-grid (with --steps) " + ", ".join(FIXED_GRID_METHODS))  # fmt: skip
    p.add_argument("--gradient", choices=tuple(GRADIENTS), default="backprop",
                   help=f"adjoint defaults to the paper's rtol = atol = {PAPER_TOL}")
    p.add_argument("--rtol", type=positive_float, default=None,
                   help=f"adaptive methods; default {BACKPROP_RTOL} (backprop) or {PAPER_TOL} "
                   "(adjoint)")  # fmt: skip
    p.add_argument("--atol", type=positive_float, default=None,
                   help=f"adaptive methods; default {BACKPROP_ATOL} (backprop) or {PAPER_TOL} "
                   "(adjoint)")  # fmt: skip
    p.add_argument("--steps", type=positive_int, default=None,
                   help="steps over the span, for a fixed-grid --method (rk4, euler, ...)")
    p.add_argument("--dynamics-layers", type=positive_int, default=1,
                   help="hidden layers of the latent dynamics (paper 1; torchdiffeq's example 2)")
    p.add_argument("--noise-std", type=positive_float, default=NOISE_STD,
                   help="observation noise sd (the paper gives none; torchdiffeq's example 0.3)")
    p.add_argument("--n-spirals", type=positive_int, default=1000, help="spirals generated (>= 10)")
    p.add_argument("--n-extrap", type=positive_int, default=100,
                   help="points beyond the window scored by the extrapolation readings")
    p.add_argument("--lr", type=positive_float, default=0.01,
                   help="Adam's learning rate at the start")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="cosine",
                   help=f"cosine: annealed to lr x {LR_FLOOR:g} at the last iteration, so the "
                   "loss settles; constant: torchdiffeq's example")  # fmt: skip
    p.add_argument("--eval-every", type=positive_int, default=20,
                   help="iterations between test-RMSE points of the training curves")
    p.add_argument("--figure-obs", type=positive_int, default=None,
                   help="observation count of the figure (default: 30 where run, else the "
                   "smallest)")  # fmt: skip
    p.add_argument("--no-cost-check", action="store_true",
                   help="skip timing the trained latent ODE under the other solver settings")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads per worker (1: small ops on a shared machine run fastest)")
    p.add_argument("--jobs", type=positive_int, default=_default_jobs(),
                   help="worker processes training models side by side (default: up to 2 "
                   "cores)")  # fmt: skip
    add_renamed_option(p, "--workers", "--jobs")
    p.add_argument("--out", type=nonempty, default=DEFAULT_OUT,
                   help="output folder (Table 2's own)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out: train only the models not yet saved, "
                      "then score them all (also: rescore after a scoring change)")  # fmt: skip
    mode.add_argument("--force", action="store_true",
                      help="start over in --out; the earlier run moves to a timestamped backup")
    p.add_argument("--results", type=nonempty, default=None, metavar="DIR",
                   help="take the trained models of the finished run in DIR (no training) and "
                   "score and render them into --out")  # fmt: skip
    add_renamed_option(p, "--rescore-from", "--results")
    p.add_argument("--render-only", action="store_true",
                   help="redraw table2.md and the figures from the result files in --out")
    p.set_defaults(func=main)


def check_args(args: argparse.Namespace) -> None:
    """The combinations argparse cannot check, refused before anything runs."""
    from odebench.solvers import FIXED_GRID_METHODS

    if args.method in FIXED_GRID_METHODS:
        if args.steps is None:
            raise UsageError(f"--method {args.method} steps on a fixed grid: add --steps N "
                             "(e.g. --steps 100).")  # fmt: skip
        given = [f"--{n}" for n in ("rtol", "atol") if getattr(args, n) is not None]
        if given:
            verb = "apply" if len(given) > 1 else "applies"
            raise UsageError(f"{' and '.join(given)} {verb} only to adaptive methods; drop "
                             f"{'them' if len(given) > 1 else 'it'} for --method "
                             f"{args.method}.")  # fmt: skip
    elif args.steps is not None:
        raise UsageError(f"--steps applies only to fixed-grid methods; drop it, or pass a "
                         f"fixed-grid --method (e.g. rk4) instead of {args.method}.")  # fmt: skip
    if args.results is not None and args.resume:
        raise UsageError("--results starts a folder afresh: pass --force or a new --out, not "
                         "--resume.")  # fmt: skip
    if args.results is not None and not Path(args.results).is_dir():
        raise UsageError(f"--results {args.results} is not a folder; pass a finished spirals "
                         "run (e.g. results/table2).")  # fmt: skip
    obs = args.obs
    if args.figure_obs is not None and args.figure_obs not in obs:
        raise UsageError(f"--figure-obs {args.figure_obs} is not among --obs "
                         f"{','.join(map(str, obs))}; pick one of them.")  # fmt: skip


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
        workers=args.jobs,
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
            check_args(args)
            settings_from_args(args).check()
            md, counts = run_table2(
                settings_from_args(args),
                out,
                resume=args.resume,
                force=args.force,
                rescore_from=Path(args.results) if args.results else None,
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
