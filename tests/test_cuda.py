"""The CUDA meters and timers against the CPU's hand-derived truths (skipped without a GPU).

``scripts/gpu.sh`` runs these on a GPU machine. The truths: backprop through rk4 on the
64-wide MLP field (batch 128, float32) saves 8 states + 4 bytes per step (262,148 B), so
CUDA's peak allocated must grow by that slope within 1%; the adjoint's must stay flat;
and a CUDA-synchronised stopwatch must include the GPU work that CUDA events time.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from odebench.benchmark.cases import Case
from odebench.benchmark.measure import build_workload, measure
from odebench.instruments import Stopwatch, peak_allocated

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
STEPS = (2, 4, 8, 16)
PER_STEP = 8 * 128 * 64 * 4 + 4


def _peaks(gradient: str) -> np.ndarray:
    figures = []
    for steps in STEPS:
        case = Case(problem="mlp", method="rk4", steps=steps, gradient=gradient, device="cuda",
                    meters=("peak_alloc", "saved"))  # fmt: skip
        rec = measure(case)
        figures.append((rec["peak_alloc_bytes"], rec["saved_bytes"]))
    return np.array(figures, dtype=float)


def test_cuda_peak_allocated_grows_by_the_saved_bytes_slope_for_backprop() -> None:
    figures = _peaks("backprop")
    saved_slope = np.polyfit(STEPS, figures[:, 1], 1)[0]
    peak_slope = np.polyfit(STEPS, figures[:, 0], 1)[0]
    assert saved_slope == pytest.approx(PER_STEP, rel=1e-9)  # the exact meter, on the GPU too
    assert peak_slope == pytest.approx(saved_slope, rel=0.01)


def test_cuda_peak_allocated_of_the_adjoint_is_flat() -> None:
    figures = _peaks("adjoint")
    peak_slope = np.polyfit(STEPS, figures[:, 0], 1)[0]
    assert abs(peak_slope) < 0.01 * PER_STEP
    assert len(set(figures[:, 1])) == 1  # saved bytes: the same at every depth


def test_cuda_stopwatch_includes_the_queued_gpu_work() -> None:
    a = torch.randn(4096, 4096, device="cuda")
    a @ a  # warm-up
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with Stopwatch("cuda") as sw:
        start.record()
        for _ in range(20):
            a = (a @ a).tanh()
        end.record()
    gpu_seconds = start.elapsed_time(end) / 1000
    assert sw.seconds >= 0.95 * gpu_seconds > 0


def test_a_cuda_case_measures_nfe_errors_and_time_like_the_cpu() -> None:
    base = {"problem": "harmonic_oscillator", "method": "rk4", "steps": 16,
            "meters": ("nfe", "error", "time")}  # fmt: skip
    gpu, cpu = measure(Case(**base, device="cuda")), measure(Case(**base))
    assert gpu["nfe_forward"] == cpu["nfe_forward"] == 64
    assert gpu["state_error"] == pytest.approx(cpu["state_error"], rel=1e-3)
    assert gpu["time_forward_s"] > 0


def test_peak_allocated_on_cuda_counts_a_known_allocation() -> None:
    workload = build_workload(Case(model="mlp", batch=8, device="cuda"))
    workload.step()
    peak, _ = peak_allocated(lambda: torch.empty(1 << 20, dtype=torch.uint8, device="cuda"), "cuda")
    assert peak == 1 << 20
