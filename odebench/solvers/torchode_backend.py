"""The torchode backend: per-sample stepping, its own status codes and step statistics.

torchode steps every batch sample with its own step size and wants the state as
``(batch, features)`` and the times per sample. The field keeps seeing the state in the
user's shape: the leading dimension of ``y0`` is the batch (a 1-D ``y0`` is one sample),
and ``t`` arrives per sample, shaped ``(batch, 1, ..., 1)`` so that it broadcasts against
``y`` (a field that needs one scalar time cannot run under per-sample stepping).

Mapping (odebench name -> torchode):

- adaptive, with torchode's ``IntegralController`` (torchdiffeq's control law: safety 0.9,
  step factor in [0.2, 10], exponent 1/order, error norm RMS, but per sample):
  ``dopri5`` -> ``Dopri5``, ``tsit5`` -> ``Tsit5``, ``adaptive_heun`` -> ``Heun`` (the
  Heun-Euler pair of torchdiffeq's ``adaptive_heun``);
- fixed grid, with ``FixedStepController``: ``euler`` -> ``Euler``, ``heun2`` -> ``Heun``
  (its error estimate unused: torchdiffeq's ``heun2``).

Gradients: ``backprop`` -> ``AutoDiffAdjoint`` with torchode's default
``backprop_through_step_size_control=True`` (the gradient also flows through the chosen step
sizes, which torchdiffeq detaches: on a ReLU/GroupNorm field the two backprop gradients
differed by 2 % at rtol 1e-8, by 0.5 % with the control detached; on a smooth tanh field
both agree to 1e-8); ``adjoint`` -> ``BacksolveAdjoint``, which differentiates the field's
registered parameters (``named_parameters()``) and evaluates the reverse dynamics one sample
at a time under ``torch.func.vmap``.

NFE: odebench's counter counts batched calls. torchode's ``n_f_evals`` adds one to every
sample at each call, so it equals that count for every sample of the forward solve; its
reverse solve calls the field directly (not through ``ODETerm.vf``), so torchode reports
``n_f_evals`` 0 there while odebench counts every call.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch
import torchode
from torch import nn
from torchode import status_codes

from odebench.solvers.budget import current_budget
from odebench.solvers.gradients import Checkpointed
from odebench.solvers.result import Solution, SolveError, SolveStats, Status
from odebench.solvers.torchdiffeq_backend import fixed_grid_steps

if TYPE_CHECKING:
    from odebench.solvers.config import SolverConfig

_ADAPTIVE: dict[str, type[nn.Module]] = {
    "adaptive_heun": torchode.Heun,
    "dopri5": torchode.Dopri5,
    "tsit5": torchode.Tsit5,
}
_FIXED: dict[str, type[nn.Module]] = {"euler": torchode.Euler, "heun2": torchode.Heun}

ADAPTIVE_METHODS: tuple[str, ...] = tuple(sorted(_ADAPTIVE))
FIXED_GRID_METHODS: tuple[str, ...] = tuple(sorted(_FIXED))
METHODS: tuple[str, ...] = ADAPTIVE_METHODS + FIXED_GRID_METHODS

# torchode's ``solve_ivp`` default (for both), so an unset tolerance means what it does there
TORCHODE_DEFAULT_RTOL = 1e-7
TORCHODE_DEFAULT_ATOL = 1e-7

_STATUS: dict[int, Status] = {
    status_codes.SUCCESS: Status.SUCCESS,
    status_codes.GENERAL_ERROR: Status.FAILED,
    status_codes.REACHED_DT_MIN: Status.STEP_SIZE_UNDERFLOW,
    status_codes.REACHED_MAX_STEPS: Status.MAX_STEPS,
    status_codes.INFINITE_NORM: Status.NON_FINITE,
}
# which status a batch takes when its samples ended differently: the worst one
_SEVERITY = [Status.NON_FINITE, Status.STEP_SIZE_UNDERFLOW, Status.MAX_STEPS, Status.FAILED]


def check(config: SolverConfig) -> str | None:
    """torchode's constraints beyond the generic ones, as a message naming the fix."""
    unsupported = [
        name
        for name in ("adjoint_rtol", "adjoint_atol", "adjoint_method")
        if getattr(config, name) is not None
    ]
    if config.seminorm:
        unsupported.append("seminorm")
    if config.gradient == "aca":
        return (
            "gradient='aca' replays torchdiffeq's solver steps: use backend='torchdiffeq' "
            "(torchode's modes: backprop, checkpoint, adjoint, adjoint_joint)."
        )
    if unsupported:
        return (
            f"backend='torchode' has no {', '.join(unsupported)}: its BacksolveAdjoint solves "
            "backwards with the forward method and tolerances. Drop them, or use "
            "backend='torchdiffeq'."
        )
    return None


def failure_status(exc: BaseException) -> Status | None:
    """torchode reports failures as status codes, never as exceptions."""
    return None


class _PerSampleField(nn.Module):
    """The field as torchode calls it: ``(batch, features)`` in, ``(batch, features)`` out.

    Reshapes to the user's sample shape; under ``vmap`` (the backsolve) one sample arrives
    without its batch dimension, and is given a batch of one.
    """

    def __init__(self, field: nn.Module, sample_shape: torch.Size, batched: bool):
        super().__init__()
        self.field = field
        self.sample_shape = sample_shape
        self.batched = batched

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.batched and y.ndim == 1:
            # one sample under vmap, sliced from the reverse solve's augmented state: its
            # storage is strided and .contiguous() cannot tell under vmap (group_norm fails)
            y_in = y.reshape(1, *self.sample_shape).clone(memory_format=torch.contiguous_format)
            t_in = t
        elif self.batched:
            y_in = y.reshape(-1, *self.sample_shape)
            t_in = t.reshape(-1, *([1] * len(self.sample_shape))) if t.ndim == 1 else t
        else:
            y_in = y.reshape(self.sample_shape)
            t_in = t.reshape(()) if t.ndim == 1 else t
        return self.field(t_in, y_in).reshape(y.shape)


def _stepper(config: SolverConfig, term: torchode.ODETerm) -> tuple[nn.Module, nn.Module]:
    """(step method, step-size controller)."""
    if config.adaptive:
        method = _ADAPTIVE[config.method](term=term)
        rtol = TORCHODE_DEFAULT_RTOL if config.rtol is None else config.rtol
        atol = TORCHODE_DEFAULT_ATOL if config.atol is None else config.atol
        return method, torchode.IntegralController(atol=atol, rtol=rtol, term=term)
    return _FIXED[config.method](term=term), torchode.FixedStepController()


@functools.lru_cache(maxsize=256)
def _fixed_dt(
    t0: float, t1: float, steps: int, step_size: float | None, dtype: torch.dtype
) -> float:
    """The step torchode must be given to take exactly the ``steps`` torchdiffeq takes.

    torchode accumulates ``t += dt`` in the time dtype and clamps the last step to end at
    ``t1``; ``dt = span / N`` (or ``h``) can fall an ulp short after N steps and add an
    (N+1)-th step of ~1e-16 (one more NFE). So replay its arithmetic and lengthen dt by the
    shortfall until N steps reach ``t1``: the last step is then shorter by about the rounding
    accumulated. ``steps`` is the count of torchdiffeq's grid
    (:func:`~odebench.solvers.torchdiffeq_backend.fixed_grid_steps`), built in ``dtype``.
    """
    ends = torch.tensor([t0, t1], dtype=dtype)
    span = ends[1] - ends[0]
    direction = torch.sign(span)
    if step_size is not None:
        dt = direction * torch.tensor(step_size, dtype=dtype)
    else:
        dt = span / steps
    for _ in range(64):
        t = ends[0]
        for _ in range(steps):
            remaining = ends[1] - t
            t = t + (dt if abs(dt) < abs(remaining) else remaining)
        shortfall = (ends[1] - t) * direction
        if bool(shortfall <= 0):
            break
        dt = torch.nextafter(dt + direction * shortfall / steps, dt + 2 * direction * abs(dt))
    return float(dt)


def _sample_statuses(status: torch.Tensor, batch: int) -> list[Status]:
    codes = status.reshape(-1).tolist() if status.ndim else [int(status)] * batch
    return [_STATUS.get(int(c), Status.FAILED) for c in codes]


def integrate(
    field: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    config: SolverConfig,
    adjoint_params: tuple[torch.Tensor, ...] | None,
) -> Solution:
    """Solve with torchode; a failed sample makes the whole solve fail with its status."""
    batched = y0.ndim >= 2
    batch = y0.shape[0] if batched else 1
    sample_shape = y0.shape[1:] if batched else y0.shape
    if config.gradient == "checkpoint":
        field = Checkpointed(field)
    wrapped = _PerSampleField(field, sample_shape, batched)
    if config.gradient == "adjoint" and adjoint_params is not None:
        own = {id(p) for p in wrapped.parameters() if p.requires_grad}
        given = {id(p) for p in adjoint_params if p.requires_grad}
        if given != own:
            raise ValueError(
                "backend='torchode' differentiates exactly the field's registered parameters "
                "(BacksolveAdjoint reads named_parameters()): pass the field as an nn.Module "
                "holding them and drop adjoint_params, or use backend='torchdiffeq'."
            )
    term = torchode.ODETerm(wrapped)
    method, controller = _stepper(config, term)
    flat = y0.reshape(batch, -1)
    t_eval = t.expand(batch, -1)
    dt0 = None
    if not config.adaptive:
        steps = fixed_grid_steps(config, t)
        dt = _fixed_dt(float(t[0]), float(t[-1]), steps, config.step_size, t.dtype)
        dt0 = torch.full((batch,), dt, dtype=t.dtype, device=t.device)
    problem = torchode.InitialValueProblem(y0=flat, t_eval=t_eval)
    backsolve = config.gradient in ("adjoint", "adjoint_joint")
    if config.gradient == "adjoint":
        solver: Any = torchode.BacksolveAdjoint(term, method, controller)
    elif config.gradient == "adjoint_joint":
        solver = torchode.JointBacksolveAdjoint(term, method, controller)
    else:
        solver = torchode.AutoDiffAdjoint(method, controller)
    budget = current_budget()
    if budget is not None:  # the forward loop and the adjoints' reverse loop alike
        for loop in solver.modules():
            if isinstance(loop, torchode.AutoDiffAdjoint):
                loop.max_steps = budget
    sol = solver.solve(problem, term=None if backsolve else term, dt0=dt0)
    ys = sol.ys.transpose(0, 1).reshape(len(t), *y0.shape)
    stats = _stats(sol.stats)
    statuses = _sample_statuses(sol.status, batch)
    worst = next((s for s in _SEVERITY if s in statuses), Status.SUCCESS)
    result = Solution(
        ts=t, ys=ys, stats=stats, status=worst, sample_status=statuses, library_stats=sol.stats
    )
    if worst != Status.SUCCESS:
        failed = sum(s != Status.SUCCESS for s in statuses)
        raise SolveError(
            f"torchode {config.method}: {worst.value} in {failed} of {batch} samples "
            "(torchode stops the whole batch at the first failure)",
            status=worst,
            solution=result,
        )
    return result


def _stats(stats: dict[str, Any]) -> SolveStats:
    """Steps and torchode's NFE from its per-sample statistics: the batch's max and mean."""
    out = SolveStats()
    steps = stats.get("n_steps")
    accepted = stats.get("n_accepted")
    if isinstance(steps, torch.Tensor) and isinstance(accepted, torch.Tensor):
        rejected = steps - accepted
        out.steps_accepted = int(accepted.max())
        out.steps_accepted_mean = float(accepted.double().mean())
        out.steps_rejected = int(rejected.max())
        out.steps_rejected_mean = float(rejected.double().mean())
    nfe = stats.get("n_f_evals")
    if isinstance(nfe, torch.Tensor):
        out.library_nfe, out.library_nfe_mean = int(nfe.max()), float(nfe.double().mean())
    return out
