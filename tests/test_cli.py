"""The command line: list, bad input, and a small end-to-end run."""

from pathlib import Path

import pytest
import torch

from odebench.cli import main
from odebench.results import read_provenance, read_results


def test_list_shows_suites_problems_and_methods(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "quick" in out and "harmonic_oscillator" in out and "dopri5" in out


def test_unknown_suite_exits_2_naming_the_suites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--suite", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown suite 'nope'; choose one of: quick" in capsys.readouterr().err


def test_cuda_without_a_gpu_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "--suite", "smoke", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


def test_run_writes_results_provenance_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    assert main(["run", "--suite", "smoke", "--out", str(out), "--executor", "inline",
                 "--quiet"]) == 0  # fmt: skip
    df = read_results(out)
    assert (df["status"] == "ok").all()
    assert len(df) == 3
    prov = read_provenance(out)
    for key in ("commit", "torch", "torchdiffeq", "device", "threads", "date", "command"):
        assert key in prov
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert list((out / "plots").glob("*.png"))


def test_a_second_run_refuses_and_force_keeps_the_first_as_a_backup(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--suite", "smoke", "--out", str(out), "--executor", "inline",
            "--quiet", "--no-report", "--match", "exponential"]  # fmt: skip
    assert main(args) == 0
    first = (out / "results.csv").read_bytes()
    assert main(args) == 2  # refused: the first run is untouched
    assert (out / "results.csv").read_bytes() == first
    assert main([*args, "--force"]) == 0
    (backup,) = tmp_path.glob("run.backup-*")
    assert (backup / "results.csv").read_bytes() == first
    assert len(read_results(out)) == 1
