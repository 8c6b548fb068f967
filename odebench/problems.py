"""Kept for users who import ``odebench.problems``: the zoo lives in
:mod:`odebench.workloads.problems`."""

from odebench.workloads.problems import (
    Problem,
    check_problem,
    get_problem,
    problem_names,
    reference_solve,
    register_problem,
)

__all__ = [
    "Problem",
    "check_problem",
    "get_problem",
    "problem_names",
    "reference_solve",
    "register_problem",
]
