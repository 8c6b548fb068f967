"""Table 2's markdown, from the result files alone."""

from __future__ import annotations

from pathlib import Path

from odebench.experiments.spirals.settings import MD_FILE, ROW_FILE, SpiralsError


def render(out: Path) -> Path:
    import pandas as pd

    out = Path(out)
    if not (out / ROW_FILE).exists():
        raise SpiralsError(
            f"{out / ROW_FILE} is missing; run `odebench spirals --out {out}` first."
        )
    df = pd.read_csv(out / ROW_FILE)
    md = out / MD_FILE
    md.write_text(df.groupby(["n_obs", "model"]).mean(numeric_only=True).to_markdown() + "\n")
    return md
