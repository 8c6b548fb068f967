"""``odebench list``: suites, problems and methods, or a suite's case ids."""

from __future__ import annotations

import argparse
from pathlib import Path

from odebench.cli.options import nonempty
from odebench.cli.run import load_cases


def cmd_list(args: argparse.Namespace) -> int:
    from odebench.benchmark.suites import SUITES
    from odebench.solvers import ADAPTIVE_METHODS, FIXED_GRID_METHODS
    from odebench.workloads.problems import get_problem, problem_names

    if args.suite:
        _, cases, _, _ = load_cases(args.suite, args.imports)
        for case in cases:
            print(case.case_id)
        return 0
    from odebench.benchmark.usermodules import import_modules, normalize

    import_modules(normalize(args.imports), search=(str(Path.cwd()),))
    print("suites:  ", ", ".join(f"{n} ({len(f())} cases)" for n, f in SUITES.items()))
    print("problems:")
    for name in problem_names():
        print(f"  {name:22s} {get_problem(name).description}")
    print("adaptive methods:  ", ", ".join(ADAPTIVE_METHODS))
    print("fixed-grid methods:", ", ".join(FIXED_GRID_METHODS))
    return 0


#: The subcommands whose parsers live in their own modules (each defines ``register``).
EXPERIMENTS: dict[str, str] = {
    "table1": "odebench.experiments.table1",
    "spirals": "odebench.experiments.spirals",
    "claims": "odebench.claims.command",
}



def register(sub: argparse._SubParsersAction) -> None:
    lst = sub.add_parser("list", help="list suites, problems and methods, or a suite's cases")
    lst.add_argument(
        "--suite", type=nonempty, help="print the case ids of this suite (a name or .toml file)"
    )
    lst.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="a module (or .py file) registering problems; repeatable")  # fmt: skip
    lst.set_defaults(func=cmd_list)
