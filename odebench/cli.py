"""The ``odebench`` command line: ``run``, ``report``, ``plot``, ``list`` and the reproductions.

The CLI parses, checks every option before it touches the disk, and prints; the modules
below it decide and raise typed errors, which it prints as one line naming the fix (exit
status 2). torch is imported only after the arguments are parsed, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import importlib.util
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from odebench.experiments import EXPERIMENTS

DEFAULT_RESULTS = Path("results")
#: Errors of writing that the user fixes outside odebench (disk, quota, size limit, rights).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES})


class UsageError(ValueError):
    """A command-line option that cannot work; the message names the fix."""


# --- option types: each rejects a bad value with the fix, before anything runs --------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1; give a whole number >= 1")
    return value


def _nonnegative_int(text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number of seconds > 0")
    return value


def _device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda or cuda:N")
    return text


def _shape(text: str) -> tuple[int, ...]:
    from odebench.experiments.profile import parse_shape

    return parse_shape(text)


def _span(text: str) -> tuple[float, float]:
    try:
        t0, t1 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not T0,T1 (e.g. 0,1)") from None
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise argparse.ArgumentTypeError(f"{text}: need finite times with T1 > T0")
    return t0, t1


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value; give some text")
    return text


class _Formatter(argparse.HelpFormatter):
    """Shows each option's default (when it has one worth showing) after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and not any(default is v for v in (None, False, argparse.SUPPRESS))
            and default != []
            and action.option_strings
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line naming the fix, exit status 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# --- run ------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "match"


def _suite_dir(args: argparse.Namespace, suite_name: str) -> Path:
    """``--out``, or ``results/<suite>``; a filtered run gets a folder of its own."""
    if args.out:
        return Path(args.out)
    if args.match:
        return DEFAULT_RESULTS / f"{suite_name}-match-{_slug(args.match)}"
    return DEFAULT_RESULTS / suite_name


def _load_cases(suite: str, imports: Sequence[str]) -> tuple[str, list, tuple, tuple]:
    """(suite name, cases, user modules, search folders) for a built-in name or a .toml file."""
    from odebench.usermodules import import_modules, normalize

    search = (str(Path.cwd()),)
    imports = normalize(imports)
    import_modules(imports, search=search)
    if suite.endswith(".toml"):
        from odebench.suitefile import read_suite_file

        found = read_suite_file(suite)
        extra = tuple(m for m in found.imports if m not in imports)
        return found.name, found.cases, imports + extra, tuple(dict.fromkeys(search + found.search))
    from odebench.cases import get_suite

    return suite, get_suite(suite), imports, search


def _check_device(device: str) -> None:
    from odebench.measure import DeviceUnavailableError, check_device

    try:
        check_device(device)
    except DeviceUnavailableError as exc:
        raise UsageError(str(exc)) from None


def _check_slurm(executor: str) -> None:
    """Refuse --executor slurm where there is no Slurm (submitit would run local processes)."""
    from odebench.runner import slurm_available

    if executor == "slurm" and not slurm_available():
        raise UsageError(
            "--executor slurm: no Slurm on this machine (no srun on PATH), so the cases would "
            "run as local processes; pass --executor local to run them here, or run on a "
            "Slurm login node."
        )


def cmd_run(args: argparse.Namespace) -> int:
    if args.slurm_partition and args.executor != "slurm":
        raise UsageError("--slurm-partition applies only with --executor slurm; add it.")
    _check_slurm(args.executor)
    # everything is checked before the disk is touched: the suite, the device, the folder
    name, cases, imports, search = _load_cases(args.suite, args.imports)
    if not cases:
        raise UsageError(f"suite {args.suite!r} has no case; add a [[grid]] or pick another suite.")
    _check_device(args.device)
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    for device in sorted({c.device for c in cases} - {"cpu"}):  # a suite file may name one
        try:
            _check_device(device)
        except UsageError:
            raise UsageError(
                f"{args.suite} asks for device {device!r}, which this machine does not have; "
                'set device = "cpu" in its [[grid]], or run it where that device is.'
            ) from None
    all_cases = cases
    if args.match:
        cases = [c for c in cases if args.match in c.case_id]
        if not cases:
            raise UsageError(f"no case id contains {args.match!r}; see `odebench list --suite`.")
    return _run_suite(
        args, label=args.suite, cases=cases, all_cases=all_cases, imports=imports,
        search=search, folder=_suite_dir(args, name),
    )  # fmt: skip


def _run_suite(
    args: argparse.Namespace,
    *,
    label: str,
    cases: list,  # type: ignore[type-arg]
    all_cases: list,  # type: ignore[type-arg]
    imports: tuple[str, ...],
    search: tuple[str, ...],
    folder: Path,
    prepare: Any = None,
) -> int:
    """Run ``cases`` into ``folder`` (locked, never replacing a run), report, summarise.

    ``prepare(folder)``, if given, runs under the lock before the cases (``odebench
    profile`` writes the module that registers its target there).
    """
    from odebench.results import (
        RESULTS_FILE,
        check_folder,
        check_resumable,
        claim_folder,
        drop_torn_tail,
        provenance,
        read_results,
        record_run,
    )
    from odebench.runner import pending_jobs, run_cases

    resume = args.resume or args.retry_failed
    if getattr(args, "jobs", 1) > 1 and args.executor != "local":
        raise UsageError(f"--jobs {args.jobs} runs cases side by side in local workers; drop "
                         "it, or use --executor local.")  # fmt: skip
    path = folder / RESULTS_FILE
    check_folder(folder, resume=resume, force=args.force)
    if resume:
        check_resumable(path, all_cases)  # again under the lock; here to refuse untouched

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = args.threads or torch.get_num_threads()
    with claim_folder(folder, resume=resume, force=args.force) as claim:
        if claim.backup:
            print(f"odebench: the earlier run in {folder} moved to {claim.backup}",
                  file=sys.stderr)  # fmt: skip
        if resume:
            check_resumable(path, all_cases)
            torn = drop_torn_tail(path)
            if torn:
                print(f"odebench: dropped a torn last row of {path} (a crash mid-write; kept in "
                      f"{folder / 'results.torn.txt'}); its case runs again.",
                      file=sys.stderr)  # fmt: skip
        if prepare is not None:
            prepare(folder)
        jobs = pending_jobs(cases, path, repeats=args.repeats, resume=resume,
                            retry_failed=args.retry_failed)  # fmt: skip
        total = len(cases) * args.repeats
        info = provenance(suite=label, device=args.device, argv=sys.argv, threads=threads,
                          imports=imports, out=folder)  # fmt: skip
        record_run(folder, info, resume=resume)
        done = total - len(jobs)
        print(f"odebench run: {len(cases)} cases x {args.repeats} repeat(s) -> {path}"
              + (f" ({done} already recorded, {len(jobs)} to run)" if resume else ""),
              file=sys.stderr)  # fmt: skip
        slurm = {"partition": args.slurm_partition} if args.slurm_partition else None
        start = time.perf_counter()
        records = run_cases(
            cases, path, repeats=args.repeats, timeout=args.timeout, executor=args.executor,
            resume=resume, retry_failed=args.retry_failed, progress=not args.quiet, slurm=slurm,
            threads=args.threads, imports=imports, search=search,
            jobs=getattr(args, "jobs", 1),
        )  # fmt: skip
        wall = time.perf_counter() - start
        case_s = sum(float(r.get("wall_s") or 0.0) for r in records)
        report = None
        if not args.no_report and path.exists():
            try:
                report = _report_and_plots(path, folder)
            except Exception as exc:  # the results are safe; say so rather than a traceback
                print(f"odebench: the report failed ({type(exc).__name__}: {exc}); the results "
                      f"are kept: retry with `odebench report --results {folder}`.",
                      file=sys.stderr)  # fmt: skip
        if not path.exists():
            print("odebench: nothing ran.", file=sys.stderr)
            return 0
        df = read_results(path)
    keys = {(c.case_id, r) for c in cases for r in range(args.repeats)}
    mine = df[[(c, int(r)) in keys for c, r in zip(df["case_id"], df["repeat"], strict=True)]]
    return _print_summary(mine, wall=wall, ran=len(jobs), report=report, folder=folder,
                          case_s=case_s)  # fmt: skip


def cmd_profile(args: argparse.Namespace) -> int:
    """The standard battery on the user's own field (see :mod:`odebench.experiments.profile`)."""
    from odebench.experiments import profile

    module_part, _, function = args.target.rpartition(":")
    spec = args.target
    if module_part.endswith(".py"):  # a path: absolute, so every worker finds it
        spec = f"{Path(module_part).resolve()}:{function}"
    target = profile.Target(spec=spec, y0_shape=args.y0_shape, seed=args.seed,
                            t_span=args.t_span)  # fmt: skip
    _check_device(args.device)
    _check_slurm(args.executor)
    search = (str(Path.cwd()),)
    if search[0] not in sys.path:  # the target's module is found from here, as in workers
        sys.path.insert(0, search[0])
    try:
        built = profile.validate(target)  # one clear error before anything is written
    except Exception as exc:  # the user's factory raised: what and where, in one line
        if type(exc).__module__.startswith("odebench."):  # typed: main prints it
            raise
        raise UsageError(
            f"{args.target} raised {type(exc).__name__} ({exc}); fix the factory so it "
            "returns the field, (field, y0[, (t0, t1)]) or a Problem."
        ) from None
    batch = int(built[1].shape[0])
    name = profile.register(target, built)
    backends = profile.available_backends() if args.backends == "all" else ("torchdiffeq",)
    cases = profile.battery(name, batch=batch, budget=args.budget, backends=backends)
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    folder = Path(args.out) if args.out else DEFAULT_RESULTS / f"profile-{name}"
    module = folder.resolve() / "target.py"

    def prepare(folder: Path) -> None:
        module.write_text(profile.module_source(target))

    status = _run_suite(
        args, label=f"profile {args.target}", cases=cases, all_cases=cases,
        imports=(str(module),), search=search, folder=folder, prepare=prepare,
    )  # fmt: skip
    from odebench.results import RESULTS_FILE, read_results

    if (folder / RESULTS_FILE).exists():
        print("\n".join(profile.summary(read_results(folder / RESULTS_FILE), rtol=args.rtol)))
    return status


def _report_and_plots(path: Path, folder: Path) -> Path | None:
    """Write the report and the plots; returns the HTML report (or the first file written)."""
    from odebench.plots import write_plots
    from odebench.report import write_report

    written = list(write_report(path, folder))
    plots_dir = folder / "plots"
    if not any(p.parent == plots_dir for p in written):  # the report may draw them itself
        written += write_plots(path, plots_dir)
    html = [p for p in written if p.suffix == ".html"]
    return html[0] if html else (written[0] if written else None)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _print_summary(df: Any, *, wall: float, ran: int, report: Path | None, folder: Path,
                   case_s: float | None = None) -> int:  # fmt: skip
    """The headline figures, the statuses, the wall time and where the report is.

    Returns the exit status: 0 when every case of the run finished ok, 1 otherwise.
    """
    counts = df["status"].value_counts()
    statuses = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines = [f"odebench run: {len(df)} rows ({statuses}); ran {ran} in {_duration(wall)}."]
    if case_s:  # the cases' own wall_s against the run's: what start-up and waiting cost
        lines[0] = lines[0][:-1] + (f" (the cases' own time: {case_s:.1f} s; wall {wall:.1f} s "
                                    f"= {wall / case_s:.2f}x).")  # fmt: skip
    try:
        from odebench import report as report_module

        sentences = report_module.headline(df).sentences if hasattr(report_module, "headline") \
            else []  # fmt: skip
    except Exception as exc:  # a headline that cannot be drawn never hides the statuses
        sentences = [f"(no headline: {type(exc).__name__}: {exc})"]
    lines += [f"  {s}" for s in sentences]
    not_ok = len(df) - int(counts.get("ok", 0))
    if not_ok:
        bad = df[df["status"] != "ok"]
        lines.append(f"Not every case finished ok: {not_ok} did not (exit status 1), e.g. "
                     f"{bad['case_id'].iloc[0]}: {bad['error'].iloc[0]}")  # fmt: skip
        lines.append("  rerun them with `odebench run ... --retry-failed` (failed, timeout, "
                     "crashed) once fixed.")  # fmt: skip
    lines.append(f"Report: {report}" if report else f"Results: {folder}")
    print("\n".join(lines))
    return 1 if not_ok else 0


# --- report, plot, list ---------------------------------------------------------------------


def _check_out_folder(out: str | None) -> None:
    from odebench.results import check_folder_path

    if out is not None:
        check_folder_path(out)


def cmd_report(args: argparse.Namespace) -> int:
    from odebench.report import write_report

    _check_out_folder(args.out)
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
    from odebench.plots import write_plots

    _check_out_folder(args.out)
    if args.training_log:
        _check_training_log(args.training_log)
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
    from odebench.cases import SUITES
    from odebench.problems import get_problem, problem_names
    from odebench.solvers import ADAPTIVE_METHODS, FIXED_GRID_METHODS

    if args.suite:
        _, cases, _, _ = _load_cases(args.suite, args.imports)
        for case in cases:
            print(case.case_id)
        return 0
    from odebench.usermodules import import_modules, normalize

    import_modules(normalize(args.imports), search=(str(Path.cwd()),))
    print("suites:  ", ", ".join(f"{n} ({len(f())} cases)" for n, f in SUITES.items()))
    print("problems:")
    for name in problem_names():
        print(f"  {name:22s} {get_problem(name).description}")
    print("adaptive methods:  ", ", ".join(ADAPTIVE_METHODS))
    print("fixed-grid methods:", ", ".join(FIXED_GRID_METHODS))
    return 0


# --- the parser -----------------------------------------------------------------------------


def _experiment_help(name: str) -> str:
    """The first line of an experiment module's docstring, read without importing it."""
    try:
        spec = importlib.util.find_spec(f"odebench.experiments.{name}")
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


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run into a results folder (``run`` and ``profile``)."""
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in the folder: run only the missing cases",
    )
    again.add_argument("--force", action="store_true",
                       help="start over in a folder that holds a run (moved to "
                       "<folder>.backup-<time> first)")  # fmt: skip
    parser.add_argument("--retry-failed", action="store_true",
                     help="with resume: run again the cases recorded as failed, timeout or "
                     "crashed (the new row is appended; the latest counts)")  # fmt: skip
    parser.add_argument("--repeats", type=_positive_int, default=1,
                     help="rows per case: independent repeats of each case (each with the "
                     "case's own timed passes)")  # fmt: skip
    parser.add_argument("--timeout", type=_seconds, default=600.0,
                     help="seconds per case (inline: SIGALRM in this process; slurm: rounded "
                     "up to whole minutes, plus one)")  # fmt: skip
    parser.add_argument("--executor", choices=("local", "inline", "slurm"), default="local",
                     help="local: child processes; slurm: submitit; inline: this process, "
                     "no isolation (for debugging)")  # fmt: skip
    parser.add_argument("--slurm-partition", type=_nonempty,
                     help="Slurm partition for --executor slurm")  # fmt: skip
    parser.add_argument("--device", type=_device, default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=_positive_int,
                     help="torch threads in every worker (default: torch's own)")  # fmt: skip
    parser.add_argument("--jobs", type=_positive_int, default=1,
                     help="workers measuring exact meters (NFE, saved bytes, errors) side by "
                     "side; timed and RSS meters still run alone (local executor)")  # fmt: skip
    parser.add_argument("--no-report", action="store_true", help="skip the report and plots")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser(experiments: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``experiments`` names the reproductions whose modules are imported to add
    their options (default: all). The others get a placeholder, so ``--help`` stays fast."""
    parser = _Parser(
        prog="odebench", description="Benchmark Neural ODEs: NFE, memory, time and error."
    )
    parser.add_argument("--version", action="version", version=f"odebench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a suite of cases and write results, report and plots")
    run.add_argument("--suite", default="quick", type=_nonempty,
                     help="quick, paper, smoke, bench, or a .toml suite file")  # fmt: skip
    run.add_argument("--out", type=_nonempty,
                     help="results folder (default results/<suite>; a --match run: "
                     "results/<suite>-match-<text>)")  # fmt: skip
    _run_options(run)
    run.add_argument("--match", type=_nonempty,
                     help="run only cases whose id contains this text")  # fmt: skip
    run.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="a module (or .py file) registering problems, imported here and in "
                     "every worker; repeatable")  # fmt: skip
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="write report.md and report.html from results")
    report.add_argument("--results", default=str(DEFAULT_RESULTS / "quick"), type=_nonempty,
                        help="results folder or CSV")  # fmt: skip
    report.add_argument("--out", type=_nonempty, help="output folder (default: beside the results)")
    report.set_defaults(func=cmd_report)

    plot = sub.add_parser("plot", help="draw the figures (PNG and SVG) from results")
    plot.add_argument("--results", type=_nonempty,
                      help="results folder or CSV (default results/quick; none with only "
                      "--training-log)")  # fmt: skip
    plot.add_argument("--out", type=_nonempty,
                      help="output folder (default <results>/plots; results/plots for a "
                      "training log alone)")  # fmt: skip
    plot.add_argument("--training-log", type=_nonempty,
                      help="a training log CSV (table1 writes them in results/table1/logs/): "
                      "NFE over it")  # fmt: skip
    plot.set_defaults(func=cmd_plot)

    lst = sub.add_parser("list", help="list suites, problems and methods, or a suite's cases")
    lst.add_argument(
        "--suite", type=_nonempty, help="print the case ids of this suite (a name or .toml file)"
    )
    lst.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="a module (or .py file) registering problems; repeatable")  # fmt: skip
    lst.set_defaults(func=cmd_list)

    prof = sub.add_parser(
        "profile", help="the standard battery (memory, NFE, errors, time) on your own field"
    )
    prof.add_argument("target", type=_nonempty,
                      help="MODULE:FUNCTION (or path/file.py:FUNCTION) returning the field, "
                      "(field, y0[, (t0, t1)]) or a Problem")  # fmt: skip
    prof.add_argument("--y0-shape", type=_shape, metavar="BATCH,DIM,...",
                      help="draw y0 (standard normal) of this shape when FUNCTION returns only "
                      "the field")  # fmt: skip
    prof.add_argument(
        "--t-span",
        type=_span,
        metavar="T0,T1",
        help="integrate over [T0, T1] (default: the target's own, else 0,1)",
    )
    prof.add_argument("--budget", choices=("quick", "full"), default="quick",
                      help="quick: about 2 minutes for a 64-wide MLP on 2 cores; full: the "
                      "paper's ranges")  # fmt: skip
    prof.add_argument("--rtol", type=_seconds, default=1e-5,
                      help="the tolerance the summary quotes")  # fmt: skip
    prof.add_argument("--backends", choices=("all", "torchdiffeq"), default="all",
                      help="all: every installed solver library side by side")  # fmt: skip
    prof.add_argument("--seed", type=_nonnegative_int, default=0, help="seed of the drawn y0")
    prof.add_argument("--out", help="results folder (default results/profile-<name>)")
    _run_options(prof)
    prof.set_defaults(func=cmd_profile, repeats=1, match=None, imports=[])

    from odebench import compare  # light: pandas loads only when a comparison runs

    compare.register(sub)

    for name in EXPERIMENTS:
        if experiments is not None and name not in experiments:
            sub.add_parser(name, help=_experiment_help(name), add_help=False)
            continue
        try:
            module = importlib.import_module(f"odebench.experiments.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"odebench.experiments.{name}":
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

    from odebench.cases import CaseError
    from odebench.experiments.profile import ProfileError
    from odebench.measure import DeviceUnavailableError
    from odebench.results import ResultsError
    from odebench.solvers import SolverConfigError
    from odebench.usermodules import UserModuleError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: finished cases are kept; continue with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `odebench list --suite x | head`: the reader has what it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed at exit)
        return 141
    except (CaseError, DeviceUnavailableError, ProfileError, ResultsError, SolverConfigError,
            UserModuleError, UsageError, FileNotFoundError) as exc:  # fmt: skip
        print(f"odebench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a quota, a read-only folder: one line, not a traceback
        if exc.errno not in _WRITE_ERRNOS:
            raise
        print(f"odebench: error: cannot write {exc.filename or 'a file'} ({exc.strerror}); free "
              "disk space or pass --out a folder you can write (a run continues with --resume).",
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
