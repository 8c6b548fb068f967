"""The ``odebench`` command line: ``run``, ``report``, ``plot``, ``list`` and the reproductions.

The CLI parses, checks every option before it touches the disk, and prints; the modules
below it decide and raise typed errors, which it prints as one line naming the fix (exit
status 2). torch is imported only after the arguments are parsed, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from odebench.cli import advise, compare, listing, profile, report, run, weights
from odebench.cli.options import WRITE_ERRNOS, Parser, UsageError

#: The reproductions' subcommands: their modules import torch, so each is imported only when
#: its own subcommand runs (the others get a placeholder and ``--help`` stays fast).
EXPERIMENTS: dict[str, str] = {
    "table1": "odebench.cli.table1",
    "spirals": "odebench.cli.spirals",
    "claims": "odebench.cli.claims",
    "training-dynamics": "odebench.cli.dynamics",
}

def _experiment_help(name: str) -> str:
    """The first line of an experiment module's docstring, read without importing it."""
    try:
        spec = importlib.util.find_spec(EXPERIMENTS[name])
        if spec is None or not spec.origin:
            return ""
        doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text())) or ""
    except (OSError, SyntaxError, ImportError):
        return ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return re.sub(r"^``odebench \w+``:\s*", "", first)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("odebench")
    except Exception:  # not installed: the source tree's own
        return "unknown"


def build_parser(experiments: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``experiments`` names the reproductions whose modules are imported to add
    their options (default: all). The others get a placeholder, so ``--help`` stays fast."""
    parser = Parser(
        prog="odebench", description="Benchmark Neural ODEs: NFE, memory, time and error."
    )
    parser.add_argument("--version", action="version", version=f"odebench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    for module in (run, report, listing, profile, compare, advise, weights):
        module.register(sub)

    for name in EXPERIMENTS:
        if experiments is not None and name not in experiments:
            sub.add_parser(name, help=_experiment_help(name), add_help=False)
            continue
        try:
            module = importlib.import_module(EXPERIMENTS[name])
        except ModuleNotFoundError as exc:
            if exc.name != EXPERIMENTS[name]:
                raise
            continue
        module.register(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    parser = build_parser([command] if command in EXPERIMENTS else [])
    args = parser.parse_args(argv)

    from odebench.benchmark.cases import CaseError
    from odebench.benchmark.measure import DeviceUnavailableError
    from odebench.benchmark.usermodules import UserModuleError
    from odebench.experiments.profile import ProfileError
    from odebench.running.results import ResultsError
    from odebench.running.slurm import SlurmError
    from odebench.solvers import SolverConfigError
    from odebench.workloads.problems.neural import WeightsError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: finished cases are kept; continue with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `odebench list --suite x | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed at exit)
        return 141
    except (CaseError, DeviceUnavailableError, ProfileError, ResultsError, SlurmError,
            SolverConfigError, UserModuleError, UsageError, WeightsError,
            FileNotFoundError) as exc:  # fmt: skip
        print(f"odebench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a quota, a read-only folder: one line, not a traceback
        if exc.errno not in WRITE_ERRNOS:
            raise
        print(f"odebench: error: cannot write {exc.filename or 'a file'} ({exc.strerror}); free "
              "disk space or pass --out a folder you can write (a run continues with --resume).",
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
