"""``odebench advise``: which gradient method (and tolerance) to train with, from measured results.

The rule is :mod:`odebench.reading.decision`'s; the table behind it is the gradient-mode
frontier (:func:`odebench.reading.frontier.frontier_rows`). pandas loads only when it runs.
"""

from __future__ import annotations

import argparse
import math

from odebench.cli.options import UsageError, add_format_option, emit_table, nonempty


def error_target(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an error; e.g. 1e-4") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text}: the target must be an error > 0, e.g. 1e-4")
    return value


def memory_budget(text: str) -> float:
    """A size (``2GiB``, ``512MiB``, ``1e9``) or ``min`` (as little as possible: ``0``)."""
    if text.strip().lower() in ("min", "least"):
        return 0.0
    from odebench.reading.decision import DecisionError, parse_bytes

    try:
        return parse_bytes(text)
    except DecisionError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or min: as little as possible)") from None


def advise(args: argparse.Namespace) -> tuple[object, object, str]:
    """The decisions, the frontier rows behind them and the text a reader sees."""
    from odebench.reading.analysis import UNSTABLE, fmt_bytes
    from odebench.reading.decision import (
        Constraints,
        decide,
        decision_lines,
        decision_table,
        select_loss,
    )
    from odebench.reading.frontier import format_rows, frontier_rows
    from odebench.running.results import read_results

    least = args.memory_budget == 0.0
    constraints = Constraints(target=args.target, loss=args.loss, least_memory=least,
                              memory_budget=None if least else args.memory_budget)  # fmt: skip
    rows = select_loss(frontier_rows(read_results(args.results)), args.loss)
    if args.subject is not None:
        if rows.empty or args.subject not in set(rows["subject"]):
            known = ", ".join(sorted(set(rows["subject"]))) if not rows.empty else "none"
            raise UsageError(f"--subject {args.subject}: not in {args.results} (there: {known}).")
        rows = rows[rows["subject"] == args.subject]
    if rows.empty:
        raise UsageError(f"{args.results} holds no finished row with a gradient mode (for "
                         f"--loss {args.loss}); run a suite that measures gradient modes, e.g. "
                         "`odebench run --suite gradients`, or `odebench profile` your field.")
    decisions = decide(rows, constraints)
    table = decision_table(decisions)
    undecided = decisions["mode"] == "" if not decisions.empty else []
    if len(table):  # comparisons with no gradient error at all: one line, not a row each
        skipped = decision_lines(decisions[undecided])
        decisions_shown, table = decisions[~undecided], table[~undecided.to_numpy()]
    else:
        skipped, decisions_shown = [], decisions
    short = table.drop(columns=["why"]) if not table.empty else table
    text = "\n".join([
        f"Decision: gradient error <= {args.target:g} at this and every tighter rtol"
        + ("" if args.memory_budget is None else
           "; least peak memory" if least else f"; peak <= {fmt_bytes(args.memory_budget)}")
        + " (the rule: docs/gradient-methods.md)",
        short.to_string(index=False) if not short.empty else "(none)",
        "",
        "Why:",
        *[f"- {line}" for line in decision_lines(decisions_shown)],
        *([f"Not decided, no gradient error measured ({len(skipped)}): "
           + "; ".join(line.split(": no decision")[0] for line in skipped) + "."]
          if skipped else []),
        "",
        "The frontier behind it (time: forward + backward, median; spread: the two IQRs "
        f"summed; unstable: forward or backward IQR/median above {UNSTABLE:.0%}):",
        format_rows(rows).to_string(index=False),
    ])  # fmt: skip
    return decisions, rows, text


def cmd_advise(args: argparse.Namespace) -> int:
    decisions, rows, text = advise(args)
    if args.format == "table":
        emit_table(decisions, "table", text=text)
    elif args.frontier:
        emit_table(rows, args.format)
    else:
        emit_table(decisions, args.format)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "advise", help="which gradient method and tolerance to train with, from measured results",
        description="Per problem, loss shape and every other setting that varies: the fastest "
        "(mode, rtol) whose gradient error is <= --target at that rtol and at every tighter "
        "rtol measured; timings whose spreads overlap tie, the lower peak memory wins; an "
        "unstable timing (IQR/median above 25%) never wins on time and is named; a mode "
        "without the figure a criterion needs is named 'not measured'. Then the runner-up "
        "and why, and the frontier table behind it. Details: docs/gradient-methods.md.",
    )
    cmd.add_argument("--results", required=True, type=nonempty,
                     help="a results folder or results.csv holding gradient modes (e.g. "
                     "results/gradients, or a profile's folder)")  # fmt: skip
    cmd.add_argument("--target", type=error_target, default=1e-4,
                     help="the gradient error (relative L2, against float64) to reach")
    cmd.add_argument("--memory-budget", type=memory_budget, metavar="SIZE|min",
                     help="peak memory allowed (2GiB, 512MiB, 1e9), or min: the least peak "
                     "wins, time breaks ties (default: no budget; the fastest wins)")
    cmd.add_argument("--loss", choices=("all", "y1", "trajectory"), default="all",
                     help="y1: a loss on y(t1); trajectory: a loss on several output times")
    cmd.add_argument("--subject", type=nonempty, help="only this problem or model")
    cmd.add_argument("--frontier", action="store_true",
                     help="with --format json|csv: print the frontier rows, not the decisions")
    add_format_option(cmd)
    cmd.set_defaults(func=cmd_advise)
