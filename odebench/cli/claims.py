"""``odebench claims``: each checkable claim of the paper with its measured figure and a verdict.

Prints the verdicts of :mod:`odebench.claims.ledger` and writes ``claims.md``/``claims.csv``;
``--measure`` first runs :mod:`odebench.claims.measure`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from odebench.claims import ledger
from odebench.claims.ledger import write_claims
from odebench.claims.measure import measure
from odebench.claims.rules import ClaimsError
from odebench.cli.options import (
    DocFormatter,
    UsageError,
    add_format_option,
    check_new_outputs,
    emit_table,
    nonempty,
    plain,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "claims",
        help="each checkable claim of the paper with its measured figure and a verdict",
        description=plain(ledger.__doc__),
        formatter_class=DocFormatter,
    )
    p.add_argument("--results", type=nonempty, default="results", metavar="DIR",
                   help="folder of the results tables")  # fmt: skip
    p.add_argument("--out", type=nonempty, default=None,
                   help="where to write claims.md and claims.csv (default: --results)")
    p.add_argument("--measure", action="store_true",
                   help="first run the ledger's own small measurement (y0 rebuilt from y(t1) "
                   "on the trained spiral field) into <results>/claims_measured/")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="replace an existing claims.md/claims.csv (and, with --measure, move "
                   "an earlier measurement aside first)")  # fmt: skip
    add_format_option(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_dir():  # checked before anything is measured or written
        raise UsageError(f"--results {args.results} is not a folder; pass the results folder "
                         "(results).")  # fmt: skip
    out = Path(args.out) if args.out is not None else results
    check_new_outputs([out / "claims.md", out / "claims.csv"], force=args.force)
    try:
        if args.measure:
            print(f"wrote {measure(results, force=args.force)}", file=sys.stderr)
        written = write_claims(results, out)
    except ClaimsError as exc:
        raise UsageError(str(exc)) from None
    table = pd.read_csv(written[1])
    heads = table[table["part_of"].fillna("") == ""][["verdict", "claim"]]
    text = "\n".join(f"{r.verdict:36s} {r.claim}" for r in heads.itertuples())
    emit_table(heads, args.format, text=text)
    print(f"wrote {written[0]} and {written[1]}", file=sys.stderr)
    return 0
