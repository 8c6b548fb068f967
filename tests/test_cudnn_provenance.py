"""cuDNN's settings are in the provenance (they change GPU peaks and figures), on any device."""

from __future__ import annotations

import pytest
import torch

from odebench.running.provenance import provenance


@pytest.mark.parametrize("fast", [False, True])
def test_the_provenance_records_cudnns_settings(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", fast)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", not fast)
    cudnn = provenance(suite="smoke")["cudnn"]
    assert cudnn["benchmark"] is fast
    assert cudnn["deterministic"] is (not fast)
    assert cudnn["enabled"] is torch.backends.cudnn.enabled
    assert cudnn["available"] is torch.backends.cudnn.is_available()
