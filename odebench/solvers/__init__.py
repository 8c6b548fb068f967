"""Solving ODEs through one entry point, over interchangeable libraries (backends).

``solve(field, y0, t, config)`` returns a :class:`Solution` (states, stats, status); a
:class:`SolverConfig` names the library (``backend``), method, gradient mode and tolerances
or grid, and is validated when built. Each library lives in a module of its own
(``torchdiffeq_backend``, ``torchode_backend``), registered in :mod:`.backends`.
"""

from odebench.solvers.backends import BACKENDS, get_backend
from odebench.solvers.config import GRADIENTS, Gradient, SolverConfig, SolverConfigError
from odebench.solvers.core import ShapeChecked, check_inputs, failure_status, solve
from odebench.solvers.result import (
    AdjointParamsError,
    FieldShapeError,
    Solution,
    SolveError,
    SolveStats,
    Status,
)
from odebench.solvers.torchdiffeq_backend import (
    ADAPTIVE_METHODS,
    FIXED_GRID_METHODS,
    METHODS,
    TORCHDIFFEQ_DEFAULT_ATOL,
    TORCHDIFFEQ_DEFAULT_RTOL,
)

__all__ = [
    "ADAPTIVE_METHODS",
    "BACKENDS",
    "FIXED_GRID_METHODS",
    "GRADIENTS",
    "METHODS",
    "TORCHDIFFEQ_DEFAULT_ATOL",
    "TORCHDIFFEQ_DEFAULT_RTOL",
    "AdjointParamsError",
    "FieldShapeError",
    "Gradient",
    "ShapeChecked",
    "Solution",
    "SolveError",
    "SolveStats",
    "SolverConfig",
    "SolverConfigError",
    "Status",
    "check_inputs",
    "failure_status",
    "get_backend",
    "solve",
]
