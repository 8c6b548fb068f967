"""odebench: measure Neural ODEs (NFE, memory, time, error) over torchdiffeq and torchode.

The folders are the layers, top to bottom; each imports only from the layers below it
(checked by ``lint-imports``; contracts in ``pyproject.toml``):

    cli/           the command line: parses and prints, one module per subcommand
    experiments/   table1, spirals, profile, training, overhead: clients of all below
    claims/        the paper's claims as measured rows: rules -> rows -> ledger
    reading/       results -> tables, fits, verdicts (analysis, tables, frontier,
                   decision, headline, comparison), rendered by report, plots, compare
    running/       runner, execute, workers, parallel; the results store, folders,
                   provenance
    benchmark/     what is measured: Case, suites, suite files, user modules, measure()
    workloads/     problems (the zoo, references, registry), models, data
    solvers/       solve(): one entry point over torchdiffeq and torchode
    instruments/   meters: NFE, saved bytes, peak memory, time, errors

Data flows one way: Case -> measure() -> runner -> results.csv -> analysis -> report/plots.
"""

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
