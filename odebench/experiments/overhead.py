"""What odebench's ``solve()`` costs over a bare ``torchdiffeq`` call, and what a case costs
besides its own work, measured in one process.

**Per solve.** The same MLP field (64 -> 64 tanh -> 64), initial states, method and
tolerances, solved and differentiated (forward + backward of a mean-square loss at t1) by
``torchdiffeq.odeint`` (or ``odeint_adjoint``) and by :func:`odebench.solvers.solve` (given
a :class:`~odebench.instruments.CountedField`, as ``measure()``'s timed passes give it),
alternately in pairs (the order alternates too), so a load that comes and goes falls on both
sides of a pair alike. The figure is 1 + median(paired difference) / median(bare), with a
95 % bootstrap interval over the pairs: one ratio of two medians moved by 10 % between
configs on a loaded machine; the median of >= 200 paired differences resolves 1 %.
Times are CPU time (``time.process_time``: waiting for a core does not count).

**Per case.** :func:`case_fixed_cost` runs a grid of tiny cases (``harmonic_oscillator``,
dopri5, float64, meters nfe + error, one tolerance each) through ``measure()`` and returns
the seconds per case: what a large grid pays besides solving.

``python -m odebench.experiments.overhead`` prints both; the asv benchmarks
``SolveOverhead`` and ``CaseFixedCost`` track them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from odebench.instruments.timing import time_interleaved

#: The conditions of the published figures (issue 21, item 8).
METHOD, TOL = "dopri5", 1e-5
BATCHES: tuple[int, ...] = (128, 8)
GRADIENTS: tuple[str, ...] = ("backprop", "adjoint")
#: Pairs of passes by default (issue 37: >= 200 to resolve 1 %).
PAIRS = 200


@dataclass(frozen=True)
class PairedOverhead:
    """solve() over bare torchdiffeq from paired passes: ``ratio`` with a 95 % interval."""

    bare: float  # median seconds of the bare passes
    ours: float  # median seconds of solve()'s passes
    difference: float  # median of the paired differences (solve() - bare), seconds
    ratio: float  # 1 + difference / bare
    low: float
    high: float
    pairs: int


def paired_ratio(
    bare: list[float], ours: list[float], *, resamples: int = 2000, seed: int = 0
) -> PairedOverhead:
    """1 + median(ours_i - bare_i) / median(bare), with a percentile bootstrap interval
    (pairs resampled together, ``seed`` fixed: the same passes give the same interval)."""
    if len(bare) != len(ours) or len(bare) < 2:
        raise ValueError(f"need two equal lists of >= 2 paired times; got {len(bare)} and "
                         f"{len(ours)}.")  # fmt: skip
    diffs = [o - b for b, o in zip(bare, ours, strict=True)]
    base = statistics.median(bare)
    rng = random.Random(seed)
    n = len(diffs)
    boots = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        boots.append(1 + statistics.median(diffs[i] for i in idx)
                     / statistics.median(bare[i] for i in idx))  # fmt: skip
    boots.sort()
    low, high = boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]
    diff = statistics.median(diffs)
    return PairedOverhead(
        bare=base, ours=statistics.median(ours), difference=diff, ratio=1 + diff / base,
        low=low, high=high, pairs=n,
    )  # fmt: skip


def pair(gradient: str, batch: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(bare torchdiffeq, odebench) passes over the same field, states and tolerances."""
    from torchdiffeq import odeint, odeint_adjoint

    from odebench.instruments import CountedField
    from odebench.solvers import SolverConfig, solve
    from odebench.workloads.problems import MLPField

    with torch.random.fork_rng():  # the same field in every run (its NFE sets the time)
        torch.manual_seed(0)
        field = MLPField(64, 64)
    counted = CountedField(field)  # what measure() hands solve(): counted once per case
    y0 = torch.randn(batch, 64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 1.0])
    config = SolverConfig(method=METHOD, rtol=TOL, atol=TOL, gradient=gradient)  # type: ignore[arg-type]
    library = odeint_adjoint if gradient == "adjoint" else odeint

    def bare() -> None:
        ys = library(field, y0, t, method=METHOD, rtol=TOL, atol=TOL)
        ys[-1].square().mean().backward()

    def ours() -> None:
        ys = solve(counted, y0, t, config).ys
        ys[-1].square().mean().backward()

    return bare, ours


def solve_overhead(gradient: str, batch: int, *, pairs: int = PAIRS) -> PairedOverhead:
    """Bare torchdiffeq against ``solve()`` over ``pairs`` interleaved pairs of passes."""
    bare, ours = pair(gradient, batch)
    timed = time_interleaved(bare, ours, warmup=5, repeat=pairs, clock=time.process_time)
    return paired_ratio(list(timed.a.times), list(timed.b.times))


def fixed_cost_cases(n: int = 200) -> list:
    """``n`` tiny cases that differ only in tolerance (they share one reference)."""
    from odebench.benchmark.cases import Case

    return [
        Case(problem="harmonic_oscillator", method="dopri5", dtype="float64",
             rtol=10 ** (-3 - 6 * i / n), atol=10 ** (-3 - 6 * i / n), meters=("nfe", "error"))
        for i in range(n)
    ]  # fmt: skip


def case_fixed_cost(n: int = 200) -> tuple[float, float]:
    """(CPU seconds per case in ``measure()``, CPU seconds per case of the case's own work)
    over :func:`fixed_cost_cases`: the difference is what a case costs besides its own work
    (CPU time: on a loaded machine the wall time mostly measures the wait for a core).

    The own work is what ``measure()``'s nfe pass does, on the same case: a freshly built
    workload's forward and backward (the build is not timed: it is part of the fixed cost).
    Each case's ``measure()`` and its own work run one after the other, so the two means
    cover the same cases under the same load (a separate loop of bare ``solve()`` calls
    over other output times once read more than ``measure()`` itself: -9 ms of "fixed
    cost")."""
    from odebench.benchmark.measure import build_workload, measure

    total = work = 0.0
    for case in fixed_cost_cases(n):
        start = time.process_time()
        measure(case)
        total += time.process_time() - start
        workload = build_workload(case)
        start = time.process_time()
        workload.forward().backward()
        work += time.process_time() - start
    return total / n, work / n


def _one_round(gradient: str, batch: int, pairs: int) -> dict[str, float]:
    """One configuration in a fresh process: its paired figure as a dict (JSON)."""
    cmd = [sys.executable, "-m", "odebench.experiments.overhead", "--child", gradient,
           str(batch), "--pairs", str(pairs)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"overhead round {gradient} batch {batch} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rounds(gradient: str, batch: int, results: list[dict[str, float]]) -> str:
    """One line: the median ratio over fresh processes, their range and the bare times."""
    ratios = sorted(r["ratio"] for r in results)
    bare = sorted(r["bare"] for r in results)
    diffs = sorted(r["difference"] for r in results)
    return (f"{gradient:8s} batch {batch:3d}: ratio {statistics.median(ratios):.4f} "
            f"(median of {len(results)} processes; {ratios[0]:.4f}-{ratios[-1]:.4f})  "
            f"solve() +{diffs[0] * 1e6:.0f}..+{diffs[-1] * 1e6:.0f} us over torchdiffeq "
            f"{bare[0] * 1e3:.2f}-{bare[-1] * 1e3:.2f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.experiments.overhead",
        description="solve()'s cost over bare torchdiffeq (paired passes), and the fixed "
        "cost of a case in measure().",
    )
    parser.add_argument("--rounds", type=int, default=4,
                        help="fresh processes per configuration (default 4): the ratio "
                        "moves by about 0.5 %% between processes, more than one run's "
                        "interval")  # fmt: skip
    parser.add_argument("--pairs", type=int, default=PAIRS,
                        help=f"interleaved pairs of passes per process (default {PAIRS})")
    parser.add_argument("--child", nargs=2, metavar=("GRADIENT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.pairs < 2:
        parser.error("--rounds must be >= 1 and --pairs >= 2")
    torch.set_num_threads(1)
    if args.child:
        gradient, batch = args.child
        r = solve_overhead(gradient, int(batch), pairs=args.pairs)
        print(json.dumps(dataclasses.asdict(r)))
        return 0
    print(f"load average {os.getloadavg()}; {METHOD} rtol=atol={TOL:g}, 1 thread, "
          f"{args.pairs} interleaved pairs a process, {args.rounds} process(es) per line, "
          "CPU time")  # fmt: skip
    configs = [(g, b) for g in GRADIENTS for b in BATCHES]
    found: dict[tuple[str, int], list[dict[str, float]]] = {c: [] for c in configs}
    for k in range(args.rounds):  # rounds over all configurations: drift falls on each alike
        for gradient, batch in configs:
            found[gradient, batch].append(_one_round(gradient, batch, args.pairs))
        print(f"  round {k + 1}/{args.rounds} done", file=sys.stderr)
    for gradient, batch in configs:
        print(rounds(gradient, batch, found[gradient, batch]))
    per_case, per_solve = case_fixed_cost()
    print(f"200 tiny cases through measure(): {per_case * 1e3:.1f} ms a case, of which its "
          f"own forward + backward {per_solve * 1e3:.1f} ms: fixed cost "
          f"{(per_case - per_solve) * 1e3:.1f} ms")  # fmt: skip
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
