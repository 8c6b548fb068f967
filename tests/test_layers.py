"""The layers contract (pyproject's ``[tool.importlinter]``) holds on the package, and breaks
when a lower layer imports an upper one or two modules import each other: the check can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports")

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--config", str(tree / "pyproject.toml")],
        capture_output=True, text=True, cwd=tree, env=env, timeout=120,
    )  # fmt: skip


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "odebench", tree / "odebench",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _plant(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "\n" + rest if sep else line + "\n" + text)


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    proc = _lint(_copy(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_an_instrument_importing_the_cli_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _plant(tree / "odebench/instruments/timing.py", "import odebench.cli.app  # noqa")
    proc = _lint(tree)
    assert proc.returncode != 0
    assert "odebench.instruments.timing -> odebench.cli.app" in proc.stdout


def test_the_results_store_importing_the_report_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _plant(tree / "odebench/running/results.py", "import odebench.reading.report  # noqa")
    proc = _lint(tree)
    assert proc.returncode != 0
    assert "Layers: each imports only from the layers below it BROKEN" in proc.stdout


def test_two_siblings_importing_each_other_break_the_no_cycles_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    # tables -> analysis exists; analysis -> tables closes a circle inside one layer's folder
    _plant(tree / "odebench/reading/analysis.py", "import odebench.reading.tables  # noqa")
    proc = _lint(tree)
    assert proc.returncode != 0
    assert "No cycles are allowed in odebench.reading" in proc.stdout
