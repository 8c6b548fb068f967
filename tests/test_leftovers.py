"""A figure never depends on what ran before it: what one case leaves in reference cycles is
freed before the next case runs, and a solve makes no cycle of its own."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from odebench.benchmark import measure as measure_module
from odebench.benchmark.cases import Case
from odebench.running import execute as execute_module


class _Sentinel:
    pass


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """Only explicit collections run: what is freed is freed by the code under test."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def test_a_cycle_left_by_one_case_is_freed_before_the_next_case_runs(
    monkeypatch: pytest.MonkeyPatch, no_automatic_collection: None
) -> None:
    seen: dict[str, object] = {}

    def fake_measure(case: Case) -> dict[str, object]:
        if "left" not in seen:
            cycle: list[object] = [_Sentinel()]
            cycle.append(cycle)  # unreachable after return, freed only by the collector
            seen["left"] = weakref.ref(cycle[0])
        else:
            seen["alive_at_next_start"] = seen["left"]() is not None  # type: ignore[operator]
        return {}

    monkeypatch.setattr(measure_module, "measure", fake_measure)
    case = Case(problem="harmonic_oscillator", meters=("nfe",))
    assert execute_module.execute(case)["status"] == "ok"
    assert seen["left"]() is not None  # type: ignore[operator]  # no collection ran yet
    assert execute_module.execute(case)["status"] == "ok"
    assert seen["alive_at_next_start"] is False


def test_measuring_a_solve_leaves_no_reference_cycle(no_automatic_collection: None) -> None:
    """The counter and its shape-checking wrapper, and a workload and its loss, used to hold
    each other: every case's field and graph waited for the cyclic collector."""
    case = Case(problem="spiral_trained", method="dopri5", rtol=1e-5, atol=1e-5,
                dtype="float64", meters=("time",), timed_passes=3)  # fmt: skip
    measure_module.measure(case)  # warm: first-use caches are not garbage
    gc.collect()
    measure_module.measure(case)
    assert gc.collect() == 0
