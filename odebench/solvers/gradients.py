"""Gradient modes beyond plain backprop and the adjoint, on torchdiffeq's own solver objects.

* ``checkpoint`` (:class:`Checkpointed`): backprop through the solve with every evaluation of
  the field under ``torch.utils.checkpoint(..., use_reentrant=False)``. The graph keeps each
  call's inputs (and checkpoint's RNG state) instead of the field's activations; the backward
  pass re-runs each call once before differentiating it. Its gradient is backprop's (the
  same operations, recomputed), its NFE-B the number of calls re-run in ``backward()``.
* ``aca`` (:func:`aca_odeint`): the adaptive checkpoint adjoint (Zhuang et al. 2020). The
  forward solve runs torchdiffeq's solver without a graph and records each accepted step
  (its start time, the dt it was taken with, its end time, the state and, for Runge-Kutta
  pairs, the stage-0 derivative); ``backward()`` replays the steps last to first, each with a
  graph of its own: a fixed-grid solver's own ``_step_func``; for a Runge-Kutta pair, the
  solver's own tableau (:func:`_replay_rk_step`) and interpolation. Its gradient is that of
  the same discrete computation with the accepted steps held fixed: on a fixed grid it is
  backprop's; on an adaptive method backprop also differentiates the step sizes (the first
  one is chosen from ``y0`` and ``f(t0, y0)``), aca does not.

No tableau, controller or integrator lives here: the forward solve is torchdiffeq's, step for
step. The one piece of arithmetic of odebench's own is the replay of an accepted Runge-Kutta
step, ``y_i = y0 + dt * sum_j beta_ij k_j`` with torchdiffeq's tableau and stage times, one
fused add per nonzero coefficient: torchdiffeq's ``_runge_kutta_step`` stacks the stages in
one tensor and reduces over its strided last axis, writes each stage through a custom autograd
function and computes the error estimate, which made the replay and its backward cost 1.7x
backprop's on a 64-wide MLP. The replayed state agrees with the forward's to rounding (tests
hold aca to backprop's gradient within 1e-12 with the steps fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from torchdiffeq._impl import rk_common
from torchdiffeq._impl.interp import _interp_evaluate
from torchdiffeq._impl.misc import Perturb, _check_inputs
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.solvers import FixedGridODESolver

#: torchdiffeq's fixed-grid methods that keep a history between steps (Adams): a step cannot
#: be replayed on its own, so ``aca`` refuses them.
MULTISTEP_METHODS: tuple[str, ...] = ("explicit_adams", "implicit_adams", "fixed_adams")


class Checkpointed(nn.Module):
    """The field with each call recomputed in the backward pass instead of stored."""

    def __init__(self, field: nn.Module):
        super().__init__()
        self.field = field

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.field(t, y)
        return checkpoint(self.field, t, y, use_reentrant=False)


@dataclass
class _Record:
    """What the forward solve keeps for the replay: per accepted step, its times and states."""

    solver: Any
    times: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    states: list[torch.Tensor] = field(default_factory=list)
    derivs: list[torch.Tensor] = field(default_factory=list)  # stage-0 f of each RK step
    #: output index -> the accepted step whose interpolant gave it (-1: the initial state)
    output_step: list[int] = field(default_factory=list)
    t: torch.Tensor | None = None  # output times as the solver saw them


def _forward_rk(solver: Any, t: torch.Tensor, rec: _Record) -> torch.Tensor:
    """``solver.integrate(t)``, keeping each accepted step (the loop of torchdiffeq's)."""
    solution = torch.empty(len(t), *solver.y0.shape, dtype=solver.y0.dtype, device=solver.y0.device)
    solution[0] = solver.y0
    t = t.to(solver.dtype)
    rec.t = t
    rec.output_step.append(-1)
    solver._before_integrate(t)
    rec.derivs.append(solver.rk_state.f1)  # f(t0, y0): stage 0 of the first step
    taken: list[torch.Tensor] = []
    original = solver.func.callback_accept_step

    def accepted(t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        taken.append(dt)  # the dt the step was taken with (t1 - t0 can differ in the last bit)
        original(t0, y0, dt)

    solver.func.callback_accept_step = accepted
    limit = int(solver.max_num_steps)  # attempted steps per output interval, as torchdiffeq's
    try:
        for i in range(1, len(t)):
            n_steps = 0
            while t[i] > solver.rk_state.t1:
                # torchdiffeq's own check and words (``_advance``): a step budget ends aca's
                # forward as it ends every other mode's, with status max_steps
                assert n_steps < limit, f"max_num_steps exceeded ({n_steps}>={limit})"
                n_steps += 1
                state = solver.rk_state
                solver.rk_state = solver._adaptive_step(state)
                if taken:
                    dt = taken.pop()
                    new = solver.rk_state
                    rec.times.append((new.t0, dt, new.t1))
                    rec.states.append(state.y1)
                    if len(rec.derivs) < len(rec.states):
                        rec.derivs.append(state.f1.clone())  # a view of the stage tensor
            solution[i] = _interp_evaluate(
                solver.rk_state.interp_coeff, solver.rk_state.t0, solver.rk_state.t1, t[i]
            )
            rec.output_step.append(len(rec.times) - 1)
    finally:
        solver.func.callback_accept_step = original
    return solution


def _forward_fixed(solver: Any, t: torch.Tensor, rec: _Record) -> torch.Tensor:
    """``FixedGridODESolver.integrate(t)`` with linear interpolation, keeping each step."""
    if solver.interp != "linear":
        raise NotImplementedError("aca replays fixed-grid steps with linear interpolation only.")
    grid = solver.grid_constructor(solver.func, solver.y0, t)
    assert grid[0] == t[0] and grid[-1] == t[-1]
    solution = torch.empty(len(t), *solver.y0.shape, dtype=solver.y0.dtype, device=solver.y0.device)
    solution[0] = solver.y0
    rec.t = t
    rec.output_step.append(-1)
    j, y0 = 1, solver.y0
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        dt = t1 - t0
        solver.func.callback_step(t0, y0, dt)
        dy, _ = solver._step_func(solver.func, t0, dt, t1, y0)
        y1 = y0 + dy
        rec.times.append((t0, dt, t1))
        rec.states.append(y0)
        while j < len(t) and t1 >= t[j]:
            solution[j] = solver._linear_interp(t0, t1, y0, y1, t[j])
            rec.output_step.append(len(rec.times) - 1)
            j += 1
        y0 = y1
    return solution


class _ACA(torch.autograd.Function):
    """ys from (y0, params): forward without a graph, backward by replaying each step."""

    @staticmethod
    def forward(
        ctx: Any, solver: Any, t: torch.Tensor, y0: torch.Tensor, *params: torch.Tensor
    ) -> torch.Tensor:
        rec = _Record(solver=solver)
        run = _forward_fixed if isinstance(solver, FixedGridODESolver) else _forward_rk
        ys = run(solver, t, rec)
        if hasattr(solver, "rk_state"):
            del solver.rk_state  # its interpolant and stage view would stay alive with the graph
        # what the graph keeps, all through save_for_backward (so the saved-bytes meter sees
        # exactly it): one tensor of (t0, dt, t1) per step in the solver's time dtype (exact:
        # the values the steps were taken with), each step's state and, for Runge-Kutta
        # pairs, each step's stage-0 derivative
        steps = len(rec.times)
        if steps:
            times = torch.stack([torch.stack(list(ts)) for ts in rec.times])
        else:
            times = torch.empty(0, 3, dtype=t.dtype, device=t.device)
        ctx.save_for_backward(times, *rec.states, *rec.derivs)
        ctx.solver, ctx.t, ctx.output_step = solver, rec.t, rec.output_step
        ctx.steps, ctx.rk, ctx.params = steps, bool(rec.derivs), params
        return ys

    @staticmethod
    def backward(ctx: Any, grad_ys: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        steps, solver, params, rk = ctx.steps, ctx.solver, ctx.params, ctx.rk
        times, states, derivs = saved[0], saved[1 : 1 + steps], saved[1 + steps :]
        grads: list[torch.Tensor | None] = [None] * len(params)
        outputs_of: dict[int, list[int]] = {}
        for j, step in enumerate(ctx.output_step):
            outputs_of.setdefault(step, []).append(j)
        a_y = torch.zeros_like(grad_ys[0])
        a_f = torch.zeros_like(grad_ys[0])
        stages = _Stages.of(solver.tableau) if rk else None
        for i in range(steps - 1, -1, -1):
            t0, dt, t1 = times[i, 0], times[i, 1], times[i, 2]
            with torch.enable_grad():
                y0 = states[i].detach().requires_grad_(True)
                inputs = [y0]
                outs: list[torch.Tensor] = []
                gouts: list[torch.Tensor] = []
                if rk:
                    f0 = derivs[i].detach().requires_grad_(True)
                    inputs.append(f0)
                    y1, ks = _replay_rk_step(solver.func, y0, f0, t0, dt, t1, stages)
                    outs += [y1, ks[-1]]
                    gouts += [a_y, a_f]
                    js = outputs_of.get(i, [])
                    if js:
                        coeff = solver._interp_fit(y0, y1, torch.stack(ks, dim=-1), dt)
                        for j in js:
                            outs.append(_interp_evaluate(coeff, t0, t1, ctx.t[j]))
                            gouts.append(grad_ys[j])
                else:
                    dy, _ = solver._step_func(solver.func, t0, dt, t1, y0)
                    y1 = y0 + dy
                    outs.append(y1)
                    gouts.append(a_y)
                    for j in outputs_of.get(i, []):
                        outs.append(solver._linear_interp(t0, t1, y0, y1, ctx.t[j]))
                        gouts.append(grad_ys[j])
                got = torch.autograd.grad(
                    outs, inputs + list(params), gouts, allow_unused=True, materialize_grads=True
                )
            a_y = got[0]
            if rk:
                a_f = got[1]
            _accumulate(grads, got[len(inputs) :])
        a_y = a_y + grad_ys[0]  # ys[0] is y0 itself
        if rk and steps:  # the first step's stage 0 is f(t0, y0), computed from y0
            with torch.enable_grad():
                y0 = states[0].detach().requires_grad_(True)
                f0 = solver.func(ctx.t[0], y0)
                got = torch.autograd.grad(
                    [f0], [y0, *params], [a_f], allow_unused=True, materialize_grads=True
                )
            a_y = a_y + got[0]
            _accumulate(grads, got[1:])
        return (None, None, a_y, *grads)


@dataclass(frozen=True)
class _Stages:
    """A Runge-Kutta tableau's coefficients as Python floats (read once per backward pass)."""

    alpha: tuple[float, ...]
    beta: tuple[tuple[float, ...], ...]
    #: the solution weights, or None where the last stage's state is the solution (FSAL:
    #: ``c_sol[-1] == 0`` and ``c_sol[:-1] == beta[-1]``, as torchdiffeq tests it)
    c_sol: tuple[float, ...] | None

    @classmethod
    def of(cls, tableau: Any) -> _Stages:
        fsal = bool(tableau.c_sol[-1] == 0 and (tableau.c_sol[:-1] == tableau.beta[-1]).all())
        return cls(
            alpha=tuple(float(a) for a in tableau.alpha),
            beta=tuple(tuple(float(b) for b in beta_i) for beta_i in tableau.beta),
            c_sol=None if fsal else tuple(float(c) for c in tableau.c_sol),
        )


def _replay_rk_step(
    func: Any,
    y0: torch.Tensor,
    f0: torch.Tensor,
    t0: torch.Tensor,
    dt: torch.Tensor,
    t1: torch.Tensor,
    stages: _Stages,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One accepted step again, with a graph: ``(y1, [k_0, ..., k_s])``.

    The stage states and times of torchdiffeq's ``_runge_kutta_step`` (``t1`` perturbed to
    the previous float where ``alpha == 1``, as there), each state summed with one fused add
    per nonzero coefficient; no error estimate (its gradient is zero)."""
    t_dtype = y0.abs().dtype
    t0, dt, t1 = t0.to(t_dtype), dt.to(t_dtype), t1.to(t_dtype)
    h = float(dt)
    ks = [f0]
    yi = y0
    for alpha_i, beta_i in zip(stages.alpha, stages.beta, strict=True):
        if alpha_i == 1.0:
            ti, perturb = t1, Perturb.PREV
        else:
            ti, perturb = t0 + alpha_i * dt, Perturb.NONE
        yi = _combine(y0, ks, beta_i, h)
        ks.append(func(ti, yi, perturb=perturb))
    if stages.c_sol is not None:
        yi = _combine(y0, ks, stages.c_sol, h)
    return yi, ks


def _combine(y0: torch.Tensor, ks: list[torch.Tensor], weights: tuple[float, ...],
             h: float) -> torch.Tensor:  # fmt: skip
    """``y0 + h * sum_j w_j k_j``, one ``add`` (with its ``alpha``) per nonzero weight."""
    y = y0
    for k, w in zip(ks, weights, strict=False):
        if w != 0.0:
            y = torch.add(y, k, alpha=w * h)
    return y


def aca_odeint(
    func: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    params: tuple[torch.Tensor, ...],
    *,
    method: str,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    options: dict[str, Any] | None = None,
) -> torch.Tensor:
    """``odeint(func, y0, t, ...)`` whose backward replays the accepted steps (aca).

    ``params`` are the tensors the field uses that get a gradient (its parameters).
    """
    if method in MULTISTEP_METHODS or method not in SOLVERS:
        raise ValueError(f"aca cannot replay {method!r} one step at a time.")
    _, wrapped, y0_, t_, rtol_, atol_, method, options_, _, _ = _check_inputs(
        func, y0, t, rtol, atol, method, options, None, SOLVERS
    )
    solver = SOLVERS[method](func=wrapped, y0=y0_, rtol=rtol_, atol=atol_, **options_)
    if not isinstance(solver, FixedGridODESolver | rk_common.RKAdaptiveStepsizeODESolver):
        raise ValueError(f"aca cannot replay {method!r} one step at a time.")
    return _ACA.apply(solver, t_, y0_, *params)


def _accumulate(total: list[torch.Tensor | None], new: tuple[torch.Tensor, ...]) -> None:
    """Sum each step's parameter gradients in place (the first step's own tensors hold the
    sums: ``autograd.grad`` returns fresh tensors, no one else holds them), not a new tensor
    per parameter per step. The same additions in the same order: the same bits."""
    for n, g in enumerate(new):
        kept = total[n]
        if kept is None:
            total[n] = g
        else:
            kept.add_(g)


def step_size_derivative(
    field: nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    *,
    method: str = "dopri5",
    rtol: float,
    atol: float,
) -> tuple[float, float]:
    """How far aca's gradient is from backprop's, and why: (relative difference at default
    options, relative difference once backprop is given the first step it chose itself).

    torchdiffeq picks the first step from y0 and f(t0, y0) with a graph (every later step
    size is computed under no_grad, but the later step times inherit the first one's), so
    its backprop differentiates that choice; aca holds the steps fixed. Given that same first
    step as a constant, the two differentiate one computation: the second figure is rounding.
    The loss is 0.5 * sum(ys[1:] ** 2); gradients with respect to y0 and the parameters.
    """
    from torchdiffeq import odeint
    from torchdiffeq._impl.misc import _rms_norm, _select_initial_step

    params = tuple(p for p in field.parameters() if p.requires_grad)

    def grad(solve: Any) -> torch.Tensor:
        y = y0.detach().clone().requires_grad_(True)
        ys = solve(y)
        got = torch.autograd.grad(0.5 * (ys[1:] ** 2).sum(), (y, *params))
        return torch.cat([g.flatten() for g in got])

    opts = {"method": method, "rtol": rtol, "atol": atol}
    with torch.no_grad():
        t0 = t[0].to(torch.promote_types(torch.float64, y0.dtype))
        order = SOLVERS[method].order
        first = _select_initial_step(field, t0, y0, order - 1, rtol, atol, _rms_norm)
    aca = grad(lambda y: aca_odeint(field, y, t, params, **opts))  # type: ignore[arg-type]
    backprop = grad(lambda y: odeint(field, y, t, **opts))
    fixed = grad(lambda y: odeint(field, y, t, **opts, options={"first_step": float(first)}))
    return (
        float((aca - backprop).norm() / backprop.norm()),
        float((aca - fixed).norm() / fixed.norm()),
    )
