"""The ``odebench`` command line: ``run``, ``report``, ``plot``, ``list`` and the reproductions."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from odebench.experiments import EXPERIMENTS

DEFAULT_RESULTS = Path("results")


def _suite_dir(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    name = Path(args.suite).stem if args.suite.endswith(".toml") else args.suite
    return DEFAULT_RESULTS / name


def cmd_run(args: argparse.Namespace) -> int:
    from odebench.cases import get_suite
    from odebench.measure import check_device
    from odebench.results import (
        RESULTS_FILE,
        completed_keys,
        provenance,
        read_provenance,
        write_provenance,
    )
    from odebench.runner import run_cases

    check_device(args.device)
    cases = get_suite(args.suite)
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    if args.match:
        cases = [c for c in cases if args.match in c.case_id]
        if not cases:
            raise SystemExit(f"odebench: no case id contains {args.match!r}; see `odebench list`.")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    folder = _suite_dir(args)
    path = folder / RESULTS_FILE
    if path.exists() and not args.resume:
        backup = path.with_name("results.prev.csv")
        path.replace(backup)
        print(f"previous results moved to {backup}", file=sys.stderr)
    info = provenance(suite=args.suite, device=args.device, argv=sys.argv)
    previous = read_provenance(folder) if args.resume else {}
    if previous:  # a resumed run keeps the first run's provenance and lists each resumption
        resumed = previous.pop("resumed", [])
        keys = ("commit", "torch", "torchdiffeq", "device", "threads", "date", "command")
        info = {**previous, "resumed": [*resumed, {k: info[k] for k in keys}]}
    write_provenance(folder, info)
    done = len(completed_keys(path)) if args.resume else 0
    print(f"odebench run: {len(cases)} cases x {args.repeats} repeat(s) -> {path}"
          + (f" ({done} already recorded)" if done else ""), file=sys.stderr)  # fmt: skip
    slurm = {"partition": args.slurm_partition} if args.slurm_partition else None
    records = run_cases(
        cases, path, repeats=args.repeats, timeout=args.timeout, executor=args.executor,
        resume=args.resume, progress=not args.quiet, slurm=slurm,
    )  # fmt: skip
    failed = [r for r in records if r.get("status") != "ok"]
    print(f"{len(records)} records written, {len(failed)} not ok.", file=sys.stderr)
    if not args.no_report:
        _report_and_plots(path, folder)
    _print_summary(path)
    return 0


def _report_and_plots(path: Path, folder: Path) -> None:
    from odebench.plots import write_plots
    from odebench.report import write_report

    for p in write_report(path, folder) + write_plots(path, folder / "plots"):
        print(f"wrote {p}", file=sys.stderr)


def _print_summary(path: Path) -> None:
    from odebench.report import memory_fits, nfe_table
    from odebench.results import read_results

    df = read_results(path)
    fits = memory_fits(df)
    if not fits.empty:
        fits = fits[fits["meter"] == "saved activations"]
        print("\nSaved activations against size (bytes per unit):")
        print(fits[["subject", "method", "gradient", "per", "bytes_per_unit", "intercept_bytes",
                    "r2"]].to_string(index=False))  # fmt: skip
    nfe = nfe_table(df)
    if not nfe.empty:
        print("\nNFE forward / backward per tolerance:")
        print(nfe.to_string(index=False))


def cmd_report(args: argparse.Namespace) -> int:
    from odebench.report import write_report

    for p in write_report(args.results, args.out):
        print(f"wrote {p}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from odebench.plots import write_plots

    results = args.results
    if results is None and not args.training_log:
        results = str(DEFAULT_RESULTS / "quick")
    if results is None and not args.out:
        args.out = str(DEFAULT_RESULTS / "plots")
    paths = write_plots(results, args.out, training_log=args.training_log)
    for p in paths:
        print(f"wrote {p}")
    if not paths:
        print("no figure: the results hold no rows that any plot uses.", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from odebench.cases import SUITES, get_suite
    from odebench.problems import get_problem, problem_names
    from odebench.solvers import ADAPTIVE_METHODS, FIXED_GRID_METHODS

    if args.suite:
        for case in get_suite(args.suite):
            print(case.case_id)
        return 0
    print("suites:  ", ", ".join(f"{n} ({len(f())} cases)" for n, f in SUITES.items()))
    print("problems:")
    for name in problem_names():
        print(f"  {name:22s} {get_problem(name).description}")
    print("adaptive methods:  ", ", ".join(ADAPTIVE_METHODS))
    print("fixed-grid methods:", ", ".join(FIXED_GRID_METHODS))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odebench", description="Benchmark Neural ODEs: NFE, memory, time and error."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a suite of cases and write results, report and plots")
    run.add_argument(
        "--suite",
        default="quick",
        help="quick (default), paper, smoke, bench, or a .toml suite file",
    )
    run.add_argument("--out", help="results folder (default results/<suite>)")
    run.add_argument(
        "--resume", action="store_true", help="keep existing results and run only the missing cases"
    )
    run.add_argument("--repeats", type=int, default=1, help="independent repeats of each case")
    run.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    run.add_argument(
        "--executor",
        choices=("local", "inline", "slurm"),
        default="local",
        help="local: child processes (default); slurm: submitit; inline: no isolation",
    )
    run.add_argument("--slurm-partition", help="Slurm partition for --executor slurm")
    run.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    run.add_argument("--threads", type=int, help="torch threads in this process")
    run.add_argument("--match", help="run only cases whose id contains this text")
    run.add_argument("--no-report", action="store_true", help="skip the report and plots")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)  # fmt: skip

    report = sub.add_parser("report", help="write report.md and report.html from results")
    report.add_argument(
        "--results",
        default=str(DEFAULT_RESULTS / "quick"),
        help="results folder or CSV (default results/quick)",
    )
    report.add_argument("--out", help="output folder (default: beside the results)")
    report.set_defaults(func=cmd_report)  # fmt: skip

    plot = sub.add_parser("plot", help="draw the figures (PNG and SVG) from results")
    plot.add_argument(
        "--results",
        help="results folder or CSV (default results/quick; none with only --training-log)",
    )
    plot.add_argument(
        "--out",
        help="output folder (default <results>/plots; results/plots for a training log alone)",
    )
    plot.add_argument(
        "--training-log",
        help="a training log CSV (table1 writes them in results/runs/table1/): NFE over it",
    )
    plot.set_defaults(func=cmd_plot)  # fmt: skip

    lst = sub.add_parser("list", help="list suites, problems and methods, or a suite's cases")
    lst.add_argument("--suite", help="print the case ids of this suite")
    lst.set_defaults(func=cmd_list)

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
    from odebench.cases import CaseError
    from odebench.results import ResultsError
    from odebench.solvers import SolverConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: finished cases are kept; continue with --resume", file=sys.stderr)
        return 130
    except (CaseError, ResultsError, SolverConfigError, FileNotFoundError) as exc:
        print(f"odebench: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if "CUDA" not in str(exc):
            raise
        print(f"odebench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
