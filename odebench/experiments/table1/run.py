"""A Table 1 run: claim the folder, train or load, measure the cases, write table and figures."""

from __future__ import annotations

import shlex
import sys
import time
from typing import Any

import pandas as pd
import torch
from torch import nn

from odebench.benchmark.measure import check_device
from odebench.experiments.table1.cases import all_cases, main_case, scaling_cases
from odebench.experiments.table1.config import (
    ROWS,
    Table1Config,
)
from odebench.experiments.table1.fits import row_fits, with_time
from odebench.experiments.table1.odenet import (
    block_error_points,
    measurement_images,
    single_image_nfe,
    solver_nfe_points,
    test_tolerance_points,
)
from odebench.experiments.table1.train import (
    check_trained_from,
    epoch_curves,
    import_trained,
    log_summary,
    train_row,
)
from odebench.experiments.training import stderr_progress
from odebench.solvers import SolverConfig
from odebench.workloads.data.mnist import MNIST
from odebench.workloads.models.mnist import count_parameters

MAIN_FIGURES = (
    "status", "params", "nfe_forward", "nfe_backward", "saved_bytes", "peak_alloc_bytes",
    "time_forward_s", "time_backward_s", "time_forward_backward_s", "case_id",
)  # fmt: skip


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
    df = with_time(df)
    rows = []
    for name in cfg.models:
        spec = ROWS[name]
        outcome = {k: v for k, v in trained[name].items() if k != "epochs"}
        row: dict[str, Any] = {"model": name, "label": spec.label, **outcome}
        row.update(log_summary(cfg, name))
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


def _info(cfg: Table1Config) -> dict[str, Any]:
    from odebench.running.provenance import provenance

    info = provenance(
        suite="table1",
        device=cfg.train.device,
        argv=shlex.split(cfg.command) or sys.argv,
        threads=cfg.threads,
        out=cfg.out,
    )
    info["budget"] = cfg.train.budget()
    if cfg.trained_from is not None:
        info["trained_from"] = str(cfg.trained_from)
    return info


def _train_all(cfg: Table1Config, data: MNIST) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    trained: dict[str, dict[str, Any]] = {}
    models: dict[str, nn.Module] = {}
    for name in cfg.models:
        models[name], trained[name] = train_row(ROWS[name], cfg, data)
        trained[name]["params"] = count_parameters(models[name])
    return models, trained


def train_only(
    cfg: Table1Config, data: MNIST, *, resume: bool = False, force: bool = False
) -> dict[str, dict[str, Any]]:
    """Train (or resume, or load) the checkpoints into ``cfg.out``; measure nothing."""
    from odebench.running.folders import claim_folder
    from odebench.running.provenance import record_run

    check_device(cfg.train.device)
    check_trained_from(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    with claim_folder(cfg.out, resume=resume, force=force) as claim:
        if claim.backup:
            stderr_progress(
                f"odebench table1: the earlier run in {cfg.out} moved to {claim.backup}"
            )
        record_run(cfg.out, _info(cfg), resume=resume)
        import_trained(cfg)
        _, trained = _train_all(cfg, data)
    return trained


def not_ok(cfg: Table1Config) -> list[str]:
    """What did not finish ok in the run in ``cfg.out``: cases by id, Figure 3c's solvers."""
    from odebench.running.results import RESULTS_FILE

    bad: list[str] = []
    path = cfg.out / RESULTS_FILE
    if path.exists():
        df = pd.read_csv(path).drop_duplicates(["case_id", "repeat"], keep="last")
        bad += [str(c) for c in df.loc[df["status"] != "ok", "case_id"]]
    failures = cfg.out / "fig3c_failures.csv"
    if failures.exists() and failures.stat().st_size:
        f = pd.read_csv(failures)
        bad += [f"figure 3c {s}" for s in f.get("solver", [])]
    return bad


def run(
    cfg: Table1Config,
    data: MNIST,
    *,
    progress: bool = True,
    resume: bool = False,
    force: bool = False,
) -> pd.DataFrame:
    """Train or load every row, measure the cases and the trained ODE-Net, write it all.

    Everything goes into ``cfg.out`` (claimed as a whole: an earlier run there is refused
    unless ``resume``, which continues it, or ``force``, which moves it to a backup first):
    ``results.csv`` + ``provenance.json`` (the cases), ``table1.csv``, ``table1.md``,
    ``epochs.csv`` (test error after every epoch), ``logs/``, ``checkpoints/``, the trained
    ODE-Net's ``fig3a_block_error.csv``, ``fig3c_nfe.csv``, ``test_tolerance.csv``,
    ``single_image_nfe.csv``, and ``plots/``.
    """
    from odebench.experiments.table1.figures import write_figures
    from odebench.experiments.table1.render import render_markdown
    from odebench.running.folders import claim_folder
    from odebench.running.provenance import record_run
    from odebench.running.results import RESULTS_FILE, read_results
    from odebench.running.runner import run_cases

    start = time.perf_counter()
    check_device(cfg.train.device)
    check_trained_from(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    out = cfg.out
    with claim_folder(out, resume=resume, force=force) as claim:
        if claim.backup:
            stderr_progress(f"odebench table1: the earlier run in {out} moved to {claim.backup}")
        info = _info(cfg)
        record_run(out, info, resume=resume)
        import_trained(cfg)
        models, trained = _train_all(cfg, data)
        path = out / RESULTS_FILE
        run_cases(all_cases(cfg), path, executor=cfg.executor, threads=cfg.threads,
                  progress=progress, resume=resume)  # fmt: skip
        df = read_results(path)
        if "odenet" in models:
            _measure_odenet(models["odenet"].float(), data, cfg)
        table = build_table(cfg, trained, df)
        table.to_csv(out / "table1.csv", index=False)
        curves = epoch_curves(cfg, trained)
        curves.to_csv(out / "epochs.csv", index=False)
        write_figures(cfg)
        wall = time.perf_counter() - start
        (out / "table1.md").write_text(render_markdown(table, df, curves, cfg, data, wall, info))
    return table


def _measure_odenet(model: nn.Module, data: MNIST, cfg: Table1Config) -> None:
    out = cfg.out
    x, _ = measurement_images(data, cfg.measure_batch)
    errors = block_error_points(model, x, cfg.error_tolerances, reference_rtol=cfg.reference_rtol)
    errors.to_csv(out / "fig3a_block_error.csv", index=False)
    if cfg.fig3c_batches:
        points, failures = solver_nfe_points(model, data, cfg)
        points.to_csv(out / "fig3c_nfe.csv", index=False)
        pd.DataFrame(failures, columns=["solver", "error"]).to_csv(
            out / "fig3c_failures.csv", index=False
        )
    if cfg.tolerance_test_images and cfg.test_tolerances:
        test_tolerance_points(model, data, cfg).to_csv(out / "test_tolerance.csv", index=False)
    if cfg.single_images:
        single_image_nfe(model, data, cfg).to_csv(out / "single_image_nfe.csv", index=False)


def figures_only(cfg: Table1Config) -> list[Any]:
    """Redraw the figures from the files of the run in ``cfg.out``; run nothing."""
    from odebench.experiments.table1.figures import write_figures

    return write_figures(cfg)
