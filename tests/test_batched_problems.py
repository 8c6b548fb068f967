"""Independent problems in one batch: per-sample stepping (torchode) gives each sample the
answer it gets alone; one shared step size (torchdiffeq) makes it depend on its batch-mates,
and the suite measures by how much."""

import torch

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import build_workload
from odebench.benchmark.solo import alone
from odebench.running.execute import execute
from odebench.solvers import SolverConfig, solve
from odebench.workloads.problems import get_problem
from odebench.workloads.problems.batched import MU_RANGE

BASE = {"problem": "vdp_batched", "dtype": "float64", "method": "dopri5", "rtol": 1e-5,
        "atol": 1e-5, "meters": ("nfe",), "batch": 8, "max_steps": 100_000}  # fmt: skip


def test_a_sample_is_the_same_oscillator_in_every_batch_size() -> None:
    small, large = get_problem("vdp_batched", batch=4), get_problem("vdp_batched", batch=32)
    torch.testing.assert_close(large.y0[:4], small.y0)
    torch.testing.assert_close(large.mu[:4], small.mu)
    assert float(large.mu.min()) >= MU_RANGE[0] and float(large.mu.max()) <= MU_RANGE[1]
    assert get_problem("vdp_batched", batch=4, seed=1).y0.ne(small.y0).all()


def test_the_batched_field_is_each_oscillator_by_hand() -> None:
    problem = get_problem("vdp_batched", batch=3)
    y = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-1.0, 1.0]], dtype=torch.float64)
    out = problem.field()(torch.tensor(0.0), y)
    mu = problem.mu
    expected = torch.stack([y[:, 1], mu * (1 - y[:, 0] ** 2) * y[:, 1] - y[:, 0]], dim=-1)
    torch.testing.assert_close(out, expected)


def test_torchode_solves_each_sample_in_the_batch_as_it_does_alone() -> None:
    problem = get_problem("vdp_batched", batch=8)
    config = SolverConfig(backend="torchode", method="dopri5", rtol=1e-5, atol=1e-5)
    t = problem.times(2)
    batch = solve(problem.field(), problem.y0.clone(), t, config)
    accepted = batch.library_stats["n_accepted"]
    for i in range(8):
        one = problem.sample(i)
        sol = solve(one.field(), one.y0.clone(), t, config)
        assert sol.stats.steps_accepted == int(accepted[i])  # its own steps, batch or not
        torch.testing.assert_close(sol.ys[-1][0], batch.ys[-1][i], rtol=1e-12, atol=1e-12)


def test_torchode_per_sample_nfe_sums_to_the_samples_solved_alone() -> None:
    # dopri5 by hand: 2 calls to start (f(t0), the first step's choice), 6 per attempted
    # step; torchode's per-sample attempts in the batch give each sample's own NFE
    record = execute(Case(**BASE, backend="torchode"))
    assert record["status"] == "ok", record["error"]
    case = Case(**BASE, backend="torchode")
    workload = build_workload(case)
    sol = solve(workload.module, workload.inputs[0].detach(), workload.t, case.solver())
    per_sample = 2 + 6 * sol.library_stats["n_steps"]
    assert int(per_sample.sum()) == record["alone_nfe_total"]
    assert record["batch_dependence"] < 1e-12
    assert record["steps_accepted_mean"] == record["alone_steps_mean"]


def test_torchdiffeq_shared_step_size_difference_is_measured() -> None:
    record = execute(Case(**BASE))
    assert record["status"] == "ok", record["error"]
    # one step size for all: the batch takes the steps its hardest sample needs, and more
    assert record["steps_accepted"] >= record["alone_steps_mean"]
    # each sample's answer moves with its batch-mates: measured, of the tolerance's order
    assert 0 < record["batch_dependence"] < 1e-2
    assert record["batch_dependence_median"] <= record["batch_dependence"]


def test_alone_is_empty_for_a_problem_that_is_not_a_batch_of_independent_samples() -> None:
    case = Case(problem="vdp_mu1", dtype="float64", rtol=1e-3, atol=1e-3, meters=("nfe",))
    workload = build_workload(case)
    assert alone(case, workload, workload.inputs[0].detach()) == {}
