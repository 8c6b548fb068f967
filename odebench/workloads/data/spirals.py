"""Noisy 2-D spirals of the Neural ODE paper's latent-ODE experiment, all seeded.

Follows torchdiffeq's ``examples/latent_ode.py`` (``generate_spiral2d``): Archimedean
spirals ``r = a + b * theta``, half counter-clockwise (``theta = t``, centred at x=+5) and
half clockwise (``theta = 6*pi + 1 - t``, radius ``a + 50 b / theta``, centred at x=-5),
Gaussian observation noise, each spiral a window starting at its own random time.

Every spiral has ``n_points`` times on a shared grid over its observation window
(times relative to the window start, so ``times[0] == 0``) and ``n_extrap`` further
times beyond the window for extrapolation. :func:`subsample` keeps ``n_obs`` of the
``n_points`` at random, without replacement and differently for each spiral: each
spiral is then observed at its own irregular times (regular when ``n_obs == n_points``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: The paper's three observation counts (out of 100 points).
PAPER_OBS: tuple[int, ...] = (30, 50, 100)


@dataclass(frozen=True)
class Spirals:
    """Spirals on a shared time grid: ``truth``/``noisy`` are (N, T, 2), ``times`` (T,)."""

    times: torch.Tensor
    truth: torch.Tensor
    noisy: torch.Tensor
    extrap_times: torch.Tensor
    extrap_truth: torch.Tensor
    clockwise: torch.Tensor
    noise_std: float

    def __len__(self) -> int:
        return self.truth.shape[0]

    def select(self, index: torch.Tensor) -> Spirals:
        """The spirals at ``index`` (a 1-D index or boolean tensor)."""
        return Spirals(
            times=self.times,
            truth=self.truth[index],
            noisy=self.noisy[index],
            extrap_times=self.extrap_times,
            extrap_truth=self.extrap_truth[index],
            clockwise=self.clockwise[index],
            noise_std=self.noise_std,
        )


def spiral_xy(
    t: torch.Tensor,
    clockwise: torch.Tensor,
    *,
    a: float = 0.0,
    b: float = 0.3,
    stop: float = 6 * math.pi,
) -> torch.Tensor:
    """Noiseless points of the two reference spirals at absolute times ``t`` (N, T) -> (N, T, 2)."""
    cw = clockwise[:, None].expand_as(t)
    theta_cw = stop + 1.0 - t
    r_cw = a + b * 50.0 / theta_cw
    theta_cc = t
    r_cc = a + b * theta_cc
    theta = torch.where(cw, theta_cw, theta_cc)
    r = torch.where(cw, r_cw, r_cc)
    shift = torch.where(cw, -5.0, 5.0)
    return torch.stack((r * torch.cos(theta) + shift, r * torch.sin(theta)), dim=-1)


def make_spirals(
    n_spirals: int = 1000,
    n_points: int = 100,
    n_extrap: int = 100,
    *,
    noise_std: float = 0.3,
    a: float = 0.0,
    b: float = 0.3,
    stop: float = 6 * math.pi,
    n_total: int = 1000,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Spirals:
    """Generate ``n_spirals`` noisy spirals (exactly half clockwise), reproducibly from ``seed``.

    The grid step is ``stop / (n_total - 1)`` as in the reference (1000 points over
    ``[0, 6*pi]``); each spiral's window of ``n_points + n_extrap`` steps starts at a
    random grid index in ``[n_points, n_total - n_points - n_extrap)``.
    """
    for name, value in (("n_spirals", n_spirals), ("n_points", n_points)):
        if value < 2:
            raise ValueError(f"{name}={value} is too small; pass at least 2.")
    if n_extrap < 0:
        raise ValueError(f"n_extrap={n_extrap} is negative; pass 0 for no extrapolation window.")
    if noise_std < 0:
        raise ValueError(f"noise_std={noise_std} is negative; pass a standard deviation >= 0.")
    lo, hi = n_points, n_total - n_points - n_extrap
    if hi <= lo:
        raise ValueError(
            f"n_total={n_total} leaves no room for windows of n_points + n_extrap = "
            f"{n_points + n_extrap} steps; raise n_total above {2 * n_points + n_extrap}."
        )
    gen = torch.Generator().manual_seed(seed)
    dt = stop / (n_total - 1)
    steps = torch.arange(n_points + n_extrap, dtype=torch.float64)
    start_idx = torch.randint(lo, hi, (n_spirals,), generator=gen)
    clockwise = torch.zeros(n_spirals, dtype=torch.bool)
    clockwise[torch.randperm(n_spirals, generator=gen)[: n_spirals // 2]] = True
    t_abs = (start_idx[:, None].double() + steps[None, :]) * dt
    xy = spiral_xy(t_abs, clockwise, a=a, b=b, stop=stop)
    rel = steps * dt
    truth = xy[:, :n_points]
    noisy = truth + noise_std * torch.randn(truth.shape, generator=gen, dtype=torch.float64)
    return Spirals(
        times=rel[:n_points].to(dtype),
        truth=truth.to(dtype),
        noisy=noisy.to(dtype),
        extrap_times=rel[n_points:].to(dtype),
        extrap_truth=xy[:, n_points:].to(dtype),
        clockwise=clockwise,
        noise_std=noise_std,
    )


def radius(xy: torch.Tensor, clockwise: torch.Tensor) -> torch.Tensor:
    """Distance of each point (N, T, 2) from its spiral's centre (x = -5 clockwise, +5 not).

    Both spirals' radius grows with absolute time, so a radius says where on its spiral
    a point lies: a model trained on windows up to some radius has seen nothing beyond it.
    """
    centre = torch.where(clockwise, -5.0, 5.0).to(xy.dtype)[:, None]
    return torch.sqrt((xy[..., 0] - centre) ** 2 + xy[..., 1] ** 2)


def within_training_radii(train: Spirals, test: Spirals) -> torch.Tensor:
    """(N_test,) True where every extrapolated point of a test spiral lies within the
    radii of the training windows of its direction (between their smallest and largest).

    The rule that keeps an extrapolation a test of the model rather than of the data
    range: the training windows show the spiral between those radii and nowhere else.
    """
    r_train = radius(train.truth, train.clockwise)
    r_test = radius(test.extrap_truth, test.clockwise)
    keep = torch.zeros(len(test), dtype=torch.bool)
    for cw in (True, False):
        seen = r_train[train.clockwise == cw]
        mine = test.clockwise == cw
        if seen.numel() == 0 or not mine.any():
            continue
        lo, hi = float(seen.min()), float(seen.max())
        r = r_test[mine]
        keep[mine] = (r.min(dim=1).values >= lo) & (r.max(dim=1).values <= hi)
    return keep


def subsample(n_series: int, n_points: int, n_obs: int, *, seed: int = 0) -> torch.Tensor:
    """A (n_series, n_points) mask keeping ``n_obs`` random points per series (no replacement)."""
    if n_obs > n_points:
        raise ValueError(
            f"cannot observe {n_obs} points of series of length {n_points}; "
            f"pass n_obs <= {n_points} (the paper uses 30, 50 or 100 of 100)."
        )
    if n_obs < 1:
        raise ValueError(f"n_obs={n_obs}: observe at least 1 point per series.")
    gen = torch.Generator().manual_seed(seed)
    keys = torch.rand(n_series, n_points, generator=gen)
    keep = keys.argsort(dim=1)[:, :n_obs]
    mask = torch.zeros(n_series, n_points, dtype=torch.bool)
    mask.scatter_(1, keep, True)
    return mask


def train_test_split(
    n_series: int, test_fraction: float = 0.2, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random disjoint train and test indices (test gets ``round(test_fraction * n)``)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} must lie strictly between 0 and 1.")
    n_test = round(test_fraction * n_series)
    if n_test < 1 or n_test >= n_series:
        raise ValueError(
            f"{n_series} series with test_fraction={test_fraction} leave an empty train or "
            "test set; generate more spirals or change test_fraction."
        )
    perm = torch.randperm(n_series, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def check_observations(
    times: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
) -> None:
    """Raise ``ValueError`` saying what to fix if ``(times, values, mask)`` is not a valid batch.

    ``times`` is (T,) shared by the batch or (N, T) per series, strictly increasing
    and >= 0 (relative to the window start t0 = 0); ``values`` is (N, T, D); ``mask``
    (N, T) bool marks observed points (``None``: all observed).
    """
    if values.ndim != 3:
        raise ValueError(
            f"values must be (series, times, dims); got shape {tuple(values.shape)}. "
            "Add a batch dimension with values[None] for a single series."
        )
    n, length = values.shape[:2]
    if times.ndim not in (1, 2):
        raise ValueError(f"times must be (T,) or (N, T); got shape {tuple(times.shape)}.")
    if times.shape[-1] != length or (times.ndim == 2 and times.shape[0] != n):
        raise ValueError(
            f"times {tuple(times.shape)} and values {tuple(values.shape)} have mismatched "
            "lengths; pass one time per value, as (T,) for a shared grid or (N, T)."
        )
    if not torch.isfinite(times).all() or not torch.isfinite(values).all():
        raise ValueError("times or values contain NaN or inf; drop or impute those points.")
    if length > 1 and not (times[..., 1:] > times[..., :-1]).all():
        raise ValueError(
            "times must be strictly increasing along each series; sort each series by time "
            "(e.g. times.sort(dim=-1) and reorder values with the same indices) and drop repeats."
        )
    if (times < 0).any():
        raise ValueError("times must be >= 0, relative to the window start t0 = 0; subtract t0.")
    if mask is not None:
        if mask.shape != (n, length):
            raise ValueError(
                f"mask must be (N, T) = {(n, length)} to match values; got {tuple(mask.shape)}."
            )
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor; got dtype {mask.dtype}.")
        if not mask.any(dim=1).all():
            raise ValueError("every series needs at least one observed point; drop empty series.")
