"""``odebench training-dynamics``: NFE over training of a 2-D CNF, with and without regularisers.

Parses and checks every option, then runs :mod:`odebench.experiments.dynamics` and prints the
per-arm summary. ``--fit-problem-weights`` instead refits the committed weights of the
``cnf_8gaussians`` problems.
"""

from __future__ import annotations

import argparse
import sys

from odebench.cli.options import (
    Formatter,
    UsageError,
    add_format_option,
    check_out_folder,
    comma_list,
    emit_table,
    nonnegative_int,
    positive_int,
)

DEFAULT_OUT = "results/training_dynamics"
ARMS = ("none", "rnode", "steer", "fixed_rk4")  # checked against the experiment's list
DENSITIES = ("8gaussians", "moons", "checkerboard")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: need a finite number > 0")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "training-dynamics",
        help="NFE over training of a 2-D CNF: no regulariser, RNODE, STEER, a fixed grid",
        description=__doc__,
        formatter_class=Formatter,
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="a new or empty results folder")
    p.add_argument("--arms", type=comma_list(str), default=ARMS,
                   help=f"regularisers / training solvers, from {','.join(ARMS)}")
    p.add_argument("--seeds", type=comma_list(nonnegative_int), default=(0, 1, 2))
    p.add_argument("--iterations", type=positive_int, default=400)
    p.add_argument("--batch", type=positive_int, default=256)
    p.add_argument("--lr", type=_positive_float, default=5e-3)
    p.add_argument("--density", choices=DENSITIES, default="8gaussians")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--fit-problem-weights", action="store_true",
                   help="refit the cnf_8gaussians problems' committed weights instead")
    p.add_argument("--force", action="store_true",
                   help="with --fit-problem-weights: replace existing weights (kept as .bak)")
    add_format_option(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        raise UsageError(f"--arms: unknown {', '.join(unknown)}; choose from {', '.join(ARMS)}.")
    if args.force and not args.fit_problem_weights:
        raise UsageError("--force applies only with --fit-problem-weights; drop it.")
    if not args.fit_problem_weights:
        check_out_folder(args.out)
    import torch

    torch.set_num_threads(args.threads)
    if args.fit_problem_weights:
        from odebench.experiments.dynamics.weights import fit_problem_weights
        from odebench.workloads.problems.cnf import WEIGHTS

        if WEIGHTS.exists() and not args.force:
            raise UsageError(f"{WEIGHTS} exists; pass --force to refit it (the old weights are "
                             "kept as .bak).")  # fmt: skip

        info = fit_problem_weights(argv=sys.argv, force=args.force)
        print(f"fitted {info['iterations']} iterations: test NLL {info['test_nll']:.4f} "
              f"({info['test_nll_solver']})")  # fmt: skip
        return 0

    from odebench.experiments.dynamics.run import run_dynamics
    from odebench.experiments.dynamics.train import ArmSpec, DynamicsError
    from odebench.running.folders import check_folder

    try:
        specs = [
            ArmSpec(arm, seed=seed, density=args.density, iterations=args.iterations,
                    batch=args.batch, lr=args.lr)
            for arm in args.arms for seed in args.seeds
        ]  # fmt: skip
    except DynamicsError as exc:
        raise UsageError(str(exc)) from None
    check_folder(args.out)
    summary = run_dynamics(
        args.out, specs, argv=sys.argv, progress=lambda m: print(m, file=sys.stderr, flush=True)
    )
    cols = ["arm", "seeds", "nfe_forward_first_mean", "nfe_forward_final_mean",
            "nfe_forward_final_sd", "nfe_backward_final_mean", "test_nll_train_solver_mean",
            "solver_gap_mean"]  # fmt: skip
    emit_table(summary[cols] if args.format == "table" else summary, args.format)
    return 0
