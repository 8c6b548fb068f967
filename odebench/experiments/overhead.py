"""What odebench's ``solve()`` costs over a bare ``torchdiffeq`` call, measured in one process.

The same MLP field (64 -> 64 tanh -> 64), initial states, method and tolerances, solved and
differentiated (forward + backward of a mean-square loss at t1) by ``torchdiffeq.odeint``
(or ``odeint_adjoint``) and by :func:`odebench.solvers.solve`, alternately, so a load that
comes and goes on a shared machine falls on both alike. The figure is the ratio of the
median CPU times (``time.process_time``: a process waiting for a core does not count):
1.01 means odebench's checks, counting and step statistics cost 1 %.

``python -m odebench.experiments.overhead`` prints the ratios at batch 128 and 8, backprop
and adjoint (dopri5, rtol = atol = 1e-5, one thread); the asv benchmark ``SolveOverhead``
tracks them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from odebench.instruments.timing import Interleaved, time_interleaved

#: The conditions of the published figures (issue 21, item 8).
METHOD, TOL = "dopri5", 1e-5
BATCHES: tuple[int, ...] = (128, 8)
GRADIENTS: tuple[str, ...] = ("backprop", "adjoint")


def pair(gradient: str, batch: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """(bare torchdiffeq, odebench) passes over the same field, states and tolerances."""
    from torchdiffeq import odeint, odeint_adjoint

    from odebench.solvers import SolverConfig, solve
    from odebench.workloads.problems import MLPField

    field = MLPField(64, 64)
    y0 = torch.randn(batch, 64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 1.0])
    config = SolverConfig(method=METHOD, rtol=TOL, atol=TOL, gradient=gradient)  # type: ignore[arg-type]
    library = odeint_adjoint if gradient == "adjoint" else odeint

    def bare() -> None:
        ys = library(field, y0, t, method=METHOD, rtol=TOL, atol=TOL)
        ys[-1].square().mean().backward()

    def ours() -> None:
        ys = solve(field, y0, t, config).ys
        ys[-1].square().mean().backward()

    return bare, ours


def solve_overhead(gradient: str, batch: int, *, repeat: int = 60) -> Interleaved:
    """Bare torchdiffeq (``a``) against ``solve()`` (``b``); ``.ratio`` is b over a."""
    bare, ours = pair(gradient, batch)
    return time_interleaved(bare, ours, warmup=3, repeat=repeat, clock=time.process_time)


def main() -> None:
    torch.set_num_threads(1)
    repeat = int(os.environ.get("ODEBENCH_OVERHEAD_REPEAT", "60"))
    print(f"load average {os.getloadavg()[0]:.2f}; {METHOD} rtol=atol={TOL:g}, 1 thread, "
          f"{repeat} interleaved passes each, medians of CPU time")  # fmt: skip
    for gradient in GRADIENTS:
        for batch in BATCHES:
            r = solve_overhead(gradient, batch, repeat=repeat)
            print(f"{gradient:8s} batch {batch:3d}: torchdiffeq {r.a.median * 1e3:7.3f} ms  "
                  f"solve() {r.b.median * 1e3:7.3f} ms  ratio {r.ratio:.4f}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
