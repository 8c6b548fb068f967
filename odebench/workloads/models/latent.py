"""Latent ODE (Neural ODE paper, section 5) and RNN baselines for irregular time series.

Both models take a batch as ``(times, values, mask)``: ``times`` (T,) shared by the batch
or (N, T) per series, ``values`` (N, T, D), ``mask`` (N, T) marking observed points.

Irregular times across a batch are handled by **solving once on the union of the
batch's times**: per-series times are merged into one sorted grid (``to_shared_grid``)
and each series keeps a mask over it. The latent ODE integrates every series over the
whole grid in one batched ``solve`` (adaptive solvers then share steps across the batch)
and scores only the observed points; the RNNs read only each series' own observed
points, in time order (the latent ODE's encoder in reverse, with each point's time; the
baselines forwards, with or without the gap to the next point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from odebench.instruments.nfe import CountedField
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.spirals import check_observations


def to_shared_grid(
    times: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Put a batch on one sorted time grid: returns ``grid`` (G,), values (N, G, D), mask (N, G).

    With shared ``times`` (T,) this only fills in a missing mask. With per-series
    ``times`` (N, T) the grid is the union of the observed times.
    """
    check_observations(times, values, mask)
    if mask is None:
        mask = torch.ones(values.shape[:2], dtype=torch.bool, device=values.device)
    if times.ndim == 1:
        return times, values, mask
    grid = torch.unique(times[mask])  # sorted
    idx = torch.searchsorted(grid, times.contiguous())
    rows = torch.arange(values.shape[0], device=values.device)[:, None].expand_as(idx)
    grid_values = values.new_zeros(values.shape[0], grid.numel(), values.shape[2])
    grid_mask = torch.zeros(values.shape[0], grid.numel(), dtype=torch.bool, device=mask.device)
    grid_values[rows[mask], idx[mask]] = values[mask]
    grid_mask[rows[mask], idx[mask]] = True
    return grid, grid_values, grid_mask


def _check_query(query: torch.Tensor) -> None:
    if query.ndim != 1 or query.numel() < 1:
        raise ValueError(f"query times must be 1-D and non-empty; got shape {tuple(query.shape)}.")
    if (query < 0).any() or (query.numel() > 1 and not (query[1:] > query[:-1]).all()):
        raise ValueError(
            "query times must be >= 0 (relative to t0 = 0) and strictly increasing; "
            "sort them and drop repeats, e.g. torch.unique(query)."
        )


def log_normal(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """Elementwise Gaussian log-density with fixed standard deviation ``std``."""
    return -0.5 * (math.log(2 * math.pi) + 2 * math.log(std) + ((x - mean) / std) ** 2)


def normal_kl_std(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)), elementwise (analytic)."""
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar)


class ODEFunc(nn.Module):
    """The latent dynamics ``dz/dt = f(z)``: an ELU MLP with ``layers`` hidden layers.

    One hidden layer of 20 units is the paper's (section 5.1); torchdiffeq's example
    uses two, and ``layers=2`` gives that variant.
    """

    def __init__(self, latent_dim: int = 4, hidden: int = 20, layers: int = 1):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers={layers}: the dynamics need at least 1 hidden layer.")
        mods: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ELU()]
        for _ in range(layers - 1):
            mods += [nn.Linear(hidden, hidden), nn.ELU()]
        self.net = nn.Sequential(*mods, nn.Linear(hidden, latent_dim))

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def compact(
    grid: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each series' observed points, left-aligned in time order and zero-padded.

    Returns times (N, M), values (N, M, D) and lengths (N,), with M the most points
    any series has observed.
    """
    g = grid.numel()
    pos = torch.arange(g, device=mask.device).expand_as(mask)
    order = torch.where(mask, pos, pos + g).argsort(dim=1)
    lengths = mask.sum(dim=1)
    m = int(lengths.max())
    order = order[:, :m]
    valid = torch.arange(m, device=mask.device)[None, :] < lengths[:, None]
    t = torch.where(valid, grid[order], grid.new_zeros(()))
    x = torch.gather(values, 1, order[..., None].expand(-1, -1, values.shape[2]))
    return t, x * valid[..., None], lengths


def _reverse_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` entries along dim 1, keeping padding at the end."""
    m = x.shape[1]
    j = torch.arange(m, device=x.device)[None, :]
    idx = torch.where(j < lengths[:, None], lengths[:, None] - 1 - j, j)
    if x.ndim == 3:
        idx = idx[..., None].expand(-1, -1, x.shape[2])
    return torch.gather(x, 1, idx)


class RecognitionRNN(nn.Module):
    """Tanh RNN run backwards in time over the observations; outputs q(z0) mean and log-variance.

    Each step reads the observation and its time since t0 = 0, so the encoder knows
    where in the window (irregularly placed) observations lie. Only observed points
    are read: series are compacted and reversed, then run through one ``nn.RNN`` call.
    """

    def __init__(self, obs_dim: int = 2, latent_dim: int = 4, hidden: int = 25):
        super().__init__()
        self.rnn = nn.RNN(obs_dim + 1, hidden, nonlinearity="tanh", batch_first=True)
        self.h2o = nn.Linear(hidden, 2 * latent_dim)

    def forward(
        self, grid: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t, x, lengths = compact(grid, values, mask)
        inputs = _reverse_valid(torch.cat((x, t[..., None]), dim=2), lengths)
        out, _ = self.rnn(inputs)
        last = torch.gather(out, 1, (lengths - 1)[:, None, None].expand(-1, 1, out.shape[2]))
        mean, logvar = self.h2o(last[:, 0]).chunk(2, dim=1)
        return mean, logvar


@dataclass
class LossParts:
    """A training loss (mean over the batch) and its parts as floats (batch means)."""

    loss: torch.Tensor
    nll: float
    kl: float


class LatentODE(nn.Module):
    """Latent ODE: z0 ~ q(z0 | x) by a backward RNN, z(t) = ODESolve(z0, f), x ~ N(dec(z), s).

    Defaults are the paper's (section 5.1): encoder RNN of 25 units, latent dimension 4,
    dynamics with one hidden layer of 20 units, decoder with one hidden layer of 20.

    Integration goes through :func:`odebench.solvers.solve` with ``config`` (any
    method, backprop or adjoint); the field is a :class:`CountedField`, so
    ``odebench.instruments.nfe(model, ...)`` reads its NFE.
    """

    def __init__(
        self,
        obs_dim: int = 2,
        latent_dim: int = 4,
        hidden: int = 20,
        rnn_hidden: int = 25,
        *,
        dynamics_layers: int = 1,
        config: SolverConfig | None = None,
        noise_std: float = 0.3,
    ):
        super().__init__()
        if noise_std <= 0:
            raise ValueError(f"noise_std={noise_std} must be > 0 (the likelihood's std).")
        self.config = config if config is not None else SolverConfig(rtol=1e-3, atol=1e-4)
        self.noise_std = noise_std
        self.encoder = RecognitionRNN(obs_dim, latent_dim, rnn_hidden)
        self.field = CountedField(ODEFunc(latent_dim, hidden, dynamics_layers))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, obs_dim)
        )

    def decode(self, z0: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Solve from z0 at t0 = 0 to every query time (sorted, >= 0) and decode: (N, Q, D)."""
        zero = query.new_zeros(1)
        ts = query if float(query[0]) == 0.0 else torch.cat((zero, query))
        if ts.numel() == 1:  # only t0 asked for: nothing to integrate
            return self.decoder(z0)[:, None]
        zs = solve(self.field, z0, ts, self.config).ys  # (len(ts), N, L)
        if ts.numel() > query.numel():
            zs = zs[1:]
        return self.decoder(zs.transpose(0, 1))

    def loss(
        self, times: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
    ) -> LossParts:
        """Negative ELBO (Gaussian likelihood over observed points, analytic KL), batch mean."""
        grid, values, mask = to_shared_grid(times, values, mask)
        mean, logvar = self.encoder(grid, values, mask)
        z0 = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        pred = self.decode(z0, grid)
        logpx = (log_normal(values, pred, self.noise_std).sum(-1) * mask).sum(-1)
        kl = normal_kl_std(mean, logvar).sum(-1)
        loss = (kl - logpx).mean()
        return LossParts(loss, float(-logpx.detach().mean()), float(kl.detach().mean()))

    @torch.no_grad()
    def predict(
        self,
        times: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None,
        query: torch.Tensor,
    ) -> torch.Tensor:
        """Posterior-mean prediction at ``query`` times (inside or beyond the window): (N, Q, D)."""
        _check_query(query)
        grid, values, mask = to_shared_grid(times, values, mask)
        mean, _ = self.encoder(grid, values, mask)
        return self.decode(mean, query)


#: RNN cells the baselines can use.
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU}


class RNNBaseline(nn.Module):
    """Recurrent forecaster: the state after each observation predicts the next value.

    The paper's two baselines (section 5.1) are both this class with a 25-unit tanh RNN:
    ``time_input=False`` reads the observations alone, so it cannot tell how far apart
    they are; ``time_input=True`` reads ``[x_i, t_next - t_i]``, each observation with the
    time to the point it is asked to predict. ``cell="gru"`` swaps in a GRU.

    The state ``s_i = cell([x_{i-1}, t_i - t_{i-1}], s_{i-1})`` (with ``x_0 = 0`` and
    ``t_0 = 0`` before the first observation) predicts observation ``i`` through
    ``readout(s_i)``; an observation is never used to predict itself. A query at time ``q``
    is answered from the last observation strictly before ``q`` with the gap ``q - t_last``
    (without time input: as if ``q`` were the next observation, so the prediction holds
    between observations). Beyond the observed window the model runs autoregressively:
    each prediction is fed back as the observation at its query time, so an RNN without
    time input takes one step per query. Before a series' first observation the
    prediction is the readout's prior guess, not a forecast.
    """

    def __init__(
        self,
        obs_dim: int = 2,
        hidden: int = 25,
        readout_hidden: int = 20,
        *,
        cell: str = "rnn",
        time_input: bool = True,
        noise_std: float = 0.3,
    ):
        super().__init__()
        if noise_std <= 0:
            raise ValueError(f"noise_std={noise_std} must be > 0 (the likelihood's std).")
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}.")
        self.hidden = hidden
        self.noise_std = noise_std
        self.time_input = time_input
        self.cell = cell
        width = obs_dim + (1 if time_input else 0)
        self.rnn = CELLS[cell](width, hidden, batch_first=True)
        self.readout = nn.Sequential(
            nn.Linear(hidden, readout_hidden), nn.Tanh(), nn.Linear(readout_hidden, obs_dim)
        )

    def _inputs(self, x: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, gap), dim=-1) if self.time_input else x

    def _step(self, x: torch.Tensor, gap: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One cell step for a batch: x (N, D), gap (N, 1), s (N, H) -> (N, H)."""
        return self.rnn(self._inputs(x, gap)[:, None], s[None].contiguous())[1][0]

    def _scan(
        self,
        grid: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor,
        query: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Step through observations and queries in time order (the reference for ``loss``).

        Returns predictions at every grid time (N, G, D) and at the queries (N, Q, D).
        A query at an observed time is answered before that observation is read.
        """
        n = values.shape[0]
        s = values.new_zeros(n, self.hidden)
        x_last = values.new_zeros(n, values.shape[2])
        t_last = values.new_zeros(n, 1)
        events: list[tuple[float, int, int]] = [(float(t), 1, k) for k, t in enumerate(grid)]
        if query is not None:
            events += [(float(t), 0, k) for k, t in enumerate(query)]
        events.sort()
        end = float(grid[-1])
        grid_pred: list[torch.Tensor | None] = [None] * grid.numel()
        query_pred: list[torch.Tensor | None] = [None] * (0 if query is None else query.numel())
        for t, is_obs, k in events:
            tt = values.new_full((n, 1), t)
            c = self._step(x_last, tt - t_last, s)
            pred = self.readout(c)
            if is_obs:
                grid_pred[k] = pred
                m = mask[:, k][:, None]
                s = torch.where(m, c, s)
                x_last = torch.where(m, values[:, k], x_last)
                t_last = torch.where(m, tt, t_last)
            else:
                query_pred[k] = pred
                if t > end:  # extrapolation: the prediction becomes the last observation
                    s, x_last, t_last = c, pred, tt
        preds = torch.stack(grid_pred, dim=1)  # type: ignore[arg-type]
        qp = None if query is None else torch.stack(query_pred, dim=1)  # type: ignore[arg-type]
        return preds, qp

    def loss(
        self, times: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None
    ) -> LossParts:
        """One-step-ahead Gaussian NLL over each series' observed points, batch mean.

        One ``nn.RNN``/``nn.GRU`` call over the compacted observations: step ``i`` reads
        observation ``i - 1`` (zeros at ``i = 0``) with the gap to observation ``i``.
        """
        grid, values, mask = to_shared_grid(times, values, mask)
        t, x, lengths = compact(grid, values, mask)
        prev_x = torch.cat((torch.zeros_like(x[:, :1]), x[:, :-1]), dim=1)
        prev_t = torch.cat((torch.zeros_like(t[:, :1]), t[:, :-1]), dim=1)
        out, _ = self.rnn(self._inputs(prev_x, (t - prev_t)[..., None]))
        pred = self.readout(out)
        scored = torch.arange(t.shape[1], device=t.device)[None, :] < lengths[:, None]
        nll = -(log_normal(x, pred, self.noise_std).sum(-1) * scored).sum(-1)
        loss = nll.mean()
        return LossParts(loss, float(loss.detach()), 0.0)

    @torch.no_grad()
    def predict(
        self,
        times: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None,
        query: torch.Tensor,
    ) -> torch.Tensor:
        """Prediction at ``query`` times from the observations before each: (N, Q, D)."""
        _check_query(query)
        grid, values, mask = to_shared_grid(times, values, mask)
        _, qp = self._scan(grid, values, mask, query)
        assert qp is not None
        return qp
