"""The option types every subcommand shares: one list syntax, one --format."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from odebench.cli.options import comma_list, emit_table, positive_int


def test_a_comma_list_checks_every_item() -> None:
    assert comma_list(positive_int)("1,2,30") == (1, 2, 30)
    assert comma_list(str)("rnn") == ("rnn",)


@pytest.mark.parametrize("text", ["", "1,,2", "1,", ",1", "1,0", "1,x"])
def test_a_comma_list_refuses_empty_items_and_bad_values(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        comma_list(positive_int)(text)


def test_json_and_csv_carry_every_row_and_column(capsys: pytest.CaptureFixture[str]) -> None:
    table = pd.DataFrame({"mode": ["backprop", "adjoint"], "rtol": [1e-3, 1e-5]})
    emit_table(table, "json")
    assert json.loads(capsys.readouterr().out) == [
        {"mode": "backprop", "rtol": 1e-3}, {"mode": "adjoint", "rtol": 1e-5},
    ]  # fmt: skip
    emit_table(table, "csv")
    assert capsys.readouterr().out.splitlines() == ["mode,rtol", "backprop,0.001", "adjoint,1e-05"]
    emit_table(table, "table", text="the answer")
    assert capsys.readouterr().out == "the answer\n"
