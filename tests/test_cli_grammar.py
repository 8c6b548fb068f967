"""One CLI grammar: every option of every subcommand of the front door refuses a bad value in
one line (exit 2) before anything is created, and the cases issue 32 found each fail here."""

from __future__ import annotations

import argparse
import json
from importlib import import_module
from pathlib import Path

import pytest

from odebench.cli.app import build_parser, main

#: The subcommands this grammar covers (compare and profile are checked by their own tests).
OWNED = ("run", "report", "plot", "list", "table1", "spirals", "claims", "weights")

#: Bad values per option type (the type function's __name__); "" and a word for strings.
BAD_BY_TYPE: dict[str, tuple[str, ...]] = {
    "positive_int": ("0", "-1", "nan", "inf", "", "abc", "1.5"),
    "nonnegative_int": ("-1", "nan", "inf", "", "abc", "1.5"),
    "seconds": ("0", "-1", "nan", "inf", "", "abc"),
    "positive_float": ("0", "-1", "nan", "inf", "", "abc"),
    "device": ("", "abc", "-1", "gpu"),
    "nonempty": ("", "   "),
    "budget": ("", "abc", "0", "paper", "long"),
    "_subset": ("0", "-1", "nan", "", "abc"),
    "_fractions": ("", ",", "abc", "-1", "nan", "0.75,0.5"),
    "extra_parameters": ("", ",", "abc", "=x", "mem=", "partition=gpu", "a,,b"),
}
#: comma lists: their items are numbers >= 0 or names, so these are bad for every one of them.
BAD_LIST = ("", ",", "a,,b", "abc", "-1", "nan", "1.5x")
BAD_CHOICE = ("", "abc", "0")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub.choices[name] for name in OWNED}


#: Options checked after parsing, before anything is written (``--import``: by importing).
BAD_BY_DEST: dict[str, tuple[str, ...]] = {"imports": ("", "no_such_module_xyz", "missing.py")}


def _bad_values(action: argparse.Action) -> tuple[str, ...] | None:
    if action.dest in BAD_BY_DEST:
        return BAD_BY_DEST[action.dest]
    if action.choices is not None:
        return BAD_CHOICE
    name = getattr(action.type, "__name__", "")
    if name.startswith("list of"):
        return BAD_LIST
    return BAD_BY_TYPE.get(name)


def _value_options() -> list[tuple[str, argparse.Action]]:
    found = []
    for command, parser in _subparsers().items():
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.help != argparse.SUPPRESS:
                found.append((command, action))
    return found


def test_every_option_that_takes_a_value_is_checked_by_a_type_or_choices():
    unchecked = [f"{c} {a.option_strings[0]}" for c, a in _value_options()
                 if _bad_values(a) is None]  # fmt: skip
    assert not unchecked, f"options without a checking type (add one, and bad values): {unchecked}"


CASES = [(c, a.option_strings[-1], bad) for c, a in _value_options() for bad in _bad_values(a)]


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything that would start work fails the test instead."""
    from importlib import import_module

    names = ("cli.claims", "experiments.spirals.run", "experiments.table1.run", "reading.plots",
             "reading.report", "running.runner")  # fmt: skip
    claims_cli, spirals_run, table1_run, plots, report, runner = (
        import_module(f"odebench.{m}") for m in names
    )

    def started(*_a, **_k):
        raise AssertionError("work started with a bad option value")

    for module, name in ((runner, "run_cases"), (table1_run, "run"), (table1_run, "train_only"),
                         (spirals_run, "run_table2"), (claims_cli, "write_claims"),
                         (claims_cli, "measure"), (report, "write_report"),
                         (plots, "write_plots")):  # fmt: skip
        monkeypatch.setattr(module, name, started)


@pytest.mark.parametrize(("command", "option", "bad"), CASES,
                         ids=[f"{c} {o} {b!r}" for c, o, b in CASES])  # fmt: skip
def test_a_bad_value_is_refused_in_one_line_before_anything_is_created(
    command, option, bad, tmp_path, monkeypatch, capsys, no_work
):
    monkeypatch.chdir(tmp_path)
    assert "error" in _refused([command, f"{option}={bad}"], capsys)
    assert list(tmp_path.iterdir()) == []


# --- the cases of the issue, each a failure of the code before it --------------------------


def _refused(argv: list[str], capsys) -> str:
    """The one line a command refuses ``argv`` with (exit 2, by argparse or by the command)."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(("argv", "says"), [
    (["table1", "--train-subset", "0"], "'all' for every image"),  # was: all 60,000 images
    (["table1", "--train-subset", "abc"], "not a number of images"),  # was: invalid _subset
    (["table1", "--seed", "-1"], "whole number >= 0"),  # was: accepted
    (["table1", "--threads", "0"], "below 1"),  # was: a traceback
    (["table1", "--budget", "paper"], "pass --budget full"),
    (["table1", "--trained-from", "x"], "--trained-from is now --results"),
    (["table1", "--models", "mlp vgg"], "not one of"),
    (["spirals", "--lr", "nan"], "finite number > 0"),  # was: 27 models trained to nan
    (["spirals", "--budget", "long"], "pass --budget full"),
    (["spirals", "--workers", "2"], "--workers is now --jobs"),
    (["spirals", "--rescore-from", "x"], "--rescore-from is now --results"),
    (["spirals", "--seeds", "0", "1"], "lists are comma-separated"),  # was: 0 1 accepted
])  # fmt: skip
def test_the_issues_bad_values_are_refused_with_the_fix(argv, says, tmp_path, monkeypatch,
                                                        capsys, no_work):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert says in _refused(argv, capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_fixed_grid_method_without_steps_names_the_flag_not_toml_words(
    tmp_path, monkeypatch, capsys, no_work
):
    monkeypatch.chdir(tmp_path)
    err = _refused(["spirals", "--method", "rk4"], capsys)
    assert "--steps N" in err and "steps=N" not in err and "rtol" not in err
    err = _refused(["spirals", "--method", "rk4", "--steps", "10", "--atol", "1e-3"], capsys)
    assert "--atol applies only to adaptive methods" in err
    err = _refused(["spirals", "--steps", "10"], capsys)
    assert "--steps applies only to fixed-grid methods" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", OWNED)
def test_help_is_plain_text_and_lists_every_choice(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":mod:" not in text and ":class:" not in text
    for action in _subparsers()[command]._actions:
        for choice in action.choices or ():
            assert str(choice) in text


def test_budgets_have_the_same_three_names_wherever_there_is_a_budget(capsys):
    for command in ("table1", "spirals"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--budget {quick,default,full}" in capsys.readouterr().out


def test_run_help_names_every_built_in_suite(capsys):
    from odebench.benchmark.suites import SUITES

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"{name}," in text for name in SUITES)


def test_list_shows_suites_problems_methods_gradient_modes_and_backends(capsys):
    from odebench.solvers import BACKENDS, GRADIENTS

    assert main(["list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"suite", "problem", "method", "gradient", "backend"}
    assert {r["name"] for r in rows if r["kind"] == "gradient"} == set(GRADIENTS)
    assert {r["name"] for r in rows if r["kind"] == "backend"} == set(BACKENDS)
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "gradient modes" in text and "adjoint_joint" in text and "scipy_odeint" in text


def _results_folder(tmp_path: Path) -> Path:
    """A results folder with a report and one figure already in it."""
    folder = tmp_path / "run"
    (folder / "plots").mkdir(parents=True)
    (folder / "results.csv").write_text("suite,case_id\n")
    for name in ("report.md", "report.html", "plots/nfe.png"):
        (folder / name).write_text("earlier")
    return folder


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_and_plot_refuse_to_replace_outputs_without_force(command, tmp_path, capsys,
                                                                 monkeypatch, no_work):  # fmt: skip
    folder = _results_folder(tmp_path)
    err = _refused([command, "--results", str(folder)], capsys)
    assert "already exist" in err and "--force" in err
    assert (folder / "report.md").read_text() == (folder / "plots/nfe.png").read_text() == "earlier"
    written = []
    from importlib import import_module

    plots = import_module("odebench.reading.plots")
    report = import_module("odebench.reading.report")
    monkeypatch.setattr(report, "write_report", lambda *a, **k: written.append(a) or [])
    monkeypatch.setattr(plots, "write_plots", lambda *a, **k: written.append(a) or [])
    main([command, "--results", str(folder), "--force"])
    assert len(written) == 1  # with --force it writes


def test_claims_refuses_to_replace_a_ledger_without_force(tmp_path, capsys, no_work):
    (tmp_path / "claims.md").write_text("earlier")
    err = _refused(["claims", "--results", str(tmp_path)], capsys)
    assert "--force" in err and (tmp_path / "claims.md").read_text() == "earlier"


def test_table1_format_json_puts_only_the_table_on_stdout(tmp_path, monkeypatch, capsys):
    import pandas as pd

    table1_run = import_module("odebench.experiments.table1.run")
    out = tmp_path / "t1"

    def fake_run(cfg, data, **kwargs):
        out.mkdir(parents=True)
        (out / "results.csv").write_text("case_id,repeat,status\nodenet-a,0,ok\n")
        return pd.DataFrame({"model": ["odenet"], "test_error": [0.01], "params": [7],
                             "nfe_forward": [20], "nfe_backward": [26]})  # fmt: skip

    monkeypatch.setattr(table1_run, "run", fake_run)
    monkeypatch.setattr("odebench.cli.table1.load_mnist", lambda root: None)
    assert main(["table1", "--out", str(out), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [{"model": "odenet", "test_error": 0.01, "params": 7,
                                         "nfe_forward": 20, "nfe_backward": 26}]  # fmt: skip
    assert "wrote" in captured.err
