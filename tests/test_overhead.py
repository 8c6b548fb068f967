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
    runs: list[int] = []

    def fake(g: str, b: int) -> object:
        runs.append(1)
        return type("R", (), {"ratio": 1.0123456, "low": 1.001, "high": 1.0251})()

    bench.solve_overhead = fake
    assert bench.track_overhead_ratio("adjoint", 8) == 1.0123
    assert bench.track_overhead_interval("adjoint", 8) == 0.0241
    assert len(runs) == 1  # the ratio and its interval come from one measurement


def test_the_paired_ratio_is_the_median_difference_over_the_bare_median() -> None:
    from odebench.experiments.overhead import paired_ratio

    # differences 1, 2, 3, 4, 100 ms (one outlier): median 3 ms; bare median 100 ms
    bare = [0.100, 0.098, 0.102, 0.101, 0.099]
    ours = [0.101, 0.100, 0.105, 0.105, 0.199]
    r = paired_ratio(bare, ours)
    assert r.difference == pytest.approx(0.003) and r.bare == pytest.approx(0.100)
    assert r.ratio == pytest.approx(1.03)
    assert r.low <= r.ratio <= r.high and r.pairs == 5
    # the outlier pair moves a ratio of medians by 2 %, the paired median not at all
    assert paired_ratio(bare, ours[:4] + [0.105]).ratio == pytest.approx(1.03)


def test_a_constant_difference_has_a_zero_width_interval() -> None:
    from odebench.experiments.overhead import paired_ratio

    bare = [0.010 + 0.001 * (i % 7) for i in range(50)]
    ours = [b + 0.0005 for b in bare]
    r = paired_ratio(bare, ours)
    median_bare = sorted(bare)[25]  # 50 values: statistics.median averages the middle two
    assert r.difference == pytest.approx(0.0005)
    assert r.ratio == pytest.approx(1 + 0.0005 / ((sorted(bare)[24] + median_bare) / 2))
    assert r.high - r.low < 0.01


def test_a_line_of_rounds_is_the_median_over_processes_with_their_range() -> None:
    from odebench.experiments.overhead import rounds

    # three processes: ratios 1.030, 1.010, 1.020 -> median 1.020, range 1.010-1.030
    found = [{"ratio": 1.030, "bare": 0.0120, "difference": 0.000360},
             {"ratio": 1.010, "bare": 0.0150, "difference": 0.000150},
             {"ratio": 1.020, "bare": 0.0130, "difference": 0.000260}]  # fmt: skip
    line = rounds("backprop", 128, found)
    assert "ratio 1.0200 (median of 3 processes; 1.0100-1.0300)" in line
    assert "+150..+360 us" in line and "12.00-15.00 ms" in line


def test_a_round_runs_in_a_fresh_process_and_reports_its_pairs() -> None:
    from odebench.experiments.overhead import _one_round

    r = _one_round("backprop", 8, 3)
    assert r["pairs"] == 3 and r["bare"] > 0 and r["low"] <= r["ratio"] <= r["high"]
    assert r["ratio"] == pytest.approx(1 + r["difference"] / r["bare"])


def test_bad_rounds_are_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from odebench.experiments.overhead import main

    with pytest.raises(SystemExit) as info:
        main(["--rounds", "0"])
    assert info.value.code == 2
    assert "--rounds must be >= 1" in capsys.readouterr().err


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
