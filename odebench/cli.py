"""The ``odebench`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from odebench.experiments import EXPERIMENTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odebench", description="Benchmark Neural ODEs: NFE, memory, time and error."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in EXPERIMENTS:
        try:
            module = importlib.import_module(f"odebench.experiments.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"odebench.experiments.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
