"""asv's parameters come from the ``bench`` suites: every combination asv shows is a case."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import pytest

from odebench.benchmark.cases import Case
from odebench.benchmark.suites import get_suite

BENCHES = Path(__file__).resolve().parents[2] / "benches" / "bench_odebench.py"


def _load(monkeypatch: pytest.MonkeyPatch, slow: bool) -> ModuleType:
    """The asv module as asv imports it, with or without the slow set."""
    monkeypatch.setenv("ODEBENCH_ASV_SLOW", "1" if slow else "0")
    spec = importlib.util.spec_from_file_location("bench_odebench_under_test", BENCHES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("slow", "suite"), [(False, "bench"), (True, "bench_slow")])
def test_every_parameter_combination_is_a_case_and_every_case_has_one(
    monkeypatch: pytest.MonkeyPatch, slow: bool, suite: str
) -> None:
    module = _load(monkeypatch, slow)
    covered: set[str] = set()
    for cls in module.FAMILIES:
        combos = list(itertools.product(*cls.params))
        assert sorted(combos, key=repr) == sorted(cls.cases, key=repr), (
            f"{cls.__name__}: asv would show n/a rows for {set(combos) - set(cls.cases)}"
        )
        covered |= {c.case_id for c in cls.cases.values()}
    assert covered == {c.case_id for c in get_suite(suite)}


def test_a_family_that_is_not_a_product_gets_one_case_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = _load(monkeypatch, False)
    base = {"problem": "mlp", "method": "rk4", "batch": 32}
    family = [
        Case(**base, gradient="backprop", steps=2),
        Case(**base, gradient="backprop", steps=8),
        Case(**base, gradient="adjoint", steps=2),
    ]
    names, params, lookup = module.derive_params(family, ("gradient", "steps"))
    # {backprop, adjoint} x {2, 8} has four combinations; three are cases: asv would show n/a
    assert names == ["case"]
    assert params == [["backprop-n2", "backprop-n8", "adjoint-n2"]]
    assert lookup[("adjoint-n2",)] is family[2]
    names, params, _ = module.derive_params(family[:2], ("gradient", "steps"))
    assert (names, params) == (["gradient", "steps"], [["backprop"], [2, 8]])
