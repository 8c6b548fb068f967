"""odebench: measure Neural ODEs (NFE, memory, time, error) over torchdiffeq."""

from odebench.solvers import Solution, SolverConfig, SolverConfigError, SolveStats, solve

__version__ = "0.1.0"

__all__ = ["Solution", "SolveStats", "SolverConfig", "SolverConfigError", "solve", "__version__"]
