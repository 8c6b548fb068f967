"""What one training iteration's solve gives the shared loop, whatever the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Step:
    """The loss of one iteration: ``total`` (what is minimised), ``objective`` (the data term:
    the NLL or the negative ELBO), RNODE's batch-mean integrals (``None`` in other arms), the
    end time solved to, and the forward solve's stats (accepted and rejected steps)."""

    total: torch.Tensor
    objective: torch.Tensor
    kinetic: torch.Tensor | None
    jacobian: torch.Tensor | None
    t1: float
    stats: Any
