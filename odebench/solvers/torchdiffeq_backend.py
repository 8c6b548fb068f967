"""The torchdiffeq backend: method lists, the mapping of a config to ``odeint``, step counts.

torchdiffeq reports neither its steps nor how a failed solve ended: steps are counted by
wrapping its adaptive step (a private function, patched only for the duration of one solve)
and its failures (``AssertionError``) are mapped to a :class:`Status` here, so no caller
reads an error message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl import rk_common, scipy_wrapper
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.solvers import FixedGridODESolver

from odebench.solvers.budget import current_budget
from odebench.solvers.core import ShapeChecked, hidden_parameters
from odebench.solvers.gradients import MULTISTEP_METHODS, Checkpointed, aca_odeint
from odebench.solvers.result import AdjointParamsError, Solution, SolveError, SolveStats, Status

if TYPE_CHECKING:
    from odebench.solvers.config import SolverConfig

#: scipy's LSODA through torchdiffeq's ``scipy_solver`` (the solver of the paper's MNIST runs)
SCIPY_METHODS: dict[str, str] = {
    "scipy_lsoda": "LSODA",
    # scipy's implicit methods (Jacobian by finite differences): the stiff suite's references
    "scipy_radau": "Radau",
    "scipy_bdf": "BDF",
}

#: Methods whose step size is fixed: they need ``steps`` or ``step_size``.
FIXED_GRID_METHODS: tuple[str, ...] = tuple(
    sorted(
        name
        for name, cls in SOLVERS.items()
        if isinstance(cls, type) and issubclass(cls, FixedGridODESolver)
    )
)
#: Methods that choose their own steps from ``rtol``/``atol``.
ADAPTIVE_METHODS: tuple[str, ...] = tuple(
    sorted(
        [
            name
            for name, cls in SOLVERS.items()
            if isinstance(cls, type) and issubclass(cls, rk_common.RKAdaptiveStepsizeODESolver)
        ]
        + list(SCIPY_METHODS)
    )
)
METHODS: tuple[str, ...] = ADAPTIVE_METHODS + FIXED_GRID_METHODS
#: Fixed-grid methods whose implicit corrector iterates (at most 4 times a step) until the
#: change is within rtol/atol; they warn "Functional iteration did not converge" otherwise.
CORRECTOR_METHODS: tuple[str, ...] = ("fixed_adams", "implicit_adams")

# torchdiffeq's own defaults, used when a config leaves rtol/atol unset (other parts of
# odebench, e.g. the MNIST ODE-Net, pick their own tolerances: these are not theirs)
TORCHDIFFEQ_DEFAULT_RTOL = 1e-7
TORCHDIFFEQ_DEFAULT_ATOL = 1e-9


def check(config: SolverConfig) -> str | None:
    """torchdiffeq's constraints beyond the generic ones, as a message naming the fix."""
    scipy = config.method in SCIPY_METHODS
    if scipy and config.gradient != "adjoint":
        return (
            f"{config.method!r} runs scipy's solver, which autograd cannot differentiate: use "
            "gradient='adjoint' (the reverse solve runs it too), or an adaptive torch method "
            "such as 'dopri5' for backprop."
        )
    if config.seminorm and (scipy or config.adjoint_method in SCIPY_METHODS):
        return (
            "seminorm=True has no effect on scipy's solver (torchdiffeq drops the norm): "
            "drop seminorm, or use a torch method for the reverse solve (adjoint_method='dopri5')."
        )
    if config.gradient == "adjoint_joint":
        return (
            "gradient='adjoint_joint' is torchode's (JointBacksolveAdjoint): use "
            "backend='torchode', or gradient='adjoint' on torchdiffeq."
        )
    if config.gradient == "aca" and config.method in MULTISTEP_METHODS:
        return (
            f"gradient='aca' replays each step on its own, but {config.method!r} carries a "
            "history between steps: use a Runge-Kutta method (e.g. 'rk4' or 'dopri5'), or "
            "gradient='checkpoint'."
        )
    adj = config.adjoint_method
    if adj is not None and adj in FIXED_GRID_METHODS and config.method not in FIXED_GRID_METHODS:
        return (
            f"adjoint_method={adj!r} is fixed-grid but {config.method!r} is adaptive, so the "
            "reverse solve has no grid: pick an adaptive adjoint_method "
            f"({', '.join(ADAPTIVE_METHODS)}), or a fixed-grid method with steps=N."
        )
    return None


def _options(config: SolverConfig, method: str) -> dict[str, object]:
    if method in SCIPY_METHODS:
        return {"solver": SCIPY_METHODS[method]}
    if method in ADAPTIVE_METHODS:
        budget = current_budget()  # attempted steps per output interval, as torchdiffeq counts
        return {} if budget is None else {"max_num_steps": budget}
    if config.steps is not None:
        return {"grid_constructor": _uniform_grid(config.steps)}
    return {"step_size": config.step_size}


def _name(method: str) -> str:
    return "scipy_solver" if method in SCIPY_METHODS else method


def odeint_kwargs(config: SolverConfig) -> dict[str, object]:
    """Keyword arguments for ``odeint``/``odeint_adjoint``, ``adjoint_params`` apart."""
    kwargs: dict[str, object] = {"method": _name(config.method)}
    if config.adaptive or config.method in CORRECTOR_METHODS:
        kwargs["rtol"] = TORCHDIFFEQ_DEFAULT_RTOL if config.rtol is None else config.rtol
        kwargs["atol"] = TORCHDIFFEQ_DEFAULT_ATOL if config.atol is None else config.atol
    options = _options(config, config.method)
    if options:
        kwargs["options"] = options
    if config.gradient == "adjoint":
        if config.adjoint_rtol is not None:
            kwargs["adjoint_rtol"] = config.adjoint_rtol
        if config.adjoint_atol is not None:
            kwargs["adjoint_atol"] = config.adjoint_atol
        adjoint_method = config.adjoint_method or config.method
        adjoint_options = _options(config, adjoint_method)
        if config.adjoint_method is not None:
            kwargs["adjoint_method"] = _name(config.adjoint_method)
        if config.seminorm:
            adjoint_options["norm"] = "seminorm"
        if getattr(config, "flat_norm", False):
            adjoint_options["norm"] = flat_rms_norm
        if (
            config.adjoint_method is not None
            or config.seminorm
            or "norm" in adjoint_options
            or "max_num_steps" in adjoint_options
        ):
            kwargs["adjoint_options"] = adjoint_options
    return kwargs


#: ``odeint_kwargs`` of each config met (configs are frozen and hashable; torchdiffeq copies
#: the option dicts it is given, so the cached ones are never changed). Keyed by the config
#: *and* the step budget in force: the budget is not part of the config, and a kwargs cached
#: under one budget must never serve a solve under another (a figure never depends on what
#: ran before it).
_KWARGS: dict[tuple[SolverConfig, int | None], dict[str, object]] = {}


def cached_kwargs(config: SolverConfig) -> dict[str, object]:
    """:func:`odeint_kwargs` of ``config``, assembled once per config and step budget."""
    key = (config, current_budget())
    kwargs = _KWARGS.get(key)
    if kwargs is None:
        if len(_KWARGS) >= 256:
            _KWARGS.clear()
        kwargs = _KWARGS[key] = odeint_kwargs(config)
    return kwargs


def flat_rms_norm(state: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """One RMS norm over the adjoint's augmented state (y, a, parameter gradients), as ODEPACK.

    torchdiffeq passes ``(t-gradient, y, a, *parameter gradients)``; the t-gradient is
    left out (it is not part of the state a scipy solver integrates).
    """
    parts = [p.reshape(-1) for p in state[1:]]
    total = sum(p.numel() for p in parts)
    return torch.sqrt(sum(p.pow(2).sum() for p in parts) / max(total, 1))


def _uniform_grid(steps: int) -> Callable[..., torch.Tensor]:
    """Exactly ``steps`` equal steps over [t[0], t[-1]] (step_size can round to one more)."""

    def construct(func: object, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.linspace(float(t[0]), float(t[-1]), steps + 1, dtype=t.dtype, device=t.device)

    return construct


class StepCounter:
    """Counts accepted/rejected steps of torchdiffeq's adaptive Runge-Kutta solvers through
    the callbacks torchdiffeq calls on the field (``callback_accept_step`` ...), and tells a
    non-finite field from a true step-size underflow when a step fails.

    A NaN or inf in the field makes the error ratio NaN, which torchdiffeq turns into a next
    dt of exactly 0 (a non-finite dt becomes ``min_step``, 0); a finite ratio shrinks dt by
    5x at most, so a jump from a normal dt to 0 right after a rejection can only be a
    non-finite evaluation.
    """

    NAMES = ("callback_step", "callback_accept_step", "callback_reject_step")

    def __init__(self, stats: SolveStats) -> None:
        self.stats = stats
        self.nan_error = False
        self.rejected_dt: float | None = None
        stats.steps_accepted, stats.steps_rejected = 0, 0

    def callback_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        if self.rejected_dt is not None:  # only after a rejection: no sync on a normal step
            new = float(dt.detach())
            if (new == 0 or not math.isfinite(new)) and abs(self.rejected_dt) > 1e-300:
                self.nan_error = True
            self.rejected_dt = None

    def callback_accept_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.stats.steps_accepted += 1  # type: ignore[operator]

    def callback_reject_step(self, t0: torch.Tensor, y0: torch.Tensor, dt: torch.Tensor) -> None:
        self.stats.steps_rejected += 1  # type: ignore[operator]
        self.rejected_dt = float(dt.detach())

    def attach(self, func: torch.nn.Module) -> None:
        """Set the callbacks on ``func`` (what torchdiffeq is given) for one solve only:
        :meth:`detach` them after it, so a later backward pass or solve does not count here."""
        d = func.__dict__
        d["callback_step"] = self.callback_step
        d["callback_accept_step"] = self.callback_accept_step
        d["callback_reject_step"] = self.callback_reject_step

    def detach(self, func: torch.nn.Module) -> None:
        d = func.__dict__
        for name in self.NAMES:
            d.pop(name, None)

    def status_of(self, exc: AssertionError) -> Status | None:
        """The status of a failed step. A first step of dt 0 is non-finite too: the first
        dt comes from ``f(t0, y0)`` and is 0 or NaN (then ``min_step``, 0) only where that
        is not finite."""
        status = failure_status(exc)
        if status == Status.STEP_SIZE_UNDERFLOW:
            first = self.stats.steps_accepted == 0 and self.stats.steps_rejected == 0
            dt = str(exc).removeprefix("underflow in dt").strip()
            if self.nan_error or (first and dt in ("0.0", "-0.0")):
                return Status.NON_FINITE
        return status


@contextmanager
def _watch_scipy(outcome: list[object]) -> Iterator[None]:
    """Keep scipy's result object (torchdiffeq drops it, and with it a failed solve's status)."""
    original = scipy_wrapper.solve_ivp

    def kept(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        outcome.append(result)
        return result

    scipy_wrapper.solve_ivp = kept
    try:
        yield
    finally:
        scipy_wrapper.solve_ivp = original


def failure_status(exc: BaseException) -> Status | None:
    """The status of a torchdiffeq assertion (it raises nothing more specific), or None.

    Needed apart from :func:`integrate` for the adjoint: its reverse solve fails inside
    ``loss.backward()``, where no backend code runs.
    """
    if isinstance(exc, ValueError) and "must not contain infs or NaNs" in str(exc):
        # scipy's solve_ivp (scipy_* methods) handed a non-finite state (numpy's check)
        return Status.NON_FINITE
    if not isinstance(exc, AssertionError):
        return None
    msg = str(exc)
    if msg.startswith("underflow in dt"):
        # a NaN in the field makes the error estimate NaN, then dt NaN
        dt = msg.removeprefix("underflow in dt").strip()
        return Status.NON_FINITE if dt in ("nan", "inf", "-inf") else Status.STEP_SIZE_UNDERFLOW
    if msg.startswith("max_num_steps exceeded"):
        return Status.MAX_STEPS
    if msg.startswith("non-finite values in state"):
        return Status.NON_FINITE
    return None


def _odeint(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    t: torch.Tensor,
    gradient: str,
    adjoint_params: tuple[torch.Tensor, ...] | None,
    kwargs: dict[str, object],
    module: torch.nn.Module,
) -> torch.Tensor:
    """torchdiffeq's entry point for the gradient mode (``module``: the field as a module,
    whose parameters aca differentiates)."""
    if gradient == "adjoint":
        return odeint_adjoint(func, y0, t, adjoint_params=adjoint_params, **kwargs)
    if gradient == "aca":
        return aca_odeint(func, y0, t, _aca_params(module), **kwargs)  # type: ignore[arg-type]
    return odeint(func, y0, t, **kwargs)


def integrate(
    field: torch.nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    config: SolverConfig,
    adjoint_params: tuple[torch.Tensor, ...] | None,
) -> Solution:
    """Solve with torchdiffeq; raise :class:`SolveError` with the status if it fails."""
    stats = SolveStats()
    kwargs = cached_kwargs(config)
    scipy_results: list[object] = []
    rk = config.adaptive and config.method not in SCIPY_METHODS
    # torchdiffeq is given a plain function where it can be (see core.evaluator)
    plain = field.evaluate if isinstance(field, ShapeChecked) else field
    func = Checkpointed(plain) if config.gradient == "checkpoint" else plain
    counter = StepCounter(stats) if rk else None
    watching = _watch_scipy(scipy_results) if config.method in SCIPY_METHODS else None
    if counter is not None:
        counter.attach(func)
    try:
        if watching is None:
            ys = _odeint(func, y0, t, config.gradient, adjoint_params, kwargs, field)
        else:
            with watching:
                ys = _odeint(func, y0, t, config.gradient, adjoint_params, kwargs, field)
    except AssertionError as exc:
        status = counter.status_of(exc) if counter is not None else failure_status(exc)
        if status is None:
            raise
        # the steps it took before it stopped are a figure of the failed solve (its NFE is
        # added by ``solve``): a case at its step budget records what it reached
        partial = Solution(ts=t, ys=y0.detach()[None], stats=stats, status=status)
        raise SolveError(
            f"torchdiffeq {status.value} ({exc})", status=status, solution=partial
        ) from exc
    except SolveError as exc:
        if exc.solution is None:
            exc.solution = Solution(ts=t, ys=y0.detach()[None], stats=stats, status=exc.status)
        raise
    except RuntimeError as exc:
        # scipy's failed solve returns fewer columns than times, which torch cannot reshape
        failed = [r for r in scipy_results if not getattr(r, "success", True)]
        if not failed:
            raise
        message = getattr(failed[0], "message", "")
        raise SolveError(
            f"scipy {config.method}: step_size_underflow ({message})",
            status=Status.STEP_SIZE_UNDERFLOW,
        ) from exc
    finally:
        if counter is not None:
            counter.detach(func)
    if not config.adaptive:
        stats.steps_accepted, stats.steps_rejected = fixed_grid_steps(config, t), 0
    elif scipy_results:
        stats.library_nfe = int(sum(getattr(r, "nfev", 0) for r in scipy_results))
    return Solution(ts=t, ys=ys, stats=stats)


def _aca_params(field: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    """What aca differentiates besides y0: the field's parameters (it must see them, as the
    adjoint must: its backward runs the field itself)."""
    from odebench.instruments.nfe import CountedField

    for m in field.modules():
        if not isinstance(m, CountedField | ShapeChecked):
            continue
        inner = m.counted.inner if isinstance(m, ShapeChecked) else m.inner
        if not isinstance(inner, torch.nn.Module) and hidden_parameters(inner):
            raise AdjointParamsError(
                "gradient='aca' cannot see the tensors requiring grad that this plain-function "
                "field uses, so they would get no gradient: pass the field as an nn.Module "
                "holding them."
            )
    return tuple(p for p in field.parameters() if p.requires_grad)


def fixed_grid_steps(config: SolverConfig, t: torch.Tensor) -> int:
    """The number of steps of the grid torchdiffeq integrates (both backends take it).

    ``step_size=h`` makes torchdiffeq build its grid in the dtype of ``t``
    (``ceil(span / h + 1)`` points, the last moved onto t1): counting in Python's float64
    instead read 4 steps for the 3 that rk4 takes over [0, 2pi] at h = 2pi/3 in float32.
    So count the grid torchdiffeq's own constructor builds.
    """
    if config.steps is not None:
        return config.steps
    assert config.step_size is not None
    ascending = t if bool(t[-1] > t[0]) else -t  # torchdiffeq negates decreasing times
    construct = FixedGridODESolver._grid_constructor_from_step_size(config.step_size)
    grid = construct(None, None, ascending)
    return len(grid) - 1
