"""The docs cannot drift from the code: the results-columns page is generated from the
schema, and a column without a meaning fails here; the README stays a five-minute read."""

from __future__ import annotations

from pathlib import Path

from odebench.running.columns import MEANINGS, columns_markdown
from odebench.running.results import COLUMNS

ROOT = Path(__file__).resolve().parent.parent


def test_every_results_column_has_a_meaning_and_no_meaning_is_stale():
    assert [c for c in COLUMNS if c not in MEANINGS] == []  # a column added, undocumented
    assert [c for c in MEANINGS if c not in COLUMNS] == []  # a column gone, still described


def test_the_generated_page_has_one_row_per_column_in_the_schemas_order():
    rows = [line.split("`")[1] for line in columns_markdown().splitlines()
            if line.startswith("| `")]  # fmt: skip
    assert rows == list(COLUMNS)


def test_the_columns_page_is_generated_not_written_by_hand():
    page = (ROOT / "docs" / "results-columns.md").read_text()
    assert "<!-- odebench:columns -->" in page
    assert not any(f"| `{c}` |" in page for c in COLUMNS)  # no hand-copied table to drift


def test_the_readme_is_a_five_minute_read():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
