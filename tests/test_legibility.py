"""Every figure can be read: the legibility check (matplotlib's own text extents) finds a
legend off the canvas, overprinted text, a squeezed axes, a legend too long to read and two
series drawn alike; and every figure of the committed results, and of synthetic tables with
many series, passes it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from odebench.reading.plots import PLOTS, gradient_frontier, theme  # noqa: E402
from odebench.reading.plots.legibility import legibility_problems  # noqa: E402
from odebench.reading.plots.style import SAVE_DPI  # noqa: E402
from odebench.running.results import read_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _clean_figure() -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot([1, 2, 3], [1, 4, 9], "o-", color="tab:blue", label="squares")
    ax.plot([1, 2, 3], [1, 2, 3], "s--", color="tab:orange", label="identity")
    ax.set(xlabel="x", ylabel="y", title="two series")
    ax.legend(loc="upper left")
    return fig


def test_a_plain_two_series_figure_is_legible() -> None:
    fig = _clean_figure()
    assert legibility_problems(fig) == []
    plt.close(fig)


def test_a_legend_forced_outside_the_canvas_is_caught() -> None:
    fig = _clean_figure()
    fig.axes[0].legend(loc="upper left", bbox_to_anchor=(1.6, 1.0))  # far right of the figure
    problems = legibility_problems(fig)
    plt.close(fig)
    assert any("legend" in p and "outside the canvas" in p for p in problems), problems


def test_overprinted_labels_are_caught() -> None:
    fig = _clean_figure()
    ax = fig.axes[0]
    ax.annotate("0.001", (2, 4))
    ax.annotate("0.001", (2, 4), xytext=(2, 0), textcoords="offset points")  # 2 px apart
    problems = legibility_problems(fig)
    plt.close(fig)
    assert any("'0.001' overlaps" in p for p in problems), problems


def test_a_long_legend_and_the_axes_it_squeezes_are_caught() -> None:
    fig, ax = plt.subplots(figsize=(8, 4.4), layout="constrained")
    for i in range(18):
        ax.plot([0, 1], [i, i + 1], color=f"C{i % 10}", marker="os"[i // 10],
                label=f"a long line name with its identity columns, number {i}")  # fmt: skip
    fig.legend(loc="outside right center")
    problems = legibility_problems(fig)
    plt.close(fig)
    assert any("has 18 entries" in p for p in problems), problems
    assert any("px wide" in p for p in problems), problems


def test_two_series_with_one_colour_and_marker_are_caught() -> None:
    fig = _clean_figure()
    ax = fig.axes[0]
    ax.plot([1, 2, 3], [2, 3, 4], "o:", color="tab:blue", label="another")  # as "squares"
    problems = legibility_problems(fig)
    plt.close(fig)
    assert any("'another' and 'squares' share colour" in p for p in problems), problems


def test_the_old_single_legend_nfe_figure_of_the_gradients_run_fails() -> None:
    """Before this change nfe_forward_vs_backward put one line per identity in one legend
    (18 entries, a 35 px axes, a cut x label); drawn that way again it must fail."""
    from odebench.reading.analysis import ok_rows
    from odebench.reading.plots.style import SWEEP, add_legend, draw_lines, new_figure, variants

    data = ok_rows(read_results(RESULTS / "gradients"))
    data = data[data["nfe_forward"].notna() & data["gradient"].str.startswith("adjoint")]
    data, key = variants(data, SWEEP)
    with theme():
        fig, axes = new_figure()
        draw_lines(axes[0], data, "nfe_forward", "nfe_backward", "variant", by=["rtol"])
        axes[0].set(xlabel="NFE forward (calls of f)", ylabel="NFE backward (calls of f)")
        fig.suptitle("Adjoint: backward against forward evaluations")
        add_legend(fig, axes[0], "lines")
        problems = legibility_problems(fig, dpi=SAVE_DPI)
    plt.close(fig)
    # the regenerated table (CNF rows added) names its variants more briefly: the squeezed
    # axes of the old run need not recur, the overfull legend does
    assert any("entries" in p for p in problems), problems


# --- every figure of the committed results --------------------------------------------------


def _suite_figures(folder: Path) -> Iterator[tuple[str, Callable[[], plt.Figure | None]]]:
    df = read_results(folder)
    for name, plot in PLOTS.items():
        yield name, lambda plot=plot: plot(df)
    frontier = gradient_frontier(df)
    for name, fig in frontier.items():
        yield name, lambda fig=fig: fig


def _table1_figures(folder: Path) -> Iterator[tuple[str, Callable[[], plt.Figure | None]]]:
    from odebench.experiments.table1.config import ROWS
    from odebench.experiments.table1.figures import test_error_curve
    from odebench.reading.plots import (
        fig3a_error_vs_nfe,
        fig3b_time_vs_nfe,
        fig3c_nfe_backward_vs_forward,
        fig3d_nfe_over_training,
    )

    log_file = folder / "logs" / "odenet_train_log.csv"
    log = pd.read_csv(log_file) if log_file.exists() else None

    def csv(name: str) -> pd.DataFrame | None:
        path = folder / name
        return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None

    if (errors := csv("fig3a_block_error.csv")) is not None:
        yield "fig3a_error_vs_nfe", lambda: fig3a_error_vs_nfe(errors)
    yield "fig3b_time_vs_nfe", lambda: fig3b_time_vs_nfe(read_results(folder / "results.csv"))
    points, failures = csv("fig3c_nfe.csv"), csv("fig3c_failures.csv")
    yield "fig3c", lambda: fig3c_nfe_backward_vs_forward(log, points, failures)
    if log is not None:
        yield "fig3d_nfe_over_training", lambda: fig3d_nfe_over_training(log)
    if (curves := csv("epochs.csv")) is not None:
        paper = {name: spec.paper_test_error for name, spec in ROWS.items()}
        yield "test_error_curve", lambda: test_error_curve(curves, paper)


def _table2_figures(folder: Path) -> Iterator[tuple[str, Callable[[], plt.Figure | None]]]:
    from odebench.experiments.spirals.figures import curves_figure, examples_figure

    n_obs = int(json.loads((folder / "provenance.json").read_text()).get("figure_obs", 30))
    examples = pd.read_csv(folder / "table2_examples.csv")
    yield "spirals", lambda: examples_figure(examples, n_obs=n_obs)
    curves = pd.read_csv(folder / "table2_curves.csv")
    yield "table2_curves", lambda: curves_figure(curves)


FOLDERS = {
    "quick": _suite_figures,
    "gradients": _suite_figures,
    "backends": _suite_figures,
    "table1": _table1_figures,
    "table1_short": _table1_figures,
    "table2": _table2_figures,
    "table2_long": _table2_figures,
}


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_every_figure_of_the_committed_results_is_legible(folder: str) -> None:
    path = RESULTS / folder
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    drawn, failures = 0, {}
    with theme():
        for name, draw in FOLDERS[folder](path):
            fig = draw()
            if fig is None:
                continue
            drawn += 1
            problems = legibility_problems(fig, dpi=SAVE_DPI)
            plt.close(fig)
            if problems:
                failures[name] = problems[:5]
    assert drawn > 0
    assert failures == {}


# --- synthetic tables with many series ------------------------------------------------------


def _many_series_table() -> pd.DataFrame:
    """Six problems x two backends x two dtypes x four gradient modes x three tolerances:
    96 lines, far more than one legend can carry."""
    rows = []
    rng = np.random.default_rng(0)
    for p in range(6):
        for backend in ("torchdiffeq", "torchode"):
            for dtype in ("float32", "float64"):
                for gradient in ("backprop", "adjoint", "checkpoint", "aca"):
                    for k, rtol in enumerate((1e-3, 1e-5, 1e-7)):
                        nfe = 20 * (k + 1) + p
                        rows.append({
                            "suite": "synthetic", "case_id": f"c{len(rows)}",
                            "problem": f"problem_number_{p}", "model": "", "backend": backend,
                            "method": "dopri5", "gradient": gradient, "rtol": rtol, "atol": rtol,
                            "dtype": dtype, "device": "cpu", "repeat": 0, "status": "ok",
                            "timed_passes": 3, "nfe_forward": nfe,
                            "nfe_backward": 2 * nfe if gradient == "adjoint" else 0,
                            "saved_bytes": 1000.0 * nfe, "peak_alloc_bytes": 3000.0 * nfe,
                            "state_error": rtol * (1 + p), "grad_error": rtol * (2 + p),
                            "time_forward_s": 1e-3 * nfe * (1 + rng.random() / 10),
                            "time_backward_s": 2e-3 * nfe, "time_forward_iqr_s": 1e-5,
                            "time_backward_iqr_s": 1e-5,
                        })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "name", ["nfe_forward_vs_backward", "error_vs_tolerance", "work_precision_nfe",
             "work_precision_time"],  # fmt: skip
)
def test_figures_of_a_table_with_many_series_are_legible(name: str) -> None:
    df = _many_series_table()
    with theme():
        fig = PLOTS[name](df)
        assert fig is not None
        problems = legibility_problems(fig, dpi=SAVE_DPI)
        plt.close(fig)
    assert problems == []


def test_the_profiles_time_against_batch_includes_the_users_own_batch() -> None:
    # before: batches 2 and 16 only (the user's 8 ran in the tolerance sweep with no batch
    # recorded), so time_vs_batch drew a "trend" through two points
    from odebench.experiments.profile import battery

    cases = battery("mlp", batch=8)
    timed = {c.batch for c in cases if c.batch is not None and "time" in c.meters}
    assert timed == {2, 8, 16}
