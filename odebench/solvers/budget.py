"""A step budget for the solves in a block: ``with step_budget(n): ...``.

A stiff problem can make an explicit solver take millions of steps; a benchmark wants it to
stop at a budget and say so (``Status.MAX_STEPS``) instead of running until a time limit
kills it with nothing recorded. The budget is the number of attempted steps (accepted and
rejected) of one solve between two output times, which is what torchdiffeq
(``max_num_steps``), torchode (``max_steps``) and ODEPACK (``mxstep``) each count; with two
output times (t0, t1) it is the whole solve's. The adjoint's reverse solve gets the same
budget. A context variable, not a :class:`~odebench.solvers.SolverConfig` field: the budget
is the benchmark's limit on a solve, not part of how the solve integrates.

scipy's ``solve_ivp`` methods (``scipy_radau``, ``scipy_bdf``, ``scipy_lsoda``) have no
step budget: only a time limit stops them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_BUDGET: ContextVar[int | None] = ContextVar("odebench_step_budget", default=None)


class StepBudgetError(ValueError):
    """A step budget that is not a positive integer."""


@contextmanager
def step_budget(steps: int | None) -> Iterator[None]:
    """Limit every solve in the block to ``steps`` attempted steps per output interval
    (``None``: no limit, the libraries' own defaults)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise StepBudgetError(f"step budget {steps!r} must be an integer >= 1 (or None).")
    token = _BUDGET.set(steps)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def current_budget() -> int | None:
    """The step budget of the enclosing :func:`step_budget` block, or None."""
    return _BUDGET.get()
