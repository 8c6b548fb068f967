"""aca against TorchDiffEqPack's ACA (``odesolve_adjoint``) at equal gradient error.

Work-precision, not equal nominal tolerance: the two control their steps differently (the
peer reaches a given gradient error at a far looser rtol), so each is run over a range of
tolerances, side by side in one process, and compared where their curves of forward +
backward time against gradient error cross a target error (log-log interpolation).

The fields: ``mlp`` (64-wide MLP, batch 128) and ``spiral_trained`` (2-D), float64,
dopri5, loss 0.5 |y(t1)|^2; the gradient (y0 and parameters) is compared with backprop
through torchdiffeq's dopri5 at rtol = atol = 1e-12. Times are the median CPU time
(``time.process_time``) of forward + backward over the passes, the configurations
interleaved pass by pass so a changing load falls on all alike.

``python -m odebench.experiments.aca_peer --out results/aca_peer`` writes ``results.csv``
(one row per field, mode and tolerance), ``summary.md`` (aca / peer at the target errors)
and ``provenance.json``. TorchDiffEqPack is optional (``pip install --no-deps
TorchDiffEqPack==1.0.1``): without it the peer's rows are skipped with the reason.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

FIELDS: tuple[str, ...] = ("mlp", "spiral_trained")
ACA_TOLS: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
PEER_TOLS: tuple[float, ...] = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6)
TARGETS: tuple[float, ...] = (1e-4, 1e-6)


def peer_missing() -> str | None:
    """Why the peer cannot run here (None when it can)."""
    try:
        import TorchDiffEqPack  # noqa: F401
    except ImportError:
        return "TorchDiffEqPack is not installed (pip install --no-deps TorchDiffEqPack==1.0.1)"
    return None


def _grad(solve: Callable[[torch.Tensor], torch.Tensor], field: torch.nn.Module,
          y0: torch.Tensor) -> torch.Tensor:  # fmt: skip
    y = y0.detach().clone().requires_grad_(True)
    y1 = solve(y)
    params = [p for p in field.parameters() if p.requires_grad]
    got = torch.autograd.grad(0.5 * (y1**2).sum(), [y, *params])
    return torch.cat([g.flatten() for g in got])


def solvers(field: torch.nn.Module, t1: float) -> dict[str, Callable[..., Any]]:
    """mode -> (rtol -> solve(y0) -> y(t1))."""
    from odebench.instruments import CountedField
    from odebench.solvers import SolverConfig, solve

    counted = CountedField(field)
    t = torch.tensor([0.0, t1], dtype=torch.float64)

    def ours(gradient: str) -> Callable[[float], Callable[[torch.Tensor], torch.Tensor]]:
        def at(tol: float) -> Callable[[torch.Tensor], torch.Tensor]:
            config = SolverConfig(method="dopri5", rtol=tol, atol=tol, gradient=gradient)  # type: ignore[arg-type]
            return lambda y: solve(counted, y, t, config).ys[-1]

        return at

    modes: dict[str, Callable[..., Any]] = {"aca": ours("aca"), "backprop": ours("backprop")}
    if peer_missing() is None:
        from TorchDiffEqPack import odesolve_adjoint

        def peer(tol: float) -> Callable[[torch.Tensor], torch.Tensor]:
            def run(y: torch.Tensor) -> torch.Tensor:
                options = {"method": "dopri5", "t0": 0.0, "t1": t1, "rtol": tol, "atol": tol,
                           "h": None, "print_neval": False, "neval_max": 1_000_000}  # fmt: skip
                return odesolve_adjoint(field, y, options=options)

            return run

        modes["peer"] = peer
    return modes


def measure(field_name: str, *, passes: int) -> list[dict[str, Any]]:
    """Every mode and tolerance on one field: gradient error and forward + backward time."""
    from torchdiffeq import odeint

    from odebench.workloads.problems import get_problem

    problem = get_problem(field_name)
    field = problem.field().double()
    y0 = problem.y0.double()
    t1 = float(problem.t1)
    t = torch.tensor([0.0, t1], dtype=torch.float64)
    ref = _grad(lambda y: odeint(field, y, t, method="dopri5", rtol=1e-12, atol=1e-12)[-1],
                field, y0)  # fmt: skip
    modes = solvers(field, t1)
    runs: list[tuple[str, float, Callable[[torch.Tensor], torch.Tensor]]] = []
    for mode, tols in (("aca", ACA_TOLS), ("backprop", ACA_TOLS), ("peer", PEER_TOLS)):
        if mode in modes:
            runs += [(mode, tol, modes[mode](tol)) for tol in tols]
    rows = []
    for mode, tol, run in runs:
        got = _grad(run, field, y0)
        error = float((got - ref).norm() / ref.norm())
        rows.append({"field": field_name, "mode": mode, "rtol": tol, "grad_error": error,
                     "times": []})  # fmt: skip
    for i in range(passes + 1):  # pass 0 warms up; configurations interleaved, order alternating
        order = list(zip(rows, runs, strict=True))
        for row, (_, _, run) in order if i % 2 else reversed(order):
            start = time.process_time()
            _grad(run, field, y0)
            if i:
                row["times"].append(time.process_time() - start)
    for row in rows:
        times = row.pop("times")
        row["time_s"] = statistics.median(times)
        q = statistics.quantiles(times, n=4, method="inclusive") if len(times) > 1 else [0, 0, 0]
        row["time_iqr_s"] = q[2] - q[0]
        row["passes"] = len(times)
    return rows


def front(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """The work-precision front: (error, time) of the runs no other run beats on both, by
    error. A solver's error is not monotone in its tolerance (torchdiffeq's dopri5 on the
    MLP: 1.9e-6 at rtol 1e-4, 8.2e-5 at 1e-5), so a run that a cheaper one out-does on
    accuracy is no point of the curve."""
    pts = sorted((r["grad_error"], r["time_s"]) for r in rows if r["grad_error"] > 0)
    kept: list[tuple[float, float]] = []
    for error, time_s in pts:  # by error, most accurate first: keep strictly cheaper ones
        if not kept or time_s < kept[-1][1]:
            kept.append((error, time_s))
    return kept


def time_at(rows: list[dict[str, Any]], target: float) -> float:
    """Forward + backward time to reach gradient error ``target``: log-log interpolation
    between the two points of the work-precision :func:`front` around it; where every run
    of the mode errs less than ``target``, its cheapest run's time (it does better for that
    time); nan where no run reaches ``target``."""
    pts = front(rows)
    for (e1, t1), (e2, t2) in zip(pts, pts[1:], strict=False):
        if e1 <= target <= e2:
            w = (math.log(target) - math.log(e1)) / (math.log(e2) - math.log(e1))
            return math.exp(math.log(t1) + w * (math.log(t2) - math.log(t1)))
    if pts and pts[-1][0] <= target:
        return pts[-1][1]
    return math.nan


def summary(rows: list[dict[str, Any]], missing: str | None) -> str:
    lines = ["# aca against TorchDiffEqPack's odesolve_adjoint at equal gradient error", ""]
    if missing:
        lines += [f"Peer rows skipped: {missing}.", ""]
    lines += ["| field | target gradient error | aca | peer | backprop | aca / peer |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name in FIELDS:
        mine = [r for r in rows if r["field"] == name]
        by = {m: [r for r in mine if r["mode"] == m] for m in ("aca", "peer", "backprop")}
        peer_best = min((r["grad_error"] for r in by["peer"]), default=math.nan)
        for target in (*TARGETS, peer_best):
            if math.isnan(target):
                continue
            ta, tp, tb = (time_at(by[m], target) for m in ("aca", "peer", "backprop"))
            ratio = ta / tp if tp == tp and ta == ta else math.nan

            def ms(v: float) -> str:
                return "n/a" if math.isnan(v) else f"{v * 1e3:.1f} ms"

            label = f"{target:.2g}" + (" (peer's tightest)" if target == peer_best else "")
            lines.append(f"| {name} | {label} | {ms(ta)} | {ms(tp)} | {ms(tb)} | "
                         f"{'n/a' if math.isnan(ratio) else f'{ratio:.2f}'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    from odebench.running.provenance import provenance, write_provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a new folder for the results")
    parser.add_argument("--passes", type=int, default=5, help="timed passes per configuration")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"aca_peer: {out} is not empty: give a new folder", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    info = provenance(suite="aca_peer", argv=sys.argv, threads=1, out=out)
    info["load_average"] = {"before": list(os.getloadavg()), "cpus": os.cpu_count()}
    missing = peer_missing()
    if missing is None:
        from importlib.metadata import version

        info["TorchDiffEqPack"] = version("TorchDiffEqPack")
    rows = [row for name in FIELDS for row in measure(name, passes=args.passes)]
    info["load_average"]["after"] = list(os.getloadavg())
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    (out / "summary.md").write_text(summary(rows, missing))
    write_provenance(out, info)
    print(summary(rows, missing), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
