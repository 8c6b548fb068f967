"""``odebench profile``: the standard battery (memory, NFE, errors, time) on a user's field."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

from odebench.cli.options import (
    DEFAULT_RESULTS,
    UsageError,
    check_device,
    nonempty,
    nonnegative_int,
    positive_int,
    run_options,
    shape,
    span,
)
from odebench.cli.run import run_suite
from odebench.cli.slurm import add_slurm_options, check_slurm, check_slurm_request


def cmd_profile(args: argparse.Namespace) -> int:
    """The standard battery on the user's own field (see :mod:`odebench.experiments.profile`)."""
    from odebench.experiments import profile

    module_part, _, function = args.target.rpartition(":")
    spec = args.target
    if module_part.endswith(".py"):  # a path: absolute, so every worker finds it
        spec = f"{Path(module_part).resolve()}:{function}"
    target = profile.Target(spec=spec, y0_shape=args.y0_shape, seed=args.seed,
                            t_span=args.t_span)  # fmt: skip
    if args.executor != "slurm":  # on Slurm the job's node has the device, not this one
        check_device(args.device)
    check_slurm(args)
    search = (str(Path.cwd()),)
    if search[0] not in sys.path:  # the target's module is found from here, as in workers
        sys.path.insert(0, search[0])
    with profile.time_limit(args.timeout, args.target):  # a hanging factory or field too
        try:
            field, y0, _ = profile.build(target)
        except Exception as exc:  # the user's factory raised: what and where, in one line
            if type(exc).__module__.startswith("odebench."):  # typed: main prints it
                raise
            raise UsageError(
                f"{args.target}: the factory raised {type(exc).__name__} ({exc}); fix it so it "
                "returns the field, (field, y0[, (t0, t1)]) or a Problem."
            ) from None
        drawn = args.y0_shape is not None
        dtype = args.dtype or profile.native_dtype(field, y0, drawn=drawn)
        built = profile.validate(target, dtype)  # one clear error before anything is written
    batch = int(built[1].shape[0])
    name = profile.register(target, built)
    backends = profile.available_backends() if args.backends == "all" else ("torchdiffeq",)
    cases = profile.battery(name, batch=batch, budget=args.budget, backends=backends,
                            dtype=dtype, output_times=args.output_times)  # fmt: skip
    if not args.quiet:
        how = "--dtype" if args.dtype else "the field's own dtype"
        print(f"profiling {name} in {dtype} ({how}), batch {batch}, losses on y(t1) and on "
              f"{args.output_times} output times", file=sys.stderr)  # fmt: skip
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    folder = Path(args.out) if args.out else DEFAULT_RESULTS / f"profile-{name}"
    module = folder.resolve() / "target.py"

    def prepare(folder: Path) -> None:
        module.write_text(profile.module_source(target))

    check_slurm_request(args, cases)
    said = io.StringIO()  # the run's own summary comes after the decision, under Details
    try:
        with contextlib.redirect_stdout(said):
            status = run_suite(
                args, label=f"profile {args.target}", cases=cases, all_cases=cases,
                imports=(str(module),), search=search, folder=folder, prepare=prepare,
            )  # fmt: skip
    except BaseException:  # an interrupted or failed run: what it said, then the error
        print(said.getvalue(), end="")
        raise
    from odebench.running.results import RESULTS_FILE, read_results

    if (folder / RESULTS_FILE).exists():
        df = read_results(folder / RESULTS_FILE)
        print("\n".join(profile.decision_lines(df, batch=batch)))  # the answer first
        print("Details:")
    print(said.getvalue(), end="")  # the run's statuses and the headline's other answers
    return status




def output_times(text: str) -> int:
    value = positive_int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(f"{value}: give N >= 3 (2 is the loss on y(t1) alone)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    prof = sub.add_parser(
        "profile", help="the standard battery (memory, NFE, errors, time) on your own field"
    )
    prof.add_argument("target", type=nonempty,
                      help="MODULE:FUNCTION (or path/file.py:FUNCTION) returning the field, "
                      "(field, y0[, (t0, t1)]) or a Problem")  # fmt: skip
    prof.add_argument("--y0-shape", type=shape, metavar="BATCH,DIM,...",
                      help="draw y0 (standard normal) of this shape when FUNCTION returns only "
                      "the field")  # fmt: skip
    prof.add_argument(
        "--t-span",
        type=span,
        metavar="T0,T1",
        help="integrate over [T0, T1] (default: the target's own, else 0,1)",
    )
    prof.add_argument("--budget", choices=("quick", "default", "full"), default="quick",
                      help="quick: 3 tolerances, about 2 minutes for a 64-wide MLP on 2 cores; "
                      "default: 5 tolerances (1e-3..1e-7); full: the paper's ranges (8 "
                      "tolerances, 64 steps)")  # fmt: skip
    prof.add_argument("--dtype", choices=("float32", "float64"),
                      help="the dtype every case runs in (default: the field's own: float64 "
                      "if its parameters are, else its y0's)")  # fmt: skip
    prof.add_argument("--output-times", type=output_times, default=11, metavar="N",
                      help="the trajectory loss's output times, measured beside the loss on "
                      "y(t1) (the loss shape can flip the adjoint's verdict)")  # fmt: skip
    prof.add_argument("--backends", choices=("all", "torchdiffeq"), default="all",
                      help="all: every installed solver library side by side")  # fmt: skip
    prof.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the drawn y0")
    prof.add_argument("--out", help="results folder (default results/profile-<name>)")
    run_options(prof)
    add_slurm_options(prof)
    prof.set_defaults(func=cmd_profile, repeats=1, match=None, imports=[])
