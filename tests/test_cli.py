"""The command line: list, bad input, and a small end-to-end run."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from odebench.cli import main
from odebench.running.provenance import read_provenance
from odebench.running.results import read_results


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


def test_help_is_fast_shows_defaults_and_never_imports_torch() -> None:
    code = (
        "import sys\nfrom odebench.cli.app import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch loaded:', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "torch loaded: False" in out
    words = " ".join(out.split())  # argparse wraps help at the terminal's width
    assert "(default: 600.0)" in words and "(default: quick)" in words


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("odebench ")


def test_a_run_with_a_case_not_ok_exits_1_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # y' = y^2 from 1 blows up at t = 1: the step size underflows (a tolerance too tight to
    # meet, the old way to make a case diverge, is now refused before anything runs)
    (tmp_path / "blowup.py").write_text(
        "import torch\nfrom odebench.workloads.problems import register_problem\n"
        "register_problem('blowup', lambda t, y: y * y, torch.ones(1, 1), t_span=(0.0, 2.0),"
        " overwrite=True)\n"
    )
    suite = tmp_path / "s.toml"
    suite.write_text('problems = ["blowup.py"]\n[[grid]]\nproblem = "blowup"\n'
                     'method = "dopri5"\nrtol = 1e-6\natol = 1e-6\nmeters = ["nfe"]\n')  # fmt: skip
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--executor", "inline",
                 "--quiet", "--no-report"]) == 1  # fmt: skip
    text = capsys.readouterr().out
    assert "1 diverged" in text and "Not every case finished ok" in text
    assert "--retry-failed" in text


def test_progress_is_plain_lines_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "odebench.cli", "run", "--suite", "smoke", "--executor",
           "inline", "--no-report", "--out", str(tmp_path / "o")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    assert "odebench: 3/3 cases done, 0 not ok" in proc.stderr
    assert "Results: " in proc.stdout and "3 ok" in proc.stdout


USER_PROBLEMS = """
import torch
from odebench.workloads.problems import register_problem


def f(t, y):
    return {rate} * y


def exact(t):
    return torch.exp({rate} * t)[:, None] * torch.ones(3, dtype=torch.float64)


register_problem("{name}", f, torch.ones(3, dtype=torch.float64), exact=exact, overwrite=True)
"""


def test_user_problems_reach_every_worker_from_the_suite_file_and_import(tmp_path: Path) -> None:
    # a problem in the suite's problems = [...] module, one from --import FILE.py, measured in
    # fresh worker processes (the local executor)
    (tmp_path / "my_problems.py").write_text(USER_PROBLEMS.format(rate=-2.0, name="my_decay"))
    extra = tmp_path / "elsewhere" / "growth.py"
    extra.parent.mkdir()
    extra.write_text(USER_PROBLEMS.format(rate=0.5, name="my_growth"))
    suite = tmp_path / "mine.toml"
    suite.write_text('problems = ["my_problems"]\n[suite]\nname = "mine"\n[[grid]]\n'
                     'problem = ["my_decay", "my_growth"]\nmethod = "rk4"\nsteps = 4\n'
                     'meters = ["nfe", "error"]\n')  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "odebench.cli", "run", "--suite", str(suite), "--out", str(out),
           "--import", str(extra), "--quiet", "--no-report"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = read_results(out).set_index("problem")
    assert (df["status"] == "ok").all()
    assert list(df.loc[["my_decay", "my_growth"], "nfe_forward"]) == [16, 16]  # rk4: 4 per step
    # rk4 on y' = -2y, h = 1/4: each step multiplies by 1 - 1/2 + 1/8 - 1/48 + 1/384
    step = 1 - 0.5 + 0.125 - 1 / 48 + 1 / 384
    assert 0 < df.loc["my_decay", "state_error"] < 10 * abs(step**4 - math.exp(-2))
    assert read_provenance(out)["imports"][0] == str(extra)


def test_executor_slurm_without_slurm_refuses_instead_of_running_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: submitit silently ran local processes (4x slower) and ignored the partition
    from odebench.benchmark.suites import get_suite
    from odebench.running.runner import run_cases

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no srun anywhere
    out = tmp_path / "out"
    args = ["run", "--suite", "smoke", "--out", str(out), "--executor", "slurm"]
    assert main([*args, "--slurm-partition", "gpu"]) == 2
    err = capsys.readouterr().err
    assert "no Slurm" in err and "--executor local" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="cluster='local'"):
        run_cases(get_suite("smoke")[:1], out / "results.csv", executor="slurm", progress=False)
    assert not out.exists()
