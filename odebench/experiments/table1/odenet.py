"""Measurements on the trained ODE-Net beside the cases: Figures 3a and 3c, test-time
tolerance, NFE per example.

Each reads the trained weights (a copy per solver: nothing here changes the model) and
returns a tidy table; the run writes them into its folder, where ``odebench claims`` and
the figures read them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from torch import nn

from odebench.benchmark.measure import MODEL_STEM
from odebench.experiments.table1.config import FIG3C_SOLVERS, Table1Config
from odebench.experiments.training import stderr_progress, subset_indices, train_step
from odebench.instruments.nfe import CountedField, nfe, reset_nfe
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.mnist import MNIST, to_float
from odebench.workloads.models.mnist import DEFAULT_ODENET_SOLVER, build_model
from odebench.workloads.problems import float64_copy


def measurement_images(data: MNIST, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images (as ``inputs="mnist"`` cases use), float."""
    return to_float(data.test_images[:n]), data.test_labels[:n]


def _with_solver(model: nn.Module, solver: SolverConfig) -> nn.Module:
    """A new ODE-Net with ``model``'s weights, integrating with ``solver``."""
    net = build_model("odenet", stem=MODEL_STEM, solver=solver)
    net.load_state_dict(model.state_dict())
    return net


@torch.no_grad()
def block_error_points(
    model: nn.Module,
    x: torch.Tensor,
    tolerances: tuple[float, ...],
    *,
    method: str = "dopri5",
    reference_method: str = "dopri5",
    reference_rtol: float = 1e-9,
) -> pd.DataFrame:
    """Figure 3a: the ODE block's output error against its NFE-F, one row per tolerance.

    The block integrates the stem's features of ``x`` with ``method`` at rtol = atol =
    each tolerance; the reference is ``reference_method`` at ``reference_rtol``. All in
    float64 (a copy of the block), so that the error is the solver's, not float32's rounding
    (which floors near 1e-5 here). Error: relative L2 norm of the difference over the batch.
    The reference is dopri5, not dopri8: the field has ReLUs (not smooth), and on the trained
    block dopri8 took 26,470 evaluations at 1e-10 (3,824 at 1e-8) where dopri5 takes 2,642
    (962 at 1e-9; 16 test images).
    """
    block = model.ode_block
    if block is None:
        raise ValueError("block_error_points needs an ODE-Net (a model with an ODE block).")
    was_training = model.training
    model.eval()
    h = model[0](x).double()
    model.train(was_training)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    func = float64_copy(block.field.inner)
    ref_cfg = SolverConfig(method=reference_method, rtol=reference_rtol, atol=reference_rtol)
    reference = solve(func, h, t, ref_cfg).ys[-1]
    rows = []
    for tol in tolerances:
        counted = CountedField(func)
        y = solve(counted, h, t, SolverConfig(method=method, rtol=tol, atol=tol)).ys[-1]
        err = float(torch.linalg.vector_norm(y - reference) / torch.linalg.vector_norm(reference))
        rows.append(
            {
                "method": method, "rtol": tol, "atol": tol, "nfe_forward": counted.calls,
                "relative_error": err,
                "reference": f"{reference_method} rtol=atol={reference_rtol:g}",
                "dtype": "float64", "batch": len(x),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def solver_nfe_points(
    model: nn.Module, data: MNIST, cfg: Table1Config
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Figure 3c beside training: NFE-F and NFE-B per batch for each solver, same weights.

    The trained ODE-Net's weights are kept (no update): each solver sees the same
    ``fig3c_batches`` batches of training images (batch as in training), one forward and
    backward each. A solver that fails is reported with its error, not dropped.
    """
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    idx = subset_indices(len(data.train_images), None, cfg.train.seed + 2)
    for name in cfg.fig3c_solvers:
        solver = FIG3C_SOLVERS[name]
        net = _with_solver(model, solver)
        net.train()
        for i in range(cfg.fig3c_batches):
            batch = idx[i * cfg.train.batch_size : (i + 1) * cfg.train.batch_size]
            x, y = to_float(data.train_images[batch]), data.train_labels[batch]
            try:
                step = train_step(net, x, y, None)
            except (RuntimeError, ValueError, MemoryError) as exc:
                failures.append({"solver": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                break
            rows.append({"solver": name, "norm": _norm_name(solver), "batch_index": i, **step})
            stderr_progress(
                f"figure 3c: {name} batch {i + 1}/{cfg.fig3c_batches} NFE "
                f"{step['nfe_forward']}/{step['nfe_backward']}"
            )
    return pd.DataFrame(rows), failures


def _norm_name(solver: SolverConfig) -> str:
    """The error norm of the adjoint's reverse solve, in words."""
    if solver.backend == "scipy_odeint" or solver.flat_norm:
        return "flat RMS over the augmented state"
    if solver.seminorm:
        return "seminorm"
    return "max of per-tensor RMS (torchdiffeq)"


@torch.no_grad()
def test_tolerance_points(model: nn.Module, data: MNIST, cfg: Table1Config) -> pd.DataFrame:
    """The trained ODE-Net's test error and NFE-F when evaluated at other tolerances.

    Trained at dopri5 rtol = atol = 1e-3; evaluated on the first ``tolerance_test_images``
    test images at each of ``test_tolerances`` (Sec. 3: train at high accuracy, test at
    lower accuracy).
    """
    n = min(cfg.tolerance_test_images, len(data.test_images))
    images, labels = measurement_images(data, n)
    size = cfg.train.test_batch_size
    rows = []
    for tol in cfg.test_tolerances:
        net = _with_solver(model, replace(DEFAULT_ODENET_SOLVER, rtol=tol, atol=tol)).eval()
        wrong, calls, batches = 0, 0, 0
        for start in range(0, n, size):
            x, y = images[start : start + size], labels[start : start + size]
            reset_nfe(net)
            wrong += int((net(x).argmax(dim=1) != y).sum())
            calls += nfe(net, "forward")
            batches += 1
        rows.append(
            {
                "method": "dopri5", "rtol": tol, "atol": tol,
                "trained_rtol": DEFAULT_ODENET_SOLVER.rtol, "test_images": n,
                "test_error": wrong / n if n else float("nan"),
                "nfe_forward_per_batch": calls / max(batches, 1),
                "batch": cfg.train.test_batch_size,
            }
        )  # fmt: skip
        stderr_progress(f"test-time tolerance {tol:g}: error {rows[-1]['test_error']:.4f}")
    return pd.DataFrame(rows)


@torch.no_grad()
def single_image_nfe(model: nn.Module, data: MNIST, cfg: Table1Config) -> pd.DataFrame:
    """NFE-F of each of the first ``single_images`` test images alone, and of batches.

    The training solver (dopri5, 1e-3). A batch is one ODE whose step size serves every
    image in it, so its NFE is at least about the hardest image's; per-image NFE shows how
    evaluation adapts to each input.
    """
    n = min(cfg.single_images, len(data.test_images))
    if n == 0:
        return pd.DataFrame()
    net = _with_solver(model, DEFAULT_ODENET_SOLVER).eval()
    x, _ = measurement_images(data, max(n, cfg.measure_batch))
    rows = []
    for i in range(n):
        reset_nfe(net)
        net(x[i : i + 1])
        rows.append({"kind": "single", "index": i, "batch": 1, "nfe_forward": nfe(net, "forward")})
    for size in sorted({n, cfg.measure_batch}):
        reset_nfe(net)
        net(x[:size])
        rows.append(
            {"kind": "batch", "index": 0, "batch": size, "nfe_forward": nfe(net, "forward")}
        )
    return pd.DataFrame(rows)
