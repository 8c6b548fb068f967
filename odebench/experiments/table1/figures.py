"""Table 1's figures: the paper's Figure 3 (drawn by :func:`odebench.reading.plots.write_fig3`) and
the test error after every epoch of each model's training."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from odebench.experiments.table1.config import ROWS, Table1Config, plots_folder  # noqa: E402

_RC: dict[str, object] = {"svg.hashsalt": "odebench", "svg.fonttype": "path"}
#: test-error ticks (%) on the curve's log axis, those within its range shown
_NICE_TICKS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)


def test_error_curve(curves: pd.DataFrame, paper: dict[str, float]) -> plt.Figure | None:
    """Test error (%) after every epoch, one line per model; the paper's Table 1 dotted.

    The last point of each line is the table's figure (the final model's, not the best
    epoch's).
    """
    if curves.empty or curves["test_error"].isna().all():
        return None
    fig, ax = plt.subplots(figsize=(7.4, 5.4), layout="constrained")
    for i, (model, g) in enumerate(curves.groupby("model", sort=False)):
        g = g.sort_values("epoch")
        color = f"C{i}"
        label = ROWS[model].label if model in ROWS else str(model)
        ax.plot(
            g["epoch"],
            100 * g["test_error"],
            "o-",
            color=color,
            label=f"{label}: {100 * g['test_error'].iloc[-1]:.2f}% after epoch "
            f"{int(g['epoch'].iloc[-1])}",
        )
        if model in paper:
            ax.axhline(100 * paper[model], color=color, ls=":", lw=1)
    ax.set(yscale="log", xlabel="epoch", ylabel="test error (%)")
    ax.set_xticks(sorted(curves["epoch"].unique()))
    # labelled ticks across the range (a log axis over 0.4-8 % shows only "1" by default);
    # minor ticks unlabelled (they collide below 1)
    low, high = ax.get_ylim()
    ticks = [v for v in _NICE_TICKS if low <= v <= high]
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(
        "Table 1: test error after every epoch (dotted: the paper's Table 1 figure,\n"
        "its training budget unstated; the MLP's is LeCun et al. 1998)",
        fontsize="medium",
    )
    # below the axes: inside, the legend hid a model's point whatever corner it took
    fig.legend(fontsize="small", loc="outside lower center", ncols=2)
    return fig


def write_figures(cfg: Table1Config) -> list[Path]:
    """Draw Figure 3a-3d and the test-error curve from the files in ``cfg.out``."""
    from odebench.reading.plots import save, write_fig3

    out = plots_folder(cfg)
    written = write_fig3(cfg.out, cfg.out / "logs", out)
    curves_file = cfg.out / "epochs.csv"
    if curves_file.exists() and curves_file.stat().st_size > 1:
        curves = pd.read_csv(curves_file)
        paper = {name: spec.paper_test_error for name, spec in ROWS.items()}
        with plt.rc_context(_RC):
            fig = test_error_curve(curves, paper)
            if fig is not None:
                written += save(fig, out, "test_error_curve")
    return written
