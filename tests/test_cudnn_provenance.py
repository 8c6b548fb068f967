"""cuDNN's settings are in the provenance (they change GPU peaks and figures), on any device."""

from __future__ import annotations

import pytest
import torch

from odebench.results import provenance


@pytest.mark.parametrize("benchmark", [False, True])
def test_the_provenance_records_cudnns_settings(
    monkeypatch: pytest.MonkeyPatch, benchmark: bool
) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", benchmark)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", not benchmark)
    cudnn = provenance(suite="smoke")["cudnn"]
    assert cudnn["benchmark"] is benchmark
    assert cudnn["deterministic"] is (not benchmark)
    assert cudnn["enabled"] is torch.backends.cudnn.enabled
    assert cudnn["available"] is torch.backends.cudnn.is_available()
