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


class Field(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.lin, self.kind = nn.Linear(64, 64), kind

    def forward(self, t, y):
        late = float(t) > 0.5
        if self.kind == "raises" and late:
            raise ValueError("no such time")
        if self.kind == "grows" and late:
            return torch.cat([y, y], dim=-1)
        return self.lin(y).double() if self.kind == "float64" else self.lin(y)


def raises_late():
    return Field("raises")


def grows_late():
    return Field("grows")


def returns_float64():
    return Field("float64")


def sleeps():
    import time

    time.sleep(120)


def factory_raises():
    raise KeyError("no weights file")
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
    # the memory verdict once, in the headline's units: backprop's slope per rk4 step is
    # 8 x batch x 64 float32 values + 4 B (see the module docstring): 16,388 B = 16 KiB
    assert "saved activations: adjoint O(1) in 1 of 1 variants (backprop 16 KiB per step)" in stdout
    assert "per rk4 step" not in stdout  # the memory slope once, not again in MiB
    # the decision first, per loss shape on the user's batch; the details after
    assert stdout.startswith("Which gradient method?")
    assert stdout.index("Which gradient method?") < stdout.index("Details:")
    assert stdout.index("Details:") < stdout.index("per step")
    for loss in ("loss on y(t1)", "loss on 11 output times"):
        assert f"{loss}: use " in stdout, loss
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
        ("my_fields.py:raises_late", "the field Field raised ValueError at t = 0.6667"),
        ("my_fields.py:grows_late", "the field Field returns (2, 128) at t = 0.6667"),
        ("my_fields.py:returns_float64", "returns torch.float64 at t = 0 for a torch.float32"),
        ("my_fields.py:sleeps", "did not finish within --timeout 5 s"),
        ("my_fields.py:factory_raises", "the factory raised KeyError"),
    ],
)
def test_a_bad_target_gets_one_line_naming_the_fix(
    tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "my_fields.py").write_text(FIELD)
    done = _profile(tmp_path, target, "--y0-shape", "4,64", "--out", "out", "--timeout", "5")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_the_documented_example_is_the_shipped_example_file() -> None:
    page = (EXAMPLES.parent / "docs" / "profile.md").read_text()
    block = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == (EXAMPLES / "my_field.py").read_text()
    assert "odebench profile examples/my_field.py:make_field --y0-shape 128,64" in page
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme.split("## Profile your own field", 1)[1]
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


def test_a_float64_field_is_profiled_in_float64_with_both_loss_shapes() -> None:
    import torch

    from odebench.experiments.profile import battery, native_dtype

    y0 = torch.zeros(4, 8)
    assert native_dtype(torch.nn.Linear(8, 8).double(), y0) == "float64"
    assert native_dtype(torch.nn.Linear(8, 8), y0.double()) == "float32"  # the params decide
    assert native_dtype(lambda t, y: y, y0.double()) == "float64"  # no params: y0's
    cases = battery("mlp_small", batch=4, dtype="float64", output_times=5)
    assert {c.dtype for c in cases} == {"float64"}
    graded = [c for c in cases if c.method == "dopri5" and c.batch == 4]
    for mode in ("backprop", "checkpoint", "aca", "adjoint"):
        assert {c.output_times for c in graded if c.gradient == mode} == {2, 5}, mode
    assert {c.batch for c in cases if c.gradient != "" and "error" in c.meters} == {4}


def test_every_figure_of_a_profile_run_is_legible(profiled: tuple[Path, str]) -> None:
    import matplotlib.pyplot as plt

    from odebench.reading.plots import PLOTS, theme
    from odebench.reading.plots.legibility import legibility_problems
    from odebench.reading.plots.style import SAVE_DPI
    from odebench.running.results import read_results

    df = read_results(profiled[0])
    failures = {}
    with theme():
        figures = {name: plot(df) for name, plot in PLOTS.items()}
        # the frontier's rtol labels sit where this run's timings put them (noise on a loaded
        # machine can stack two): its legibility is tested on fixed tables in test_legibility
        drawn = {name: fig for name, fig in figures.items() if fig is not None}
        for name, fig in drawn.items():
            problems = legibility_problems(fig, dpi=SAVE_DPI)
            plt.close(fig)
            if problems:
                failures[name] = problems[:5]
    assert "time_vs_batch" in drawn
    assert failures == {}
