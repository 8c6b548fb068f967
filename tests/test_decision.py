"""The decision rule (odebench.reading.decision) on hand-made results tables, each built so
that the rule has one answer that can be read off the figures by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from odebench.reading.decision import (
    Constraints,
    DecisionError,
    decide,
    parse_bytes,
    reaching,
)
from odebench.reading.frontier import frontier_rows


def _results(figures: dict[tuple[str, float], tuple], **same: object) -> pd.DataFrame:
    """A results table; ``figures[(gradient, rtol)] = (time_s, iqr_s, peak, grad_error)``:
    forward and backward each take half the time and half the IQR."""
    from odebench.running.results import COLUMNS

    rows = []
    for (gradient, rtol), (time_s, iqr, peak, err) in figures.items():
        rows.append({
            "suite": "t", "case_id": f"{gradient}-{rtol}", "problem": "p", "model": "",
            "backend": "torchdiffeq", "method": "dopri5", "gradient": gradient, "rtol": rtol,
            "atol": rtol, "output_times": 2, "status": "ok", "saved_bytes": 100,
            "steps_accepted": 4, "peak_alloc_bytes": peak, "time_forward_s": time_s / 2,
            "time_backward_s": time_s / 2, "time_forward_iqr_s": iqr / 2,
            "time_backward_iqr_s": iqr / 2, "grad_error": err, "seminorm": False,
            "dtype": "float64", "device": "cpu", "repeat": 0, **same,
        })  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def _decide(df: pd.DataFrame, **constraints: object) -> pd.Series:
    found = decide(frontier_rows(df), Constraints(**constraints))  # type: ignore[arg-type]
    assert len(found) == 1
    return found.iloc[0]


def test_a_lucky_loose_point_does_not_qualify() -> None:
    # backprop meets 1e-6 at rtol 1e-3 (a lucky 7.7e-7) but not at 1e-5: it reaches 1e-6 only
    # at 1e-7; aca at 1e-5 is then the fastest that reaches it at every tighter rtol
    df = _results({
        ("backprop", 1e-3): (0.010, 0.001, 1000, 7.7e-7),
        ("backprop", 1e-5): (0.020, 0.001, 1000, 1.95e-5),
        ("backprop", 1e-7): (0.080, 0.001, 1000, 3.9e-7),
        ("aca", 1e-5): (0.040, 0.001, 1000, 5e-7),
        ("aca", 1e-7): (0.090, 0.001, 1000, 1e-7),
    })  # fmt: skip
    rows = frontier_rows(df)
    bp = rows[rows["mode"] == "backprop"]
    assert list(reaching(bp, 1e-6)["rtol"]) == [1e-7]
    d = _decide(df, target=1e-6)
    assert (d["mode"], d["rtol"]) == ("aca", 1e-5)
    assert d["runner_up"] == "backprop at rtol 1e-07"
    assert "backprop at rtol 0.001 met 1e-06 but a tighter rtol did not" in d["why"]


def test_an_unstable_timing_does_not_win_on_time() -> None:
    # backprop is faster (10 ms) but its IQR is 60% of its median: aca (30 ms, stable) wins
    df = _results({
        ("backprop", 1e-5): (0.010, 0.006, 1000, 1e-5),
        ("aca", 1e-5): (0.030, 0.001, 1000, 1e-5),
    })  # fmt: skip
    d = _decide(df)
    assert d["mode"] == "aca"
    assert d["runner_up"] == "backprop at rtol 1e-05"
    assert d["unstable"] == "backprop at rtol 1e-05"
    assert "not ranked on time (measure again" in d["why"]
    assert "to rank it): backprop at rtol 1e-05" in d["why"]
    assert "caution: backprop at rtol 1e-05 reads faster (10 ms, beyond its spread)" in d["why"]


def test_a_much_faster_unstable_timing_is_flagged_not_chosen() -> None:
    # a loaded machine: aca reads 63 ms but spreads 30%; the adjoint 690 ms, stable. The rule
    # names the adjoint and says aca reads faster beyond its spread: measure again
    df = _results({
        ("adjoint", 1e-5): (0.690, 0.038, 1000, 2e-5),
        ("aca", 1e-5): (0.063, 0.019, 1000, 2e-5),
    })  # fmt: skip
    d = _decide(df)
    assert d["mode"] == "adjoint"
    assert "caution: aca at rtol 1e-05 reads faster (63 ms, beyond its spread)" in d["why"]
    # an unstable timing whose spread reaches the winner's time gets no caution
    df.loc[df["gradient"] == "aca", ["time_forward_s", "time_backward_s"]] = 0.3
    df.loc[df["gradient"] == "aca", ["time_forward_iqr_s", "time_backward_iqr_s"]] = 0.2
    assert "caution" not in _decide(df)["why"]


def test_overlapping_timings_are_a_tie_broken_by_peak_memory() -> None:
    # backprop 100 ± 10 ms, aca 105 ± 10 ms overlap: the lower peak (aca, 1/4) wins;
    # checkpoint at 200 ms does not overlap and stays third
    df = _results({
        ("backprop", 1e-5): (0.100, 0.020, 4000, 1e-5),
        ("aca", 1e-5): (0.105, 0.020, 1000, 1e-5),
        ("checkpoint", 1e-5): (0.200, 0.020, 500, 1e-5),
    })  # fmt: skip
    d = _decide(df)
    assert (d["mode"], d["runner_up"]) == ("aca", "backprop at rtol 1e-05")
    assert "within the time spread of backprop at rtol 1e-05 (100 ms) at 0.25x" in d["why"]
    # without the overlap (backprop 60 ± 2 ms against aca's 95 ms at least) the fastest wins
    df.loc[df["gradient"] == "backprop", ["time_forward_s", "time_backward_s"]] = 0.030
    df.loc[df["gradient"] == "backprop", ["time_forward_iqr_s", "time_backward_iqr_s"]] = 0.002
    assert _decide(df)["mode"] == "backprop"


def test_a_mode_without_a_memory_figure_is_named_not_measured() -> None:
    # the adjoint is fastest but its peak was not measured: under a budget it cannot be
    # checked, so backprop wins and the adjoint is named, not silently skipped
    df = _results({
        ("backprop", 1e-5): (0.050, 0.001, 1000, 1e-5),
        ("adjoint", 1e-5): (0.010, 0.001, float("nan"), 1e-5),
    })  # fmt: skip
    d = _decide(df, memory_budget=2**20)
    assert d["mode"] == "backprop"
    assert d["not_measured"] == "peak memory: adjoint"
    assert "not measured for this criterion: peak memory: adjoint" in d["why"]
    assert _decide(df, least_memory=True)["not_measured"] == "peak memory: adjoint"
    assert _decide(df)["mode"] == "adjoint"  # no budget: time alone decides


def test_a_budget_rules_out_rows_above_it() -> None:
    df = _results({
        ("backprop", 1e-5): (0.010, 0.001, 5000, 1e-5),
        ("aca", 1e-5): (0.030, 0.001, 1000, 1e-5),
    })  # fmt: skip
    assert _decide(df, memory_budget=2000)["mode"] == "aca"
    assert _decide(df, least_memory=True)["mode"] == "aca"
    assert _decide(df)["mode"] == "backprop"


def test_no_mode_reaching_the_target_says_what_came_closest() -> None:
    df = _results({
        ("backprop", 1e-3): (0.010, 0.001, 1000, 1e-2),
        ("backprop", 1e-5): (0.020, 0.001, 1000, 3e-4),
        ("aca", 1e-5): (0.020, 0.001, 1000, 2e-4),
    })  # fmt: skip
    d = _decide(df)
    assert d["mode"] == "none"
    assert "no mode reaches 0.0001 in the measured range (rtol 0.001 to 1e-05)" in d["why"]
    assert "closest: aca at rtol 1e-05 (error 0.0002)" in d["why"]


def test_two_batches_get_two_decisions_from_their_own_rows() -> None:
    # batch 16: backprop fastest; batch 128: aca fastest. Merged, the medians would mix them.
    small = _results({("backprop", 1e-5): (0.010, 0.001, 1000, 1e-5),
                      ("aca", 1e-5): (0.020, 0.001, 500, 1e-5)}, batch=16)  # fmt: skip
    large = _results({("backprop", 1e-5): (0.090, 0.001, 8000, 1e-5),
                      ("aca", 1e-5): (0.050, 0.001, 4000, 1e-5)}, batch=128)  # fmt: skip
    found = decide(frontier_rows(pd.concat([small, large], ignore_index=True)))
    assert dict(zip(found["batch"], found["mode"], strict=True)) == {16: "backprop", 128: "aca"}
    assert dict(zip(found["batch"], found["time_s"], strict=True)) == {16: 0.010, 128: 0.050}


def test_loss_shapes_are_decided_apart_and_selected() -> None:
    y1 = _results({("backprop", 1e-5): (0.010, 0.001, 1000, 1e-5)})
    traj = _results({("aca", 1e-5): (0.010, 0.001, 1000, 1e-5)}, output_times=11)
    rows = frontier_rows(pd.concat([y1, traj], ignore_index=True))
    both = decide(rows)
    assert dict(zip(both["loss"], both["mode"], strict=True)) == {
        "loss on y(t1)": "backprop", "loss on 11 output times": "aca"}  # fmt: skip
    assert list(decide(rows, Constraints(loss="trajectory"))["mode"]) == ["aca"]


def test_sizes_and_constraints_are_checked() -> None:
    assert parse_bytes("2GiB") == 2 * 2**30
    assert parse_bytes("512 MiB") == 512 * 2**20
    assert parse_bytes("1e9") == 1e9
    assert parse_bytes("3GB") == 3e9
    for bad in ("lots", "-1GiB", "2XB"):
        with pytest.raises(DecisionError, match="2GiB"):
            parse_bytes(bad)
    with pytest.raises(DecisionError, match="target"):
        Constraints(target=0)


def test_advise_prints_the_decision_and_json_parses(tmp_path: Path) -> None:
    df = _results({
        ("backprop", 1e-5): (0.010, 0.001, 1000, 1e-5),
        ("aca", 1e-5): (0.030, 0.001, 500, 1e-5),
    })  # fmt: skip
    df.to_csv(tmp_path / "results.csv", index=False)

    def advise(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "odebench.cli", "advise", "--results",
                               str(tmp_path), *args], capture_output=True, text=True)  # fmt: skip

    done = advise()
    assert done.returncode == 0, done.stderr
    assert "use backprop at rtol 1e-05" in done.stdout
    assert done.stdout.index("Decision") < done.stdout.index("The frontier behind it")
    records = json.loads(advise("--format", "json").stdout)
    assert [(r["mode"], r["runner_up"]) for r in records] == [("backprop", "aca at rtol 1e-05")]
    assert advise("--memory-budget", "min").stdout.count("use aca at rtol 1e-05") == 1
    frontier = json.loads(advise("--format", "json", "--frontier").stdout)
    assert {r["mode"] for r in frontier} == {"backprop", "aca"}
    bad = advise("--memory-budget", "lots")
    assert bad.returncode == 2 and "2GiB" in bad.stderr
    assert advise("--subject", "q").returncode == 2
