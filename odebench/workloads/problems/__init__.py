"""The problem zoo: fields with exact solutions or trusted float64 references, and a registry
for your own. ``registry`` (what a problem is, references, the registry), ``analytic`` (exact
solutions), ``neural`` (MLP and spiral fields, random or trained), ``cnf`` (the trained 2-D
flow). Importing this package registers every built-in problem."""

from odebench.workloads.problems import (
    analytic,  # noqa: F401  (registers the built-ins)
    batched,  # noqa: F401  (registers vdp_batched)
    cnf,  # noqa: F401  (registers the CNF problems)
    stiff,  # noqa: F401  (registers the stiff problems)
)
from odebench.workloads.problems.neural import (
    MLPField,
    SpiralField,
    mlp_problem,
    trained_mlp_state,
    trained_spiral_state,
)
from odebench.workloads.problems.registry import (
    REFERENCE_TOL,
    Exact,
    Field,
    Problem,
    builtin_problem,
    check_problem,
    float64_copy,
    get_problem,
    problem_names,
    reference_odeint,
    reference_solve,
    register_problem,
)

__all__ = [
    "Exact",
    "Field",
    "MLPField",
    "Problem",
    "REFERENCE_TOL",
    "SpiralField",
    "builtin_problem",
    "check_problem",
    "float64_copy",
    "get_problem",
    "mlp_problem",
    "problem_names",
    "reference_odeint",
    "reference_solve",
    "register_problem",
    "trained_mlp_state",
    "trained_spiral_state",
]
