"""Shared fixtures: one torch thread per test (two threads fight for 2 shared cores)."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_configure(config: pytest.Config) -> None:
    """Create the folder of pytest-benchmark's JSON (``--benchmark-json`` in addopts)."""
    from pathlib import Path

    target = config.getoption("benchmark_json", default=None)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
