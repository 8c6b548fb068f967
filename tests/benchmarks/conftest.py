"""Fixtures of the benchmark tests: the baseline gate and ``--regen-baseline``.

(One torch thread per test comes from ``tests/conftest.py``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from odebench.benchmark.cases import Case

from .figures import (
    BASELINE_PATH,
    REGEN_COMMAND,
    Figures,
    compare_figures,
    load_baseline,
    measured_figures,
    write_baseline,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-baseline",
        action="store_true",
        default=False,
        help=f"rewrite {BASELINE_PATH.name} from the measured figures instead of checking them",
    )


@pytest.fixture(scope="session")
def _figure_cache() -> dict[str, Figures]:
    return {}


@pytest.fixture(scope="session")
def baseline(request: pytest.FixtureRequest) -> Iterator[dict[str, Figures]]:
    """The committed figures; with ``--regen-baseline``, written back at the end of the session."""
    figures = load_baseline()
    yield figures
    if request.config.getoption("--regen-baseline"):
        from .figures import bench_cases

        known = {c.case_id for c in bench_cases()}
        write_baseline({k: v for k, v in figures.items() if k in known})


@pytest.fixture
def committed_baseline(request: pytest.FixtureRequest) -> dict[str, Figures]:
    """The baseline file as committed; tests of the gate itself skip while it is rewritten."""
    if request.config.getoption("--regen-baseline"):
        pytest.skip("--regen-baseline: the baseline is being rewritten")
    return load_baseline()


@pytest.fixture
def figures(
    request: pytest.FixtureRequest,
    baseline: dict[str, Figures],
    _figure_cache: dict[str, Figures],
) -> Callable[[Case], Figures]:
    """``figures(case)``: the case's exact figures, measured once per case and session.

    With ``--regen-baseline`` they also replace the baseline's entry.
    """
    regen = request.config.getoption("--regen-baseline")

    def get(case: Case) -> Figures:
        cid = case.case_id
        if cid not in _figure_cache:
            _figure_cache[cid] = measured_figures(case)
        if regen:
            baseline[cid] = _figure_cache[cid]
        return _figure_cache[cid]

    return get


@pytest.fixture
def gate(
    request: pytest.FixtureRequest,
    baseline: dict[str, Figures],
    figures: Callable[[Case], Figures],
) -> Callable[[Case], Figures]:
    """``gate(case)``: assert the case's exact figures against the baseline (once per case:
    only the gate test calls it, so a mismatch is reported once). Returns the figures."""
    regen = request.config.getoption("--regen-baseline")

    def check(case: Case) -> Figures:
        measured = figures(case)
        if regen:
            return measured
        problems = compare_figures(case.case_id, baseline.get(case.case_id), measured)
        assert not problems, "\n".join(
            problems + [f"if the change is intended, regenerate the baseline: `{REGEN_COMMAND}`"]
        )
        return measured

    return check
