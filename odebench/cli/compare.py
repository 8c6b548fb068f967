"""``odebench compare A B``: what changed between two results folders (exit 1 if a figure did).

pandas loads only when a comparison runs, so registering the subcommand keeps ``--help`` fast.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from odebench.cli.options import UsageError
from odebench.reading.compare import DEFAULT_THRESHOLD, compare, render


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
                     help="a timing is flagged beyond this relative change (and beyond both "
                     "runs' spread): 0.1 or 10%%")  # fmt: skip
    cmd.add_argument("--ignore-timings", action="store_true",
                     help="exit status from the exact figures only")  # fmt: skip
    cmd.add_argument("--html", metavar="FILE", help="also write the comparison as HTML here")
    cmd.add_argument("--md", metavar="FILE", help="also write the comparison as Markdown here")
    cmd.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    for out in (args.html, args.md):  # checked before anything is read or written
        if out and (Path(out).is_dir() or not Path(out).parent.is_dir()):
            raise UsageError(f"cannot write {out!r}: give a file in an existing folder.")
    result = compare(args.a, args.b, threshold=args.threshold)
    text = render(result, fmt="md", ignore_timings=args.ignore_timings)
    print(text, end="")
    if args.md:
        Path(args.md).write_text(text)
    if args.html:
        Path(args.html).write_text(render(result, fmt="html", ignore_timings=args.ignore_timings))
    return result.exit_status(ignore_timings=args.ignore_timings)
