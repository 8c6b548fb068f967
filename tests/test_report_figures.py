"""The report embeds every figure the plots module draws, also those drawn under names of
their own (one per problem) that are not keys of ``PLOTS``."""

from pathlib import Path

import pytest

from odebench.benchmark.cases import Case
from odebench.reading.report import figure_assets, write_report
from odebench.running.results import append_record, case_columns, read_results


def test_a_figure_outside_plots_gets_a_title_instead_of_failing_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: KeyError 'gradient_frontier_mlp_trained' and no report at all
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import odebench.reading.plots as plots

    def draw_all(df, out_dir):  # type: ignore[no-untyped-def]
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig = plt.figure(figsize=(2, 2))
        paths = [out_dir / "gradient_frontier_mlp_trained.png",
                 out_dir / "gradient_frontier_mlp_trained.svg"]  # fmt: skip
        for p in paths:
            fig.savefig(p)
        plt.close(fig)
        return {"gradient_frontier_mlp_trained": paths}

    monkeypatch.setattr(plots, "draw_all", draw_all)
    case = Case(problem="exponential_decay", method="rk4", steps=2, meters=("nfe",))
    row = case_columns(case, 0)
    row.update(status="ok", error="", nfe_forward=8)
    append_record(tmp_path / "results.csv", row)
    written = write_report(tmp_path)
    assert tmp_path / "report.html" in written and (tmp_path / "report.md").exists()
    assets = figure_assets(read_results(tmp_path), tmp_path)
    assert assets["gradient_frontier_mlp_trained"]["title"] == "gradient frontier mlp trained"
