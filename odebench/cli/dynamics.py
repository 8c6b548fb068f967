"""``odebench training-dynamics``: NFE over training of a 2-D CNF or the spiral latent ODE, with
and without regularisers.

Parses and checks every option, then runs :mod:`odebench.experiments.dynamics` and prints the
per-arm summary. ``--model latent`` trains the spiral latent ODE instead of the CNF;
``--resume`` continues a folder's run (its finished arm/seed pairs are kept).
``--fit-problem-weights`` instead refits the committed weights of the ``cnf_8gaussians``
problems.
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
MODELS = ("cnf", "latent")  # checked against the experiment's list
#: the batch per model when --batch is not given (the latent ODE's training set is 800 spirals)
DEFAULT_BATCH = {"cnf": 256, "latent": 64}


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
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="a new or empty results folder (with --resume: the run to continue)")
    p.add_argument("--model", choices=MODELS, default="cnf",
                   help="cnf: a 2-D CNF on --density; latent: the spiral latent ODE")
    p.add_argument("--arms", type=comma_list(str), default=ARMS,
                   help=f"regularisers / training solvers, from {','.join(ARMS)}")
    p.add_argument("--seeds", type=comma_list(nonnegative_int), default=(0, 1, 2))
    p.add_argument("--iterations", type=positive_int, default=400)
    p.add_argument("--batch", type=positive_int, default=None,
                   help="points (cnf, default 256) or spirals (latent, default 64, at most "
                   "800) per iteration")
    p.add_argument("--lr", type=_positive_float, default=5e-3)
    p.add_argument("--density", choices=DENSITIES, default=None,
                   help="the CNF's data (default 8gaussians); not for --model latent")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--fit-problem-weights", action="store_true",
                   help="refit the cnf_8gaussians problems' committed weights instead")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: arm/seed pairs already in iterations.csv "
                   "are kept; refused if the folder was run with other settings")
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
    if args.fit_problem_weights and (args.resume or args.model != "cnf"):
        raise UsageError("--fit-problem-weights refits the CNF problem's weights; drop "
                         "--resume and --model.")  # fmt: skip
    if args.model == "latent" and args.density is not None:
        raise UsageError("--density is the CNF's data; the latent model trains on spirals: "
                         "drop --density.")  # fmt: skip
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

    from odebench.experiments.dynamics.run import check_resume, run_dynamics
    from odebench.experiments.dynamics.spec import TEST_METRICS, ArmSpec, DynamicsError
    from odebench.running.folders import check_folder

    batch = args.batch if args.batch is not None else DEFAULT_BATCH[args.model]
    try:
        specs = [
            ArmSpec(arm, seed=seed, density=args.density, iterations=args.iterations,
                    batch=batch, lr=args.lr, model=args.model)
            for arm in args.arms for seed in args.seeds
        ]  # fmt: skip
        if args.resume:
            check_resume(args.out, specs)
    except DynamicsError as exc:
        raise UsageError(str(exc)) from None
    if not args.resume:
        check_folder(args.out)
    summary = run_dynamics(
        args.out, specs, argv=sys.argv, resume=args.resume,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )  # fmt: skip
    metric = TEST_METRICS[args.model][0]
    cols = ["arm", "seeds", "nfe_forward_first_mean", "nfe_forward_final_mean",
            "nfe_forward_final_sd", "nfe_backward_final_mean", f"{metric}_train_solver_mean",
            "solver_gap_mean"]  # fmt: skip
    emit_table(summary[cols] if args.format == "table" else summary, args.format)
    return 0
