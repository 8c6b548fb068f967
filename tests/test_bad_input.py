"""Every bad input gets one line naming the fix, a non-zero exit, no traceback, no file changed.

Each entry is a command line (``{tmp}`` is the test's folder, which holds an earlier run in
``run/``, a file, and the suite files below) and a fragment of the message that says what
to do. The count of entries is the count quoted in issue 11's closing note.
"""

import csv
from pathlib import Path

import pytest
import torch

from odebench.benchmark.suites import get_suite
from odebench.cli import main
from odebench.running.results import append_record, case_columns

GRID = '[[grid]]\nproblem = "exponential_decay"\nmethod = "rk4"\nsteps = 2\nmeters = ["nfe"]\n'
SUITES: dict[str, str | bytes] = {
    "latin1.toml": b'[suite]\nname = "caf\xe9"\n',
    "syntax.toml": "[[grid]\nproblem = ",
    "grid_table.toml": GRID.replace("[[grid]]", "[grid]"),
    "top_suite.toml": 'suite = "x"\n' + GRID,
    "meters_str.toml": GRID.replace('meters = ["nfe"]', 'meters = "nfe"'),
    "seed_str.toml": GRID + 'seed = "a"\n',
    "steps_zero.toml": GRID.replace("steps = 2", "steps = 0"),
    "steps_float.toml": GRID.replace("steps = 2", "steps = 2.5"),
    "rtol_neg.toml": GRID.replace('method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = -1.0'),
    "rtol_inf.toml": GRID.replace('method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = inf'),
    "rtol_bool.toml": GRID.replace('method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = true'),
    "empty_list.toml": GRID + "gradient = []\n",
    "duplicate.toml": GRID + GRID,
    "duplicate_values.toml": GRID + 'gradient = ["adjoint", "adjoint"]\n',
    "typo.toml": GRID + "stpes = 4\n",
    "top_unknown.toml": "cases = 3\n" + GRID,
    "no_grid.toml": '[suite]\nname = "x"\n',
    "unknown_problem.toml": GRID.replace("exponential_decay", "no_such_problem"),
    "problems_int.toml": "problems = 5\n" + GRID,
    "problems_missing.toml": 'problems = ["no_such_module_xyz"]\n' + GRID,
    "name_int.toml": "[suite]\nname = 5\n" + GRID,
    "name_slash.toml": '[suite]\nname = "a/b"\n' + GRID,
    "depth_problem.toml": GRID + "depth = 3\n",
    "batch_zero.toml": GRID.replace("exponential_decay", "mlp_small") + "batch = 0\n",
    "method_unknown.toml": GRID.replace("rk4", "rk5"),
    "meters_unknown.toml": GRID.replace('["nfe"]', '["nfe", "flops"]'),
    "dtype_unknown.toml": GRID + 'dtype = "float16"\n',
    "model_and_problem.toml": GRID + 'model = "resnet"\n',
    "passes_untimed.toml": GRID + "timed_passes = 5\n",
    "weights_missing.toml": '[[grid]]\nmodel = "odenet"\nmethod = "dopri5"\nrtol = 1e-3\n'
    'weights = "missing.pt"\nmeters = ["nfe"]\n',
    "nested.toml": GRID + "[grid.x]\na = 1\n",
    "meters_int.toml": GRID.replace('["nfe"]', "[1, 2]"),
    "problem_mixed.toml": GRID.replace('"exponential_decay"', '["exponential_decay", 1]'),
    "name_empty.toml": '[suite]\nname = ""\n' + GRID,
    "seed_neg.toml": GRID + "seed = -1\n",
    "step_size_zero.toml": GRID.replace("steps = 2", "step_size = 0.0"),
    "steps_and_step_size.toml": GRID + "step_size = 0.5\n",
    "device_tpu.toml": GRID + 'device = "tpu"\n',
    "gradient_typo.toml": GRID + 'gradient = "adjiont"\n',
    "backend_unknown.toml": GRID + 'backend = "jax"\n',
    "seminorm_backprop.toml": GRID.replace(
        'method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = 1e-3'
    )
    + "seminorm = true\n",
    "rtol_fixed_grid.toml": GRID + "rtol = 1e-3\n",
    "empty.toml": "",
    "other.toml": '[suite]\nname = "other"\n' + GRID,
    # issue 25 item 7: accepted, then failed late or ignored
    "steps_huge.toml": GRID.replace("steps = 2", "steps = 18446744073709551617"),
    "steps_days.toml": GRID.replace("steps = 2", "steps = 10000000000"),
    "tol_tiny.toml": GRID.replace('method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = 1e-300')
    + "atol = 1e-300\n",
    "tol_below_float64.toml": GRID.replace(
        'method = "rk4"\nsteps = 2', 'method = "dopri5"\nrtol = 1e-30'
    )
    + 'atol = 1e-30\ndtype = "float64"\n',
    "method_resnet.toml": '[[grid]]\nmodel = "resnet"\ndepth = 2\nmethod = "rk4"\n'
    'meters = ["nfe"]\n',
    "device_cuda.toml": GRID + 'device = "cuda"\n',
    "bom.toml": b"\xef\xbb\xbf" + GRID.encode(),
    "atol_tied_alone.toml": GRID.replace('method = "rk4"\nsteps = 2', 'method = "dopri5"')
    + 'atol = "rtol"\n',
}
RUN = ["run", "--executor", "inline", "--quiet", "--no-report"]
NEW = ["--out", "{tmp}/new"]

BAD: list[tuple[str, list[str], str]] = [
    # an experiment's options
    ("table1 models empty", ["table1", "--models", "", "--out", "{tmp}/t1"], "comma-separated"),
    # run options
    ("repeats 0", [*RUN, "--suite", "smoke", *NEW, "--repeats", "0"], ">= 1"),
    ("repeats -1", [*RUN, "--suite", "smoke", *NEW, "--repeats", "-1"], ">= 1"),
    ("repeats text", [*RUN, "--suite", "smoke", *NEW, "--repeats", "two"], "whole number"),
    ("timeout 0", [*RUN, "--suite", "smoke", *NEW, "--timeout", "0"], "> 0"),
    ("timeout -5", [*RUN, "--suite", "smoke", *NEW, "--timeout", "-5"], "> 0"),
    ("timeout nan", [*RUN, "--suite", "smoke", *NEW, "--timeout", "nan"], "finite"),
    ("timeout inf", [*RUN, "--suite", "smoke", *NEW, "--timeout", "inf"], "finite"),
    ("threads 0", [*RUN, "--suite", "smoke", *NEW, "--threads", "0"], ">= 1"),
    ("threads -1", [*RUN, "--suite", "smoke", *NEW, "--threads", "-1"], ">= 1"),
    ("device gpu", [*RUN, "--suite", "smoke", *NEW, "--device", "gpu"], "use cpu, cuda"),
    ("device cuda absent", [*RUN, "--suite", "smoke", *NEW, "--device", "cuda"], "--device cpu"),
    ("unknown suite", [*RUN, "--suite", "nope", *NEW], "choose one of: quick"),
    ("repeats float", [*RUN, "--suite", "smoke", *NEW, "--repeats", "1e3"], "whole number"),
    ("device cuda:0x", [*RUN, "--suite", "smoke", *NEW, "--device", "cuda:0x"], "cuda:N"),
    ("empty match", [*RUN, "--suite", "smoke", *NEW, "--match", ""], "give some text"),
    ("match nothing", [*RUN, "--suite", "smoke", *NEW, "--match", "zzz"], "odebench list"),
    ("bad executor", [*RUN[:1], "--executor", "cloud", "--suite", "smoke"], "choose from"),
    (
        "partition w/o slurm",
        [*RUN, "--suite", "smoke", *NEW, "--slurm-partition", "p"],
        "--executor slurm",
    ),  # fmt: skip
    (
        "resume and force",
        [*RUN, "--suite", "smoke", *NEW, "--resume", "--force"],
        "not allowed with",
    ),  # fmt: skip
    ("unknown flag", [*RUN, "--suite", "smoke", "--bogus"], "unrecognized arguments"),
    ("unknown command", ["frobnicate"], "invalid choice"),
    ("empty out", [*RUN, "--suite", "smoke", "--out", ""], "give some text"),
    ("empty suite", [*RUN, "--suite", "", *NEW], "give some text"),
    ("out is a file", [*RUN, "--suite", "smoke", "--out", "{tmp}/file.txt"], "pass a folder"),
    (
        "out under a file",
        [*RUN, "--suite", "smoke", "--out", "{tmp}/file.txt/sub"],
        "pass a folder",
    ),  # fmt: skip
    (
        "out unwritable",
        [*RUN, "--suite", "smoke", "--out", "/proc/odebench-test"],
        "folder you can write",
    ),  # fmt: skip
    (
        "force on a non-results folder",
        [*RUN, "--suite", "smoke", "--out", "{tmp}", "--force"],
        "pass --out a new folder",
    ),  # fmt: skip
    (
        "resume a folder whose results.csv is a folder",
        [*RUN, "--suite", "smoke", "--out", "{tmp}/dircsv", "--resume"],
        "is not a file",
    ),  # fmt: skip
    (
        "resume binary results",
        [*RUN, "--suite", "smoke", "--out", "{tmp}/binrun", "--resume"],
        "--out NEW_FOLDER",
    ),  # fmt: skip
    ("out holds a run", [*RUN, "--suite", "smoke", "--out", "{tmp}/run"], "--resume"),
    (
        "resume another suite",
        [*RUN, "--suite", "{tmp}/other.toml", "--out", "{tmp}/run", "--resume"],
        "resume only the suite",
    ),  # fmt: skip
    (
        "resume other columns",
        [*RUN, "--suite", "smoke", "--out", "{tmp}/oldcols", "--resume"],
        "--out NEW_FOLDER",
    ),  # fmt: skip
    (
        "import missing",
        [*RUN, "--suite", "smoke", *NEW, "--import", "no_such_module_xyz"],
        "PYTHONPATH",
    ),  # fmt: skip
    (
        "import raising",
        [*RUN, "--suite", "smoke", *NEW, "--import", "{tmp}/raising.py"],
        "fix the module",
    ),  # fmt: skip
    ("import empty", [*RUN, "--suite", "smoke", *NEW, "--import", ""], "module name"),
    ("import bad name", [*RUN, "--suite", "smoke", *NEW, "--import", "bad name!"], ".py file"),
    (
        "import missing file",
        [*RUN, "--suite", "smoke", *NEW, "--import", "{tmp}/nope.py"],
        "not found",
    ),  # fmt: skip
    # suite files
    ("toml missing", [*RUN, "--suite", "{tmp}/missing.toml", *NEW], "not found"),
    ("toml directory", [*RUN, "--suite", "{tmp}/folder.toml", *NEW], "not a file"),
    *[
        (f"toml {name}", [*RUN, "--suite", f"{{tmp}}/{name}", *NEW], fix)
        for name, fix in [
            ("latin1.toml", "save it as UTF-8"),
            ("syntax.toml", "not valid TOML"),
            ("grid_table.toml", "write [[grid]]"),
            ("top_suite.toml", "write [suite]"),
            ("meters_str.toml", 'meters = ["nfe"'),
            ("seed_str.toml", "seed must be an integer"),
            ("steps_zero.toml", "steps must be >= 1"),
            ("steps_float.toml", "steps must be an integer"),
            ("rtol_neg.toml", "rtol must be > 0"),
            ("rtol_inf.toml", "rtol must be finite"),
            ("rtol_bool.toml", "rtol must be a number"),
            ("empty_list.toml", "at least one value"),
            ("duplicate.toml", "remove the duplicate"),
            ("duplicate_values.toml", "remove the duplicate"),
            ("typo.toml", "Did you mean 'steps'"),
            ("top_unknown.toml", "Valid keys: problems, suite, grid"),
            ("no_grid.toml", "add one naming a problem"),
            ("unknown_problem.toml", "register your own"),
            ("problems_int.toml", "problems = ["),
            ("problems_missing.toml", "PYTHONPATH"),
            ("name_int.toml", "name is a text"),
            ("name_slash.toml", "letters, digits"),
            ("depth_problem.toml", "only with model='resnet'"),
            ("batch_zero.toml", "batch must be >= 1"),
            ("method_unknown.toml", "rk4"),
            ("meters_unknown.toml", "choose from"),
            ("dtype_unknown.toml", "float32"),
            ("model_and_problem.toml", "exactly one of"),
            ("passes_untimed.toml", "add it to meters or drop timed_passes"),
            ("weights_missing.toml", "train it first or fix the path"),
            ("nested.toml", "unknown key 'x'"),
            ("meters_int.toml", 'meters = ["nfe"'),
            ("problem_mixed.toml", "problem is a text in quotes"),
            ("name_empty.toml", "letters, digits"),
            ("seed_neg.toml", "seed must be >= 0"),
            ("step_size_zero.toml", "step_size must be > 0"),
            ("steps_and_step_size.toml", "needs exactly one of steps"),
            ("device_tpu.toml", "use 'cpu' or 'cuda'"),
            ("gradient_typo.toml", "backprop"),
            ("backend_unknown.toml", "choose one of: torchdiffeq"),
            ("seminorm_backprop.toml", "need gradient='adjoint'"),
            ("rtol_fixed_grid.toml", "rtol/atol do nothing"),
            ("empty.toml", "add one naming a problem"),
            ("steps_huge.toml", "does not fit in 64 bits"),
            ("steps_days.toml", "give fewer steps"),
            ("tol_tiny.toml", "Loosen the tolerance"),
            ("tol_below_float64.toml", "resolution (eps 2.2e-16)"),
            ("method_resnet.toml", "drop it"),
            ("device_cuda.toml", 'set device = "cpu"'),
            ("bom.toml", "without BOM"),
            ("atol_tied_alone.toml", "give rtol too"),
        ]
    ],
    # results tables edited by hand or written by something else (issue 25 item 5)
    ("report text in a number column", ["report", "--results", "{tmp}/textnum"], "not a number"),
    ("plot text in a number column", ["plot", "--results", "{tmp}/textnum"], "not a number"),
    ("report unknown status", ["report", "--results", "{tmp}/badstatus"], "not one of ok"),
    ("plot unknown status", ["plot", "--results", "{tmp}/badstatus"], "not one of ok"),
    (
        "resume a text repeat",
        [*RUN, "--suite", "smoke", "--out", "{tmp}/textrepeat", "--resume"],
        "column repeat",
    ),  # fmt: skip
    ("profile factory raises", ["profile", "{tmp}/factory.py:make", "--out", "{tmp}/pr"], "boom"),
    ("claims results missing", ["claims", "--results", "{tmp}/nothing"], "not a folder"),
    ("claims results empty", ["claims", "--results", "{tmp}/emptydir"], "holds none"),
    ("claims results a file", ["claims", "--results", "{tmp}/file.txt"], "not a folder"),
    # report, plot, list
    (
        "report out is a file",
        ["report", "--results", "{tmp}/run", "--out", "{tmp}/file.txt"],
        "pass a folder",
    ),  # fmt: skip
    ("report no results", ["report", "--results", "{tmp}/nothing"], "odebench run"),
    ("report not results", ["report", "--results", "{tmp}/log.csv"], "Expected columns"),
    (
        "plot log is results",
        ["plot", "--training-log", "{tmp}/run/results.csv", "--out", "{tmp}/plots"],
        "--results",
    ),  # fmt: skip
    (
        "plot log missing",
        ["plot", "--training-log", "{tmp}/none.csv", "--out", "{tmp}/p"],
        "not found",
    ),  # fmt: skip
    (
        "plot out is a file",
        ["plot", "--results", "{tmp}/run", "--out", "{tmp}/file.txt"],
        "pass a folder",
    ),  # fmt: skip
    (
        "report folder without results",
        ["report", "--results", "{tmp}/dircsv/results.csv"],
        "or pass --results PATH",
    ),  # fmt: skip
    ("plot no results", ["plot", "--results", "{tmp}/nothing"], "odebench run"),
    ("report empty results", ["report", "--results", ""], "give some text"),
    (
        "plot empty log",
        ["plot", "--training-log", "{tmp}/empty.csv", "--out", "{tmp}/p"],
        "pass a log CSV",
    ),  # fmt: skip
    (
        "plot log is binary",
        ["plot", "--training-log", "{tmp}/bin.csv", "--out", "{tmp}/p"],
        "not a training log",
    ),  # fmt: skip
    (
        "report binary results",
        ["report", "--results", "{tmp}/bin.csv", "--out", "{tmp}/r"],
        "not an odebench results file",
    ),  # fmt: skip
    ("list unknown suite", ["list", "--suite", "nope"], "choose one of"),
    ("list bad toml", ["list", "--suite", "{tmp}/grid_table.toml"], "write [[grid]]"),
]


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a default results/ folder would land here
    run = tmp_path / "run"
    for case in get_suite("smoke"):
        append_record(run / "results.csv", {**case_columns(case, 0), "status": "ok"})
    (run / "provenance.json").write_text('{"suite": "smoke"}\n')
    (tmp_path / "oldcols").mkdir()
    (tmp_path / "oldcols" / "results.csv").write_text("suite,case_id,repeat,status\nsmoke,x,0,ok\n")
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "dircsv" / "results.csv").mkdir(parents=True)
    (tmp_path / "binrun").mkdir()
    (tmp_path / "binrun" / "results.csv").write_bytes(b"\x00\xff\xfe garbage\n")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02")
    (tmp_path / "log.csv").write_text("epoch,nfe_forward\n0,26\n")
    (tmp_path / "raising.py").write_text("raise RuntimeError('broken on purpose')\n")
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "factory.py").write_text("def make():\n    raise RuntimeError('boom')\n")
    header, first, *_ = csv.reader((run / "results.csv").open())

    def edited(name: str, column: str, value: str) -> None:
        row = [value if col == column else cell for col, cell in zip(header, first, strict=True)]
        (tmp_path / name).mkdir()
        with (tmp_path / name / "results.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows([header, row])

    edited("textnum", "nfe_forward", "many")
    edited("badstatus", "status", "fine")
    edited("textrepeat", "repeat", "x")
    for name, text in SUITES.items():
        path = tmp_path / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(("argv", "fix"), [(a, f) for _, a, f in BAD], ids=[n for n, _, _ in BAD])
def test_bad_input_gets_one_line_naming_the_fix_and_changes_nothing(
    world: Path, argv: list[str], fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if any("cuda" in a for a in argv) and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = _snapshot(world)
    try:
        code = main([a.replace("{tmp}", str(world)) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured
    assert "Traceback" not in captured.err + captured.out
    assert len(lines) == 1, lines
    assert fix in lines[0], lines[0]
    assert _snapshot(world) == before


def test_the_bad_inputs_are_counted() -> None:
    assert len(BAD) == len({name for name, _, _ in BAD}) == 114
