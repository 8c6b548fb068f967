"""Reports and plots read only the results table: fits, NFE ratios, figures, bad files."""

from pathlib import Path

import pandas as pd
import pytest

from odebench.cli import main
from odebench.plots import write_plots
from odebench.report import linear_fit, memory_fits, nfe_table, write_report
from odebench.results import COLUMNS, ResultsError, append_record, read_results


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
    md, page = write_report(path)
    text = md.read_text()
    assert "## Memory scaling" in text and "diverged" in text and "underflow in dt" in text
    assert page.read_text().startswith("<!doctype html>")
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
