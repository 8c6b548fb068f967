"""Table 2's result files, scored from the saved models: rows, curves, examples, cost.

Everything here reads the checkpoints in ``<folder>/table2_models`` and the data made
from each seed; nothing trains. So a scoring change is applied with ``--resume`` (or
``--results``) without retraining.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odebench.experiments.spirals.score import (
    baseline_prediction,
    one_step,
    plateau_change,
    predict_all,
    score_prediction,
    solver_cost,
)
from odebench.experiments.spirals.settings import (
    BACKPROP_ATOL,
    BACKPROP_RTOL,
    BASELINES,
    COST_FILE,
    CURVES_FILE,
    EXAMPLES_FILE,
    PAPER_RMSE,
    PAPER_TOL,
    PLATEAU,
    ROW_FILE,
    Settings,
)
from odebench.experiments.spirals.split import Split, make_split
from odebench.experiments.spirals.train import build_model, checkpoint_path, jobs, load_checkpoint

if TYPE_CHECKING:
    import torch

    from odebench.solvers import SolverConfig
    from odebench.workloads.data.spirals import Spirals


def _solver_columns(name: str, settings: Settings) -> dict[str, Any]:
    solver = settings.solver()
    ode = name == "latent_ode"
    return {
        "method": solver.method if ode else "", "gradient": solver.gradient if ode else "",
        "rtol": solver.rtol if ode else None, "atol": solver.atol if ode else None,
        "steps": solver.steps if ode else None,
        "dynamics_layers": settings.dynamics_layers if ode else None,
    }  # fmt: skip


def _common(settings: Settings, split: Split) -> dict[str, Any]:
    return {
        "noise_std": settings.noise_std, "n_points": settings.n_points,
        "n_extrap": settings.n_extrap, "n_train": len(split.train), "n_test": len(split.test),
        "n_test_in_range": int(split.in_range.sum()), "lr": settings.lr,
        "lr_schedule": settings.lr_schedule, "dtype": "float32", "device": settings.device,
        "threads": settings.threads,
    }  # fmt: skip


def model_row(state: dict[str, Any], settings: Settings, split: Split) -> tuple[dict, Any]:
    """One trained model's row (every reading, training figures) and its test prediction."""
    name, n_obs, seed = state["model"], state["n_obs"], state["seed"]
    model = build_model(name, settings)
    model.load_state_dict(state["state_dict"])
    pred = predict_all(model, split, "cpu")
    nan = float("nan")
    diag = one_step(model, split, pred, "cpu") if name != "latent_ode" else {
        "rmse_one_step_window": nan, "rmse_one_step_extrap": nan}  # fmt: skip
    losses = state["losses"].tolist()
    seconds = state["seconds"].tolist()
    change = plateau_change(losses)
    w = max(1, len(losses) // 20)
    row = {
        "model": name, "n_obs": n_obs, "seed": seed, "status": "ok", "error": "",
        **score_prediction(pred, split), **diag,
        "paper_rmse": PAPER_RMSE["latent_ode" if name == "latent_ode" else "rnn"].get(n_obs),
        "iters": len(losses), "loss": statistics.fmean(losses[-w:]),
        "loss_change_last_quarter": change,
        "plateau": (abs(change) < PLATEAU) if math.isfinite(change) else None,
        "nfe_forward": float(state["nfe_forward"].double().mean()),
        "nfe_backward": float(state["nfe_backward"].double().mean()),
        "time_iter_s": statistics.median(seconds[min(5, len(seconds) - 1) :]),
        "train_time_s": sum(seconds),
        "params": sum(p.numel() for p in model.parameters()),
        **_solver_columns(name, settings), **_common(settings, split),
    }  # fmt: skip
    return row, (model, pred)


def baseline_rows(settings: Settings, split: Split, n_obs: int, seed: int) -> list[dict]:
    rows = []
    for name in BASELINES:
        pred = baseline_prediction(name, split)
        nan = float("nan")
        rows.append({
            "model": name, "n_obs": n_obs, "seed": seed, "status": "ok", "error": "",
            **score_prediction(pred, split), "rmse_one_step_window": nan,
            "rmse_one_step_extrap": nan, "iters": 0, **_common(settings, split),
        })  # fmt: skip
    return rows


def figure_picks(data: Spirals, count: int = 3) -> list[int]:
    """The first test spirals of each direction, alternating (both kinds in the figure),
    among those whose extrapolation lies within the training radii when there are enough."""
    cw = data.clockwise.nonzero().flatten().tolist()
    cc = (~data.clockwise).nonzero().flatten().tolist()
    picks = [i for pair in zip(cc, cw, strict=False) for i in pair]
    return sorted(picks[:count])


def example_rows(
    name: str, pred: torch.Tensor, split: Split, picks: Sequence[int]
) -> list[dict[str, Any]]:
    """Tidy rows of the figure's spirals: this model's prediction at every time."""
    import torch

    test = split.test
    t_all = torch.cat((test.times, test.extrap_times)).tolist()
    t_win = test.times.numel()
    return [
        {"model": name, "spiral": i, "kind": "prediction" if k < t_win else "extrapolation",
         "t": t, "x": float(pred[i, k, 0]), "y": float(pred[i, k, 1]),
         "in_range": bool(split.in_range[i])}
        for i in picks for k, t in enumerate(t_all)
    ]  # fmt: skip


def truth_rows(split: Split, picks: Sequence[int]) -> list[dict[str, Any]]:
    import torch

    test, mask = split.test, split.test_mask
    truth = torch.cat((test.truth, test.extrap_truth), dim=1)
    t_all = torch.cat((test.times, test.extrap_times)).tolist()
    rows = []
    for i in picks:
        rows += [{"model": "", "spiral": i, "kind": "truth", "t": t, "x": float(truth[i, k, 0]),
                  "y": float(truth[i, k, 1]), "in_range": bool(split.in_range[i])}
                 for k, t in enumerate(t_all)]  # fmt: skip
        rows += [{"model": "", "spiral": i, "kind": "observed", "t": t_all[k],
                  "x": float(test.noisy[i, k, 0]), "y": float(test.noisy[i, k, 1]),
                  "in_range": bool(split.in_range[i])}
                 for k in mask[i].nonzero().flatten().tolist()]  # fmt: skip
    return rows


def cost_configs(trained: SolverConfig) -> list[SolverConfig]:
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


def write_tables(
    settings: Settings,
    folder: Path,
    failures: Sequence[dict[str, Any]] = (),
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Score every saved model of ``settings`` in ``folder`` and write the result files.

    ``failures`` (jobs that did not train) become rows with status ``failed``. Returns
    the count of rows per status.
    """
    import pandas as pd
    import torch

    torch.set_num_threads(settings.threads)
    failed = {(f["model"], f["n_obs"], f["seed"]): f for f in failures}
    rows: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    cost: list[dict[str, Any]] = []
    order = sorted(jobs(settings), key=lambda j: (j[2], j[1], list(settings.models).index(j[0])))
    splits: dict[tuple[int, int], Split] = {}
    for name, n_obs, seed in order:
        if (n_obs, seed) not in splits:
            splits[n_obs, seed] = split = make_split(settings, seed, n_obs)
            rows += baseline_rows(settings, split, n_obs, seed)
            if seed == settings.seeds[0] and n_obs == settings.figure_obs:
                examples += truth_rows(split, figure_picks(split.test))
                for b in BASELINES:
                    examples += example_rows(b, baseline_prediction(b, split), split,
                                             figure_picks(split.test))  # fmt: skip
        split = splits[n_obs, seed]
        path = checkpoint_path(folder, name, n_obs, seed)
        if (name, n_obs, seed) in failed or not path.exists():
            f = failed.get((name, n_obs, seed), {"error": f"no trained model at {path}"})
            rows.append({"model": name, "n_obs": n_obs, "seed": seed, "status": "failed",
                         "error": f["error"]})  # fmt: skip
            continue
        state = load_checkpoint(path)
        row, (model, pred) = model_row(state, settings, split)
        rows.append(row)
        evals = state.get("evals", {})
        for k in range(len(evals.get("iter", []))):
            curves.append({"model": name, "n_obs": n_obs, "seed": seed,
                           **{key: values[k] for key, values in evals.items()}})  # fmt: skip
        if seed == settings.seeds[0] and n_obs == settings.figure_obs:
            examples += example_rows(name, pred, split, figure_picks(split.test))
            if name == "latent_ode" and settings.cost_check:
                cost = solver_cost(model, split, cost_configs(settings.solver()), device="cpu")
        if progress is not None:
            progress(
                f"scored {name} obs {n_obs} seed {seed}: window {row['rmse_window']:.4f} "
                f"extrap10 {row['rmse_extrap10']:.4f} extrap {row['rmse_extrap']:.4f}"
            )
    pd.DataFrame(rows).to_csv(folder / ROW_FILE, index=False)
    keys = ["model", "n_obs", "seed", "iter", "loss"]  # a header even when nothing trained
    pd.DataFrame(curves, columns=None if curves else keys).to_csv(folder / CURVES_FILE, index=False)
    pd.DataFrame(examples).to_csv(folder / EXAMPLES_FILE, index=False)
    if cost:
        pd.DataFrame(cost).to_csv(folder / COST_FILE, index=False)
    else:
        (folder / COST_FILE).unlink(missing_ok=True)  # no stale cost table beside new rows
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts
