"""The aca-against-peer work-precision comparison: interpolation at equal error, the peer
optional."""

from __future__ import annotations

import math

import pytest

from odebench.experiments import aca_peer


def test_time_at_an_error_interpolates_log_log_between_the_runs_around_it() -> None:
    rows = [{"grad_error": 1e-3, "time_s": 1.0}, {"grad_error": 1e-5, "time_s": 4.0},
            {"grad_error": 1e-1, "time_s": 0.5}]  # fmt: skip
    # 1e-4 is half way between 1e-5 and 1e-3 in log: the geometric mean of 1 and 4
    assert aca_peer.time_at(rows, 1e-4) == pytest.approx(2.0)
    assert aca_peer.time_at(rows, 1e-3) == pytest.approx(1.0)
    assert math.isnan(aca_peer.time_at(rows, 1e-7))  # beyond what the mode reached
    # every run errs less than 0.5: the cheapest one (1e-1 for 0.5 s) reaches it
    assert aca_peer.time_at(rows, 0.5) == pytest.approx(0.5)


def test_without_the_peer_its_rows_are_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aca_peer, "peer_missing", lambda: "TorchDiffEqPack is not installed")
    rows = [{"field": "mlp", "mode": "aca", "grad_error": 1e-3, "time_s": 1.0},
            {"field": "mlp", "mode": "aca", "grad_error": 1e-7, "time_s": 3.0}]  # fmt: skip
    text = aca_peer.summary(rows, aca_peer.peer_missing())
    assert "Peer rows skipped: TorchDiffEqPack is not installed." in text
    assert "| mlp | 0.0001 | " in text and "n/a |" in text


def test_a_run_beaten_on_error_and_time_is_off_the_work_precision_front() -> None:
    """rtol 1e-5 costing more than rtol 1e-4 yet erring more (as torchdiffeq's dopri5 does on
    the MLP) is no point of the curve: 1e-4 is read between (1e-5, 4 s) and (1e-3, 1 s)."""
    rows = [{"grad_error": 1e-3, "time_s": 1.0}, {"grad_error": 1e-5, "time_s": 4.0},
            {"grad_error": 1e-4, "time_s": 5.0}]  # fmt: skip
    assert aca_peer.front(rows) == [(1e-5, 4.0), (1e-3, 1.0)]
    assert aca_peer.time_at(rows, 1e-4) == pytest.approx(2.0)
