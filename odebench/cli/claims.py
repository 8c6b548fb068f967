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


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "claims",
        help="each checkable claim of the paper with its measured figure and a verdict",
        description=ledger.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder of the results tables (default: results)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="where to write (default: --results)")
    p.add_argument("--measure", action="store_true",
                   help="first run the ledger's own small measurement (y0 rebuilt from y(t1) "
                   "on the trained spiral field) into <results>/claims_measured/")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="with --measure: move an earlier measurement aside first")  # fmt: skip
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "measure", False):
            if not Path(args.results).is_dir():
                raise ClaimsError(f"--results {args.results} is not a folder; pass the "
                                  "results folder (results).")  # fmt: skip
            print(f"wrote {measure(args.results, force=args.force)}")
        written = write_claims(args.results, args.out)
    except ClaimsError as exc:
        print(f"odebench claims: error: {exc}", file=sys.stderr)
        return 2
    table = pd.read_csv(written[1])
    for _, r in table[table["part_of"].fillna("") == ""].iterrows():
        print(f"{r['verdict']:36s} {r['claim']}")
    print(f"wrote {written[0]} and {written[1]}")
    return 0
