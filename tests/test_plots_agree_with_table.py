"""Every figure draws the points of its table: read back from the matplotlib artists.

The docs' own "A suite of your own" example, a cross product of rtol and atol, and
MNIST models at several depths and tolerances: each figure must show every case of the
table exactly once, on a line (or bar) of its own kind, never joining unlike cases.
"""

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from odebench.benchmark.cases import Case
from odebench.benchmark.suitefile import read_suite_file
from odebench.reading.plots.suite import error_vs_tolerance, time_per_model, work_precision_nfe
from odebench.running.results import append_record, case_columns, read_results

SUITES_PAGE = Path(__file__).resolve().parents[1] / "docs" / "suites.md"


def readme_suite(tmp_path: Path) -> Path:
    """The TOML of the docs' "A suite of your own" section (docs/suites.md), as a file."""
    text = SUITES_PAGE.read_text()
    section = text[text.index("## A suite of your own") :]
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    assert toml is not None
    path = tmp_path / "readme.toml"
    path.write_text(toml.group(1))
    return path


def figures(case: Case) -> dict[str, float]:
    """Made-up figures, different for every case, so a wrong grouping cannot match."""
    order = {"dopri5": 5.0, "bosh3": 3.0, "rk4": 4.0}.get(case.method, 1.0)
    if case.rtol is not None:
        atol = case.atol if case.atol is not None else case.rtol
        nfe = round(10 * order * -math.log10(case.rtol) + 3 * -math.log10(atol))
        return {
            "nfe_forward": nfe, "nfe_backward": 0, "state_error": case.rtol * atol / order,
            "time_forward_s": nfe / 1000, "time_backward_s": nfe / 500,
            "time_forward_iqr_s": 0.0, "time_backward_iqr_s": 0.0,
        }  # fmt: skip
    steps = case.steps or case.depth or 1
    adjoint = case.gradient == "adjoint"
    return {
        "nfe_forward": 4 * steps, "nfe_backward": 4 * steps if adjoint else 0,
        "saved_bytes": 2048 if adjoint else 1000 * steps,
        "time_forward_s": 0.01 * steps, "time_backward_s": 0.03 * steps + (0.5 if adjoint else 0),
        "time_forward_iqr_s": 0.0, "time_backward_iqr_s": 0.0,
    }  # fmt: skip


def table(tmp_path: Path, cases: list[Case], repeats: int = 2) -> pd.DataFrame:
    path = tmp_path / "results.csv"
    for case in cases:
        for r in range(repeats):
            append_record(path, {**case_columns(case, r), "status": "ok", **figures(case)})
    return read_results(path)


def plotted(ax: plt.Axes) -> dict[str, list[tuple[float, float]]]:
    """The points of each labelled line of ``ax`` (plain lines and error-bar lines)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for container in ax.containers:
        if hasattr(container, "lines") and container.lines and container.lines[0] is not None:
            line = container.lines[0]
            out[container.get_label()] = list(zip(*line.get_data(), strict=True))
    for line in ax.lines:
        label = line.get_label()
        if not label.startswith("_") and "NFE-B =" not in label:
            out.setdefault(label, list(zip(*line.get_data(), strict=True)))
    return {k: [(float(x), float(y)) for x, y in v] for k, v in out.items()}


def check_lines(ax: plt.Axes, df: pd.DataFrame, x: str, y: str, per_case: int = 1) -> None:
    """Every case of ``df`` is a point of exactly one line; a line holds one kind of case."""
    lines = plotted(ax)
    points = [p for pts in lines.values() for p in pts]
    expected = df.groupby("case_id")[[x, y]].median()
    assert sorted(points) == sorted(map(tuple, expected.to_numpy().tolist() * per_case))
    by_point = {tuple(v): c for c, v in zip(expected.index, expected.to_numpy(), strict=True)}
    cases = df.drop_duplicates("case_id").set_index("case_id")
    for label, pts in lines.items():
        rows = cases.loc[[by_point[p] for p in pts]]
        # along a line only the sweep changes: one point per rtol, one method, one atol
        assert rows["rtol"].is_unique, (label, rows[["method", "rtol", "atol"]])
        assert rows["method"].nunique() == 1
        assert rows["atol"].nunique() == 1 or (rows["atol"] == rows["rtol"]).all()
        assert all(m in label for m in rows["method"].unique())


@pytest.mark.parametrize("draw", [work_precision_nfe, error_vs_tolerance])
def test_the_documented_suite_draws_the_points_of_its_table(tmp_path: Path, draw) -> None:  # type: ignore[no-untyped-def]
    suite = read_suite_file(readme_suite(tmp_path))
    tolerance_cases = [c for c in suite.cases if c.rtol is not None]
    assert all(c.atol == c.rtol for c in tolerance_cases) and len(tolerance_cases) == 4
    df = table(tmp_path, suite.cases)
    fig = draw(df)
    x = "nfe_forward" if draw is work_precision_nfe else "rtol"
    check_lines(fig.axes[0], df[df["rtol"].notna()], x, "state_error")
    assert fig.axes[0].get_xlabel() != ""
    plt.close(fig)


@pytest.mark.parametrize("draw", [work_precision_nfe, error_vs_tolerance])
def test_rtol_crossed_with_atol_draws_a_line_per_atol_and_every_case(
    tmp_path: Path, draw
) -> None:  # type: ignore[no-untyped-def]
    # before: a row per rtol kept at random (the error seemed to rise as the tolerance
    # tightened), the highest-NFE point dropped, points of two atols joined
    cases = [
        Case(suite="s", problem="harmonic_oscillator", method=m, rtol=r, atol=a,
             meters=("nfe", "error", "time"))
        for m in ("dopri5", "bosh3") for r in (1e-3, 1e-6) for a in (1e-3, 1e-6)
    ]  # fmt: skip
    df = table(tmp_path, cases)
    fig = draw(df)
    ax = fig.axes[0]
    x = "nfe_forward" if draw is work_precision_nfe else "rtol"
    check_lines(ax, df, x, "state_error")
    assert len(plotted(ax)) == 4 and all("atol" in label for label in plotted(ax))
    fig.canvas.draw()
    minor = [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]
    assert minor == []  # minor log labels collided within a decade
    plt.close(fig)


def test_time_per_model_draws_one_bar_per_case_named_by_what_varies(tmp_path: Path) -> None:
    # before: ResNet at 2 and 6 blocks, ODE-Net at rtol 0.1 and 1e-3 averaged into one bar
    # per model (the ODE-Net's backward bar read the mean of two unlike cases)
    cases = [Case(suite="s", model="resnet", depth=d, meters=("time",)) for d in (2, 6)] + [
        Case(suite="s", model="odenet", method="dopri5", gradient="adjoint", rtol=r, atol=r,
             meters=("time",))
        for r in (0.1, 1e-3)
    ]  # fmt: skip
    df = table(tmp_path, cases)
    fig = time_per_model(df)
    ax = fig.axes[0]
    forward, backward = [c for c in ax.containers if isinstance(c, BarContainer)]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == len(forward) == len(backward) == 4
    for case in cases:
        (i,) = [k for k, t in enumerate(ticks) if t.startswith(case.model)
                and (f"depth {case.depth}" in t if case.depth else f"rtol {case.rtol:g}" in t)]
        row = df[df["case_id"] == case.case_id]
        assert backward[i].get_height() == pytest.approx(row["time_backward_s"].median())
        assert forward[i].get_height() == pytest.approx(row["time_forward_s"].median())
    plt.close(fig)


def test_a_line_has_the_colour_of_its_legend_entry_in_every_panel(tmp_path: Path) -> None:
    # a panel that draws fewer lines (the state: one line where the gradient modes agree)
    # must not shift the colours of the others away from their legend entries
    cases = [
        Case(suite="s", problem=p, method="dopri5", gradient=g, rtol=r, atol=r,
             meters=("nfe", "error"))
        for p, modes in (("mlp_small", ("adjoint",)), ("exponential_decay", ("backprop",)))
        for g in modes for r in (1e-3, 1e-6)
    ]  # fmt: skip
    df = table(tmp_path, cases, repeats=1)
    df["grad_error"] = df["state_error"] * 3
    fig = work_precision_nfe(df)
    state, grad = fig.axes[0], fig.axes[1]
    colours = {ln.get_label(): ln.get_color() for ln in grad.lines if ln.get_label()[0] != "_"}
    assert len(colours) == 2
    for line in state.lines:
        if not line.get_label().startswith("_"):
            assert colours[line.get_label()] == line.get_color(), line.get_label()
    plt.close(fig)
