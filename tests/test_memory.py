"""Memory meters against byte counts derived from tensor shapes."""

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import build_workload
from odebench.instruments import SavedTensors, peak_allocated
from odebench.solvers import SolverConfig, solve
from odebench.workloads.problems import MLPField

B, D, H = 32, 16, 16
FLOAT = 4


def saved_bytes(steps: int, gradient: str) -> tuple[int, int]:
    field = MLPField(D, H)
    y0 = torch.randn(B, D, requires_grad=True)
    with SavedTensors(params=field.parameters()) as saved:
        sol = solve(field, y0, torch.tensor([0.0, 1.0]),
              SolverConfig(method="rk4", steps=steps, gradient=gradient))  # fmt: skip
    assert sol.ys.requires_grad  # the graph (and what it saved) is alive until here
    return saved.activation_bytes, saved.param_bytes


def test_backprop_through_rk4_saves_eight_states_and_dt_per_step() -> None:
    # per f call: Linear saves its input (B x D) and tanh saves its output (B x H), which the
    # second Linear saves again (same storage, counted once): 2 tensors; rk4 makes 4 calls
    # a step, and each step saves its float32 step size dt (a 0-d tensor) for the stage sums.
    per_step = 4 * (B * D + B * H) * FLOAT + FLOAT
    sizes = {n: saved_bytes(n, "backprop")[0] for n in (1, 2, 5, 9)}
    for n in (2, 5, 9):
        assert sizes[n] - sizes[1] == (n - 1) * per_step


def test_adjoint_saves_the_same_bytes_for_any_number_of_steps() -> None:
    one, _ = saved_bytes(1, "adjoint")
    many, _ = saved_bytes(64, "adjoint")
    assert one == many
    # the solution at t0 and t1 (2 states) and the float32 times t (2 values)
    assert one == 2 * B * D * FLOAT + 2 * FLOAT


def test_parameters_are_counted_apart_from_activations() -> None:
    _, params = saved_bytes(3, "backprop")
    assert params == (D * H + H * D) * FLOAT  # the two weight matrices, saved by the Linears


def test_storage_shared_by_views_counts_once() -> None:
    x = torch.randn(100, requires_grad=True)
    with SavedTensors() as saved:
        y = x * 2
        loss = (y[:50] * y[50:]).sum()  # mul saves both halves: two views of one storage
    assert saved.activation_bytes == 100 * FLOAT
    assert saved.count == 1
    del loss


def test_saved_tensors_freed_inside_the_block_do_not_count() -> None:
    x = torch.randn(1000, requires_grad=True)
    with SavedTensors() as saved:
        for _ in range(20):  # graphs dropped at once: their storages are freed and reused
            (x.exp() * 2).sum()
        kept = (x * x).sum()  # mul saves x twice: one storage (x is a leaf, not a param)
    assert saved.activation_bytes == 1000 * FLOAT
    del kept


def test_adaptive_backprop_saved_bytes_repeat_exactly() -> None:
    figures = set()
    for _ in range(3):
        workload = build_workload(
            Case(problem="mlp", batch=32, method="dopri5", rtol=1e-5, atol=1e-5)
        )
        with SavedTensors(params=list(workload.module.parameters())) as saved:
            loss = workload.forward()
        figures.add(saved.activation_bytes)
        del loss
    assert len(figures) == 1


def _peak(steps: int, gradient: str) -> int:
    workload = build_workload(Case(problem="mlp", method="rk4", steps=steps, gradient=gradient))
    workload.step()
    workload.release()
    return peak_allocated(workload.step)[0]


def test_cpu_peak_allocated_grows_with_steps_for_backprop_and_stays_flat_for_adjoint() -> None:
    state = 128 * 64 * FLOAT  # the mlp problem: batch 128, 64 features
    bp4, bp16 = _peak(4, "backprop"), _peak(16, "backprop")
    saved_slope = 8 * state + FLOAT
    assert abs((bp16 - bp4) / 12 - saved_slope) < 0.02 * saved_slope
    adj4, adj16 = _peak(4, "adjoint"), _peak(16, "adjoint")
    assert abs(adj16 - adj4) < 0.01 * adj4
    assert adj16 < bp16


class _BufferField(nn.Module):
    """``y' = y A - y`` with A kept as a buffer, or as a frozen parameter."""

    def __init__(self, as_buffer: bool) -> None:
        super().__init__()
        a = torch.eye(D) + 0.1 * torch.randn(D, D, generator=torch.Generator().manual_seed(0))
        if as_buffer:
            self.register_buffer("a", a)
        else:
            self.a = nn.Parameter(a, requires_grad=False)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.a - y


def _closure_over_an_mlp():  # type: ignore[no-untyped-def]
    net = MLPField(D, H)
    return lambda t, y: net(t, y)


def _saved(factory) -> int:  # type: ignore[no-untyped-def]
    from odebench.benchmark.measure import measure
    from odebench.workloads.problems import register_problem

    register_problem("saved_where", factory, lambda b, s: torch.randn(b, D), factory=True,
                     batch=B, overwrite=True)  # fmt: skip
    case = Case(problem="saved_where", method="rk4", steps=3, meters=("saved",))
    return int(measure(case)["saved_bytes"])


def test_a_closures_weights_and_a_modules_buffers_are_not_activations() -> None:
    # the same tensors kept elsewhere are the same non-activations: a closure's MLP weights
    # (D x H + H x D floats, saved by both Linears at every call) counted as activations,
    # and so did a buffer A (D x D floats) that a frozen parameter would not
    assert _saved(_closure_over_an_mlp) == _saved(lambda: MLPField(D, H))
    assert _saved(lambda: _BufferField(True)) == _saved(lambda: _BufferField(False))


def test_numbers_autograd_saves_are_counted_eight_bytes_each() -> None:
    # (x * 0.5).sum(): MulBackward0 saves the Python scalar 0.5 as a "wrapped number" (a 0-d
    # float64 tensor, 8 B, that torch keeps from the hooks), SumBackward0 the size (3, 2) of
    # x (two 8-byte integers); x itself is not needed (the factor is a constant)
    x = torch.ones(3, 2, requires_grad=True)
    with SavedTensors() as saved:
        z = (x * 0.5).sum()
        saved.watch(z)
    assert saved.activation_bytes == 0
    assert saved.other_bytes == (1 + 2) * 8


def test_checkpoint_keeps_one_rng_state_per_call_outside_the_hooks() -> None:
    # rk4 through torch.utils.checkpoint(..., use_reentrant=False) around each field call.
    # Through the hooks, per step: the 4 stage inputs (B x D float32), 3 more 4-byte times
    # (dt, t0 + dt/3, t0 + 2dt/3; t0 and t1 are views of the grid, whose storage of steps + 1
    # floats counts once, whole: one float more per step). Outside them: per call the CPU RNG
    # state checkpoint stashes (a uint8 tensor of torch.get_rng_state()'s size), and the
    # numbers the graph saves, which are backprop's own (the same operations, recomputed).
    from odebench.solvers.gradients import Checkpointed

    def run(steps: int, checkpointed: bool) -> tuple[int, int]:
        field = MLPField(D, H)
        y0 = torch.randn(B, D, requires_grad=True)
        with SavedTensors(params=field.parameters()) as saved:
            config = SolverConfig(method="rk4", steps=steps)
            f = Checkpointed(field) if checkpointed else field
            sol = solve(f, y0, torch.tensor([0.0, 1.0]), config)
            saved.watch(sol.ys)
        return saved.activation_bytes, saved.other_bytes

    rng_state = torch.get_rng_state().numel()  # bytes (uint8)
    (a1, o1), (a5, o5) = run(1, True), run(5, True)
    (_, b1), (_, b5) = run(1, False), run(5, False)
    assert (a5 - a1) / 4 == 4 * B * D * FLOAT + 3 * FLOAT + FLOAT
    assert (o5 - o1) / 4 == 4 * rng_state + (b5 - b1) / 4
    assert o1 == 4 * rng_state + b1


def test_measure_reports_checkpoints_rng_states_in_their_own_column() -> None:
    # saved_bytes keeps its meaning (what the hooks see); saved_other_bytes adds, per rk4 step
    # of gradient="checkpoint", one CPU RNG state per field call (4 calls) beyond backprop's
    from odebench.benchmark.measure import measure

    def other(gradient: str, steps: int) -> int:
        case = Case(problem="mlp_small", method="rk4", steps=steps, gradient=gradient,
                    meters=("saved",))  # fmt: skip
        return int(measure(case)["saved_other_bytes"])

    rng_state = torch.get_rng_state().numel()
    per_step = {g: (other(g, 3) - other(g, 1)) / 2 for g in ("backprop", "checkpoint")}
    assert per_step["checkpoint"] - per_step["backprop"] == 4 * rng_state


def test_the_kernel_rss_meter_catches_a_peak_far_shorter_than_a_sample() -> None:
    # 64 MiB touched and freed in a few milliseconds (above glibc's largest mmap threshold,
    # so it is mapped and unmapped: the RSS rises and falls by it). The kernel's mark reads
    # it within its counter's resolution: per-CPU batches of 32 pages not yet summed.
    # Measured in a fresh process, as the meter's contract asks (the runner gives every RSS
    # case one): in this test process, memory other tests freed can serve the spike without
    # the RSS growing (read 280 KiB in CI after the legibility tests).
    from odebench.instruments.memory import RSS_KERNEL, rss_method

    if rss_method() != RSS_KERNEL:
        pytest.skip("no /proc/self/clear_refs here: the sampled meter is the fallback")
    size = 64 * 2**20
    slack = 32 * (os.cpu_count() or 1) * 4096 + 2**20  # the batches, and the interpreter's own
    code = (
        "import torch\nfrom odebench.instruments.memory import peak_rss\n"
        f"def spike():\n    x = torch.ones({size}, dtype=torch.uint8)\n    del x\n"
        "spike()\n"  # warm: torch's first op allocates its own workspace
        "print(peak_rss(spike)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout  # fmt: skip
    peak = int(out.split()[-1])
    assert size - slack <= peak <= size + slack


def test_the_rss_meter_refuses_a_process_that_measured_another_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from odebench.benchmark import measure as measure_module

    case = Case(problem="mlp_small", method="rk4", steps=2, meters=("peak_rss",))
    monkeypatch.setattr(measure_module, "_MEASURED", [1])  # as after one case inline
    rec = measure_module.measure(case)
    assert rec["peak_rss_method"] == "refused_not_fresh"
    assert "peak_rss_bytes" not in rec
    monkeypatch.setattr(measure_module, "_MEASURED", [0])  # a fresh worker
    rec = measure_module.measure(case)
    assert rec["peak_rss_method"] in ("kernel_vmhwm", "sampled_5ms") and rec["peak_rss_bytes"] >= 0


def test_a_results_file_with_the_rss_method_column_reads_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # peak_rss_method is text: the results reader must not refuse it as "not a number"
    from odebench.running.results import append_record, read_results

    rows = [
        {"case_id": "a", "repeat": 0, "status": "ok", "peak_rss_bytes": 4096,
         "peak_rss_method": "kernel_vmhwm"},
        {"case_id": "b", "repeat": 0, "status": "ok", "peak_rss_method": "refused_not_fresh"},
    ]  # fmt: skip
    for row in rows:
        append_record(tmp_path / "results.csv", row)
    df = read_results(tmp_path)
    assert list(df["peak_rss_method"]) == ["kernel_vmhwm", "refused_not_fresh"]
    assert df["peak_rss_bytes"].iloc[0] == 4096
