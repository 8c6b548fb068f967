"""Solver configurations over torchdiffeq and the one ``solve()`` entry point.

A :class:`SolverConfig` is validated when it is built, so a bad method name, a
non-positive tolerance or a missing step size fails before any work is done,
with a message that shows the fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint
from torchdiffeq._impl import rk_common
from torchdiffeq._impl.odeint import SOLVERS
from torchdiffeq._impl.solvers import FixedGridODESolver

from odebench.instruments.nfe import CountedField

Gradient = Literal["backprop", "adjoint"]
GRADIENTS: tuple[str, ...] = ("backprop", "adjoint")

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
        name
        for name, cls in SOLVERS.items()
        if isinstance(cls, type) and issubclass(cls, rk_common.RKAdaptiveStepsizeODESolver)
    )
)
METHODS: tuple[str, ...] = ADAPTIVE_METHODS + FIXED_GRID_METHODS

DEFAULT_RTOL = 1e-7  # torchdiffeq's own defaults
DEFAULT_ATOL = 1e-9


class SolverConfigError(ValueError):
    """A solver configuration that cannot run; the message says how to fix it."""


def _check_tol(name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or math.isnan(value) or value <= 0:
        raise SolverConfigError(
            f"{name}={value!r} is not a positive tolerance; pass a number > 0 such as {name}=1e-6."
        )


@dataclass(frozen=True, kw_only=True)
class SolverConfig:
    """How to integrate: method, gradient mode, tolerances or grid, adjoint options.

    Adaptive methods (``dopri5``, ``bosh3`` ...) take ``rtol``/``atol``; fixed-grid
    methods (``rk4``, ``euler`` ...) take ``steps`` (over the whole span) or ``step_size``.
    ``gradient="adjoint"`` uses torchdiffeq's ``odeint_adjoint``; its reverse solve
    may have its own ``adjoint_rtol``/``adjoint_atol``/``adjoint_method`` and may use
    the seminorm (``seminorm=True``, torchdiffeq's ``adjoint_options={"norm": "seminorm"}``).
    """

    method: str = "dopri5"
    gradient: Gradient = "backprop"
    rtol: float | None = None
    atol: float | None = None
    steps: int | None = None
    step_size: float | None = None
    adjoint_rtol: float | None = None
    adjoint_atol: float | None = None
    adjoint_method: str | None = None
    seminorm: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SolverConfigError(
                f"unknown method {self.method!r}; choose one of: {', '.join(METHODS)}."
            )
        if self.gradient not in GRADIENTS:
            raise SolverConfigError(
                f"unknown gradient mode {self.gradient!r}; choose 'backprop' or 'adjoint'."
            )
        for name in ("rtol", "atol", "adjoint_rtol", "adjoint_atol"):
            _check_tol(name, getattr(self, name))
        if self.adjoint_method is not None and self.adjoint_method not in METHODS:
            raise SolverConfigError(
                f"unknown adjoint_method {self.adjoint_method!r}; choose one of: "
                f"{', '.join(METHODS)}."
            )
        if self.gradient == "backprop" and (
            self.adjoint_rtol or self.adjoint_atol or self.adjoint_method or self.seminorm
        ):
            raise SolverConfigError(
                "adjoint options (adjoint_rtol, adjoint_atol, adjoint_method, seminorm) "
                "need gradient='adjoint'."
            )
        if self.adaptive:
            if self.steps is not None or self.step_size is not None:
                raise SolverConfigError(
                    f"{self.method!r} is adaptive: it chooses its own steps from rtol/atol. "
                    f"Drop steps/step_size, or pick a fixed-grid method "
                    f"({', '.join(FIXED_GRID_METHODS)})."
                )
        else:
            if self.rtol is not None or self.atol is not None:
                raise SolverConfigError(
                    f"{self.method!r} is a fixed-grid method: rtol/atol do nothing. "
                    f"Pass steps=N or step_size=h, or pick an adaptive method "
                    f"({', '.join(ADAPTIVE_METHODS)})."
                )
            if (self.steps is None) == (self.step_size is None):
                raise SolverConfigError(
                    f"fixed-grid method {self.method!r} needs exactly one of steps=N "
                    "(steps over the whole time span) or step_size=h."
                )
            if self.steps is not None and (
                isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1
            ):
                raise SolverConfigError(f"steps={self.steps!r} must be an integer >= 1.")
            if self.step_size is not None:
                _check_tol("step_size", self.step_size)

    @property
    def adaptive(self) -> bool:
        return self.method in ADAPTIVE_METHODS

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def odeint_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``torchdiffeq.odeint``/``odeint_adjoint``."""
        kwargs: dict[str, object] = {"method": self.method}
        if self.adaptive:
            kwargs["rtol"] = DEFAULT_RTOL if self.rtol is None else self.rtol
            kwargs["atol"] = DEFAULT_ATOL if self.atol is None else self.atol
        elif self.steps is not None:
            kwargs["options"] = {"grid_constructor": _uniform_grid(self.steps)}
        else:
            kwargs["options"] = {"step_size": self.step_size}
        if self.gradient == "adjoint":
            if self.adjoint_rtol is not None:
                kwargs["adjoint_rtol"] = self.adjoint_rtol
            if self.adjoint_atol is not None:
                kwargs["adjoint_atol"] = self.adjoint_atol
            if self.adjoint_method is not None:
                kwargs["adjoint_method"] = self.adjoint_method
            if self.seminorm:
                kwargs["adjoint_options"] = {"norm": "seminorm"}
        return kwargs


def _uniform_grid(steps: int) -> Callable[..., torch.Tensor]:
    """Exactly ``steps`` equal steps over [t[0], t[-1]] (step_size can round to one more)."""

    def construct(func: object, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.linspace(float(t[0]), float(t[-1]), steps + 1, dtype=t.dtype, device=t.device)

    return construct


@dataclass
class SolveStats:
    """What the solve cost: NFE of the forward solve, and steps where the solver tells."""

    nfe: int = 0
    steps_accepted: int | None = None
    steps_rejected: int | None = None


@dataclass
class Solution:
    """States ``ys[i]`` at times ``ts[i]``, and the solve's stats."""

    ts: torch.Tensor
    ys: torch.Tensor
    stats: SolveStats = field(default_factory=SolveStats)
    field: CountedField | None = None


@contextmanager
def _count_adaptive_steps(stats: SolveStats) -> Iterator[None]:
    """Count accepted/rejected steps of torchdiffeq's adaptive Runge-Kutta solvers."""
    original = rk_common.RKAdaptiveStepsizeODESolver._adaptive_step

    def counted(self: rk_common.RKAdaptiveStepsizeODESolver, rk_state: object) -> object:
        new_state = original(self, rk_state)
        if bool(new_state.t1 != rk_state.t1):  # type: ignore[attr-defined]
            stats.steps_accepted = (stats.steps_accepted or 0) + 1
        else:
            stats.steps_rejected = (stats.steps_rejected or 0) + 1
        return new_state

    stats.steps_accepted, stats.steps_rejected = 0, 0
    rk_common.RKAdaptiveStepsizeODESolver._adaptive_step = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        rk_common.RKAdaptiveStepsizeODESolver._adaptive_step = original  # type: ignore[method-assign]


def check_inputs(y0: torch.Tensor, t: torch.Tensor) -> None:
    """Raise ``ValueError`` with the fix for inputs torchdiffeq would mishandle."""
    if not isinstance(y0, torch.Tensor) or not isinstance(t, torch.Tensor):
        raise TypeError("y0 and t must be torch tensors.")
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError(
            f"t must be 1-D with at least two times (t0 and t1); got shape {tuple(t.shape)}."
        )
    if not torch.isfinite(t).all():
        raise ValueError("t contains NaN or inf; pass finite times.")
    diffs = t[1:] - t[:-1]
    if not ((diffs > 0).all() or (diffs < 0).all()):
        raise ValueError(
            "t must be strictly monotone (all increasing or all decreasing, no repeats); "
            "sort it and drop duplicates, e.g. torch.unique(t)."
        )
    if torch.is_floating_point(y0) and not torch.isfinite(y0).all():
        raise ValueError("y0 contains NaN or inf; check the initial state.")
    if not torch.is_floating_point(y0):
        raise ValueError(f"y0 must be a floating-point tensor; got dtype {y0.dtype}.")


def solve(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    config: SolverConfig,
    *,
    adjoint_params: tuple[torch.Tensor, ...] | None = None,
) -> Solution:
    """Integrate ``dy/dt = func(t, y)`` from ``y0`` over the times ``t``.

    ``func`` is wrapped in a :class:`CountedField` (unless it already is one), so
    the returned stats carry the forward NFE and ``Solution.field`` keeps counting
    during a later ``backward()``.
    """
    with torch.no_grad():  # checks must not leave tensors saved for backward
        check_inputs(y0, t)
    counted = func if isinstance(func, CountedField) else CountedField(func)
    stats = SolveStats()
    before = counted.calls
    kwargs = config.odeint_kwargs()
    with _count_adaptive_steps(stats) if config.adaptive else nullcontext():
        if config.gradient == "adjoint":
            params = tuple(counted.parameters()) if adjoint_params is None else adjoint_params
            ys = odeint_adjoint(counted, y0, t, adjoint_params=params, **kwargs)
        else:
            ys = odeint(counted, y0, t, **kwargs)
    stats.nfe = counted.calls - before
    if not config.adaptive:
        stats.steps_accepted, stats.steps_rejected = _fixed_steps(config, t), 0
    return Solution(ts=t, ys=ys, stats=stats, field=counted)


def _fixed_steps(config: SolverConfig, t: torch.Tensor) -> int:
    if config.steps is not None:
        return config.steps
    span = abs(float(t[-1] - t[0]))
    assert config.step_size is not None
    return int(math.ceil(span / config.step_size + 1) - 1)
