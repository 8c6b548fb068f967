"""``odebench spirals``: the paper's Table 2, latent ODE vs RNNs on irregularly sampled spirals.

The paper's terms (section 5.1): 1,000 noisy 2-D spirals of 100 equally spaced points,
half clockwise; each model sees 30, 50 or 100 of the 100 points at random; Table 2 is
the **predictive RMSE on 100 time points beyond the observed window**, against the
noiseless spiral, on the test set. Models: a latent ODE (encoder RNN 25 units, latent
dimension 4, dynamics and decoder one hidden layer of 20 units each) and two RNN
baselines of 25 units, one reading the observations alone, one with the time gap to the
next observation in its input. Interpolation RMSE (all 100 window times) is a second,
separately named column.

Every (seed, observation count, model) trains full-batch Adam for a fixed number of
iterations (budgets count iterations, never seconds), recording loss, NFE-F/NFE-B and
time of every iteration and the test RMSE every ``--eval-every`` iterations, so the
curves show whether the budget converged. Writes ``table2.csv`` (one row per seed),
``table2.md`` (mean +- sd over seeds, a verdict per column, the solver-cost check),
``table2_curves.csv``, ``table2_cost.csv``, ``table2_examples.csv``,
``table2.provenance.json`` and the figures ``plots/spirals.{png,svg}`` (the paper's
Figure 8 layout) and ``plots/table2_curves.{png,svg}``, all drawn from those files.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and pandas load only when a run starts (fast --help)
    import pandas as pd
    import torch
    from torch import nn

    from odebench.data.spirals import Spirals
    from odebench.solvers import SolverConfig

#: The paper's Table 2 (predictive RMSE on the test set) by observed points. The paper
#: gives one RNN row; it is shown beside each RNN baseline.
PAPER_RMSE: dict[str, dict[int, float]] = {
    "rnn": {30: 0.3937, 50: 0.3202, 100: 0.1813},
    "latent_ode": {30: 0.1642, 50: 0.1502, 100: 0.1346},
}

#: Model names: the paper's three (the default) and odebench's earlier GRU baseline.
MODELS: dict[str, str] = {
    "latent_ode": "Latent ODE",
    "rnn": "RNN",
    "rnn_gap": "RNN + time gap",
    "gru_gap": "GRU + time gap",
}
PAPER_MODELS: tuple[str, ...] = ("latent_ode", "rnn", "rnn_gap")

#: Training iterations (full-batch Adam) per model, observation count and seed.
#: ``default`` is sized so the default run (3 models x 3 counts x 3 seeds) fits about
#: 45 minutes on 2 shared CPU cores; ``paper`` is torchdiffeq's example (2000).
BUDGETS: dict[str, int] = {"default": 1200, "paper": 2000}
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
PAPER_OBS: tuple[int, ...] = (30, 50, 100)

#: Observation noise: the paper gives none; torchdiffeq's example generates with 0.3.
NOISE_STD = 0.3
#: Latent ODE solver for training by default: dopri5, backprop through the solver.
BACKPROP_RTOL, BACKPROP_ATOL = 1e-3, 1e-4
#: The paper's tolerance for its sequence models, used with ``--gradient adjoint``.
PAPER_TOL = 1.5e-8
#: A run is called converged when no seed's test extrapolation RMSE moved by more than
#: this fraction over the last quarter of its iterations.
FLAT = 0.05

ROW_FILE, MD_FILE = "table2.csv", "table2.md"
CURVES_FILE, COST_FILE = "table2_curves.csv", "table2_cost.csv"
EXAMPLES_FILE = "table2_examples.csv"
PROVENANCE_FILE = "table2.provenance.json"
FIGURE, CURVES_FIGURE = "plots/spirals", "plots/table2_curves"


class SpiralsError(ValueError):
    """Settings or result files that cannot make Table 2; the message names the fix."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a Table 2 run depends on (validated before any file is touched)."""

    iters: int
    budget: str = "default"
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    obs: tuple[int, ...] = PAPER_OBS
    models: tuple[str, ...] = PAPER_MODELS
    method: str = "dopri5"
    gradient: str = "backprop"
    rtol: float | None = None
    atol: float | None = None
    steps: int | None = None
    dynamics_layers: int = 1
    lr: float = 0.01
    n_spirals: int = 1000
    n_points: int = 100
    n_extrap: int = 100
    noise_std: float = NOISE_STD
    test_fraction: float = 0.2
    eval_every: int = 20
    figure_obs: int = 30
    cost_check: bool = True
    device: str = "cpu"
    threads: int = 1

    def solver(self) -> SolverConfig:
        """The latent ODE's solver: fixed grid when ``steps`` is set, else adaptive with
        1e-3/1e-4 (backprop) or the paper's 1.5e-8 (adjoint) unless rtol/atol say otherwise."""
        from odebench.solvers import SolverConfig

        if self.steps is not None:
            return SolverConfig(method=self.method, gradient=self.gradient, steps=self.steps)
        tight = self.gradient == "adjoint"
        rtol = self.rtol if self.rtol is not None else (PAPER_TOL if tight else BACKPROP_RTOL)
        atol = self.atol if self.atol is not None else (PAPER_TOL if tight else BACKPROP_ATOL)
        return SolverConfig(method=self.method, gradient=self.gradient, rtol=rtol, atol=atol)

    def check(self) -> None:
        """Raise :class:`SpiralsError` (or ``SolverConfigError``) naming the fix."""
        problems = []
        if self.iters < 1:
            problems.append(f"iters={self.iters}: train for at least 1 iteration")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds={self.seeds}: give one or more distinct seeds")
        if not self.obs or any(not 1 <= n <= self.n_points for n in self.obs):
            problems.append(f"obs={self.obs}: each count must lie in 1..{self.n_points}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            problems.append(f"models={self.models}: choose from {', '.join(MODELS)}")
        if self.figure_obs not in self.obs:
            problems.append(f"figure_obs={self.figure_obs}: pick one of obs {self.obs}")
        if self.eval_every < 1:
            problems.append(f"eval_every={self.eval_every}: evaluate at least every iteration")
        if self.n_extrap < 1:
            problems.append(f"n_extrap={self.n_extrap}: the headline needs >= 1 point")
        if self.noise_std <= 0:
            problems.append(f"noise_std={self.noise_std}: pass a standard deviation > 0")
        if self.lr <= 0:
            problems.append(f"lr={self.lr}: pass a learning rate > 0")
        if self.dynamics_layers < 1:
            problems.append(f"dynamics_layers={self.dynamics_layers}: pass >= 1")
        if self.threads < 1:
            problems.append(f"threads={self.threads}: pass >= 1")
        if self.budget not in BUDGETS and self.budget != "custom":
            problems.append(f"budget={self.budget!r}: choose one of {', '.join(BUDGETS)}")
        if problems:
            raise SpiralsError("; ".join(problems) + ".")
        self.solver()  # raises SolverConfigError with its own fix


# --- training and measuring -------------------------------------------------------------


@dataclass
class TrainLog:
    """Per-iteration figures of one training run, and the test RMSE at evaluation points."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    nfe_forward: list[int] = field(default_factory=list)
    nfe_backward: list[int] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)

    @property
    def iters(self) -> int:
        return len(self.losses)


def rmse(pred: torch.Tensor, truth: torch.Tensor, where: torch.Tensor | None = None) -> float:
    """Root mean squared error per coordinate, over all points or the (N, T) ``where`` ones."""
    sq = ((pred - truth) ** 2).mean(-1)
    return float(sq.mean().sqrt() if where is None else sq[where].mean().sqrt())


def after_first_observation(mask: torch.Tensor) -> torch.Tensor:
    """(N, T) True at the times strictly after each series' first observation.

    At the first observed time itself an RNN still answers with its prior guess (an
    observation never predicts itself); from the next time on every model has seen data.
    """
    return (mask.cumsum(dim=1) - mask.long()) > 0


def predict_all(model: nn.Module, data: Spirals, mask: torch.Tensor, device: str) -> torch.Tensor:
    """Predictions at every window time and every extrapolation time: (N, T + E, 2), on CPU."""
    import torch

    query = torch.cat((data.times, data.extrap_times)).to(device)
    was_training = model.training
    model.eval()
    pred = model.predict(  # type: ignore[operator]
        data.times.to(device), data.noisy.to(device), mask.to(device), query
    )
    model.train(was_training)
    return pred.cpu()


def scores(pred: torch.Tensor, data: Spirals, mask: torch.Tensor) -> dict[str, float]:
    """Extrapolation RMSE (the paper's metric) and interpolation RMSE against the truth."""
    t = data.times.numel()
    return {
        "rmse_extrap": rmse(pred[:, t:], data.extrap_truth),
        "rmse_interp": rmse(pred[:, :t], data.truth),
        "rmse_interp_forecast": rmse(pred[:, :t], data.truth, after_first_observation(mask)),
    }


def build_model(name: str, settings: Settings) -> nn.Module:
    from odebench.models.latent import LatentODE, RNNBaseline

    if name == "latent_ode":
        return LatentODE(
            config=settings.solver(),
            noise_std=settings.noise_std,
            dynamics_layers=settings.dynamics_layers,
        )
    if name == "rnn":
        return RNNBaseline(cell="rnn", time_input=False, noise_std=settings.noise_std)
    if name == "rnn_gap":
        return RNNBaseline(cell="rnn", time_input=True, noise_std=settings.noise_std)
    if name == "gru_gap":
        return RNNBaseline(cell="gru", time_input=True, noise_std=settings.noise_std)
    raise SpiralsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")


def train(
    model: nn.Module,
    train_set: Spirals,
    train_mask: torch.Tensor,
    *,
    iters: int,
    lr: float,
    device: str,
    test_set: Spirals | None = None,
    test_mask: torch.Tensor | None = None,
    eval_every: int = 0,
    progress: Callable[[str], None] | None = None,
) -> TrainLog:
    """Full-batch Adam on ``model.loss`` for exactly ``iters`` iterations.

    Each iteration is timed and its NFE split into forward and backward; the test RMSE
    is measured outside the timed region every ``eval_every`` iterations (and at the end).
    """
    import torch

    from odebench.instruments import Stopwatch, nfe, phase, reset_nfe

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    times, values = train_set.times.to(device), train_set.noisy.to(device)
    mask = train_mask.to(device)
    for it in range(1, iters + 1):
        reset_nfe(model)
        with Stopwatch(device) as sw:
            opt.zero_grad()
            parts = model.loss(times, values, mask)  # type: ignore[operator]
            with phase("backward"):
                parts.loss.backward()
            opt.step()
        log.losses.append(parts.nll + parts.kl)
        log.seconds.append(sw.seconds)
        log.nfe_forward.append(nfe(model, "forward"))
        log.nfe_backward.append(nfe(model, "backward"))
        if test_set is not None and test_mask is not None and eval_every > 0:
            if it % eval_every == 0 or it == iters:
                pred = predict_all(model, test_set, test_mask, device)
                since = log.losses[-min(eval_every, it) :]
                log.evals.append({"iter": it, "loss": statistics.fmean(since),
                                  **scores(pred, test_set, test_mask)})  # fmt: skip
                if progress is not None:
                    e = log.evals[-1]
                    progress(f"  iter {it:5d} loss {e['loss']:10.2f} test rmse extrap "
                             f"{e['rmse_extrap']:.4f} interp {e['rmse_interp']:.4f}")  # fmt: skip
    return log


def relative_change_last_quarter(evals: Sequence[dict[str, float]], key: str) -> float:
    """(final - value at 3/4 of training) / value at 3/4: how much the curve still moves."""
    if len(evals) < 2:
        return float("nan")
    last = evals[-1]
    target = 0.75 * last["iter"]
    ref = min(evals[:-1], key=lambda e: abs(e["iter"] - target))
    return (last[key] - ref[key]) / abs(ref[key])


def solver_cost(
    model: nn.Module,
    data: Spirals,
    mask: torch.Tensor,
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

    times, values, mask = data.times.to(device), data.noisy.to(device), mask.to(device)
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


def _mask_seed(seed: int, n_obs: int, split: str) -> int:
    return 100_000 * seed + 2 * n_obs + (1 if split == "test" else 0)


def _example_rows(
    name: str, pred: torch.Tensor, data: Spirals, picks: Sequence[int]
) -> list[dict[str, Any]]:
    """Tidy rows of the figure's spirals: truth, observations and this model's predictions."""
    import torch

    rows = []
    t_all = torch.cat((data.times, data.extrap_times)).tolist()
    t_win = data.times.numel()
    for i in picks:
        for k, t in enumerate(t_all):
            x, y = pred[i, k].tolist()
            inside = k < t_win
            rows.append({"model": name, "spiral": i, "kind": "prediction" if inside else
                         "extrapolation", "t": t, "x": x, "y": y})  # fmt: skip
    return rows


def _truth_rows(data: Spirals, mask: torch.Tensor, picks: Sequence[int]) -> list[dict[str, Any]]:
    import torch

    rows = []
    truth = torch.cat((data.truth, data.extrap_truth), dim=1)
    t_all = torch.cat((data.times, data.extrap_times)).tolist()
    for i in picks:
        for k, t in enumerate(t_all):
            rows.append({"model": "", "spiral": i, "kind": "truth", "t": t,
                         "x": float(truth[i, k, 0]), "y": float(truth[i, k, 1])})  # fmt: skip
        for k in mask[i].nonzero().flatten().tolist():
            x, y = data.noisy[i, k].tolist()
            rows.append({"model": "", "spiral": i, "kind": "observed", "t": t_all[k],
                         "x": x, "y": y})  # fmt: skip
    return rows


def _figure_picks(data: Spirals, count: int = 3) -> list[int]:
    """The first test spirals of each direction, alternating (both kinds in the figure)."""
    cw = data.clockwise.nonzero().flatten().tolist()
    cc = (~data.clockwise).nonzero().flatten().tolist()
    picks = [i for pair in zip(cc, cw, strict=False) for i in pair]
    return sorted(picks[:count])


def run_table2(
    settings: Settings,
    out: Path,
    *,
    argv: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    curve_progress: bool = False,
) -> Path:
    """Train and measure every (seed, observation count, model); write the tables and figures.

    Validates everything first; result files are written only when the run is complete
    (rows are mirrored to ``table2.partial.csv`` meanwhile and it is removed at the end).
    ``progress`` receives a line per trained model (and per evaluation with
    ``curve_progress``). Returns the markdown table's path.
    """
    settings.check()
    import pandas as pd
    import torch

    from odebench.data.spirals import make_spirals, subsample, train_test_split
    from odebench.measure import check_device
    from odebench.results import provenance

    check_device(settings.device)
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(settings.threads)
    info = provenance(suite="table2", device=settings.device, argv=argv)
    solver = settings.solver()
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    cost: list[dict[str, Any]] = []
    partial = out / "table2.partial.csv"
    wall = time.perf_counter()
    for seed in settings.seeds:
        data = make_spirals(
            settings.n_spirals, settings.n_points, settings.n_extrap,
            noise_std=settings.noise_std, seed=seed,
        )  # fmt: skip
        train_idx, test_idx = train_test_split(len(data), settings.test_fraction, seed=seed)
        train_set, test_set = data.select(train_idx), data.select(test_idx)
        picks = _figure_picks(test_set)
        for n_obs in settings.obs:
            train_mask = subsample(
                len(train_set), settings.n_points, n_obs, seed=_mask_seed(seed, n_obs, "train")
            )
            test_mask = subsample(
                len(test_set), settings.n_points, n_obs, seed=_mask_seed(seed, n_obs, "test")
            )
            figure = seed == settings.seeds[0] and n_obs == settings.figure_obs
            if figure:
                examples += _truth_rows(test_set, test_mask, picks)
            for name in settings.models:
                torch.manual_seed(seed)
                model = build_model(name, settings).to(settings.device)
                log = train(
                    model, train_set, train_mask, iters=settings.iters, lr=settings.lr,
                    device=settings.device, test_set=test_set, test_mask=test_mask,
                    eval_every=settings.eval_every,
                    progress=progress if curve_progress else None,
                )  # fmt: skip
                pred = predict_all(model, test_set, test_mask, settings.device)
                final = scores(pred, test_set, test_mask)
                steady = log.seconds[min(5, log.iters - 1) :]  # the first iterations warm up
                is_ode = name == "latent_ode"
                row: dict[str, Any] = {
                    "model": name, "n_obs": n_obs, "seed": seed, **final,
                    "paper_rmse": PAPER_RMSE["latent_ode" if is_ode else "rnn"].get(n_obs),
                    "iters": log.iters, "loss": statistics.fmean(log.losses[-10:]),
                    "rmse_extrap_change_last_quarter": relative_change_last_quarter(
                        log.evals, "rmse_extrap"),
                    "rmse_interp_change_last_quarter": relative_change_last_quarter(
                        log.evals, "rmse_interp"),
                    "loss_change_last_quarter": relative_change_last_quarter(log.evals, "loss"),
                    "nfe_forward": statistics.fmean(log.nfe_forward),
                    "nfe_backward": statistics.fmean(log.nfe_backward),
                    "time_iter_s": statistics.median(steady),
                    "train_time_s": sum(log.seconds),
                    "params": sum(p.numel() for p in model.parameters()),
                    "method": solver.method if is_ode else "",
                    "gradient": solver.gradient if is_ode else "backprop",
                    "rtol": solver.rtol if is_ode else None,
                    "atol": solver.atol if is_ode else None,
                    "steps": solver.steps if is_ode else None,
                    "dynamics_layers": settings.dynamics_layers if is_ode else None,
                    "noise_std": settings.noise_std, "n_points": settings.n_points,
                    "n_extrap": settings.n_extrap, "n_train": len(train_set),
                    "n_test": len(test_set), "lr": settings.lr, "dtype": "float32",
                    "device": settings.device, "threads": settings.threads, "status": "ok",
                }  # fmt: skip
                rows.append(row)
                curves += [{"model": name, "n_obs": n_obs, "seed": seed, **e} for e in log.evals]
                if figure:
                    examples += _example_rows(name, pred, test_set, picks)
                    if is_ode and settings.cost_check:
                        cost = solver_cost(
                            model, train_set, train_mask, _cost_configs(solver),
                            device=settings.device,
                        )  # fmt: skip
                if progress is not None:
                    progress(
                        f"seed {seed} obs {n_obs:3d} {name:10s} rmse extrap "
                        f"{final['rmse_extrap']:.4f} interp {final['rmse_interp']:.4f} "
                        f"nfe_f {row['nfe_forward']:.1f} nfe_b {row['nfe_backward']:.1f} "
                        f"s/iter {row['time_iter_s']:.3f} "
                        f"elapsed {time.perf_counter() - wall:.0f} s"
                    )
                pd.DataFrame(rows).to_csv(partial, index=False)
    info.update({"wall_s": round(time.perf_counter() - wall, 1), "settings": asdict(settings)})
    pd.DataFrame(rows).to_csv(out / ROW_FILE, index=False)
    pd.DataFrame(curves).to_csv(out / CURVES_FILE, index=False)
    pd.DataFrame(examples).to_csv(out / EXAMPLES_FILE, index=False)
    if cost:
        pd.DataFrame(cost).to_csv(out / COST_FILE, index=False)
    else:
        (out / COST_FILE).unlink(missing_ok=True)  # no stale cost table beside new rows
    (out / PROVENANCE_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
    partial.unlink(missing_ok=True)
    return render(out)


def _cost_configs(trained: SolverConfig) -> list[SolverConfig]:
    """The training solver, then dopri5 with backprop and with the adjoint at 1e-3 and at
    the paper's 1.5e-8 (duplicates of the training solver dropped)."""
    from odebench.solvers import SolverConfig

    configs = [trained]
    for gradient in ("backprop", "adjoint"):
        for rtol, atol in ((BACKPROP_RTOL, BACKPROP_ATOL), (PAPER_TOL, PAPER_TOL)):
            c = SolverConfig(method="dopri5", gradient=gradient, rtol=rtol, atol=atol)
            if c not in configs:
                configs.append(c)
    return configs


# --- rendering: tables and figures from the result files alone ------------------------------


def _read(out: Path, name: str) -> pd.DataFrame:
    import pandas as pd

    path = out / name
    if not path.exists():
        raise SpiralsError(
            f"{path} is missing; run `odebench spirals --out {out}` to make Table 2 first."
        )
    return pd.read_csv(path)


def _mean_sd(values: pd.Series) -> str:
    if len(values) < 2:
        return f"{values.mean():.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def verdict(ode: pd.Series, rnn: pd.Series) -> str:
    """Latent ODE vs an RNN on one column: is the gap larger than the spread?

    Lower RMSE wins "beyond the spread" when the two ranges mean ± sd (sample sd over
    seeds) do not overlap; otherwise "within the spread". Paired wins are counted too.
    """
    n = len(ode)
    wins = int((ode.to_numpy() < rnn.to_numpy()).sum())
    if n < 2:
        return f"{'latent ODE' if wins else 'RNN'} lower (1 seed: no spread)"
    m_o, s_o, m_r, s_r = ode.mean(), ode.std(ddof=1), rnn.mean(), rnn.std(ddof=1)
    if m_o + s_o < m_r - s_r:
        head = "latent ODE better, beyond the spread"
    elif m_r + s_r < m_o - s_o:
        head = "RNN better, beyond the spread"
    else:
        head = "within the spread"
    return f"{head} (latent ODE lower in {wins}/{n} seeds)"


def summary(df: pd.DataFrame) -> str:
    """One sentence on the headline column, computed from the rows."""
    parts = []
    baselines = [m for m in MODELS if m != "latent_ode" and m in set(df["model"])]
    for n_obs, g in df.groupby("n_obs"):
        ode = g[g.model == "latent_ode"].sort_values("seed")["rmse_extrap"]
        if ode.empty:
            continue
        bits = []
        for b in baselines:
            rnn = g[g.model == b].sort_values("seed")["rmse_extrap"]
            if len(rnn) == len(ode):
                bits.append(f"{MODELS[b]}: {verdict(ode, rnn).split(' (')[0]}")
        parts.append(f"{n_obs} obs: latent ODE {ode.mean():.3f} ({'; '.join(bits)})")
    return "Extrapolation RMSE over 100 points, mean over seeds: " + " | ".join(parts) + "."


def movement(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (model, observed points, seed): the relative change of the training loss and of
    the test extrapolation RMSE over the last quarter of training, from the curves."""
    import pandas as pd

    rows = []
    for (model, n_obs, seed), g in curves.groupby(["model", "n_obs", "seed"]):
        evals = g.sort_values("iter").to_dict("records")
        rows.append({
            "model": model, "n_obs": n_obs, "seed": seed,
            "loss": relative_change_last_quarter(evals, "loss"),
            "rmse_extrap": relative_change_last_quarter(evals, "rmse_extrap"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def convergence_note(moved: pd.DataFrame) -> str:
    """Whether the budget converged, by a stated rule, saying which runs did not.

    Rule: a run has flattened when its training loss moved by at most ``FLAT`` over the
    last quarter of its iterations. The test extrapolation RMSE is reported beside: an
    autoregressive RNN's extrapolation can swing between evaluations with a flat loss.
    """
    n = len(moved)
    loss_ok = moved["loss"].abs() <= FLAT
    rmse_ok = moved["rmse_extrap"].abs() <= FLAT
    head = (
        f"Training loss flat (moved by at most {FLAT:.0%} over the last quarter of "
        f"training) in {int(loss_ok.sum())} of {n} runs"
    )
    if not loss_ok.all():
        bad = moved[~loss_ok]
        names = sorted({f"{MODELS[m]} at {k} obs" for m, k in zip(bad.model, bad.n_obs,
                                                                    strict=True)})  # fmt: skip
        head += (
            f" (**not converged**: {', '.join(names)}; largest change "
            f"{moved['loss'].abs().max():.1%}: read those rows as this budget's outcome, "
            "not the model's limit)"
        )
    tail = (
        f"; test extrapolation RMSE within {FLAT:.0%} over the same stretch in "
        f"{int(rmse_ok.sum())} of {n} runs"
    )
    if not rmse_ok.all():
        worst = moved.loc[moved["rmse_extrap"].abs().idxmax()]
        tail += (
            f" (largest swing {worst['rmse_extrap']:+.1%}, {MODELS[worst['model']]} at "
            f"{worst['n_obs']} obs, seed {worst['seed']})"
        )
    return head + tail + "."


def render(out: Path) -> Path:
    """Write ``table2.md`` and both figures from the result files in ``out``."""
    import pandas as pd

    out = Path(out)
    df = _read(out, ROW_FILE)
    curves = _read(out, CURVES_FILE)
    examples = _read(out, EXAMPLES_FILE)
    cost = _read(out, COST_FILE) if (out / COST_FILE).exists() else pd.DataFrame()
    prov_path = out / PROVENANCE_FILE
    info = json.loads(prov_path.read_text()) if prov_path.exists() else {}
    settings = info.get("settings", {})
    seeds = sorted(df["seed"].unique())
    order = {m: k for k, m in enumerate(MODELS)}
    moved = movement(curves)
    main = []
    for (n_obs, model), g in sorted(
        df.groupby(["n_obs", "model"]), key=lambda kv: (kv[0][0], order[kv[0][1]])
    ):
        paper = g["paper_rmse"].iloc[0]
        moves = moved[(moved.model == model) & (moved.n_obs == n_obs)]
        main.append({
            "observed": f"{n_obs}/{settings.get('n_points', 100)}",
            "model": MODELS[model],
            "RMSE extrap, 100 pts (ours)": _mean_sd(g["rmse_extrap"]),
            "RMSE (paper, Table 2)": "" if pd.isna(paper) else f"{paper:.4f}",
            "RMSE interp, all 100": _mean_sd(g["rmse_interp"]),
            **(
                {"RMSE interp, after 1st obs": _mean_sd(g["rmse_interp_forecast"])}
                if "rmse_interp_forecast" in g
                else {}
            ),
            "NFE-F/iter": f"{g['nfe_forward'].mean():.1f}",
            "NFE-B/iter": f"{g['nfe_backward'].mean():.1f}",
            "s/iter": f"{g['time_iter_s'].median():.3f}",
            "loss moved, last ¼": f"{moves['loss'].abs().max():.1%}",
            "extrap RMSE moved, last ¼": f"{moves['rmse_extrap'].abs().max():.1%}",
        })  # fmt: skip
    verdicts = []
    baselines = [m for m in MODELS if m != "latent_ode" and m in set(df["model"])]
    for n_obs, g in df.groupby("n_obs"):
        ode = g[g.model == "latent_ode"].sort_values("seed")
        for b in baselines:
            rnn = g[g.model == b].sort_values("seed")
            if ode.empty or len(rnn) != len(ode):
                continue
            verdicts.append({
                "observed": n_obs, "latent ODE vs": MODELS[b],
                "extrapolation (headline)": verdict(ode["rmse_extrap"], rnn["rmse_extrap"]),
                "interpolation, all 100": verdict(ode["rmse_interp"], rnn["rmse_interp"]),
                **(
                    {"interpolation, after 1st obs": verdict(
                        ode["rmse_interp_forecast"], rnn["rmse_interp_forecast"])}
                    if "rmse_interp_forecast" in ode
                    else {}
                ),
            })  # fmt: skip
    convergence = convergence_note(movement(curves))
    lines = [
        "# Table 2: latent ODE vs RNN on irregularly sampled spirals",
        "",
        summary(df),
        "",
        f"Mean ± sample sd over seeds {', '.join(str(s) for s in seeds)}; "
        f"{int(df['iters'].iloc[0])} full-batch Adam iterations per model, count and seed "
        f"(budget {settings.get('budget', '?')}, lr {df['lr'].iloc[0]}). {convergence}",
        "",
        pd.DataFrame(main).to_markdown(index=False, disable_numparse=True),
        "",
        "RMSE per coordinate against the noiseless spirals on the test set: *extrap* over the",
        f"{int(df['n_extrap'].iloc[0])} times after the observed window (the paper's metric);",
        "*interp* over the window's times, observed or not: all 100 of them (up to and",
        "including a spiral's first observation an RNN has nothing to forecast from and",
        "answers with one prior guess for every spiral; the latent ODE reconstructs the whole",
        "window from z0)"
        + (
            ", or only those after each spiral's first observation."
            if "rmse_interp_forecast" in df
            else ". (This run predates the column of times after"
            " the first observation; its table2.csv column rmse_interp_after_first_obs counts"
            " from the first observed time on, which still holds one RNN prior guess per"
            " spiral, so it is not shown.)"
        )
        + " The paper's column is its Table 2 (one RNN row,"
        " shown beside",
        "each baseline). NFE-F/B: mean calls of the latent ODE's field per training iteration",
        "(NFE-B 0: backprop replays the graph). s/iter: median seconds per training iteration",
        "on this machine, loaded by other work. *moved*: largest |relative change| over seeds",
        "of the training loss (mean of the 20 iterations before each evaluation) and of the",
        "test extrapolation RMSE between 3/4 of training and the end (curves in",
        "`plots/table2_curves.png`).",
        "",
        "## Verdicts",
        "",
        pd.DataFrame(verdicts).to_markdown(index=False, disable_numparse=True),
        "",
        "Rule: one model is better *beyond the spread* when the ranges mean ± sd over seeds",
        "do not overlap; *within the spread* otherwise.",
        "",
    ]
    if not cost.empty:
        base = cost["time_iter_s"].iloc[0]
        show = pd.DataFrame({
            "solver": cost["method"],
            "gradient": cost["gradient"],
            "rtol / atol": [f"{r:g} / {a:g}" for r, a in zip(cost["rtol"], cost["atol"],
                                                              strict=True)],
            "NFE-F/iter": cost["nfe_forward"].map("{:.0f}".format),
            "NFE-B/iter": cost["nfe_backward"].map("{:.0f}".format),
            "s/iter": cost["time_iter_s"].map("{:.3f}".format),
            "time vs training solver": (cost["time_iter_s"] / base).map("{:.1f}x".format),
        })  # fmt: skip
        lines += [
            "## What the paper's solver setting costs",
            "",
            f"One training iteration (loss + backward, weights fixed) of the latent ODE trained "
            f"at {settings.get('figure_obs', '')} observations, seed {seeds[0]}, under each "
            f"solver; median of {int(cost['repeat'].iloc[0])} after a warm-up, in one run. "
            "The first row is the solver it was trained with.",
            "",
            show.to_markdown(index=False, disable_numparse=True),
            "",
        ]
    lines += [_provenance_line(info, settings), ""]
    md = out / MD_FILE
    md.write_text("\n".join(lines))
    plot_examples(examples, out / FIGURE, n_obs=int(settings.get("figure_obs", 30)))
    plot_curves(curves, out / CURVES_FIGURE)
    return md


def _provenance_line(info: dict[str, Any], settings: dict[str, Any]) -> str:
    if not info:
        return "Provenance: none recorded."
    s = settings
    if s.get("steps") is not None:
        solver = f"{s.get('method')} ({s.get('gradient')}, {s.get('steps')} steps)"
    else:
        solver = f"{s.get('method')} ({s.get('gradient')}, see rtol/atol in table2.csv)"
    wall = info.get("wall_s")
    wall_text = f"{wall / 60:.1f} min" if isinstance(wall, int | float) else "not recorded"
    return (
        f"Settings: {s.get('n_spirals')} spirals ({s.get('test_fraction')} of them test), "
        f"{s.get('n_points')} points + {s.get('n_extrap')} extrapolation, noise sd "
        f"{s.get('noise_std')}, models {', '.join(s.get('models', []))}, latent ODE solver "
        f"{solver}, dynamics hidden layers {s.get('dynamics_layers')}. "
        f"Provenance: commit {info.get('commit')}, torch {info.get('torch')}, torchdiffeq "
        f"{info.get('torchdiffeq')}, Python {info.get('python')}, {info.get('cpu')} "
        f"({info.get('cpu_count')} cores), device {info.get('device')}, "
        f"{info.get('threads')} thread(s), float32; wall time {wall_text}; "
        f"{info.get('date')}; `{info.get('command')}`."
    )


def _figure_style() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    plt.rcParams["svg.hashsalt"] = "odebench"  # deterministic SVG ids
    return plt


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=150, metadata={"Software": None})
    fig.savefig(path.with_suffix(".svg"), metadata={"Date": None})


def drawn_prediction(
    mine: pd.DataFrame, first_observed: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parts of one model's prediction for one spiral that the figure draws.

    Inside the window: the times after the spiral's first observation (up to and at it
    an RNN has only its prior guess, and a line from there would cut across the plot).
    Beyond it: the extrapolation, joined to the last prediction inside the window.
    """
    import pandas as pd

    mine = mine.sort_values("t")
    inside = mine[(mine.kind == "prediction") & (mine.t > first_observed)]
    beyond = mine[mine.kind == "extrapolation"]
    return inside, pd.concat((inside.tail(1), beyond)) if len(inside) else beyond


def plot_examples(examples: pd.DataFrame, path: Path, *, n_obs: int) -> None:
    """The paper's Figure 8: per model (rows) and test spiral (columns), the observations,
    the truth through the extrapolation window and the model's prediction and extrapolation.

    RNN predictions before a spiral's first observation are the readout's prior guess,
    not a forecast, and are not drawn.
    """
    plt = _figure_style()
    import seaborn as sns

    palette = sns.color_palette("deep")
    models = [m for m in MODELS if m in set(examples["model"])]
    spirals = sorted(examples["spiral"].unique())
    fig, axes = plt.subplots(
        len(models), len(spirals), figsize=(3.4 * len(spirals), 3.2 * len(models)),
        squeeze=False,
    )  # fmt: skip
    for r, name in enumerate(models):
        for c, i in enumerate(spirals):
            ax = axes[r][c]
            ex = examples[examples.spiral == i]
            truth = ex[ex.kind == "truth"].sort_values("t")
            obs = ex[ex.kind == "observed"]
            mine = ex[ex.model == name].sort_values("t")
            end = ex[ex.kind == "prediction"]["t"].max()
            ax.plot(truth[truth.t <= end].x, truth[truth.t <= end].y, color="0.55", lw=2.5,
                    label="truth, observed window")  # fmt: skip
            ax.plot(truth[truth.t >= end].x, truth[truth.t >= end].y, color="0.8", lw=2.5,
                    label="truth, extrapolation window")  # fmt: skip
            inside, join = drawn_prediction(mine, float(obs["t"].min()))
            ax.plot(inside.x, inside.y, color=palette[3], lw=1.5, label="prediction")
            ax.plot(join.x, join.y, color=palette[2], lw=1.5, ls="--", label="extrapolation")
            ax.scatter(obs.x, obs.y, s=10, color=palette[0], zorder=3, label="observations")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"{MODELS[name]}: test spiral {i}", fontsize=9)
            if c == 0:
                ax.set_ylabel("y")
            if r == len(models) - 1:
                ax.set_xlabel("x")
    axes[0][0].legend(loc="best", fontsize=6)
    fig.suptitle(f"{n_obs} observations of 100, then 100 points of extrapolation (seed 0)")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_curves(curves: pd.DataFrame, path: Path) -> None:
    """Training loss per observed point and test RMSE against iteration, one column per
    observation count: mean over seeds, with the range of the seeds shaded."""
    plt = _figure_style()
    import seaborn as sns
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    palette = dict(zip(MODELS, sns.color_palette("deep"), strict=False))
    counts = sorted(curves["n_obs"].unique())
    metrics = (("loss", "training loss per observed point"),
               ("rmse_extrap", "test RMSE, extrapolation (100 pts)"),
               ("rmse_interp", "test RMSE, interpolation"))  # fmt: skip
    fig, axes = plt.subplots(
        len(metrics), len(counts), figsize=(3.8 * len(counts), 2.8 * len(metrics)),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for c, n_obs in enumerate(counts):
        sub = curves[curves.n_obs == n_obs]
        for r, (key, label) in enumerate(metrics):
            ax = axes[r][c]
            for name in [m for m in MODELS if m in set(sub["model"])]:
                g = sub[sub.model == name].groupby("iter")[key]
                scale = n_obs if key == "loss" else 1
                mean, lo, hi = g.mean() / scale, g.min() / scale, g.max() / scale
                ax.plot(mean.index, mean.values, color=palette[name], lw=1.3, label=MODELS[name])
                ax.fill_between(mean.index, lo.values, hi.values, color=palette[name], alpha=0.2,
                                lw=0)  # fmt: skip
            if (sub[key] > 0).all():  # log axis where it can be: the tail shows flatness
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
                ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
                ax.tick_params(axis="y", which="minor", labelsize=6)
            if r == 0:
                ax.set_title(f"{n_obs} observations")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == len(metrics) - 1:
                ax.set_xlabel("iteration")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


# --- command line ---------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "spirals",
        help="latent ODE vs RNNs on irregularly sampled spirals (paper Table 2)",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--budget",
        choices=sorted(BUDGETS),
        default="default",
        help=f"training iterations per model, count and seed: {BUDGETS}",
    )
    p.add_argument("--iters", type=int, default=None, help="iterations (overrides --budget)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    p.add_argument(
        "--obs",
        type=int,
        nargs="+",
        default=list(PAPER_OBS),
        help="observed points per spiral, out of --n-points",
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(PAPER_MODELS),
        help="rnn: input x; rnn_gap: input [x, time to next obs]; gru_gap: "
        "odebench's earlier GRU baseline",
    )
    p.add_argument("--method", default="dopri5", help="the latent ODE's solver method")
    p.add_argument(
        "--gradient",
        choices=("backprop", "adjoint"),
        default="backprop",
        help=f"adjoint defaults to the paper's rtol = atol = {PAPER_TOL}",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=None,
        help=f"default {BACKPROP_RTOL} (backprop) or {PAPER_TOL} (adjoint)",
    )
    p.add_argument(
        "--atol",
        type=float,
        default=None,
        help=f"default {BACKPROP_ATOL} (backprop) or {PAPER_TOL} (adjoint)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps over the span for fixed-grid methods (rk4, euler, ...)",
    )
    p.add_argument(
        "--dynamics-layers",
        type=int,
        default=1,
        help="hidden layers of the latent dynamics (paper 1; torchdiffeq's example 2)",
    )
    p.add_argument(
        "--noise-std",
        type=float,
        default=NOISE_STD,
        help="observation noise sd (the paper gives none; torchdiffeq's example 0.3)",
    )
    p.add_argument("--n-spirals", type=int, default=1000)
    p.add_argument(
        "--n-extrap",
        type=int,
        default=100,
        help="points beyond the window scored by the headline RMSE",
    )
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument(
        "--eval-every",
        type=int,
        default=20,
        help="iterations between test-RMSE points of the training curves",
    )
    p.add_argument(
        "--figure-obs",
        type=int,
        default=None,
        help="observation count of the figure (default: 30 where run, else the smallest)",
    )
    p.add_argument(
        "--no-cost-check",
        action="store_true",
        help="skip timing the trained latent ODE under the other solver settings",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: small ops on a shared 2-core machine run fastest)",
    )
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--verbose", action="store_true", help="print every test-RMSE evaluation")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="redraw table2.md and the figures from the result files in --out",
    )
    p.set_defaults(func=_main)


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        iters=args.iters if args.iters is not None else BUDGETS[args.budget],
        budget="custom" if args.iters is not None else args.budget,
        seeds=tuple(args.seeds), obs=tuple(args.obs), models=tuple(args.models),
        method=args.method, gradient=args.gradient, rtol=args.rtol, atol=args.atol,
        steps=args.steps, dynamics_layers=args.dynamics_layers, lr=args.lr,
        n_spirals=args.n_spirals, n_extrap=args.n_extrap, noise_std=args.noise_std,
        eval_every=args.eval_every,
        figure_obs=args.figure_obs if args.figure_obs is not None else (
            30 if 30 in args.obs else min(args.obs)),
        cost_check=not args.no_cost_check, device=args.device, threads=args.threads,
    )  # fmt: skip


def _main(args: argparse.Namespace) -> int:
    from odebench import measure

    # the shared device check's typed error (RuntimeError where measure predates it)
    device_error = getattr(measure, "DeviceUnavailableError", RuntimeError)
    try:
        if args.render_only:
            md = render(Path(args.out))
        else:
            md = run_table2(
                settings_from_args(args), Path(args.out), argv=sys.argv,
                progress=lambda line: print(line, flush=True), curve_progress=args.verbose,
            )  # fmt: skip
    except (SpiralsError, device_error) as exc:
        print(f"odebench spirals: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {md} and its figures under {Path(args.out) / 'plots'}")
    return 0
