"""``odebench run``: a suite into a results folder, with its report, plots and a summary."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from odebench.cli.options import (
    DEFAULT_RESULTS,
    UsageError,
    check_device,
    nonempty,
    run_options,
)
from odebench.cli.slurm import add_slurm_options, check_slurm, check_slurm_request, slurm_options


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "match"


def _suite_dir(args: argparse.Namespace, suite_name: str) -> Path:
    """``--out``, or ``results/<suite>``; a filtered run gets a folder of its own."""
    if args.out:
        return Path(args.out)
    if args.match:
        return DEFAULT_RESULTS / f"{suite_name}-match-{_slug(args.match)}"
    return DEFAULT_RESULTS / suite_name


def load_cases(suite: str, imports: Sequence[str]) -> tuple[str, list, tuple, tuple]:
    """(suite name, cases, user modules, search folders) for a built-in name or a .toml file."""
    from odebench.benchmark.usermodules import import_modules, normalize

    search = (str(Path.cwd()),)
    imports = normalize(imports)
    import_modules(imports, search=search)
    if suite.endswith(".toml"):
        from odebench.benchmark.suitefile import read_suite_file

        found = read_suite_file(suite)
        extra = tuple(m for m in found.imports if m not in imports)
        return found.name, found.cases, imports + extra, tuple(dict.fromkeys(search + found.search))
    from odebench.benchmark.suites import get_suite

    return suite, get_suite(suite), imports, search


def cmd_run(args: argparse.Namespace) -> int:
    check_slurm(args)
    # everything is checked before the disk is touched: the suite, the device, the folder
    name, cases, imports, search = load_cases(args.suite, args.imports)
    if not cases:
        raise UsageError(f"suite {args.suite!r} has no case; add a [[grid]] or pick another suite.")
    if args.executor != "slurm":  # on Slurm the job's node has the device, not this one
        check_device(args.device)
    if args.device != "cpu":
        cases = [c.with_(device=args.device) for c in cases]
    here = set() if args.executor == "slurm" else {c.device for c in cases} - {"cpu"}
    for device in sorted(here):  # a suite file may name one
        try:
            check_device(device)
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
    check_slurm_request(args, cases)
    return run_suite(
        args, label=args.suite, cases=cases, all_cases=all_cases, imports=imports,
        search=search, folder=_suite_dir(args, name),
    )  # fmt: skip


def run_suite(
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
    from odebench.running.folders import check_folder, check_resumable, claim_folder
    from odebench.running.provenance import provenance, record_run
    from odebench.running.results import RESULTS_FILE, drop_torn_tail, read_results
    from odebench.running.runner import pending_jobs, run_cases

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
        start = time.perf_counter()
        records = run_cases(
            cases, path, repeats=args.repeats, timeout=args.timeout, executor=args.executor,
            resume=resume, retry_failed=args.retry_failed, progress=not args.quiet,
            slurm=slurm_options(args),
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


def _report_and_plots(path: Path, folder: Path) -> Path | None:
    """Write the report and the plots; returns the HTML report (or the first file written)."""
    from odebench.reading.plots import write_plots
    from odebench.reading.report import write_report

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
        from odebench.reading.headline import headline

        sentences = headline(df).sentences
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




def suite_names() -> tuple[str, ...]:
    """The built-in suites' names, read from the keys of ``SUITES`` in the source without
    importing it (it imports torch; ``--help`` stays fast and never goes stale)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("odebench.benchmark.suites")
    if spec is None or not spec.origin:
        return ()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        if isinstance(target, ast.Name) and target.id == "SUITES":
            if isinstance(node.value, ast.Dict):  # type: ignore[attr-defined]
                return tuple(k.value for k in node.value.keys  # type: ignore[attr-defined]
                             if isinstance(k, ast.Constant))  # fmt: skip
    return ()


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a suite of cases and write results, report and plots")
    run.add_argument("--suite", default="quick", type=nonempty,
                     help=f"{', '.join(suite_names())}, or a .toml suite file "
                     "(`odebench list` says what each holds)")  # fmt: skip
    run.add_argument("--out", type=nonempty,
                     help="results folder (default results/<suite>; a --match run: "
                     "results/<suite>-match-<text>)")  # fmt: skip
    run_options(run)
    add_slurm_options(run)
    run.add_argument("--match", type=nonempty,
                     help="run only cases whose id contains this text")  # fmt: skip
    run.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                     help="a module (or .py file) registering problems, imported here and in "
                     "every worker; repeatable")  # fmt: skip
    run.set_defaults(func=cmd_run)
