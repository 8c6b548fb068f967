"""``odebench table1``: the paper's Table 1 on MNIST, one concern per module.

``config`` (rows, budgets, the run's config and paths), ``cases`` (the measurements as
Cases), ``train`` (training or loading the models), ``odenet`` (measurements on the trained
ODE-Net beside the cases), ``run`` (a whole run in its claimed folder), ``render`` (the
Markdown), and ``figures``; the subcommand is :mod:`odebench.cli.table1`.
"""

from odebench.experiments.table1.config import (
    BUDGETS,
    FIG3C_SOLVERS,
    ROWS,
    Budget,
    RowSpec,
    Table1Config,
    checkpoint_path,
)
from odebench.experiments.table1.odenet import block_error_points, solver_nfe_points
from odebench.experiments.table1.run import build_table, run

__all__ = [
    "BUDGETS",
    "FIG3C_SOLVERS",
    "ROWS",
    "Budget",
    "RowSpec",
    "Table1Config",
    "block_error_points",
    "build_table",
    "checkpoint_path",
    "run",
    "solver_nfe_points",
]
