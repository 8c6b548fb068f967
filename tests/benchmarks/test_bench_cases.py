"""Forward and forward+backward of every ``bench`` case under pytest-benchmark, and the gate.

Each timing test times its call (``--benchmark-disable`` runs it once) and stores the
case's exact figures in ``benchmark.extra_info``; one gate test per case asserts those
figures against the committed baseline, so an extra function evaluation or saved tensor
fails once, in ``test_exact_figures_match_the_baseline``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from odebench.benchmark.cases import Case

try:
    from odebench.benchmark.measure import build_workload
except ImportError:  # odebench before the Subject -> Workload rename
    from odebench.benchmark.measure import build_subject as build_workload  # type: ignore[no-redef]

from .figures import Figures, bench_cases

CASES = bench_cases()


def _record(benchmark, case: Case, figures: Figures) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info.update({"case_id": case.case_id, **figures})


def _group(benchmark, case: Case) -> None:  # type: ignore[no-untyped-def]
    """One table per case (its forward and its forward+backward side by side), not one
    table of every benchmark whose ratios compare unrelated cases."""
    benchmark.group = case.case_id


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_exact_figures_match_the_baseline(case: Case, gate: Callable[[Case], Figures]) -> None:
    gate(case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_forward(benchmark, case: Case, figures: Callable[[Case], Figures]) -> None:  # type: ignore[no-untyped-def]
    _group(benchmark, case)
    workload = build_workload(case)
    workload.step()  # warm-up
    benchmark(workload.forward)
    _record(benchmark, case, figures(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_forward_backward(benchmark, case: Case, figures: Callable[[Case], Figures]) -> None:  # type: ignore[no-untyped-def]
    _group(benchmark, case)
    workload = build_workload(case)
    workload.step()  # warm-up
    loss = benchmark(workload.step)
    assert loss.isfinite()
    _record(benchmark, case, figures(case))
