"""``odebench profile``: the standard battery (memory, NFE, errors, time) on a user's field."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from odebench.cli.options import (
    DEFAULT_RESULTS,
    UsageError,
    check_device,
    check_slurm,
    nonempty,
    nonnegative_int,
    run_options,
    seconds,
    shape,
    span,
)
from odebench.cli.run import run_suite


def cmd_profile(args: argparse.Namespace) -> int:
    """The standard battery on the user's own field (see :mod:`odebench.experiments.profile`)."""
    from odebench.experiments import profile

    module_part, _, function = args.target.rpartition(":")
    spec = args.target
    if module_part.endswith(".py"):  # a path: absolute, so every worker finds it
        spec = f"{Path(module_part).resolve()}:{function}"
    target = profile.Target(spec=spec, y0_shape=args.y0_shape, seed=args.seed,
                            t_span=args.t_span)  # fmt: skip
    check_device(args.device)
    check_slurm(args.executor)
    search = (str(Path.cwd()),)
    if search[0] not in sys.path:  # the target's module is found from here, as in workers
        sys.path.insert(0, search[0])
    try:
        built = profile.validate(target)  # one clear error before anything is written
    except Exception as exc:  # the user's factory raised: what and where, in one line
        if type(exc).__module__.startswith("odebench."):  # typed: main prints it
            raise
        raise UsageError(
            f"{args.target} raised {type(exc).__name__} ({exc}); fix the factory so it "
            "returns the field, (field, y0[, (t0, t1)]) or a Problem."
        ) from None
    batch = int(built[1].shape[0])
    name = profile.register(target, built)
    backends = profile.available_backends() if args.backends == "all" else ("torchdiffeq",)
    cases = profile.battery(name, batch=batch, budget=args.budget, backends=backends)
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    folder = Path(args.out) if args.out else DEFAULT_RESULTS / f"profile-{name}"
    module = folder.resolve() / "target.py"

    def prepare(folder: Path) -> None:
        module.write_text(profile.module_source(target))

    status = run_suite(
        args, label=f"profile {args.target}", cases=cases, all_cases=cases,
        imports=(str(module),), search=search, folder=folder, prepare=prepare,
    )  # fmt: skip
    from odebench.running.results import RESULTS_FILE, read_results

    if (folder / RESULTS_FILE).exists():
        df = read_results(folder / RESULTS_FILE)
        print("\n".join(profile.decision_lines(df, batch=batch)))  # the answer first
        print("Details:")
        print("\n".join(profile.summary(df, rtol=args.rtol)))
    return status




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
    prof.add_argument("--budget", choices=("quick", "full"), default="quick",
                      help="quick: about 2 minutes for a 64-wide MLP on 2 cores; full: the "
                      "paper's ranges")  # fmt: skip
    prof.add_argument("--rtol", type=seconds, default=1e-5,
                      help="the tolerance the summary quotes")  # fmt: skip
    prof.add_argument("--backends", choices=("all", "torchdiffeq"), default="all",
                      help="all: every installed solver library side by side")  # fmt: skip
    prof.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the drawn y0")
    prof.add_argument("--out", help="results folder (default results/profile-<name>)")
    run_options(prof)
    prof.set_defaults(func=cmd_profile, repeats=1, match=None, imports=[])
