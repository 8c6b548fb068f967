"""A field to profile: ``odebench profile examples/my_field.py:make_field --y0-shape 128,64``.

The factory takes no argument and returns the field (an ``nn.Module`` whose
``forward(t, y)`` returns dy/dt with y's shape). It may instead return ``(field, y0)``,
``(field, y0, (t0, t1))`` or an ``odebench.workloads.problems.Problem``; then drop ``--y0-shape``.
"""

import torch
from torch import nn


class MyField(nn.Module):
    def __init__(self, dim: int = 64, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def make_field() -> nn.Module:
    # odebench seeds torch before it calls this, so every process builds the same weights;
    # load trained weights here instead with field.load_state_dict(torch.load(...))
    return MyField()
