"""scipy's ``odeint`` (ODEPACK's LSODA) with a banded Jacobian: the paper's MNIST solver.

The paper's MNIST runs used ``scipy.integrate.odeint`` (torchdiffeq issue #97): LSODA,
which starts with Adams' method (non-stiff) and switches to BDF only if the problem turns
stiff. torchdiffeq's own scipy wrapper calls ``solve_ivp(method="LSODA")``, which allocates
a dense n x n Jacobian workspace: 1.17 TiB for the MNIST ODE block at batch 128, so it
cannot run there. ``odeint`` with ``ml=mu=0`` declares the Jacobian banded with no band
beside the diagonal: its workspace is O(n) (a 877k-dimensional system ran in 176 MB). Only
a BDF step (stiff mode) uses the Jacobian, and then its diagonal by finite differences.

Gradient: the adjoint only (scipy is not differentiable). The forward solve keeps the state
at the output times; ``backward()`` solves the augmented system ``[y, a, g]`` from each
output time to the one before with ``odeint`` again, ``dy/dt = f``, ``da/dt = -a^T df/dy``,
``dg/dt = -a^T df/dtheta``, as torchdiffeq's ``odeint_adjoint`` does, but under ODEPACK's
one weighted RMS norm over the whole augmented state (torchdiffeq controls each part and
each parameter tensor apart, the maximum of their norms). Every evaluation goes through the
counted field, so NFE-F and NFE-B are odebench's own counts; ``library_nfe`` is ODEPACK's.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from odebench.solvers.budget import current_budget
from odebench.solvers.result import Solution, SolveError, SolveStats, Status

if TYPE_CHECKING:
    from odebench.solvers.config import SolverConfig

ADAPTIVE_METHODS: tuple[str, ...] = ("lsoda",)
FIXED_GRID_METHODS: tuple[str, ...] = ()
METHODS: tuple[str, ...] = ADAPTIVE_METHODS
#: scipy's defaults for odeint, used when a config leaves rtol/atol unset.
ODEINT_DEFAULT_RTOL = 1.49012e-8
ODEINT_DEFAULT_ATOL = 1.49012e-8

#: ODEPACK's return codes (istate) -> how the solve ended.
_STATUS: dict[int, Status] = {
    2: Status.SUCCESS,
    -1: Status.MAX_STEPS,  # excess work: mxstep steps before the next output time
    -2: Status.FAILED,  # excess accuracy requested
    -3: Status.FAILED,  # illegal input
    -4: Status.STEP_SIZE_UNDERFLOW,  # repeated error test failures
    -5: Status.STEP_SIZE_UNDERFLOW,  # repeated convergence failures
    -6: Status.NON_FINITE,  # an error weight became zero (a component vanished or blew up)
}


def check(config: SolverConfig) -> str | None:
    """What ``odeint`` cannot do, as a message naming the fix."""
    if config.gradient != "adjoint":
        return (
            "backend 'scipy_odeint' runs scipy's LSODA, which autograd cannot differentiate: "
            "use gradient='adjoint' (the reverse solve runs LSODA too), or a torch method such "
            "as backend='torchdiffeq', method='dopri5' for backprop."
        )
    if config.seminorm:
        return (
            "seminorm=True does not apply to backend 'scipy_odeint': ODEPACK controls one RMS "
            "norm over the whole augmented state. Drop seminorm."
        )
    if config.adjoint_method not in (None, "lsoda"):
        return "backend 'scipy_odeint' solves the adjoint with LSODA too: drop adjoint_method."
    return None


def _ier(info: dict[str, Any]) -> int:
    """ODEPACK's return code, from scipy's message table (odeint returns only the text)."""
    from scipy.integrate._odepack_py import _msgs

    codes = {text: code for code, text in _msgs.items()}
    return int(codes.get(info.get("message", ""), -3))


def _odeint(
    rhs: Any, z0: np.ndarray, t0: float, t1s: list[float], rtol: float, atol: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """``odeint`` from ``t0`` to each of ``t1s`` with the banded (diagonal) Jacobian."""
    from scipy.integrate import odeint

    budget = current_budget()  # ODEPACK's mxstep: steps per output interval (0: its 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failure becomes a Status, not a printed warning
        zs, info = odeint(
            rhs, z0, [t0, *t1s], tfirst=True, ml=0, mu=0, rtol=rtol, atol=atol,
            full_output=True, mxstep=budget or 0,
        )  # fmt: skip
    return zs, info


def _raise_unless_ok(info: dict[str, Any], where: str) -> int:
    ier = _ier(info)
    status = _STATUS.get(ier, Status.FAILED)
    if status != Status.SUCCESS:
        raise SolveError(
            f"scipy odeint LSODA ({where}): {status.value} ({info.get('message', '')})",
            status=status,
        )
    return ier


class _OdeintAdjoint(torch.autograd.Function):
    """Forward: LSODA on ``f``. Backward: LSODA on the augmented adjoint system."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, opts: dict[str, Any], y0: torch.Tensor, t: torch.Tensor, *params: torch.Tensor
    ) -> torch.Tensor:
        field, shape, dtype = opts["field"], y0.shape, y0.dtype
        device = y0.device

        def rhs(tt: float, z: np.ndarray) -> np.ndarray:
            y = torch.from_numpy(z).view(shape).to(device=device, dtype=dtype)
            with torch.no_grad():
                out = field(torch.tensor(tt, dtype=t.dtype, device=device), y)
            return out.detach().reshape(-1).to("cpu", torch.float64).numpy()

        times = t.detach().cpu().double().tolist()
        z0 = y0.detach().reshape(-1).to("cpu", torch.float64).numpy()
        zs, info = _odeint(rhs, z0, times[0], times[1:], opts["rtol"], opts["atol"])
        _raise_unless_ok(info, "forward")
        stats: SolveStats = opts["stats"]
        stats.steps_accepted = int(info["nst"][-1])
        stats.library_nfe = int(info["nfe"][-1])
        opts["library_stats"].update(
            forward_method_used=[int(m) for m in info["mused"]],
            forward_jacobians=int(info["nje"][-1]),
        )
        ys = torch.from_numpy(zs).view(len(times), *shape).to(device=device, dtype=dtype)
        ctx.opts = opts
        ctx.save_for_backward(ys, t, *params)
        return ys

    @staticmethod
    def backward(ctx: Any, grad_ys: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        ys, t, *params = ctx.saved_tensors
        opts = ctx.opts
        field = opts["field"]
        shape, dtype, device = ys.shape[1:], ys.dtype, ys.device
        n = math.prod(shape)
        sizes = [p.numel() for p in params]
        offsets = np.cumsum([2 * n, *sizes]).tolist()

        def aug_rhs(tt: float, z: np.ndarray) -> np.ndarray:
            y = torch.from_numpy(z[:n]).view(shape).to(device=device, dtype=dtype)
            a = torch.from_numpy(z[n : 2 * n]).view(shape).to(device=device, dtype=dtype)
            with torch.enable_grad():
                y = y.requires_grad_(True)
                f = field(torch.tensor(tt, dtype=t.dtype, device=device), y)
                grads = torch.autograd.grad(f, (y, *params), -a, allow_unused=True)
            parts = [f.detach(), *(torch.zeros_like(w) if g is None else g for g, w in
                                   zip(grads, (y, *params), strict=True))]  # fmt: skip
            return torch.cat([p.reshape(-1).to("cpu", torch.float64) for p in parts]).numpy()

        times = t.detach().cpu().double().tolist()
        adj_y = grad_ys[-1].reshape(-1).to("cpu", torch.float64).numpy().copy()
        adj_p = np.zeros(offsets[-1] - 2 * n)
        methods: list[int] = []
        jacobians = 0
        for i in range(len(times) - 1, 0, -1):
            y_i = ys[i].reshape(-1).to("cpu", torch.float64).numpy()
            z0 = np.concatenate([y_i, adj_y, adj_p])
            zs, info = _odeint(aug_rhs, z0, times[i], [times[i - 1]], opts["adjoint_rtol"],
                               opts["adjoint_atol"])  # fmt: skip
            _raise_unless_ok(info, "adjoint")
            methods += [int(m) for m in info["mused"]]
            jacobians += int(info["nje"][-1])
            z = zs[-1]
            adj_y = z[n : 2 * n] + grad_ys[i - 1].reshape(-1).to("cpu", torch.float64).numpy()
            adj_p = z[2 * n :]
        opts["library_stats"].update(adjoint_method_used=methods, adjoint_jacobians=jacobians)
        grad_y0 = torch.from_numpy(adj_y).view(shape).to(device=device, dtype=dtype)
        grad_params = [
            torch.from_numpy(adj_p[lo - 2 * n : hi - 2 * n]).view(p.shape).to(p)
            for p, lo, hi in zip(params, offsets[:-1], offsets[1:], strict=True)
        ]
        return (None, grad_y0, None, *grad_params)


def integrate(
    field: torch.nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    config: SolverConfig,
    adjoint_params: tuple[torch.Tensor, ...] | None,
) -> Solution:
    """Solve with ``scipy.integrate.odeint`` (LSODA, banded Jacobian); the adjoint gradient."""
    params = tuple(field.parameters()) if adjoint_params is None else tuple(adjoint_params)
    params = tuple(p for p in params if p.requires_grad)
    rtol = ODEINT_DEFAULT_RTOL if config.rtol is None else config.rtol
    atol = ODEINT_DEFAULT_ATOL if config.atol is None else config.atol
    stats = SolveStats()
    library_stats: dict[str, Any] = {}
    opts = {
        "field": field, "stats": stats, "library_stats": library_stats,
        "rtol": rtol, "atol": atol,
        "adjoint_rtol": rtol if config.adjoint_rtol is None else config.adjoint_rtol,
        "adjoint_atol": atol if config.adjoint_atol is None else config.adjoint_atol,
    }  # fmt: skip
    ys = _OdeintAdjoint.apply(opts, y0, t, *params)
    return Solution(ts=t, ys=ys, stats=stats, library_stats=library_stats)
