"""How often ``odebench compare`` flags a timing of unchanged code: the false-positive rate.

The same small timed suite (:data:`CASES`: four cases, :data:`PASSES` timed passes each,
``repeats`` repeats spread over the run) is run ``runs`` times one after another in this
process, each run into its own folder with its own
provenance (so each records its load), and every pair of runs is compared as ``odebench
compare`` compares them (:func:`odebench.reading.comparison.compare`, ``despite_load=True`` so
that every timing is judged and the test itself is what is measured). Nothing changed between
the runs, so every flagged timing is a false positive; ``compare`` should flag at most 5 %.

``python -m odebench.experiments.false_positives --out DIR [--runs 12] [--repeats 5]`` writes
``DIR/run00 ...`` (the runs), ``DIR/pairs.csv`` (one row per pair and timing: ratio, p,
flag) and ``DIR/summary.md``, and prints the summary with the load averages.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import pandas as pd

from odebench.benchmark.cases import Case
from odebench.reading.comparison import compare
from odebench.running.provenance import provenance, read_provenance, write_provenance
from odebench.running.runner import run_cases

PASSES = 5
#: small timed cases (milliseconds to tens of milliseconds a pass), two fields, two gradients
CASES: tuple[Case, ...] = tuple(
    Case(suite="false_positives", problem=problem, method=method, gradient=gradient,
         steps=steps, rtol=rtol, atol=rtol, dtype="float64", meters=("time",),
         timed_passes=PASSES)  # fmt: skip
    for problem, method, gradient, steps, rtol in (
        ("mlp", "rk4", "backprop", 8, None),
        ("mlp", "dopri5", "adjoint", None, 1e-5),
        ("spiral_trained", "dopri5", "backprop", None, 1e-5),
        ("harmonic_oscillator", "dopri5", "aca", None, 1e-6),
    )
)


def run_all(out: Path, runs: int, repeats: int = 5) -> list[Path]:
    """``runs`` runs of :data:`CASES`, one after another, each in ``out/runNN``."""
    folders = []
    for i in range(runs):
        folder = out / f"run{i:02d}"
        folder.mkdir(parents=True)
        # the whole experiment's folder is left out of the clean-tree check: the runs before
        # this one are its own output, not a change to the code that measures
        info = provenance(suite="false_positives", argv=sys.argv, threads=1, out=out)
        write_provenance(folder, info)
        run_cases(list(CASES), folder / "results.csv", executor="inline", threads=1,
                  repeats=repeats, progress=False)  # fmt: skip
        print(f"false_positives: run {i + 1}/{runs} done", file=sys.stderr)
        folders.append(folder)
    return folders


def compare_pairs(folders: list[Path]) -> pd.DataFrame:
    """Every pair (a before b) compared; one row per timing with its ratio, p and flag."""
    rows = []
    for a, b in itertools.combinations(folders, 2):
        cmp = compare(a, b, despite_load=True)
        if not cmp.exact.empty or cmp.incomplete:
            raise RuntimeError(f"{a.name} and {b.name} differ in exact figures: not the same code")
        t = cmp.timings.assign(a=a.name, b=b.name)
        rows.append(t)
    return pd.concat(rows, ignore_index=True)


def summary(pairs: pd.DataFrame, loads: list[list[float]]) -> str:
    judged = pairs[pairs["p_value"].notna()]
    flagged = pairs[pairs["flag"].isin(["slower", "faster"])]
    ones = [x[0] for x in loads if x]
    rate = len(flagged) / max(len(judged), 1)
    q = pairs["ratio"].quantile([0.05, 0.95])
    return (
        "# False positives of `odebench compare` on unchanged code\n\n"
        f"{pairs.groupby(['a', 'b']).ngroups} pairs of runs, {len(pairs)} timings, "
        f"{len(judged)} judged ({', '.join(sorted(set(judged['test'].astype(str))))}), "
        f"**{len(flagged)} flagged ({100 * rate:.1f} %)** "
        f"(slower {int((pairs['flag'] == 'slower').sum())}, faster "
        f"{int((pairs['flag'] == 'faster').sum())}); B/A ratios 5-95 %: "
        f"{q.iloc[0]:.3f}-{q.iloc[1]:.3f}.\n\n"
        f"1-minute load average during the runs: {min(ones):.2f}-{max(ones):.2f} on "
        f"{os.cpu_count()} CPUs.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a new folder for the runs")
    parser.add_argument("--runs", type=int, default=12, help="runs of the suite (>= 2)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeats of each case per run (compare judges >= 2; 5 each "
                             "for Mann-Whitney U)")  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.runs < 2:
        parser.error("--runs must be >= 2: a false positive needs a pair")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty: give a new folder")
    import torch

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    folders = run_all(out, args.runs, args.repeats)
    loads: list[list[float]] = []
    for folder in folders:
        la = read_provenance(folder).get("load_average") or {}
        loads += [v for k, v in la.items() if k in ("before", "after") and v]
    pairs = compare_pairs(folders)
    pairs.to_csv(out / "pairs.csv", index=False)
    text = summary(pairs, loads)
    (out / "summary.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
