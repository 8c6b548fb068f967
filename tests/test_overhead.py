"""The overhead instrument: solve() against bare torchdiffeq, timed alternately in one process.

No time is asserted (the machine is shared); what must hold is how the timing is taken.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from odebench.instruments.timing import time_interleaved
from odebench.solvers import SolverConfig, solve


def test_interleaving_alternates_the_order_and_times_both_alike() -> None:
    calls: list[str] = []
    result = time_interleaved(lambda: calls.append("a"), lambda: calls.append("b"),
                              warmup=1, repeat=4)  # fmt: skip
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(result.a.times) == len(result.b.times) == 4
    assert result.ratio == result.b.median / result.a.median


def test_the_pair_compares_the_same_solve() -> None:
    # both sides must do the same work: on their shared field, the same gradient
    from odebench.experiments import overhead

    bare, ours = overhead.pair("backprop", 8)
    (field,) = {c.cell_contents for c in bare.__closure__ or ()
                if isinstance(c.cell_contents, torch.nn.Module)}  # fmt: skip
    grads = []
    for side in (bare, ours):
        side()
        grads.append([p.grad.clone() for p in field.parameters()])  # type: ignore[union-attr]
        field.zero_grad(set_to_none=True)
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_the_asv_benchmark_tracks_the_ratio() -> None:
    path = Path(__file__).resolve().parents[1] / "benches" / "bench_odebench.py"
    spec = importlib.util.spec_from_file_location("bench_overhead_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bench = module.SolveOverhead()
    assert bench.track_overhead_ratio.unit == "ratio"
    assert bench.params == [["backprop", "adjoint"], [128, 8]]
    bench.setup("adjoint", 8)
    bench.solve_overhead = lambda g, b: type("R", (), {"ratio": 1.0123456})()
    assert bench.track_overhead_ratio("adjoint", 8) == 1.0123


def test_times_checked_once_are_checked_again_after_an_in_place_change() -> None:
    # the check of t is done once per tensor; changing t in place must not slip past it
    t = torch.tensor([0.0, 1.0])
    config = SolverConfig(method="rk4", steps=2)
    solve(lambda t, y: -y, torch.ones(1), t, config)
    t[1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        solve(lambda t, y: -y, torch.ones(1), t, config)
    t[1] = 0.0
    with pytest.raises(ValueError, match="strictly monotone"):
        solve(lambda t, y: -y, torch.ones(1), t, config)
