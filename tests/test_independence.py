"""A figure never depends on what ran before it, and the float64 references are exact.

Each test here failed on the code before its fix (issue 9): a case that marked the
registry's own initial state, a CPU peak meter that counted frees of earlier blocks,
a reference read off an interpolant, float32 initial states in float64 cases, and a
model case recorded at a batch it did not run.
"""

from __future__ import annotations

import random

import pytest
import torch

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.measure import build_workload, measure, reference_grads
from odebench.instruments import peak_allocated
from odebench.workloads.problems import get_problem, problem_names, reference_solve
from odebench.workloads.problems.stiff import STIFF_PROBLEMS  # explicit dopri8 takes hours

EXACT_FIGURES = (
    "params", "nfe_forward", "nfe_backward", "saved_bytes", "peak_alloc_bytes",
    "steps_accepted", "steps_rejected", "state_error", "grad_error", "loss",
)  # fmt: skip


def _exact(record: dict) -> dict:
    return {k: record[k] for k in EXACT_FIGURES if k in record}


def test_grad_error_of_a_float64_case_is_the_same_after_a_float32_case() -> None:
    c64 = Case(problem="harmonic_oscillator", dtype="float64", method="dopri5",
               rtol=1e-5, atol=1e-5, meters=("error",))  # fmt: skip
    first = measure(c64)["grad_error"]
    measure(c64.with_(dtype="float32"))
    again = measure(c64)["grad_error"]
    assert again == first
    assert first < 1e-3  # a real error, not the 1.0 of a gradient that never arrived
    assert not get_problem("harmonic_oscillator").y0.requires_grad


def test_a_suite_in_shuffled_order_gives_identical_figures() -> None:
    base = {"timed_passes": 1, "meters": ("nfe", "saved", "peak_alloc", "error")}
    cases = [
        Case(**base, problem="harmonic_oscillator", method="dopri5", rtol=1e-4, atol=1e-4),
        Case(**base, problem="harmonic_oscillator", method="dopri5", rtol=1e-4, atol=1e-4,
             dtype="float64"),
        Case(**base, problem="mlp_small", method="rk4", steps=4, gradient="adjoint"),
        Case(**base, problem="mlp_small", method="rk4", steps=4, dtype="float64"),
        Case(**base, problem="linear_batched", method="bosh3", rtol=1e-5, atol=1e-5,
             reduction="mean"),
    ]  # fmt: skip
    first = {c.case_id: _exact(measure(c)) for c in cases}
    for seed in (1, 2):
        order = cases[:]
        random.Random(seed).shuffle(order)
        assert {c.case_id: _exact(measure(c)) for c in order} == first


def test_cpu_peak_allocated_ignores_frees_of_blocks_allocated_before_the_call() -> None:
    held: list[torch.Tensor] = []
    peak_allocated(lambda: held.append(torch.empty(1 << 20, dtype=torch.uint8)))

    def call() -> None:
        held.clear()  # frees 1 MiB that this call did not allocate
        torch.empty(32768, dtype=torch.uint8)

    assert peak_allocated(call)[0] == 32768


def test_peak_allocated_of_a_case_is_the_same_after_a_different_case() -> None:
    case = Case(problem="mlp", method="rk4", steps=2, gradient="adjoint", meters=("peak_alloc",))
    alone = measure(case)["peak_alloc_bytes"]
    measure(Case(problem="mlp", method="rk4", steps=8, meters=("peak_alloc",)))
    assert measure(case)["peak_alloc_bytes"] == alone
    # above the saved-tensor truth: the adjoint keeps y(t1) and t (128 x 64 floats + 8 bytes)
    assert alone > 128 * 64 * 4


@pytest.mark.parametrize("name", [n for n in problem_names()
                                  if get_problem(n).exact is not None and n not in STIFF_PROBLEMS])
def test_the_float64_reference_matches_exact_solutions_to_1e_12(name: str) -> None:
    p = get_problem(name)
    t = p.times(3)
    ref = reference_solve(p.field(), p.y0, t)
    exact = p.exact(t)
    err = torch.linalg.vector_norm(ref - exact) / torch.linalg.vector_norm(exact)
    assert err < 1e-12, float(err)


def test_the_reference_gradient_matches_the_matrix_exponential_to_1e_12() -> None:
    # L = 0.5 |y(t1)|^2 with y(t1) = E y0, E = expm(A t1): dL/dy0 = E^T E y0, derived by hand
    case = Case(problem="linear_mixed", dtype="float64", method="dopri5", rtol=1e-6, atol=1e-6)
    workload = build_workload(case)
    p = get_problem("linear_mixed")
    a = p.field()(torch.tensor(0.0), torch.eye(4, dtype=torch.float64)).T  # rows of A
    e = torch.linalg.matrix_exp(a * p.t1)
    expected = e.T @ e @ p.y0
    (got,) = reference_grads(case, workload)
    assert torch.linalg.vector_norm(got - expected) / torch.linalg.vector_norm(expected) < 1e-12


def test_problems_keep_float64_initial_states_so_float64_errors_are_not_floored() -> None:
    assert all(get_problem(n).y0.dtype == torch.float64 for n in problem_names())
    case = Case(problem="linear_mixed", dtype="float64", method="rk4", steps=1024,
                meters=("error",))  # fmt: skip
    # rk4's own error at h = 3/1024 is ~6e-11; a float32-rounded y0 floored it at 3.5e-8
    assert measure(case)["state_error"] < 1e-9


def test_a_model_case_records_the_batch_it_runs() -> None:
    assert Case(model="mlp").batch == 128
    with pytest.raises(CaseError, match="batch=0 must be an integer >= 1"):
        Case(model="resnet", depth=1, batch=0)
    workload = build_workload(Case(model="mlp", batch=3))
    assert workload.loss().shape == ()
    rec = measure(Case(model="mlp", batch=3, meters=("saved",)))
    assert rec["saved_bytes"] > 0


def test_inline_local_and_the_api_give_identical_exact_figures(tmp_path) -> None:  # noqa: ANN001
    from odebench.running.results import read_results
    from odebench.running.runner import run_cases

    base = {"timed_passes": 1, "meters": ("nfe", "saved", "peak_alloc", "error")}
    cases = [
        Case(**base, problem="mlp_small", method="rk4", steps=4, gradient="adjoint"),
        Case(**base, problem="harmonic_oscillator", method="dopri5", rtol=1e-4, atol=1e-4,
             dtype="float64"),
        Case(**base, problem="harmonic_oscillator", method="dopri5", rtol=1e-4, atol=1e-4),
    ]  # fmt: skip
    api = {c.case_id: _exact(measure(c)) for c in reversed(cases)}
    for executor in ("inline", "local"):
        path = tmp_path / f"{executor}.csv"
        run_cases(cases, path, executor=executor, progress=False, timeout=300)
        table = read_results(path).set_index("case_id")
        for case in cases:
            row = table.loc[case.case_id]
            got = {k: row[k] for k in api[case.case_id]}
            assert got == pytest.approx(api[case.case_id], rel=0, abs=0), (executor, case)


@pytest.mark.slow
def test_a_model_case_on_mnist_inputs_saves_only_its_own_batch() -> None:
    # the cross entropy saves the batch's labels (int64): 8 labels are 64 B, not the 80,000 B
    # of all 10,000 test labels that a view would keep alive
    rand = measure(Case(model="mlp", batch=8, meters=("saved",)))["saved_bytes"]
    real = measure(Case(model="mlp", batch=8, inputs="mnist", meters=("saved",)))["saved_bytes"]
    assert real == rand
