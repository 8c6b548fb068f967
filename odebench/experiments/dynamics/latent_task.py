"""The spiral latent ODE as a training-dynamics model: its batches, its loss, its re-solves.

The Neural ODE paper's latent ODE (section 5.1: a 25-unit recognition RNN, 4 latent
dimensions, dynamics and decoder of 20 hidden units) on Table 2's noisy spirals, each seen at
:data:`N_OBS` of its :data:`N_POINTS` times (irregularly, per series), trained on mini-batches
of the training spirals with the negative ELBO (Gaussian likelihood over the observed points,
analytic KL; summed per series, batch mean), as ``odebench spirals`` trains it.

Arms, as on the CNF: the latent solve from ``z0`` over the 100-point window uses the arm's
training solver (dopri5 + adjoint at 1e-5, or rk4 with 4 steps + adjoint); ``rnode`` integrates
``|f|^2`` and Hutchinson's ``|e^T df/dz|^2`` (noise fixed per solve, one vector per series)
beside the latent state (:class:`~odebench.workloads.models.rnode.RNODEField`) and adds their
batch means at the window's end, weights 0.01 each; ``steer`` keeps every observation time but
the last and draws that one from ``t_{K-1} + (t_K - t_{K-1}) U(1 - b, 1 + b)`` (b = 0.5): the
outputs sit at fixed observation times, so only the final time can move (Ghosh et al. 2020's
choice for time series), and it moves by at most half a grid step.

Test: :data:`TEST_FRACTION` of the spirals (never trained on) are encoded from their observed
points and re-solved under every test-time solver: ``test_rmse`` (the posterior mean's RMSE
per coordinate against the noiseless spiral at every window time after the first observation,
Table 2's window reading) and ``test_neg_elbo`` (one fixed draw of ``z0`` per series).
"""

from __future__ import annotations

from typing import Any

import torch

from odebench.experiments.dynamics.evaluate import EVAL_SOLVERS, TEST_SEED
from odebench.experiments.dynamics.spec import LAMBDA_JACOBIAN, LAMBDA_KINETIC, ArmSpec
from odebench.experiments.dynamics.step import Step
from odebench.experiments.spirals.score import after_first_observation, rmse
from odebench.instruments.nfe import CountedField
from odebench.solvers import SolverConfig, solve
from odebench.workloads.data.spirals import make_spirals, subsample, train_test_split
from odebench.workloads.models.latent import LatentODE, log_normal, normal_kl_std
from odebench.workloads.models.rnode import RNODEField, rnode_initial_state

#: the data: Table 2's spirals (torchdiffeq's example) at its sparsest observation count
N_SPIRALS, N_POINTS, N_OBS, NOISE_STD, TEST_FRACTION = 1000, 100, 30, 0.3, 0.2
#: the latent state's size (the paper's)
LATENT_DIM = 4


def steer_times(times: torch.Tensor, scale: float) -> torch.Tensor:
    """The observation times with the last interval scaled by ``scale`` (STEER's end time)."""
    out = times.clone()
    out[-1] = times[-2] + (times[-1] - times[-2]) * scale
    return out


class LatentTask:
    """One arm's latent ODE (initialised from the seed), its seed's spirals, and what training
    and testing it needs."""

    def __init__(self, spec: ArmSpec):
        self.spec = spec
        self.rnode = spec.arm == "rnode"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            self.model = LatentODE(latent_dim=LATENT_DIM, hidden=spec.hidden, noise_std=NOISE_STD)
        self.func = self.model.field.inner
        self.field = RNODEField(self.func, LATENT_DIM) if self.rnode else self.func
        self.counted = CountedField(self.field)
        data = make_spirals(N_SPIRALS, N_POINTS, 0, noise_std=NOISE_STD, seed=spec.seed)
        train_idx, test_idx = train_test_split(len(data), TEST_FRACTION, seed=spec.seed)
        self.train, self.test = data.select(train_idx), data.select(test_idx)
        self.train_mask = subsample(len(self.train), N_POINTS, N_OBS, seed=2 * spec.seed)
        self.test_mask = subsample(len(self.test), N_POINTS, N_OBS, seed=2 * spec.seed + 1)

    def parameters(self) -> Any:
        return self.model.parameters()

    def prepare(self, it: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Iteration ``it``'s spirals (``batch`` of the training set), the reparameterisation
        noise of their ``z0`` and Hutchinson's noise (all from ``gen``)."""
        batch = self.spec.batch
        idx = torch.randperm(len(self.train), generator=gen)[:batch]
        eps = torch.randn(batch, LATENT_DIM, generator=gen)
        noise = torch.randn(batch, LATENT_DIM, generator=gen)
        if self.rnode:
            self.field.set_noise(noise)  # type: ignore[operator]
        return idx, eps

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], scale: float,
             config: SolverConfig) -> Step:  # fmt: skip
        """Encode, solve ``z0`` over the window (its end time scaled), decode, score."""
        idx, eps = batch
        times, values, mask = self.train.times, self.train.noisy[idx], self.train_mask[idx]
        mean, logvar = self.model.encoder(times, values, mask)
        z0 = mean + eps * (0.5 * logvar).exp()
        ts = steer_times(times, scale)
        y0 = rnode_initial_state(z0) if self.rnode else z0
        sol = solve(self.counted, y0, ts, config)
        pred = self.model.decoder(sol.ys[..., :LATENT_DIM].transpose(0, 1))
        logpx = (log_normal(values, pred, NOISE_STD).sum(-1) * mask).sum(-1)
        neg_elbo = (normal_kl_std(mean, logvar).sum(-1) - logpx).mean()
        kinetic = jacobian = None
        total = neg_elbo
        if self.rnode:
            kinetic = sol.ys[-1, :, LATENT_DIM].mean()
            jacobian = sol.ys[-1, :, LATENT_DIM + 1].mean()
            total = neg_elbo + LAMBDA_KINETIC * kinetic + LAMBDA_JACOBIAN * jacobian
        return Step(total, neg_elbo, kinetic, jacobian, float(ts[-1]), sol.stats)

    def state_dict(self) -> dict[str, Any]:
        return self.model.state_dict()

    @torch.no_grad()
    def resolve_rows(self) -> list[dict[str, Any]]:
        """Test RMSE and negative ELBO, and the solve's cost, under every test-time solver."""
        test, mask = self.test, self.test_mask
        mean, logvar = self.model.encoder(test.times, test.noisy, mask)
        eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(TEST_SEED))
        z0 = torch.cat([mean, mean + eps * (0.5 * logvar).exp()])
        kl = normal_kl_std(mean, logvar).sum(-1)
        scored = after_first_observation(mask)
        rows = []
        for name, config in EVAL_SOLVERS.items():
            counted = CountedField(self.func)
            sol = solve(counted, z0, test.times, config)
            pred = self.model.decoder(sol.ys.transpose(0, 1))
            at_mean, at_sample = pred[: len(test)], pred[len(test) :]
            logpx = (log_normal(test.noisy, at_sample, NOISE_STD).sum(-1) * mask).sum(-1)
            rows.append({
                "eval_solver": name,
                "test_rmse": rmse(at_mean, test.truth, scored),
                "test_neg_elbo": float((kl - logpx).mean()),
                "nfe": counted.nfe_forward,
                "steps_accepted": sol.stats.steps_accepted,
                "steps_rejected": sol.stats.steps_rejected,
            })  # fmt: skip
        return rows

    def noise_rows(self) -> list[dict[str, Any]]:
        """None: the noise diagnostic is the CNF's (its trace estimate runs in every arm)."""
        return []
