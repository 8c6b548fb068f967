"""Deterministic figures of the ``bench`` cases and their exact check against the baseline.

The figures gated here are exact for a fixed seed on one machine type: parameter counts,
NFE forward/backward, saved-activation bytes and accepted/rejected steps, all from
:func:`odebench.benchmark.measure.measure` with the ``nfe`` and ``saved`` meters on one torch
thread.
Times, peak memory and errors are never gated (they are recorded in the benchmark JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import measure
from odebench.benchmark.suites import get_suite

SUITE = "bench"
BASELINE_PATH = Path(__file__).with_name("baseline.json")
REGEN_COMMAND = "pytest tests/benchmarks --regen-baseline --benchmark-disable"
#: Figures asserted exactly, in the order they are written.
GATED: tuple[str, ...] = (
    "params",
    "nfe_forward",
    "nfe_backward",
    "saved_bytes",
    "steps_accepted",
    "steps_rejected",
)
Figures = dict[str, int]


def bench_cases() -> list[Case]:
    return get_suite(SUITE)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread (figures and timings of a shared 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measured_figures(case: Case) -> Figures:
    """The figures of ``case`` gated exactly against the baseline: all of ``GATED`` that
    :func:`measure` reports for it (nfe and saved meters)."""
    with one_thread():
        rec = measure(case.with_(meters=("nfe", "saved")))
    return {k: int(rec[k]) for k in GATED if k in rec}


def compare_figures(case_id: str, expected: Mapping[str, int] | None, actual: Figures) -> list[str]:
    """Every difference between the baseline's figures and the measured ones; [] if none."""
    if expected is None:
        return [f"{case_id}: not in the baseline; regenerate it with `{REGEN_COMMAND}`"]
    problems = []
    for key in sorted(set(expected) | set(actual), key=_gated_order):
        want, got = expected.get(key), actual.get(key)
        if want != got:
            problems.append(f"{case_id}: {key} is {got}, baseline {want}")
    return problems


def _gated_order(key: str) -> int:
    return GATED.index(key) if key in GATED else len(GATED)


def load_baseline(path: Path = BASELINE_PATH) -> dict[str, Figures]:
    """The committed figures by case id ({} when the file does not exist yet)."""
    if not path.exists():
        return {}
    return {k: dict(v) for k, v in json.loads(path.read_text())["cases"].items()}


def write_baseline(figures: Mapping[str, Figures], path: Path = BASELINE_PATH) -> None:
    """Write the baseline: the given figures, cases in suite order, with provenance."""
    import torchdiffeq

    order = [c.case_id for c in bench_cases()]
    cases = {cid: dict(figures[cid]) for cid in order if cid in figures}
    doc = {
        "about": (
            f"Exact figures of the {SUITE!r} suite gated by tests/benchmarks; "
            f"regenerate deliberately with `{REGEN_COMMAND}`."
        ),
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "cases": cases,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
