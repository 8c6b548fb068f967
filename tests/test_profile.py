"""``odebench profile`` on the README's example field and on bad fields of this file's own.

A fresh process and the local executor, as a user runs it; the figures checked are the
exact ones, derived by hand: rk4 with n steps calls the field 4n times forward (and 4n
backward for the adjoint, which retraces the grid), and backprop saves per step the four
stage inputs and four tanh outputs of a 64-wide MLP, 8 x batch x 64 float32 values, plus
the step's 4-byte time increment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

FIELD = """
import torch
from torch import nn


net = nn.Linear(64, 64)


def closure():
    return lambda t, y: net(y)


def wrong_shape():
    return lambda t, y: y.sum()
"""
BATCH = 8
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _profile(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "odebench.cli", "profile", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("profile")
    (folder / "examples").mkdir()
    (folder / "examples" / "my_field.py").write_text((EXAMPLES / "my_field.py").read_text())
    # the README's command, at a small batch
    done = _profile(folder, "examples/my_field.py:make_field", "--y0-shape", f"{BATCH},64",
                    "--backends", "torchdiffeq", "--out", "out", "--threads", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out", done.stdout


def test_profile_counts_four_evaluations_per_rk4_step(profiled: tuple[Path, str]) -> None:
    df = pd.read_csv(profiled[0] / "results.csv")
    rk4 = df[df["method"] == "rk4"]
    assert set(rk4["steps"]) == {1, 2, 4, 8, 16}
    for _, row in rk4.iterrows():
        assert row["nfe_forward"] == 4 * row["steps"]
        assert row["nfe_backward"] == (4 * row["steps"] if row["gradient"] == "adjoint" else 0)


def test_profile_saved_bytes_per_step_match_the_shapes(profiled: tuple[Path, str]) -> None:
    df = pd.read_csv(profiled[0] / "results.csv")
    rk4 = df[df["method"] == "rk4"].set_index(["gradient", "steps"])["saved_bytes"]
    per_step = 8 * BATCH * 64 * 4 + 4
    assert rk4[("backprop", 16)] - rk4[("backprop", 8)] == 8 * per_step
    assert rk4[("backprop", 2)] - rk4[("backprop", 1)] == per_step
    assert rk4[("adjoint", 16)] == rk4[("adjoint", 1)]  # O(1): the same bytes at any depth


def test_profile_writes_the_usual_folder_and_a_summary(profiled: tuple[Path, str]) -> None:
    folder, stdout = profiled
    for name in ("results.csv", "provenance.json", "report.html", "report.md", "target.py"):
        assert (folder / name).is_file(), name
    assert "per rk4 step" in stdout
    assert "measured: the adjoint saves" in stdout
    df = pd.read_csv(folder / "results.csv")
    assert (df["status"] == "ok").all()
    assert {"backprop", "adjoint"} <= set(df["gradient"])
    assert df["seminorm"].astype(str).eq("True").any()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my_fields.py:wrong_shape", "dy/dt must have the state's shape"),
        ("my_fields.py:closure", "nn.Module"),
        ("my_fields.py:missing", "has no function 'missing'"),
        ("my_fields.py", "not MODULE:FUNCTION"),
        ("no_such_module:f", "no module named"),
    ],
)
def test_a_bad_target_gets_one_line_naming_the_fix(
    tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "my_fields.py").write_text(FIELD)
    done = _profile(tmp_path, target, "--y0-shape", "4,64", "--out", "out")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_the_readme_example_is_the_shipped_example_file() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme.split("## Profile your own model", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == (EXAMPLES / "my_field.py").read_text()
    assert "odebench profile examples/my_field.py:make_field --y0-shape 128,64" in section


def test_a_profiled_field_is_the_same_field_in_the_case_and_its_reference() -> None:
    # register() builds the field afresh per call; the reference must solve the case's ODE,
    # so the state error falls with the tolerance (it read 0.369 at every tolerance before)
    import torch

    from odebench.benchmark.cases import Case
    from odebench.benchmark.measure import measure
    from odebench.experiments.profile import Target, register
    from odebench.workloads.problems import get_problem

    target = Target(spec=f"{EXAMPLES / 'my_field.py'}:make_field", y0_shape=(4, 64))
    name = register(target)
    problem = get_problem(name)
    a, b = problem.field(), problem.field()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    errors = {
        rtol: measure(Case(problem=name, method="dopri5", rtol=rtol, atol=rtol, dtype="float64",
                           meters=("nfe", "error")))["state_error"]  # fmt: skip
        for rtol in (1e-3, 1e-9)
    }
    assert errors[1e-9] < 1e-7
    assert errors[1e-9] < errors[1e-3]


def test_every_figure_of_a_profile_run_is_legible(profiled: tuple[Path, str]) -> None:
    import matplotlib.pyplot as plt

    from odebench.reading.plots import PLOTS, gradient_frontier, theme
    from odebench.reading.plots.legibility import legibility_problems
    from odebench.reading.plots.style import SAVE_DPI
    from odebench.running.results import read_results

    df = read_results(profiled[0])
    failures = {}
    with theme():
        figures = {name: plot(df) for name, plot in PLOTS.items()}
        figures.update(gradient_frontier(df))
        drawn = {name: fig for name, fig in figures.items() if fig is not None}
        for name, fig in drawn.items():
            problems = legibility_problems(fig, dpi=SAVE_DPI)
            plt.close(fig)
            if problems:
                failures[name] = problems[:5]
    assert "time_vs_batch" in drawn and failures == {}
