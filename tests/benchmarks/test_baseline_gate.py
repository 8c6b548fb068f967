"""The baseline gate catches what it exists to catch: an extra evaluation or saved tensor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchdiffeq._impl.fixed_grid import RK4

from odebench.benchmark.cases import Case
from odebench.workloads.problems import MLPField

from .figures import (
    REGEN_COMMAND,
    Figures,
    bench_cases,
    compare_figures,
    measured_figures,
)


def _rk4_case(gradient: str) -> Case:
    (case,) = [
        c
        for c in bench_cases()
        if c.problem == "mlp" and c.method == "rk4" and c.gradient == gradient and c.steps == 2
    ]
    return case


def test_baseline_lists_exactly_the_bench_cases(committed_baseline: dict[str, Figures]) -> None:
    assert list(committed_baseline) == [c.case_id for c in bench_cases()], (
        f"the bench suite changed: regenerate the baseline with `{REGEN_COMMAND}`"
    )


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_one_extra_evaluation_per_rk4_step_fails_the_gate(
    gradient: str, monkeypatch: pytest.MonkeyPatch, committed_baseline: dict[str, Figures]
) -> None:
    case = _rk4_case(gradient)
    expected = committed_baseline[case.case_id]
    assert compare_figures(case.case_id, expected, measured_figures(case)) == []

    step = RK4._step_func

    def step_with_an_extra_call(self, func, t0, dt, t1, y0):  # type: ignore[no-untyped-def]
        func(t0, y0)  # the regression: one more evaluation of the field per step
        return step(self, func, t0, dt, t1, y0)

    monkeypatch.setattr(RK4, "_step_func", step_with_an_extra_call)
    actual = measured_figures(case)
    problems = compare_figures(case.case_id, expected, actual)

    assert actual["nfe_forward"] == expected["nfe_forward"] + case.steps
    assert f"{case.case_id}: nfe_forward is {actual['nfe_forward']}, baseline " in "\n".join(
        problems
    )
    if gradient == "adjoint":  # the reverse solve steps with rk4 too
        assert actual["nfe_backward"] == expected["nfe_backward"] + case.steps


def test_an_extra_saved_tensor_fails_the_gate(
    monkeypatch: pytest.MonkeyPatch, committed_baseline: dict[str, Figures]
) -> None:
    case = _rk4_case("backprop")
    expected = committed_baseline[case.case_id]
    # the field itself saves one more tensor per evaluation (odebench calls the inner field
    # directly, not the counter's forward: the defect is planted where a user's would be)
    forward: Callable[..., torch.Tensor] = MLPField.forward

    def forward_saving_one_more(self, t, y):  # type: ignore[no-untyped-def]
        out = forward(self, t, y)
        return out * torch.ones_like(out)  # mul saves its other operand for backward

    monkeypatch.setattr(MLPField, "forward", forward_saving_one_more)
    actual = measured_figures(case)
    problems = compare_figures(case.case_id, expected, actual)

    assert actual["nfe_forward"] == expected["nfe_forward"]
    assert actual["saved_bytes"] > expected["saved_bytes"]
    assert [p.split(" is ")[0] for p in problems] == [f"{case.case_id}: saved_bytes"]


def test_a_case_missing_from_the_baseline_asks_for_regeneration() -> None:
    figures: Figures = {"params": 1}
    assert compare_figures("new-case", None, figures) == [
        f"new-case: not in the baseline; regenerate it with `{REGEN_COMMAND}`"
    ]
