"""Cases and suites: validation, stable ids, TOML user suites with clear errors."""

from pathlib import Path

import pytest

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.suitefile import load_suite_file
from odebench.benchmark.suites import SUITES, get_suite
from odebench.solvers import SolverConfigError


def test_every_suite_builds_with_unique_case_ids() -> None:
    for name in SUITES:
        cases = get_suite(name)
        assert cases
        assert len({c.case_id for c in cases}) == len(cases)


def test_case_id_is_stable_and_names_what_varies() -> None:
    a = Case(problem="mlp", method="rk4", steps=4, gradient="adjoint")
    b = Case(problem="mlp", method="rk4", steps=4, gradient="adjoint", suite="other")
    assert a.case_id == b.case_id
    assert a.case_id.startswith("mlp-rk4-adjoint-n4-float32-s0-")
    assert a.case_id != a.with_(steps=8).case_id


def test_quick_suite_covers_every_headline_comparison() -> None:
    cases = get_suite("quick")
    memory = [c for c in cases if "saved" in c.meters and c.problem == "mlp"]
    assert {c.gradient for c in memory} == {"backprop", "adjoint"}
    assert len({c.steps for c in memory}) >= 4
    assert {c.rtol for c in cases if c.rtol is not None} >= {1e-3, 1e-5}
    assert {c.model for c in cases} >= {"resnet", "rknet", "odenet"}
    assert any(c.gradient == "adjoint" and "nfe" in c.meters and c.rtol for c in cases)


def test_paper_suite_spans_the_documented_grid() -> None:
    cases = get_suite("paper")
    tols = {c.rtol for c in cases if c.rtol is not None}
    assert min(tols) == pytest.approx(1e-8) and max(tols) == pytest.approx(1e-1)
    assert {c.steps for c in cases if c.problem == "mlp"} >= {1, 256}
    assert {c.depth for c in cases if c.model == "resnet"} >= {1, 24}
    assert {c.seed for c in cases} == {0, 1, 2}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"problem": "nope", "method": "rk4", "steps": 2}, "unknown problem"),
        ({"model": "vgg"}, "unknown model 'vgg'"),
        ({"problem": "mlp", "model": "resnet"}, "exactly one of"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "dtype": "float16"}, "unknown dtype"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "meters": ("flops",)}, "unknown meters"),
    ],
)
def test_bad_cases_name_the_valid_choices(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Case(**kwargs)


def test_bad_solver_in_a_case_fails_with_the_solver_message() -> None:
    with pytest.raises(SolverConfigError, match="needs exactly one of steps"):
        Case(problem="mlp", method="rk4")


def test_unknown_suite_lists_the_suites() -> None:
    with pytest.raises(CaseError, match="unknown suite 'quik'.*quick"):
        get_suite("quik")


def test_toml_suite_expands_the_product_of_its_lists(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[suite]\nname = "mine"\n\n[[grid]]\nproblem = "mlp_small"\nmethod = "rk4"\n'
        'gradient = ["backprop", "adjoint"]\nsteps = [1, 2, 4]\nmeters = ["nfe", "saved"]\n'
    )
    cases = load_suite_file(path)
    assert len(cases) == 6
    assert {c.suite for c in cases} == {"mine"}
    assert all(c.meters == ("nfe", "saved") for c in cases)


def test_toml_typo_suggests_the_right_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('[[grid]]\nproblem = "mlp"\nmethod = "rk4"\nstpes = [1, 2]\n')
    with pytest.raises(CaseError, match="unknown key 'stpes'. Did you mean 'steps'"):
        load_suite_file(path)


def test_toml_that_is_not_toml_or_is_missing_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[grid]\nproblem = ")
    with pytest.raises(CaseError, match="not valid TOML"):
        load_suite_file(bad)
    with pytest.raises(CaseError, match="not found"):
        load_suite_file(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "rknet", "method": "rk4", "steps": 4, "gradient": "adjoint"}, "RK-Net"),
        ({"model": "resnet", "depth": 2, "rtol": 1e-3}, "no ODE solve: drop rtol"),
        ({"model": "mlp", "gradient": "adjoint"}, "no ODE solve"),
        ({"model": "resnet", "depth": 0}, "depth=0"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "weights": "w.pt"}, "model cases"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "meters": "nfe"}, "list of meter"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "timed_passes": 0}, "timed_passes=0"),
        ({"problem": "mlp", "method": "rk4", "steps": 2, "seed": -1}, "seed=-1"),
        ({"model": "mlp", "inputs": "cifar"}, "unknown inputs"),
    ],
)
def test_invalid_combinations_fail_when_the_case_is_built(kwargs: dict, message: str) -> None:
    with pytest.raises(CaseError, match=message):
        Case(**kwargs)


def test_case_ids_are_stable_across_the_field_renames() -> None:
    # the id of a quick-suite case before Case.loss/repeats became reduction/timed_passes
    case = Case(suite="quick", problem="mlp", method="rk4", gradient="backprop", steps=1,
                meters=("nfe", "saved", "peak_alloc", "peak_rss"), timed_passes=1)  # fmt: skip
    assert case.case_id == "mlp-rk4-backprop-n1-float32-s0-ad9abb"  # results/quick, before
