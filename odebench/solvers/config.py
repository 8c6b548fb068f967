"""The solver configuration: backend, method, gradient mode, tolerances or grid, adjoint options.

A :class:`SolverConfig` is validated when it is built, against the method lists of its
backend, so a bad method name, a non-positive tolerance or a missing step size fails before
any work is done, with a message that shows the fix.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from odebench.solvers.backends import BACKENDS, get_backend

Gradient = Literal["backprop", "adjoint", "checkpoint", "aca", "adjoint_joint"]
#: How the gradient is obtained (README, "Gradient modes"): ``backprop`` through the solver;
#: ``adjoint``, the reverse solve of the adjoint equation; ``checkpoint``, backprop with each
#: field call recomputed in ``backward()``; ``aca``, the adaptive checkpoint adjoint (the
#: accepted steps replayed one at a time); ``adjoint_joint``, torchode's adjoint over the
#: whole batch as one system (one step size). Each backend says which it supports.
GRADIENTS: tuple[str, ...] = ("backprop", "adjoint", "checkpoint", "aca", "adjoint_joint")
#: modes that solve an adjoint equation backwards (they take the adjoint_* options)
ADJOINT_GRADIENTS: tuple[str, ...] = ("adjoint", "adjoint_joint")


class SolverConfigError(ValueError):
    """A solver configuration that cannot run; the message says how to fix it."""


def _as_positive(name: str, value: object) -> float | None:
    """``value`` as a positive finite float (``None`` stays ``None``), or the fix.

    A bool is rejected although Python counts it as an int (``rtol=True`` is a typo, not 1);
    a 0-d tensor is accepted and stored as a float, so the config stays hashable.
    """
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and value.ndim == 0 and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SolverConfigError(
            f"{name}={value!r} is not a positive tolerance; pass a number > 0 such as {name}=1e-6."
        )
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise SolverConfigError(
            f"{name}={value!r} is not a positive tolerance; pass a finite number > 0 "
            f"such as {name}=1e-6."
        )
    return number


@dataclass(frozen=True, kw_only=True)
class SolverConfig:
    """How to integrate: library, method, gradient mode, tolerances or grid, adjoint options.

    ``backend`` names the library (``"torchdiffeq"``, the default, or ``"torchode"``); each
    has its own method lists (``odebench methods``). Adaptive methods (``dopri5``, ``bosh3``
    ...) take ``rtol``/``atol``; fixed-grid methods (``rk4``, ``euler`` ...) take ``steps``
    (over the whole span) or ``step_size``. ``gradient`` is one of :data:`GRADIENTS`;
    ``gradient="adjoint"`` solves the adjoint
    equation backwards instead of backpropagating through the solver; its reverse solve may
    have its own ``adjoint_rtol``/``adjoint_atol``/``adjoint_method`` and may use the
    seminorm (``seminorm=True``) where the backend supports them. ``flat_norm=True``
    (torchdiffeq, adjoint) controls the reverse solve's error with one RMS norm over the
    whole augmented state [y, a, parameter gradients], as ODEPACK (scipy's LSODA) does,
    instead of torchdiffeq's default: the maximum of the RMS norms of y, a and each
    parameter tensor apart.
    """

    backend: str = "torchdiffeq"
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
    flat_norm: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SolverConfigError(
                f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}."
            )
        lib = get_backend(self.backend)
        if self.method not in lib.METHODS:
            raise SolverConfigError(
                f"unknown method {self.method!r} for backend {self.backend!r}; choose one of: "
                f"{', '.join(lib.METHODS)}."
            )
        if self.gradient not in GRADIENTS:
            raise SolverConfigError(
                f"unknown gradient mode {self.gradient!r}; choose one of: {', '.join(GRADIENTS)}."
            )
        for name in ("rtol", "atol", "adjoint_rtol", "adjoint_atol", "step_size"):
            object.__setattr__(self, name, _as_positive(name, getattr(self, name)))
        if self.adjoint_method is not None and self.adjoint_method not in lib.METHODS:
            raise SolverConfigError(
                f"unknown adjoint_method {self.adjoint_method!r} for backend {self.backend!r}; "
                f"choose one of: {', '.join(lib.METHODS)}."
            )
        if not isinstance(self.seminorm, bool):
            raise SolverConfigError(f"seminorm={self.seminorm!r} must be True or False.")
        if self.gradient not in ADJOINT_GRADIENTS and (
            self.adjoint_rtol or self.adjoint_atol or self.adjoint_method or self.seminorm
        ):
            raise SolverConfigError(
                "adjoint options (adjoint_rtol, adjoint_atol, adjoint_method, seminorm) "
                f"need gradient='adjoint' (this config has gradient={self.gradient!r})."
            )
        if self.flat_norm is not False and (
            self.flat_norm is not True
            or self.backend != "torchdiffeq"
            or self.gradient != "adjoint"
            or self.seminorm
        ):
            raise SolverConfigError(
                "flat_norm=True (one RMS norm over the adjoint's augmented state) is an option of "
                "backend='torchdiffeq' with gradient='adjoint' and without seminorm; "
                f"this config has backend={self.backend!r}, gradient={self.gradient!r}, "
                f"seminorm={self.seminorm!r}, flat_norm={self.flat_norm!r}."
            )
        # derived once here: ``solve()`` reads it at every call (a frozen dataclass: no setattr)
        object.__setattr__(self, "_adaptive", self.method in lib.ADAPTIVE_METHODS)
        if self.adaptive:
            if self.steps is not None or self.step_size is not None:
                raise SolverConfigError(
                    f"{self.method!r} is adaptive: it chooses its own steps from rtol/atol. "
                    f"Drop steps/step_size, or pick a fixed-grid method "
                    f"({', '.join(lib.FIXED_GRID_METHODS)})."
                )
        else:
            corrected = getattr(lib, "CORRECTOR_METHODS", ())
            if (self.rtol is not None or self.atol is not None) and self.method not in corrected:
                raise SolverConfigError(
                    f"{self.method!r} is a fixed-grid method: rtol/atol do nothing. "
                    f"Pass steps=N or step_size=h, or pick an adaptive method "
                    f"({', '.join(lib.ADAPTIVE_METHODS)})"
                    + (
                        f"; of the fixed-grid ones only {', '.join(corrected)} take rtol/atol "
                        "(the tolerance of their corrector's iteration)."
                        if corrected
                        else "."
                    )
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
        problem = lib.check(self)
        if problem:
            raise SolverConfigError(problem)

    @property
    def adaptive(self) -> bool:
        """Whether the method chooses its own steps (from rtol/atol)."""
        return self._adaptive  # type: ignore[attr-defined]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
