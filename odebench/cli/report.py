"""``odebench report`` and ``odebench plot``: the report and the figures from results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from odebench.cli.options import (
    DEFAULT_RESULTS,
    UsageError,
    check_new_outputs,
    check_out_folder,
    nonempty,
)


def cmd_report(args: argparse.Namespace) -> int:
    from odebench.reading.report import write_report

    check_out_folder(args.out)
    results = Path(args.results)
    out = Path(args.out) if args.out else (results if results.is_dir() else results.parent)
    check_new_outputs([out / "report.md", out / "report.html"], force=args.force)
    for p in write_report(args.results, args.out):
        print(f"wrote {p}")
    return 0


def _check_training_log(path: str) -> None:
    log = Path(path)
    if not log.is_file():
        raise UsageError(f"training log {path!r} not found; pass a log CSV that table1 wrote.")
    with log.open(errors="replace") as fh:
        header = fh.readline().strip().split(",")
    if header == [""]:
        raise UsageError(f"{path} is empty; pass a log CSV that table1 wrote.")
    need = ("iteration", "nfe_forward", "nfe_backward")
    missing = [c for c in need if c not in header]
    if missing and not ("case_id" in header and "status" in header):
        raise UsageError(
            f"{path} is not a training log (no column {', '.join(missing)}); pass a log CSV "
            "that table1 wrote (results/table1/logs/*_train_log.csv)."
        )
    if "case_id" in header and "status" in header:
        raise UsageError(
            f"{path} is a results table, not a training log; pass it as --results {path}."
        )


def cmd_plot(args: argparse.Namespace) -> int:
    from odebench.reading.plots import write_plots

    check_out_folder(args.out)
    if args.training_log:
        _check_training_log(args.training_log)
    results = args.results
    if results is None and not args.training_log:
        results = str(DEFAULT_RESULTS / "quick")
    if results is None and not args.out:
        args.out = str(DEFAULT_RESULTS / "plots")
    if args.out:
        out = Path(args.out)
    else:
        folder = Path(results)
        out = (folder if folder.is_dir() else folder.parent) / "plots"
    drawn = sorted(out.glob("*.png")) + sorted(out.glob("*.svg")) if out.is_dir() else []
    check_new_outputs(drawn[:3], force=args.force)
    paths = write_plots(results, args.out, training_log=args.training_log)
    for p in paths:
        print(f"wrote {p}")
    if not paths:
        print("no figure: the results hold no rows that any plot uses.", file=sys.stderr)
    return 0




def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write report.md and report.html from results")
    report.add_argument("--results", default=str(DEFAULT_RESULTS / "quick"), type=nonempty,
                        help="results folder or CSV")  # fmt: skip
    report.add_argument("--out", type=nonempty, help="output folder (default: beside the results)")
    report.add_argument("--force", action="store_true",
                        help="replace an existing report.md/report.html")  # fmt: skip
    report.set_defaults(func=cmd_report)

    plot = sub.add_parser("plot", help="draw the figures (PNG and SVG) from results")
    plot.add_argument("--results", type=nonempty,
                      help="results folder or CSV (default results/quick; none with only "
                      "--training-log)")  # fmt: skip
    plot.add_argument("--out", type=nonempty,
                      help="output folder (default <results>/plots; results/plots for a "
                      "training log alone)")  # fmt: skip
    plot.add_argument("--training-log", type=nonempty,
                      help="a training log CSV (table1 writes them in results/table1/logs/): "
                      "NFE over it")  # fmt: skip
    plot.add_argument("--force", action="store_true",
                      help="replace the figures already in the output folder")  # fmt: skip
    plot.set_defaults(func=cmd_plot)
