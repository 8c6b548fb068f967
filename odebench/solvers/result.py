"""What a solve returns: states, stats and a status; the typed error for a failed solve."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import torch

from odebench.instruments.nfe import CountedField


class Status(StrEnum):
    """How a solve ended, set by the backend (never parsed from an error message)."""

    SUCCESS = "success"
    STEP_SIZE_UNDERFLOW = "step_size_underflow"
    MAX_STEPS = "max_steps"
    NON_FINITE = "non_finite"
    FAILED = "failed"  # the library reported a failure of no other kind


@dataclass
class SolveStats:
    """What the solve cost.

    ``nfe`` counts calls of the field during the forward solve (odebench's own counter). The
    step counts are the solver's, where it tells; for a library that steps each batch sample
    on its own (torchode) they are the batch's maximum, with ``*_mean`` the mean over samples.
    """

    nfe: int = 0
    steps_accepted: int | None = None
    steps_rejected: int | None = None
    steps_accepted_mean: float | None = None
    steps_rejected_mean: float | None = None
    library_nfe: int | None = None  # the library's own count, where it keeps one (per sample)
    library_nfe_mean: float | None = None


@dataclass
class Solution:
    """States ``ys[i]`` at times ``ts[i]``, the solve's stats and how it ended."""

    ts: torch.Tensor
    ys: torch.Tensor
    stats: SolveStats = field(default_factory=SolveStats)
    field: CountedField | None = None
    status: Status = Status.SUCCESS
    #: how each batch sample ended, where the library steps samples apart (torchode)
    sample_status: list[Status] | None = None
    #: the library's own statistics object, where it keeps one (torchode's ``stats`` dict,
    #: which its adjoint extends during ``backward()``)
    library_stats: dict[str, Any] | None = None


class SolveError(RuntimeError):
    """A solve that did not succeed; ``.status`` says how it ended (``.solution`` what it got)."""

    def __init__(self, message: str, *, status: Status, solution: Solution | None = None):
        super().__init__(message)
        self.status = status
        self.solution = solution


class FieldShapeError(ValueError):
    """The vector field returned a tensor not shaped like the state."""


class AdjointParamsError(ValueError):
    """The adjoint cannot see the parameters of the field; the message names the fix."""
