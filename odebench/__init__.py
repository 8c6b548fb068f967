"""odebench: measure Neural ODEs (NFE, memory, time, error) over torchdiffeq."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Solution", "SolveStats", "SolverConfig", "SolverConfigError", "solve", "__version__"]


def __getattr__(name: str) -> Any:
    """The solver names, imported on first use: ``odebench --help`` never loads torch."""
    if name in __all__:
        from odebench import solvers

        return getattr(solvers, name)
    raise AttributeError(f"module 'odebench' has no attribute {name!r}")
