"""The built-in neural vector fields: a 64-wide MLP and a 2-D spiral field, random or briefly
trained, with float64 references. The trained fields' reference weights ship with the package
(``reference_weights/``, checked against ``SHA256SUMS``), so no case trains anything inside its
timeout; ``odebench weights --refit`` refits them and says whether the refit differs."""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchdiffeq import odeint

from odebench.workloads.problems.registry import Problem, builtin_problem


class MLPField(nn.Module):
    """``f(t, y) = W2 tanh(W1 y + b1) + b2``: the MLP vector field of the memory benchmarks."""

    def __init__(self, dim: int = 64, hidden: int = 64, *, seed: int = 0):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        torch.random.set_rng_state(gen_state)
        self.dim = dim
        self.hidden = hidden

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def mlp_problem(
    *, dim: int = 64, hidden: int = 64, batch: int = 128, seed: int = 0, t1: float = 1.0
) -> Problem:
    """A random MLP field with a batch of random initial states; reference by dopri8 at 1e-12."""
    gen = torch.Generator().manual_seed(seed + 1)
    y0 = torch.randn(batch, dim, generator=gen).double()  # float32 draws, kept in float64
    return Problem(
        name="mlp",
        make_field=lambda: MLPField(dim, hidden, seed=seed),
        y0=y0,
        t1=t1,
        description=f"random MLP field {dim}->{hidden} tanh->{dim}, batch {batch}",
    )


def _mlp(batch: int, seed: int) -> Problem:
    return mlp_problem(batch=batch, seed=seed)


def _mlp_small(batch: int, seed: int) -> Problem:
    return mlp_problem(dim=8, hidden=32, batch=batch, seed=seed)


builtin_problem("mlp", batched=_mlp)(lambda: _mlp(128, 0))
builtin_problem("mlp_small", batched=_mlp_small)(lambda: _mlp_small(16, 0))


def _trained_mlp_field() -> MLPField:
    field = MLPField(64, 64)
    field.load_state_dict(trained_mlp_state())
    return field


builtin_problem("mlp_trained")(
    lambda: Problem(
        name="mlp_trained",
        make_field=_trained_mlp_field,
        y0=mlp_problem().y0,
        description="MLP field 64->64 tanh->64 trained 300 Adam steps, batch 128; "
        "reference dopri8 1e-12",
    )
)


class SpiralField(nn.Module):
    """torchdiffeq's ode_demo field: a 2-D MLP that learns the cubic spiral ``y' = (y^3) A``."""

    def __init__(self, hidden: int = 50):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y**3)


_SPIRAL_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


#: The shipped reference weights (``<key>.pt``) and their checksums (``SHA256SUMS``).
WEIGHTS_DIR = Path(__file__).with_name("reference_weights")
CHECKSUMS_FILE = WEIGHTS_DIR / "SHA256SUMS"


class WeightsError(RuntimeError):
    """A shipped weights file that is missing or does not match its checksum."""


def shipped_checksums() -> dict[str, str]:
    """File name -> sha256 of the shipped reference weights (empty when none ship)."""
    if not CHECKSUMS_FILE.is_file():
        return {}
    pairs = (line.split() for line in CHECKSUMS_FILE.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


def load_shipped(key: str) -> dict[str, torch.Tensor] | None:
    """The shipped weights ``<key>.pt`` after checking their checksum; None if none ship."""
    name = f"{key}.pt"
    digest = shipped_checksums().get(name)
    if digest is None:
        return None
    path = WEIGHTS_DIR / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: {exc.strerror}; reinstall odebench, or rebuild it with "
                           "`odebench weights --refit --write`.") from None  # fmt: skip
    if hashlib.sha256(data).hexdigest() != digest:
        raise WeightsError(f"{path} does not match its checksum in {CHECKSUMS_FILE}; reinstall "
                           "odebench, or rebuild it with `odebench weights --refit --write`.")
    return torch.load(io.BytesIO(data), weights_only=True)


def fit_state(fit: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The weights ``fit()`` trains, on one thread (a sum's order, so the last bits, depends
    on the thread count) and without moving the caller's RNG or thread count."""
    gen_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {k: v.detach().clone() for k, v in fit().state_dict().items()}
    finally:
        torch.random.set_rng_state(gen_state)
        torch.set_num_threads(threads)


def _cached_fit(key: str, fit: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The shipped weights of ``key`` if they ship, else the weights ``fit()`` trains, cached
    under ``$ODEBENCH_CACHE`` (a fit takes seconds alone, minutes on a loaded machine)."""
    shipped = load_shipped(key)
    if shipped is not None:
        return shipped
    cache = _cache_dir() / f"{key}_torch{torch.__version__}.pt"
    if cache.exists():
        return torch.load(cache)
    state = fit_state(fit)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, tmp)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only home only costs the refit
    return state


def spiral_fit(iters: int = 200, seed: int = 0) -> Callable[[], nn.Module]:
    """The fit behind :func:`trained_spiral_state`: rk4 through the true spiral's points."""

    def fit() -> nn.Module:
        torch.manual_seed(seed)
        field = SpiralField()
        t = torch.linspace(0.0, 5.0, 26)
        y0 = torch.tensor([[2.0, 0.0]])
        with torch.no_grad():
            true = odeint(lambda t, y: (y**3) @ _SPIRAL_A, y0, t, method="dopri5")
        opt = torch.optim.Adam(field.parameters(), lr=1e-2)
        for _ in range(iters):
            opt.zero_grad()
            pred = odeint(field, y0, t, method="rk4", options={"step_size": 0.2})
            loss = (pred - true).abs().mean()
            loss.backward()
            opt.step()
        return field

    return fit


@functools.cache
def trained_spiral_state(iters: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of a :class:`SpiralField` fitted for ``iters`` Adam steps to the true spiral.

    A random MLP is too easy for tolerance sweeps (dopri5 takes the same few steps at
    any tolerance); this trained field has real dynamics, so NFE and error move with
    tolerance. Fitted with fixed-grid rk4 (deterministic for a seed); the default fit ships.
    """
    return _cached_fit(f"spiral_field_{iters}_{seed}", spiral_fit(iters, seed))


def mlp_fit(iters: int = 300, seed: int = 0) -> Callable[[], nn.Module]:
    """The fit behind :func:`trained_mlp_state`: rk4 to a rotated tanh target at t = 1."""

    def fit() -> nn.Module:
        field = MLPField(64, 64, seed=seed)
        y0 = mlp_problem(seed=seed).y0.float()
        rotation, _ = torch.linalg.qr(
            torch.randn(64, 64, generator=torch.Generator().manual_seed(seed + 2))
        )
        target = 1.5 * torch.tanh(y0 @ rotation)
        opt = torch.optim.Adam(field.parameters(), lr=3e-3)
        t = torch.tensor([0.0, 1.0])
        for _ in range(iters):
            opt.zero_grad()
            y1 = odeint(field, y0, t, method="rk4", options={"step_size": 0.1})[-1]
            ((y1 - target) ** 2).mean().backward()
            opt.step()
        return field

    return fit


@functools.cache
def trained_mlp_state(iters: int = 300, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of the 64-wide :class:`MLPField` fitted for ``iters`` Adam steps.

    The target maps each of the ``mlp`` problem's 128 initial states to
    ``1.5 tanh(y0 Q)`` at t = 1 (Q a fixed random rotation): real dynamics, so dopri5's
    steps follow the tolerance, and with a sum loss the adjoint state is large enough
    for the seminorm to change NFE-B (on the random field it changes nothing). The default
    fit ships.
    """
    return _cached_fit(f"mlp_field_{iters}_{seed}", mlp_fit(iters, seed))


#: The reference fits that ship: key (file name without .pt) -> the fit that makes them.
REFERENCE_FITS: dict[str, Callable[[], Callable[[], nn.Module]]] = {
    "spiral_field_200_0": spiral_fit,
    "mlp_field_300_0": mlp_fit,
}


def refit_reference(key: str) -> tuple[dict[str, torch.Tensor], float | None]:
    """Refit the shipped weights ``key``: (the refit, the largest |refit - shipped|; None when
    nothing ships). 0.0 means the refit is bit for bit the shipped file's."""
    state = fit_state(REFERENCE_FITS[key]())
    shipped = load_shipped(key)
    if shipped is None:
        return state, None
    if shipped.keys() != state.keys():
        return state, float("inf")
    diff = max(float((state[k] - shipped[k]).abs().max()) for k in state)
    return state, diff


def write_reference(states: dict[str, dict[str, torch.Tensor]]) -> list[Path]:
    """Write ``states`` (key -> weights) into the package's reference folder with their
    checksums; the files written."""
    WEIGHTS_DIR.mkdir(exist_ok=True)
    sums = shipped_checksums()
    written = []
    for key, state in states.items():
        buf = io.BytesIO()
        torch.save(state, buf)
        path = WEIGHTS_DIR / f"{key}.pt"
        path.write_bytes(buf.getvalue())
        sums[path.name] = hashlib.sha256(buf.getvalue()).hexdigest()
        written.append(path)
    CHECKSUMS_FILE.write_text("".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))
    return written + [CHECKSUMS_FILE]


def _cache_dir() -> Path:
    return Path(os.environ.get("ODEBENCH_CACHE", Path.home() / ".cache" / "odebench"))


def _trained_spiral_field() -> SpiralField:
    field = SpiralField()
    field.load_state_dict(trained_spiral_state())
    return field


builtin_problem("spiral_trained")(
    lambda: Problem(
        name="spiral_trained",
        make_field=_trained_spiral_field,
        y0=torch.tensor([[2.0, 0.0]], dtype=torch.float64),
        t1=5.0,
        description="MLP field trained 200 Adam steps on the cubic spiral; reference dopri8 1e-12",
    )
)
