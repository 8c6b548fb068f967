"""aca against backprop on adaptive methods: the step-size controller's derivative, measured.

``python -m odebench.experiments.step_size_derivative`` prints, on the ``gradients`` suite's
problems (float64, dopri5), the relative difference between aca's and backprop's gradients at
torchdiffeq's default options, and again once backprop is given, as a constant, the first
step it chose itself (:func:`odebench.solvers.gradients.step_size_derivative`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from odebench.solvers.gradients import step_size_derivative


def main() -> None:
    """Print :func:`step_size_derivative` on the gradients suite's problems (float64)."""
    from odebench.workloads.problems import get_problem

    torch.set_num_threads(1)
    print("problem          outputs  rtol   |aca-backprop|/|backprop|  with backprop's dt0 fixed")
    for name in ("spiral_trained", "mlp_trained", "linear_batched"):
        problem = get_problem(name)
        made = problem.field()
        field_ = made.double() if isinstance(made, nn.Module) else _Wrapped(made)
        y0 = problem.y0.double()
        for outputs in (2, 11):
            t = problem.times(outputs, dtype=torch.float64)
            for tol in (1e-3, 1e-5, 1e-7):
                diff, held = step_size_derivative(field_, y0, t, rtol=tol, atol=tol)
                print(f"{name:16s} {outputs:7d}  {tol:5.0e}  {diff:24.2e}  {held:24.2e}")


class _Wrapped(nn.Module):
    """A plain-function field as a module (no parameters: the gradient is y0's alone)."""

    def __init__(self, func: Any):
        super().__init__()
        self.func = func

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.func(t, y)


if __name__ == "__main__":
    main()
