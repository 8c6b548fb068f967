"""Table 1 as Markdown: each cell our measurement beside the paper's figure, the per-epoch
curve, and the trained ODE-Net's other measurements."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from odebench.benchmark.measure import MODEL_STEM
from odebench.experiments.table1.config import Table1Config
from odebench.experiments.table1.fits import with_time
from odebench.experiments.training import TrainConfig
from odebench.workloads.data.mnist import MNIST


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
    curves: pd.DataFrame,
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
        "scaling is the least-squares slope of `odebench.reading.report.scaling_fits` over the "
        "sweep in `results.csv`.",
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
        f"epochs on all 60,000. Test error on {_test_text(t, data)}, of the final model "
        f"(after the last epoch; no best-of-epochs figure is shown). Stem: {MODEL_STEM}.",
        "",
        "Training time per model: "
        + "; ".join(
            f"{r['label']} {_num(r.get('train_time_s')) / 60:.1f} min" for _, r in table.iterrows()
        )
        + f". Wall time of this command: {wall_s / 60:.1f} min (with training when it ran).",
        "",
        f"Data: {data.source}. Provenance (`provenance.json`): "
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
        *_curve_lines(curves, cfg),
        *_odenet_lines(cfg),
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
    for _, p in with_time(df).iterrows():
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


def _curve_lines(curves: pd.DataFrame, cfg: Table1Config) -> list[str]:
    """Test error after every epoch (``epochs.csv``; plot: ``plots/test_error_curve.png``)."""
    if curves.empty:
        return []
    epochs = sorted(int(e) for e in curves["epoch"].unique())
    lines = [
        "## Test error after every epoch",
        "",
        "| Model | " + " | ".join(f"epoch {e}" for e in epochs) + " |",
        "|---|" + "---|" * len(epochs),
    ]
    for model, g in curves.groupby("model", sort=False):
        by_epoch = {int(r["epoch"]): r for _, r in g.iterrows()}
        cells = [
            f"{100 * by_epoch[e]['test_error']:.2f}% (lr {by_epoch[e]['lr']:g})"
            if e in by_epoch else "" for e in epochs
        ]  # fmt: skip
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each cell: the test error after that epoch, with the learning rate of the epoch's "
        "last iteration. The table's figure is the last column. Plot: "
        "`plots/test_error_curve.png`.",
        "",
    ]
    return lines


def _odenet_lines(cfg: Table1Config) -> list[str]:
    """Figure 3c's ratios per solver, the test-time tolerances and NFE per example."""
    out = cfg.out
    lines: list[str] = []
    points_file = out / "fig3c_nfe.csv"
    if points_file.exists() and points_file.stat().st_size > 1:
        points = pd.read_csv(points_file)
        lines += [
            "## Figure 3c: NFE-B against NFE-F on the trained ODE-Net (adjoint)",
            "",
            "| Solver | Norm of the reverse solve | Batches | NFE-F (median) | NFE-B (median) "
            "| NFE-B / NFE-F (median, range) |",
            "|---|---|---|---|---|---|",
        ]
        for solver, g in points.groupby("solver", sort=False):
            ratio = g["nfe_backward"] / g["nfe_forward"]
            norm = g["norm"].iloc[0] if "norm" in g else ""
            lines.append(
                f"| {solver} | {norm} | {len(g)} | {g['nfe_forward'].median():g} "
                f"| {g['nfe_backward'].median():g} | {ratio.median():.2f} "
                f"({ratio.min():.2f}-{ratio.max():.2f}) |"
            )
        lines += ["", "The paper (Fig. 3c): NFE-B is about half NFE-F.", ""]
    failures = out / "fig3c_failures.csv"
    if failures.exists() and failures.stat().st_size > 1:
        for _, r in pd.read_csv(failures).iterrows():
            lines += [f"Figure 3c: {r['solver']} did not run: {r['error']}", ""]
    tol_file = out / "test_tolerance.csv"
    if tol_file.exists() and tol_file.stat().st_size > 1:
        tol = pd.read_csv(tol_file)
        lines += [
            "## The trained ODE-Net at other test-time tolerances",
            "",
            f"Trained at dopri5 rtol = atol = {tol['trained_rtol'].iloc[0]:g}; tested on the "
            f"first {int(tol['test_images'].iloc[0]):,} test images (batch "
            f"{int(tol['batch'].iloc[0])}).",
            "",
            "| rtol = atol | Test error | NFE-F per batch |",
            "|---|---|---|",
        ]
        for _, r in tol.iterrows():
            lines.append(
                f"| {r['rtol']:g} | {100 * r['test_error']:.2f}% "
                f"| {r['nfe_forward_per_batch']:.1f} |"
            )
        lines.append("")
    single_file = out / "single_image_nfe.csv"
    if single_file.exists() and single_file.stat().st_size > 1:
        single = pd.read_csv(single_file)
        one = single[single["kind"] == "single"]["nfe_forward"]
        batches = single[single["kind"] == "batch"]
        lines += [
            "## NFE per example and per batch (trained ODE-Net, dopri5 1e-3, forward)",
            "",
            f"Each of the first {len(one)} test images alone: NFE-F min {one.min()}, median "
            f"{one.median():g}, max {one.max()}. "
            + "; ".join(
                f"batch of {int(r['batch'])}: {int(r['nfe_forward'])}"
                for _, r in batches.iterrows()
            )
            + ".",
            "",
        ]
    return lines
