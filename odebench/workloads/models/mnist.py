"""The MNIST models of the Neural ODE paper's Table 1: MLP, ResNet, RK-Net and ODE-Net.

Architecture after torchdiffeq's ``examples/odenet_mnist.py``: a downsampling stem
(``"conv"``: three convolutions; ``"residual"``: a convolution and two strided
ResBlocks), a feature part (6 ResBlocks, or one ODE block) and a head (GroupNorm,
ReLU, global average pool, Linear 64 -> 10).

The ODE block integrates through :func:`odebench.solvers.solve` with its ODE function
wrapped in a :class:`~odebench.instruments.CountedField`, so every solver, gradient
mode and tolerance of a :class:`~odebench.solvers.SolverConfig` can be benchmarked and
the NFE read with ``nfe(model, "forward")`` / ``nfe(model, "backward")``.

Parameter counts (asserted in the tests): ResNet with the residual stem 601,482
(the paper's 0.60M); ODE-Net 208,266 with the conv stem, 232,970 with the residual
stem; MLP 784-300-10 238,510.
"""

from __future__ import annotations

import torch
from torch import nn

from odebench.instruments.nfe import CountedField
from odebench.solvers import SolverConfig, SolveStats, solve

MODEL_KINDS: tuple[str, ...] = ("mlp", "resnet", "rknet", "odenet")
#: The models with an ODE block (the others take no solver).
SOLVER_MODELS: tuple[str, ...] = ("rknet", "odenet")
STEMS: tuple[str, ...] = ("conv", "residual")
CHANNELS = 64

#: The reference example's default: dopri5, tolerance 1e-3; the paper's ODE-Net uses the adjoint.
DEFAULT_ODENET_SOLVER = SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-3, atol=1e-3)
#: RK-Net: backpropagation straight through a fixed-grid rk4 solve (4 steps = 16 NFE).
DEFAULT_RKNET_SOLVER = SolverConfig(method="rk4", gradient="backprop", steps=4)


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with min(32, channels) groups, as in the reference example."""
    return nn.GroupNorm(min(32, channels), channels)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ResBlock(nn.Module):
    """Pre-activation residual block: GN, ReLU, conv3x3, GN, ReLU, conv3x3, plus shortcut."""

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.norm1 = norm(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.norm2 = norm(planes)
        self.conv2 = conv3x3(planes, planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        out = self.relu(self.norm1(x))
        if self.downsample is not None:
            shortcut = self.downsample(out)
        out = self.conv1(out)
        out = self.relu(self.norm2(out))
        out = self.conv2(out)
        return out + shortcut


class ConcatConv2d(nn.Module):
    """A convolution that sees time as one extra input channel (65 -> 64 for the ODE function)."""

    def __init__(
        self, dim_in: int, dim_out: int, ksize: int = 3, stride: int = 1, padding: int = 1
    ):
        super().__init__()
        self.layer = nn.Conv2d(dim_in + 1, dim_out, ksize, stride=stride, padding=padding)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = torch.ones_like(x[:, :1, :, :]) * t
        return self.layer(torch.cat([tt, x], 1))


class ODEFunc(nn.Module):
    """f(t, h): GN, ReLU, ConcatConv2d, GN, ReLU, ConcatConv2d, GN."""

    def __init__(self, dim: int = CHANNELS):
        super().__init__()
        self.norm1 = norm(dim)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = ConcatConv2d(dim, dim, 3, 1, 1)
        self.norm2 = norm(dim)
        self.conv2 = ConcatConv2d(dim, dim, 3, 1, 1)
        self.norm3 = norm(dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(x))
        out = self.conv1(t, out)
        out = self.relu(self.norm2(out))
        out = self.conv2(t, out)
        return self.norm3(out)


class ODEBlock(nn.Module):
    """Integrates the ODE function from t=0 to t=1 with ``solver``; returns h(1).

    ``field`` is the counted ODE function; ``last_stats`` holds the last solve's stats.
    """

    def __init__(self, func: nn.Module, solver: SolverConfig):
        super().__init__()
        self.field = CountedField(func)
        self.solver = solver
        self.register_buffer("integration_time", torch.tensor([0.0, 1.0]), persistent=False)
        self.last_stats: SolveStats | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.integration_time.to(dtype=x.dtype)
        sol = solve(self.field, x, t, self.solver)
        self.last_stats = sol.stats
        return sol.ys[-1]

    def extra_repr(self) -> str:
        return f"solver={self.solver}"


def downsampling_stem(stem: str) -> nn.Sequential:
    """28x28x1 -> 64 channels at 6x6 (``"conv"``) or 7x7 (``"residual"``)."""
    if stem == "conv":
        return nn.Sequential(
            nn.Conv2d(1, CHANNELS, 3, 1),
            norm(CHANNELS),
            nn.ReLU(inplace=True),
            nn.Conv2d(CHANNELS, CHANNELS, 4, 2, 1),
            norm(CHANNELS),
            nn.ReLU(inplace=True),
            nn.Conv2d(CHANNELS, CHANNELS, 4, 2, 1),
        )
    if stem == "residual":
        return nn.Sequential(
            nn.Conv2d(1, CHANNELS, 3, 1),
            ResBlock(CHANNELS, CHANNELS, stride=2, downsample=conv1x1(CHANNELS, CHANNELS, 2)),
            ResBlock(CHANNELS, CHANNELS, stride=2, downsample=conv1x1(CHANNELS, CHANNELS, 2)),
        )
    raise ValueError(f"unknown stem {stem!r}; choose one of: {', '.join(STEMS)}.")


def head() -> nn.Sequential:
    return nn.Sequential(
        norm(CHANNELS),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(CHANNELS, 10),
    )


class MNISTNet(nn.Sequential):
    """Stem, feature part and head in sequence; keeps ``kind``, ``stem``, ``solver`` for reports."""

    def __init__(
        self,
        kind: str,
        stem: str,
        features: nn.Module,
        solver: SolverConfig | None = None,
    ):
        super().__init__(downsampling_stem(stem), features, head())
        self.kind = kind
        self.stem = stem
        self.solver = solver

    @property
    def ode_block(self) -> ODEBlock | None:
        return self[1] if isinstance(self[1], ODEBlock) else None


class MLP(nn.Sequential):
    """The paper's 1-layer MLP baseline: 784 -> 300 -> ReLU -> 10."""

    def __init__(self, hidden: int = 300):
        super().__init__(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        self.kind = "mlp"
        self.solver = None


def build_model(
    kind: str,
    *,
    stem: str = "conv",
    blocks: int = 6,
    solver: SolverConfig | None = None,
) -> nn.Module:
    """Build one of :data:`MODEL_KINDS` taking (N, 1, 28, 28) images to (N, 10) logits.

    ``blocks`` is the ResNet depth; ``solver`` sets how RK-Net and ODE-Net integrate
    (defaults: :data:`DEFAULT_RKNET_SOLVER`, :data:`DEFAULT_ODENET_SOLVER`). Passing a
    solver for a model without an ODE block is an error, not silently ignored.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of: {', '.join(MODEL_KINDS)}.")
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; choose one of: {', '.join(STEMS)}.")
    if solver is not None and kind not in SOLVER_MODELS:
        raise ValueError(
            f"{kind!r} has no ODE block: drop solver= (it is for 'rknet' and 'odenet')."
        )
    if solver is not None and not isinstance(solver, SolverConfig):
        raise TypeError(f"solver must be a SolverConfig, got {type(solver).__name__}.")
    if kind == "mlp":
        return MLP()
    if kind == "resnet":
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"blocks={blocks!r} must be an integer >= 1 (the paper uses 6).")
        features = nn.Sequential(*(ResBlock(CHANNELS, CHANNELS) for _ in range(blocks)))
        return MNISTNet(kind, stem, features)
    if solver is None:
        solver = DEFAULT_RKNET_SOLVER if kind == "rknet" else DEFAULT_ODENET_SOLVER
    if kind == "rknet" and solver.gradient != "backprop":
        raise ValueError(
            "RK-Net backpropagates through the solver: use gradient='backprop' "
            "(for the adjoint, build 'odenet')."
        )
    return MNISTNet(kind, stem, ODEBlock(ODEFunc(CHANNELS), solver), solver)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
