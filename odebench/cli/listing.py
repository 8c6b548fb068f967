"""``odebench list``: suites, problems and methods, or a suite's case ids."""

from __future__ import annotations

import argparse
from pathlib import Path

from odebench.cli.options import add_format_option, emit_table, nonempty
from odebench.cli.run import load_cases


def catalogue(imports: list[str]) -> list[dict[str, str]]:
    """What odebench offers: one row (kind, name, description) per suite, problem, method,
    gradient mode and backend."""
    from odebench.benchmark.suites import SUITES
    from odebench.benchmark.usermodules import import_modules, normalize
    from odebench.solvers import ADAPTIVE_METHODS, BACKENDS, FIXED_GRID_METHODS, GRADIENTS
    from odebench.workloads.problems import get_problem, problem_names

    import_modules(normalize(imports), search=(str(Path.cwd()),))
    rows = [{"kind": "suite", "name": n, "description": f"{len(f())} cases"}
            for n, f in SUITES.items()]  # fmt: skip
    rows += [{"kind": "problem", "name": n, "description": get_problem(n).description}
             for n in problem_names()]  # fmt: skip
    rows += [{"kind": "method", "name": m, "description": "adaptive"} for m in ADAPTIVE_METHODS]
    rows += [{"kind": "method", "name": m, "description": "fixed grid (steps)"}
             for m in FIXED_GRID_METHODS]  # fmt: skip
    rows += [{"kind": "gradient", "name": g, "description": GRADIENT_TEXT.get(g, "")}
             for g in GRADIENTS]  # fmt: skip
    rows += [{"kind": "backend", "name": b, "description": BACKEND_TEXT.get(b, "")}
             for b in BACKENDS]  # fmt: skip
    return rows


#: One line per gradient mode and backend for ``odebench list`` (docs: gradient methods).
GRADIENT_TEXT = {
    "backprop": "backpropagate through the solver's operations",
    "adjoint": "solve the adjoint equation backwards (torchdiffeq's odeint_adjoint)",
    "checkpoint": "backprop with each field call recomputed in backward()",
    "aca": "adaptive checkpoint adjoint: the accepted steps replayed one at a time",
    "adjoint_joint": "torchode's adjoint over the whole batch as one system (one step size)",
}
BACKEND_TEXT = {
    "torchdiffeq": "torchdiffeq's odeint / odeint_adjoint",
    "torchode": "torchode (a step size per sample, or joint)",
    "scipy_odeint": "scipy's odeint (LSODA, banded Jacobian): the paper's MNIST solver; adjoint",
}


def cmd_list(args: argparse.Namespace) -> int:
    if args.suite:
        _, cases, _, _ = load_cases(args.suite, args.imports)
        if args.format == "table":
            for case in cases:
                print(case.case_id)
            return 0
        import pandas as pd

        emit_table(pd.DataFrame({"case_id": [c.case_id for c in cases]}), args.format)
        return 0
    rows = catalogue(args.imports)
    if args.format != "table":
        import pandas as pd

        emit_table(pd.DataFrame(rows), args.format)
        return 0
    kinds = {
        "suite": "suites", "problem": "problems", "method": "methods",
        "gradient": "gradient modes (--gradient, gradient = in a suite file)",
        "backend": "backends (backend = in a suite file)",
    }  # fmt: skip
    for kind, title in kinds.items():
        print(f"{title}:")
        for r in rows:
            if r["kind"] == kind:
                print(f"  {r['name']:22s} {r['description']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    lst = sub.add_parser("list", help="list suites, problems, methods, gradient modes and "
                         "backends, or a suite's cases")  # fmt: skip
    lst.add_argument(
        "--suite", type=nonempty, help="print the case ids of this suite (a name or .toml file)"
    )
    lst.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="a module (or .py file) registering problems; repeatable")  # fmt: skip
    add_format_option(lst)
    lst.set_defaults(func=cmd_list)
