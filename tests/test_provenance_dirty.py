"""The "-dirty" mark says whether the measuring code differs from its commit, whatever --force
did to the results folder being written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from odebench.running import provenance as results


def _repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "quick").mkdir(parents=True)
    (tmp_path / "results" / "quick" / "results.csv").write_text("a\n1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    top = _repo(tmp_path)

    def git_here(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=top, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    monkeypatch.setattr(results, "_git", git_here)
    return top


def test_a_forced_run_into_a_committed_folder_reads_clean(repo: Path) -> None:
    (repo / "results" / "quick" / "results.csv").unlink()  # what --force's move leaves
    assert not results.provenance(suite="s", out=repo / "results" / "quick")["commit"].endswith(
        "-dirty"
    )
    # without the folder named, the same tree reads dirty (the old behaviour)
    assert results.provenance(suite="s")["commit"].endswith("-dirty")


def test_a_change_to_the_code_still_reads_dirty(repo: Path) -> None:
    (repo / "results" / "quick" / "results.csv").unlink()
    (repo / "code.py").write_text("x = 2\n")
    assert results.provenance(suite="s", out=repo / "results" / "quick")["commit"].endswith(
        "-dirty"
    )


def test_a_folder_outside_the_tree_changes_nothing(repo: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert results._outside(elsewhere) == []
    assert not results.provenance(suite="s", out=elsewhere)["commit"].endswith("-dirty")
