"""Shared fixtures: keep torch to one thread so test timings do not fight each other."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
