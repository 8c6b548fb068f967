"""pytest-benchmark groups the timings per case: one table per case, not one of 40 rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .figures import bench_cases


def test_a_cases_forward_and_forward_backward_share_one_group_named_after_it(
    tmp_path: Path,
) -> None:
    # before: no group, so pytest-benchmark put every benchmark in one table and its
    # ratio columns compared unrelated cases
    cases = bench_cases()[:2]
    here = Path(__file__).with_name("test_bench_cases.py")
    ids = [f"{here}::{test}[{c.case_id}]" for c in cases
           for test in ("test_forward", "test_forward_backward")]  # fmt: skip
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--benchmark-min-rounds=1", "--benchmark-max-time=0.0001", "--benchmark-warmup=off",
         f"--benchmark-json={out}", *ids],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    groups = {b["name"]: b["group"] for b in json.loads(out.read_text())["benchmarks"]}
    assert len(groups) == 4
    for case in cases:
        assert groups[f"test_forward[{case.case_id}]"] == case.case_id
        assert groups[f"test_forward_backward[{case.case_id}]"] == case.case_id
