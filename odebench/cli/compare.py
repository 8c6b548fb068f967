"""``odebench compare A B``: what changed between two results folders (exit 1 if a figure did,
or B lost cases; timings gate only with ``--fail-on-slower``).

pandas loads only when a comparison runs, so registering the subcommand keeps ``--help`` fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from odebench.cli.options import UsageError, add_format_option, comma_list, emit_table
from odebench.reading.compare import long_table, records, render
from odebench.reading.comparison import DEFAULT_THRESHOLD, compare


def fraction(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction; e.g. 0.1 or 10%") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0; e.g. 0.1 or 10%")
    return value


def register(subparsers: Any) -> None:
    """Add ``odebench compare`` to the CLI's subcommands."""
    cmd = subparsers.add_parser(
        "compare", help="what changed between two results folders (exit 1 if a figure did)"
    )
    cmd.add_argument("a", help="results folder of the run before")
    cmd.add_argument("b", help="results folder of the run after")
    cmd.add_argument("--threshold", type=fraction, default=DEFAULT_THRESHOLD,
                     help="a timing is flagged only beyond this relative change (and where a "
                     "test over the timed passes says the runs differ): 0.1 or 10%%")  # fmt: skip
    cmd.add_argument("--ignore-identity", type=comma_list(str), default=(), metavar="COLUMNS",
                     help="pair cases by every identity column but these, for runs that "
                     "differ there on purpose: device (CPU against GPU), backend, ...")  # fmt: skip
    cmd.add_argument("--fail-on-slower", action="store_true",
                     help="exit 1 also when a timing is flagged slower (off by default: "
                     "timings on a shared machine should not fail a check)")  # fmt: skip
    cmd.add_argument("--despite-load", action="store_true",
                     help="judge timings even where a run was measured under load (more "
                     "runnable processes than CPUs), where unchanged code is often flagged")
    cmd.add_argument("--ignore-timings", action="store_true",
                     help="kept for old scripts: timings gate nothing unless --fail-on-slower")
    add_format_option(cmd)
    cmd.add_argument("--html", metavar="FILE", help="also write the comparison as HTML here")
    cmd.add_argument("--md", metavar="FILE", help="also write the comparison as Markdown here")
    cmd.add_argument("--force", action="store_true",
                     help="let --md/--html replace an existing file (never one inside A or B)")
    cmd.set_defaults(func=main)


def _folder(path: str) -> Path:
    p = Path(path)
    return (p if p.is_dir() else p.parent).resolve()


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse --md/--html paths that would write inside a results folder or over a file."""
    if args.fail_on_slower and args.ignore_timings:
        raise UsageError("--fail-on-slower and --ignore-timings contradict each other: keep one.")
    runs = [_folder(args.a), _folder(args.b)]
    outs = [o for o in (args.html, args.md) if o]
    if len(outs) == 2 and Path(outs[0]).resolve() == Path(outs[1]).resolve():
        raise UsageError(f"--md and --html both name {outs[0]!r}: give two files.")
    for out in outs:
        path = Path(out)
        if path.is_dir() or not path.parent.is_dir():
            raise UsageError(f"cannot write {out!r}: give a file in an existing folder.")
        target = path.resolve()
        for run in runs:
            if target.is_relative_to(run):
                raise UsageError(f"refusing to write {out!r} inside results folder {str(run)!r} "
                                 "(it would sit among or replace the run's data): write it "
                                 "elsewhere.")  # fmt: skip
        if path.exists() and not args.force:
            raise UsageError(f"{out!r} exists: pass --force to replace it, or another file.")


def main(args: argparse.Namespace) -> int:
    check_outputs(args)  # before anything is read or written
    result = compare(args.a, args.b, threshold=args.threshold,
                     ignore_identity=tuple(args.ignore_identity),
                     despite_load=args.despite_load)  # fmt: skip
    gate = args.fail_on_slower
    if args.format == "json":
        sys.stdout.write(json.dumps(records(result, fail_on_slower=gate), indent=2) + "\n")
    elif args.format == "csv":
        emit_table(long_table(result), "csv")
    else:
        print(render(result, fmt="md", fail_on_slower=gate), end="")
    if args.md:
        Path(args.md).write_text(render(result, fmt="md", fail_on_slower=gate))
    if args.html:
        Path(args.html).write_text(render(result, fmt="html", fail_on_slower=gate))
    return result.exit_status(fail_on_slower=gate)
