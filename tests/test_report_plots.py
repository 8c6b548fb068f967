"""Reports and plots read only the results table: fits, NFE ratios, figures, bad files."""

import re
from pathlib import Path

import pandas as pd
import pytest

from odebench.cli import main
from odebench.reading.analysis import fmt_bytes, linear_fit
from odebench.reading.formatting import format_table
from odebench.reading.plots import nfe_over_training, write_plots
from odebench.reading.plots.suite import memory_vs_depth, memory_vs_steps, time_vs_batch
from odebench.reading.report import write_report
from odebench.reading.tables import (
    backend_table,
    memory_fits,
    nfe_table,
    time_table,
    work_precision,
)
from odebench.running.results import COLUMNS, ResultsError, append_record, read_results


def _rows(tmp_path: Path) -> Path:
    """A synthetic results table whose fits are known exactly."""
    path = tmp_path / "results.csv"
    for gradient, slope in (("backprop", 1000.0), ("adjoint", 0.0)):
        for steps in (1, 2, 4, 8):
            append_record(path, {
                "suite": "t", "case_id": f"mlp-{gradient}-{steps}", "problem": "mlp",
                "method": "rk4", "gradient": gradient, "steps": steps, "repeat": 0,
                "status": "ok", "saved_bytes": 500 + slope * steps,
                "peak_alloc_bytes": 900 + slope * steps, "nfe_forward": 4 * steps,
                "nfe_backward": 0 if gradient == "backprop" else 4 * steps,
                "time_forward_s": 0.01 * steps, "time_backward_s": 0.02 * steps,
                "time_forward_iqr_s": 0.0, "time_backward_iqr_s": 0.0, "dtype": "float32",
            })  # fmt: skip
    for tol, nf, nb, err in ((1e-3, 26, 13, 1e-3), (1e-6, 62, 31, 1e-6)):
        append_record(path, {
            "suite": "t", "case_id": f"sp-{tol}", "problem": "spiral_trained",
            "method": "dopri5", "gradient": "adjoint", "rtol": tol, "atol": tol, "repeat": 0,
            "status": "ok", "nfe_forward": nf, "nfe_backward": nb, "state_error": err,
            "grad_error": err, "time_forward_s": 0.1, "time_backward_s": 0.2,
            "dtype": "float32",
        })  # fmt: skip
    append_record(path, {"suite": "t", "case_id": "bad", "problem": "mlp", "repeat": 0,
                         "status": "diverged", "error": "underflow in dt"})  # fmt: skip
    return path


def test_memory_fit_recovers_slopes_and_intercepts(tmp_path: Path) -> None:
    fits = memory_fits(read_results(_rows(tmp_path)))
    saved = fits[fits["meter"] == "saved activations"].set_index("gradient")
    assert saved.loc["backprop", "bytes_per_unit"] == pytest.approx(1000.0)
    assert saved.loc["backprop", "intercept_bytes"] == pytest.approx(500.0)
    assert saved.loc["backprop", "r2"] == pytest.approx(1.0)
    assert saved.loc["adjoint", "bytes_per_unit"] == pytest.approx(0.0, abs=1e-6)


def test_linear_fit_r2_is_below_one_for_noisy_data() -> None:
    import numpy as np

    slope, _, r2 = linear_fit(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0]))
    assert slope == pytest.approx(0.8)
    assert 0 < r2 < 1


def test_nfe_table_gives_the_backward_to_forward_ratio(tmp_path: Path) -> None:
    table = nfe_table(read_results(_rows(tmp_path)))
    assert list(table["nfe_ratio_b_f"]) == [0.5, 0.5]


def test_report_and_plots_are_written_from_the_table(tmp_path: Path) -> None:
    path = _rows(tmp_path)
    md, page, *figures = write_report(path)
    text = md.read_text()
    assert "## Memory scaling" in text and "diverged" in text and "underflow in dt" in text
    assert page.read_text().startswith("<!doctype html>")
    assert {p.name for p in figures} >= {"memory_vs_steps.png", "memory_vs_steps.svg"}
    files = write_plots(path)
    names = {p.name for p in files}
    for stem in ("memory_vs_steps", "nfe_forward_vs_backward", "error_vs_tolerance"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert all(p.stat().st_size > 1000 for p in files)


def test_training_log_draws_nfe_over_training(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    pd.DataFrame({"iteration": [0, 1, 2], "model": "odenet", "nfe_forward": [26, 32, 38],
                  "nfe_backward": [14, 20, 20]}).to_csv(log, index=False)  # fmt: skip
    files = write_plots(_rows(tmp_path), training_log=log)
    assert any(p.name == "nfe_over_training.png" for p in files)
    alone = write_plots(None, tmp_path / "only", training_log=log)
    assert sorted(p.name for p in alone) == ["nfe_over_training.png", "nfe_over_training.svg"]


def test_empty_missing_and_corrupted_results_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no results at"):
        read_results(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ResultsError, match="empty"):
        read_results(empty)
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsError, match="not an odebench results file"):
        read_results(foreign)


def test_records_outside_the_schema_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="outside the schema"):
        append_record(tmp_path / "r.csv", {"case_id": "x", "flops": 3})
    assert "nfe_backward" in COLUMNS and "peak_rss_bytes" in COLUMNS


def test_cli_report_on_a_missing_folder_exits_2_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--results", str(tmp_path / "nothing")]) == 2
    assert "run `odebench run` first" in capsys.readouterr().err


# --- what a reader sees (issue 16) and medians that never mix unlike cases (issue 9) ----------


def _append(path: Path, **row: object) -> None:
    base = {"suite": "t", "repeat": 0, "status": "ok", "dtype": "float32"}
    append_record(path, {**base, **row})


def test_adjoint_peak_is_fitted_over_its_flat_range_with_the_first_step_apart(
    tmp_path: Path,
) -> None:
    # issue 9 item 6: the adjoint's peak allocated jumps from 1 to 2 steps, then grows only by
    # 4 bytes per step (the time grid). Fitting 1..16 gave ~10,364 B/step; the flat range
    # 2..16 gives 4 B/step, intercept 1,383,000 - 2 * 4, and step 1 is 296,460 B below it.
    path = tmp_path / "r.csv"
    peaks = {1: 1_086_536, 2: 1_383_000, 4: 1_383_008, 8: 1_383_024, 16: 1_383_056}
    for steps, peak in peaks.items():
        _append(path, case_id=f"a{steps}", problem="mlp", method="rk4", gradient="adjoint",
                steps=steps, peak_alloc_bytes=peak)  # fmt: skip
    fit = memory_fits(read_results(path)).iloc[0]
    assert fit["meter"] == "peak allocated"
    assert fit["x_range"] == "2-16"
    assert fit["bytes_per_unit"] == pytest.approx(4.0)
    assert fit["intercept_bytes"] == pytest.approx(1_382_992.0)
    assert fit["max_dev_bytes"] == pytest.approx(0.0, abs=1e-6)
    assert "steps = 1: 289.5 KiB below the line" in fit["excluded"]  # 296,460 B


def test_a_straight_line_keeps_every_point_and_a_constant_reads_constant(tmp_path: Path) -> None:
    fits = memory_fits(read_results(_rows(tmp_path)))
    saved = fits[fits["meter"] == "saved activations"].set_index("gradient")
    assert saved.loc["backprop", "x_range"] == "1-8" and saved.loc["backprop", "excluded"] == ""
    assert bool(saved.loc["adjoint", "constant"]) and pd.isna(saved.loc["adjoint", "r2"])
    shown = format_table(fits).set_index("gradient")
    adjoint = shown[shown["meter"] == "saved activations"].loc["adjoint"]
    assert adjoint["bytes per unit"] == "constant" and adjoint["R²"] == ""
    assert adjoint["intercept"] == "500 B"
    backprop = shown[shown["meter"] == "saved activations"].loc["backprop"]
    assert backprop["bytes per unit"] == "1000 B"  # 1000 < 1024: bytes, not KiB


def test_bytes_read_in_binary_units() -> None:
    assert fmt_bytes(262_148) == "256 KiB"  # 262,148 / 1024 = 256.004
    assert fmt_bytes(1_383_000) == "1.319 MiB"  # / 2**20 = 1.31893
    assert fmt_bytes(3 * 2**30) == "3 GiB"
    assert fmt_bytes(4.0) == "4 B"
    assert fmt_bytes(float("nan")) == ""


def test_medians_never_merge_cases_that_differ_in_dtype_or_loss_reduction(tmp_path: Path) -> None:
    # the same solver setting in float32/float64 and with sum/mean losses: four cases, each
    # with two repeats whose NFE median is the mean of the two (ranks 1 and 2 of 2 values)
    path = tmp_path / "r.csv"
    nfe = {("float32", "sum"): (10, 12), ("float64", "sum"): (20, 22),
           ("float32", "mean"): (30, 32), ("float64", "mean"): (40, 42)}  # fmt: skip
    for (dtype, reduction), values in nfe.items():
        for repeat, n in enumerate(values):
            _append(path, case_id=f"{dtype}-{reduction}", problem="spiral_trained",
                    method="dopri5", gradient="adjoint", rtol=1e-3, atol=1e-3, dtype=dtype,
                    reduction=reduction, repeat=repeat, nfe_forward=n, nfe_backward=n / 2,
                    state_error=1e-3, grad_error=1e-2)  # fmt: skip
    table = nfe_table(read_results(path))
    assert len(table) == 4
    assert {"dtype", "reduction"} <= set(table.columns)
    got = {(r.dtype, r.reduction): r.nfe_forward for r in table.itertuples()}
    assert got == {("float32", "sum"): 11, ("float64", "sum"): 21, ("float32", "mean"): 31,
                   ("float64", "mean"): 41}  # fmt: skip
    assert len(work_precision(read_results(path))) == 4


def test_every_table_sorts_the_same_way_tolerances_loose_to_tight(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    for tol in (1e-7, 1e-3, 1e-5):
        for gradient in ("backprop", "adjoint"):
            _append(path, case_id=f"{gradient}{tol}", problem="spiral_trained", method="dopri5",
                    gradient=gradient, rtol=tol, atol=tol, nfe_forward=1, nfe_backward=1,
                    state_error=tol, grad_error=tol, time_forward_s=0.1,
                    time_backward_s=0.1)  # fmt: skip
    df = read_results(path)
    expected = [("adjoint", 1e-3), ("adjoint", 1e-5), ("adjoint", 1e-7),
                ("backprop", 1e-3), ("backprop", 1e-5), ("backprop", 1e-7)]  # fmt: skip
    for table in (nfe_table(df), work_precision(df), time_table(df)):
        assert list(zip(table["gradient"], table["rtol"], strict=True)) == expected


def test_backend_table_gives_ratios_on_identical_cases_only(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    figures = {"torchdiffeq": (100, 50, 0.010, 1e-4), "torchode": (80, 75, 0.006, 2e-4)}
    for backend, (nf, nb, t, err) in figures.items():
        _append(path, case_id=backend, problem="mlp", backend=backend, method="dopri5",
                gradient="adjoint", rtol=1e-5, atol=1e-5, nfe_forward=nf, nfe_backward=nb,
                time_forward_s=t, state_error=err)  # fmt: skip
    # a case measured with one library only has nothing to be compared with
    _append(path, case_id="alone", problem="mlp", backend="torchode", method="dopri5",
            gradient="backprop", rtol=1e-5, atol=1e-5, nfe_forward=7)  # fmt: skip
    table = backend_table(read_results(path))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["backends"] == "torchode / torchdiffeq"
    assert row["nfe_forward_ratio"] == pytest.approx(0.8)  # 80 / 100
    assert row["nfe_backward_ratio"] == pytest.approx(1.5)  # 75 / 50
    assert row["time_forward_s_ratio"] == pytest.approx(0.6)  # 0.006 / 0.010
    assert row["state_error_ratio"] == pytest.approx(2.0)
    one = tmp_path / "one.csv"
    _append(one, case_id="x", problem="mlp", backend="torchdiffeq", method="rk4", steps=2)
    assert backend_table(read_results(one)).empty


def test_report_html_embeds_figures_beside_tables_with_no_nan_and_a_headline(
    tmp_path: Path,
) -> None:
    path = _rows(tmp_path)
    (tmp_path / "provenance.json").write_text('{"commit": "abc123-dirty", "torch": "x"}')
    md, page, *_ = write_report(path, tmp_path / "out")
    html = page.read_text()
    cells = re.sub(r"base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"\bnan\b", cells, flags=re.IGNORECASE)
    assert html.count("data:image/png;base64,") >= 3  # standalone: figures inside the page
    memory = html.index("<h2>Memory scaling</h2>")
    assert memory < html.index("memory_vs_steps.png") < html.index("<h2>NFE forward")
    assert html.index("<h2>Headline</h2>") < memory
    assert "uncommitted changes on top of commit abc123" in html
    text = md.read_text()
    assert "(plots/memory_vs_steps.png)" in text and (tmp_path / "out/plots").is_dir()
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)
    assert write_report(path, tmp_path / "again")[1].read_text() == html  # deterministic
    # the headline's memory verdict and NFE ratio, one bullet each
    assert "saved activations: adjoint O(1) in 1 of 1 variants (backprop 1000 B per step)" in text
    assert "NFE-B/NFE-F of the adjoint (the paper: about 1/2) over 1 variants" in text


def test_plots_are_byte_identical_when_drawn_twice(tmp_path: Path) -> None:
    path = _rows(tmp_path)
    first = {p.name: p.read_bytes() for p in write_plots(path, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_plots(path, tmp_path / "b")}
    assert first and first == second
    assert all(b"<dc:date>" not in v for k, v in first.items() if k.endswith(".svg"))


def test_memory_vs_depth_draws_each_architecture_against_its_own_knob(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    for depth in (1, 2, 4):
        _append(path, case_id=f"r{depth}", model="resnet", depth=depth, batch=8,
                saved_bytes=1000 * depth)  # fmt: skip
    for steps in (1, 2, 4):
        _append(path, case_id=f"k{steps}", model="rknet", method="rk4", gradient="backprop",
                steps=steps, batch=8, saved_bytes=3000 * steps)  # fmt: skip
    for tol, nfe in ((1e-1, 14), (1e-3, 26)):
        _append(path, case_id=f"o{tol}", model="odenet", method="dopri5", gradient="adjoint",
                rtol=tol, atol=tol, batch=8, nfe_forward=nfe, saved_bytes=500)  # fmt: skip
    fig = memory_vs_depth(read_results(path))
    assert fig is not None
    axes = fig.axes
    assert [a.get_xlabel() for a in axes] == [
        "residual blocks", "rk4 steps", "NFE forward (tolerance sweep)"]  # fmt: skip
    xs = [list(a.lines[0].get_xdata()) for a in axes]
    assert xs == [[1, 2, 4], [1, 2, 4], [14, 26]]
    notes = [t.get_text() for a in axes for t in a.get_legend().get_texts()]
    assert "backprop: 1000 B per block" in notes
    assert "backprop: 2.93 KiB per step" in notes  # 3000 / 1024
    assert "adjoint: flat" in notes


def test_memory_vs_depth_draws_a_line_and_slope_per_gradient_mode(tmp_path: Path) -> None:
    # before: one median over the four modes, "32.68 KiB per NFE" under an "O(1)" title
    path = tmp_path / "r.csv"
    per_nfe = {"backprop": 4096, "checkpoint": 1000, "aca": 500, "adjoint": 0}
    for mode, slope in per_nfe.items():
        for tol, nfe in ((1e-3, 26), (1e-5, 68)):
            _append(path, case_id=f"{mode}{tol}", model="odenet", method="dopri5",
                    gradient=mode, rtol=tol, atol=tol, batch=4, nfe_forward=nfe,
                    saved_bytes=2_000_000 + slope * nfe)  # fmt: skip
    fig = memory_vs_depth(read_results(path))
    assert fig is not None
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    notes = [t.get_text() for t in ax.get_legend().get_texts()]
    assert notes == ["backprop: 4 KiB per NFE", "checkpoint: 1000 B per NFE",
                     "aca: 500 B per NFE", "adjoint: flat"]  # fmt: skip


def test_nfe_over_training_labels_passes_and_has_no_legend_for_one_model() -> None:
    log = pd.DataFrame({"iteration": [0, 1, 2], "model": "odenet",
                        "nfe_forward": [26, 20, 20], "nfe_backward": [32, 20, 20]})  # fmt: skip
    fig = nfe_over_training(log)
    assert fig is not None and not fig.legends
    assert [a.get_title() for a in fig.axes] == ["forward pass (NFE-F)", "backward pass (NFE-B)"]
    assert "odenet" in fig._suptitle.get_text()


def test_several_backends_get_a_hue_in_the_comparison_plots(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    for backend in ("torchdiffeq", "torchode"):
        for gradient in ("backprop", "adjoint"):
            for steps in (1, 2):
                _append(path, case_id=f"{backend}{gradient}{steps}", problem="mlp",
                        backend=backend, method="rk4", gradient=gradient, steps=steps,
                        saved_bytes=100 * steps)  # fmt: skip
            for batch in (8, 32):
                _append(path, case_id=f"{backend}{gradient}b{batch}", problem="mlp",
                        backend=backend, method="dopri5", gradient=gradient, rtol=1e-5,
                        atol=1e-5, batch=batch, time_forward_s=0.01, time_backward_s=0.02,
                        time_forward_iqr_s=0.0, time_backward_iqr_s=0.0)  # fmt: skip
    df = read_results(path)
    # each line named by the identity columns that vary (the backend), the mode after "·"
    expected = {f"backend {b} · {g}" for b in ("torchdiffeq", "torchode")
                for g in ("backprop", "adjoint")}  # fmt: skip
    steps_fig = memory_vs_steps(df)
    assert steps_fig is not None
    labels = {str(ln.get_label()) for ln in steps_fig.axes[0].lines}
    assert labels == {e.removeprefix("backend ") for e in expected}
    batch_fig = time_vs_batch(df)
    assert batch_fig is not None
    # the backend is the colour (its own legend), the gradient mode the line (another one)
    (ax,) = batch_fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["torchdiffeq", "torchode"]
    assert [t.get_text() for t in batch_fig.legends[0].get_texts()] == ["backprop", "adjoint"]
    assert {str(ln.get_label()) for ln in ax.lines if not str(ln.get_label()).startswith("_")} \
        == {f"{b} · {g}" for b in ("torchdiffeq", "torchode") for g in ("backprop", "adjoint")}


def test_noisy_points_are_never_fitted_apart(tmp_path: Path) -> None:
    # RSS-like noise: the last three points happen to lie close to a line, but not within
    # 0.1% of their level, so all four are fitted (no point is dropped by chance)
    path = tmp_path / "r.csv"
    for steps, rss in {1: 900_000, 2: 1_180_000, 4: 1_190_000, 8: 1_200_500}.items():
        _append(path, case_id=f"a{steps}", problem="mlp", method="rk4", gradient="adjoint",
                steps=steps, peak_rss_bytes=rss)  # fmt: skip
    fit = memory_fits(read_results(path)).iloc[0]
    assert fit["x_range"] == "1-8" and fit["excluded"] == ""


def test_a_first_point_on_the_line_is_not_fitted_apart() -> None:
    import numpy as np

    from odebench.reading.tables import fit_line

    # ResNet saved bytes on the GPU: depth 1 lies exactly on the line of depths 2-6
    x = np.array([1.0, 2.0, 4.0, 6.0])
    y = 79_968_260 + 6_488_064 * (x - 1)
    fit = fit_line(x, y)
    assert fit.excluded == {}
    assert fit.slope == pytest.approx(6_488_064, rel=1e-12)


def test_frontier_figure_draws_the_target_and_rings_the_decisions_pick() -> None:
    from odebench.reading.plots import gradient_frontier
    from tests.test_frontier import _table

    figs = gradient_frontier(_table())
    (fig,) = figs.values()
    least_kept, _, fastest = fig.axes[:3]
    flat = [ln for ln in least_kept.lines if len(set(ln.get_ydata())) == 1
            and ln.get_marker() in ("None", "") and ln.get_label().startswith("_")]  # fmt: skip
    assert sorted({float(ln.get_ydata()[0]) for ln in flat}) == [1e-4]  # the decision's target

    def ringed(ax):  # type: ignore[no-untyped-def]
        return sorted((float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in ax.lines
                      if ln.get_marker() == "o" and ln.get_markersize() == 17)  # fmt: skip

    # by hand from _table: reaching 1e-4 at that and every tighter rtol are the three modes
    # at 1e-5 (errors 5e-5, 6e-5, 5e-5); the fastest is backprop (20 + 20 ms, aca 60 ms,
    # checkpoint 80 ms): ringed on every panel at its own x (kept 16000 B, time 40 ms)
    assert ringed(least_kept) == [(16000, 5e-5)]
    assert ringed(fastest) == [(0.04, 5e-5)]
    labels = [t.get_text() for t in least_kept.texts]
    assert sorted(labels) == ["rtol 0.001", "rtol 1e-05"]  # each tolerance named once
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_time_per_model_draws_unstable_cases_hollow_and_says_the_load(tmp_path: Path) -> None:
    from odebench.reading.plots.suite import time_per_model

    path = tmp_path / "r.csv"
    # IQR / median: 0.01 (stable) and 0.5 (unstable, beyond the 25 % limit)
    for case, iqr in (("steady", 0.001), ("drifting", 0.05)):
        gradient = "backprop" if case == "steady" else "checkpoint"
        _append(path, case_id=case, model="odenet", method="dopri5", gradient=gradient,
                rtol=1e-3, atol=1e-3, batch=4, timed_passes=3,
                time_forward_s=0.1, time_forward_iqr_s=iqr, time_backward_s=0.2,
                time_backward_iqr_s=0.002)  # fmt: skip
    df = read_results(path)
    df.attrs["provenance"] = {"load_average": {"before": [3.04, 2.0, 1.0],
                                               "after": [5.0, 2.5, 1.1], "cpus": 2}}  # fmt: skip
    fig = time_per_model(df)
    assert fig is not None
    (ax,) = fig.axes
    faces = [tuple(p.get_facecolor()) for p in ax.patches]
    assert sum(f[3] == 0 for f in faces) == 2  # both bars of the drifting case, hollow
    caption = " ".join(fig._supxlabel.get_text().split())  # wrapped to the figure's width
    assert "timed passes per case: 3" in caption
    assert "measured under load 3.0 -> 5.0 on 2 CPUs (before -> after)" in caption
    assert "unstable: odenet checkpoint" in caption
    assert [t.get_text() for t in ax.texts] == ["n=3", "n=3"]
