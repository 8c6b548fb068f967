"""Scoring Table 2: each reading of the paper's RMSE, the baselines and the diagnostics.

Readings (RMSE per coordinate against the noiseless spirals, test set):

- ``rmse_window``: the observed window, at every time after a spiral's first observation;
- ``rmse_extrap10`` / ``rmse_extrap``: the first 10 / all extrapolated points, over the test
  spirals whose extrapolation lies within the training windows' radii;
- ``rmse_extrap_beyond``: all extrapolated points of the other test spirals (larger radii
  than any training window shows), and ``rmse_extrap_all`` over every test spiral.

The RNNs are also scored one step ahead (teacher forcing): each observed point from the
observation before it (``rmse_one_step_window``), and each extrapolated point from the
noisy truth before it (``rmse_one_step_extrap``): a diagnostic beside their rollout.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from odebench.experiments.spirals.settings import SHORT_EXTRAP

if TYPE_CHECKING:
    import torch
    from torch import nn

    from odebench.experiments.spirals.split import Split
    from odebench.solvers import SolverConfig

#: Observations a linear extrapolation fits (least squares in time, the last ones).
LINEAR_POINTS = 5
#: Seed of the noise added to the extrapolation truth fed to the RNNs one step ahead.
TEACHER_NOISE_SEED = 12345


def rmse(pred: torch.Tensor, truth: torch.Tensor, where: torch.Tensor | None = None) -> float:
    """Root mean squared error per coordinate over the (N, T) ``where`` points (all: None);
    NaN when ``where`` selects nothing."""
    sq = ((pred - truth) ** 2).mean(-1)
    if where is not None:
        if not bool(where.any()):
            return float("nan")
        sq = sq[where]
    return float(sq.mean().sqrt())


def after_first_observation(mask: torch.Tensor) -> torch.Tensor:
    """(N, T) True at the times strictly after each series' first observation.

    At the first observed time an RNN still answers with its prior guess (an observation
    never predicts itself); from the next time on every model has seen data.
    """
    return (mask.cumsum(dim=1) - mask.long()) > 0


def predict_all(model: nn.Module, split: Split, device: str) -> torch.Tensor:
    """Predictions at every window time and every extrapolation time: (N, T + E, 2), on CPU."""
    import torch

    test = split.test
    query = torch.cat((test.times, test.extrap_times)).to(device)
    was_training = model.training
    model.eval()
    pred = model.predict(  # type: ignore[operator]
        test.times.to(device), test.noisy.to(device), split.test_mask.to(device), query
    )
    model.train(was_training)
    return pred.cpu()


def score_prediction(pred: torch.Tensor, split: Split) -> dict[str, float]:
    """Every reading of one (N, T + E, 2) prediction of the test set."""
    test, t = split.test, split.test.times.numel()
    short = min(SHORT_EXTRAP, test.extrap_times.numel())
    extrap, keep = pred[:, t:], split.in_range
    return {
        "rmse_window": rmse(pred[:, :t], test.truth, after_first_observation(split.test_mask)),
        "rmse_extrap10": rmse(extrap[keep, :short], test.extrap_truth[keep, :short]),
        "rmse_extrap": rmse(extrap[keep], test.extrap_truth[keep]),
        "rmse_extrap_beyond": rmse(extrap[~keep], test.extrap_truth[~keep]),
        "rmse_extrap_all": rmse(extrap, test.extrap_truth),
    }


def readings(model: nn.Module, split: Split, device: str) -> dict[str, float]:
    """The readings of a model's prediction (used during training for the curves)."""
    return score_prediction(predict_all(model, split, device), split)


def one_step(model: nn.Module, split: Split, pred: torch.Tensor, device: str) -> dict[str, float]:
    """An RNN's one-step-ahead RMSE: at observed window points (from ``pred``, where each
    is answered before it is read) and over the extrapolation fed the noisy truth."""
    import torch

    test, t = split.test, split.test.times.numel()
    observed = split.test_mask & after_first_observation(split.test_mask)
    gen = torch.Generator().manual_seed(TEACHER_NOISE_SEED)
    noise = test.noise_std * torch.randn(test.extrap_truth.shape, generator=gen)
    times = torch.cat((test.times, test.extrap_times))
    values = torch.cat((test.noisy, test.extrap_truth + noise.to(test.extrap_truth.dtype)), 1)
    mask = torch.cat(
        (split.test_mask, torch.ones_like(test.extrap_truth[..., 0], dtype=torch.bool)), 1
    )
    model.eval()
    forced = model.predict(  # type: ignore[operator]
        times.to(device), values.to(device), mask.to(device), test.extrap_times.to(device)
    ).cpu()
    keep = split.in_range
    return {
        "rmse_one_step_window": rmse(pred[:, :t], test.truth, observed),
        "rmse_one_step_extrap": rmse(forced[keep], test.extrap_truth[keep]),
    }


def baseline_prediction(name: str, split: Split) -> torch.Tensor:
    """(N, T + E, 2) forecasts without training, each from the observations strictly before
    its time: ``hold_last`` repeats the last one; ``linear`` follows the least-squares line
    in time through the last :data:`LINEAR_POINTS` (the first observation's time and
    before: the first observation, as nothing precedes it)."""
    import numpy as np
    import torch

    test = split.test
    query = torch.cat((test.times, test.extrap_times)).double().numpy()
    values, mask = test.noisy.double().numpy(), split.test_mask.numpy()
    times = test.times.double().numpy()
    out = np.zeros((len(test), query.size, 2))
    for i in range(len(test)):
        t_obs, x_obs = times[mask[i]], values[i][mask[i]]
        before = np.searchsorted(t_obs, query, side="left")  # observations strictly before
        for k, n_before in enumerate(before):
            n = max(int(n_before), 1)
            if name == "hold_last" or n == 1:
                out[i, k] = x_obs[n - 1]
                continue
            tt, xx = t_obs[max(0, n - LINEAR_POINTS) : n], x_obs[max(0, n - LINEAR_POINTS) : n]
            tc = tt - tt.mean()
            slope = (tc[:, None] * (xx - xx.mean(0))).sum(0) / (tc**2).sum()
            out[i, k] = xx.mean(0) + slope * (query[k] - tt.mean())
    return torch.from_numpy(out).to(test.truth.dtype)


def plateau_change(losses: Sequence[float]) -> float:
    """Relative change of the training loss over the last quarter of training.

    (mean of the last ``w`` iterations - mean of the ``w`` ending at 3/4) / |the latter|,
    with ``w`` a twentieth of the run (averages over the noise of a sampled ELBO); NaN for
    runs under 8 iterations, too short to have a last quarter to compare.
    """
    n = len(losses)
    if n < 8:
        return float("nan")
    w = max(1, n // 20)
    q = (3 * n) // 4
    ref = statistics.fmean(losses[q - w : q])
    last = statistics.fmean(losses[n - w :])
    return (last - ref) / abs(ref) if ref != 0 else float("nan")


def solver_cost(
    model: nn.Module,
    split: Split,
    configs: Sequence[SolverConfig],
    *,
    device: str,
    warmup: int = 1,
    repeat: int = 3,
) -> list[dict[str, Any]]:
    """Seconds and NFE-F/NFE-B of one training iteration (loss + backward) per solver.

    Runs on a copy of a trained latent ODE with its weights fixed (no optimizer step),
    so every configuration integrates the same dynamics; warm-up passes are not timed.
    """
    import torch

    from odebench.instruments import Stopwatch, nfe, phase, reset_nfe

    data = split.train
    times, values, mask = data.times.to(device), data.noisy.to(device), split.train_mask.to(device)
    rows = []
    for config in configs:
        probe = copy.deepcopy(model)
        probe.config = config
        seconds, nfe_f, nfe_b = [], [], []
        for k in range(warmup + repeat):
            torch.manual_seed(k)  # the same z0 sample for every configuration
            probe.zero_grad()
            reset_nfe(probe)
            with Stopwatch(device) as sw:
                loss = probe.loss(times, values, mask).loss  # type: ignore[operator]
                with phase("backward"):
                    loss.backward()
            if k >= warmup:
                seconds.append(sw.seconds)
                nfe_f.append(nfe(probe, "forward"))
                nfe_b.append(nfe(probe, "backward"))
        rows.append({
            "method": config.method, "gradient": config.gradient, "rtol": config.rtol,
            "atol": config.atol, "nfe_forward": statistics.fmean(nfe_f),
            "nfe_backward": statistics.fmean(nfe_b), "time_iter_s": statistics.median(seconds),
            "repeat": repeat,
        })  # fmt: skip
    return rows
