"""Forward and forward+backward of every ``bench`` case under pytest-benchmark.

Each test times its call (``--benchmark-disable`` runs it once), stores the case's
exact figures in ``benchmark.extra_info`` and asserts them against the committed
baseline: an extra function evaluation or saved tensor fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from odebench.cases import Case
from odebench.measure import build_subject

from .figures import Figures, bench_cases

CASES = bench_cases()


def _record(benchmark, case: Case, figures: Figures) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info.update({"case_id": case.case_id, **figures})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_forward_keeps_baseline_figures(
    benchmark, case: Case, gate: Callable[[Case], Figures]
) -> None:  # type: ignore[no-untyped-def]
    subject = build_subject(case)
    subject.step()  # warm-up
    benchmark(subject.forward)
    _record(benchmark, case, gate(case))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.case_id)
def test_forward_backward_keeps_baseline_figures(
    benchmark, case: Case, gate: Callable[[Case], Figures]
) -> None:  # type: ignore[no-untyped-def]
    subject = build_subject(case)
    subject.step()  # warm-up
    loss = benchmark(subject.step)
    assert loss.isfinite()
    _record(benchmark, case, gate(case))
