"""The report's headline: the verdicts at its top, computed from the tables
(:mod:`odebench.reading.tables`) and the gradient-mode frontier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from odebench.reading.analysis import (
    DESCENDING,
    fmt_bytes,
    identity_columns,
    sort_rows,
)
from odebench.reading.formatting import HEADERS, fmt_general, fmt_ratio
from odebench.reading.tables import (
    ALWAYS,
    UNSTABLE_SPREAD,
    memory_fits,
    nfe_table,
    time_table,
    work_precision,
)

# --- headline -------------------------------------------------------------------------------


@dataclass
class Headline:
    """The verdicts: sentences, and the tables they are read from."""

    sentences: list[str]
    tables: list[tuple[str, pd.DataFrame]]


def memory_verdicts(fits: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """Adjoint bytes per step against backprop's, per variant (all but gradient) and meter."""
    if fits.empty or not {"backprop", "adjoint"} <= set(fits["gradient"]):
        return [], pd.DataFrame()
    fits = fits[fits["per"] == "steps"]
    key = [c for c in identity_columns(fits) if c in fits and c != "gradient"] + ["meter"]
    rows, sentences = [], []
    for values, g in fits.groupby(key, sort=False, dropna=False):
        by = g.set_index("gradient")
        if not {"backprop", "adjoint"} <= set(by.index) or by.index.duplicated().any():
            continue
        ids = dict(zip(key, values, strict=True))
        meter = ids["meter"]
        bp, adj = by.loc["backprop"], by.loc["adjoint"]
        ratio = adj["bytes_per_unit"] / bp["bytes_per_unit"] if bp["bytes_per_unit"] else np.nan
        rows.append({
            **ids,
            "backprop_per_step": bp["bytes_per_unit"], "adjoint_per_step": adj["bytes_per_unit"],
            "adjoint_level_bytes": adj["intercept_bytes"] + adj["bytes_per_unit"] * x_max(adj),
            "ratio_adjoint_backprop": ratio, "adjoint_fitted_over": adj["x_range"],
            "adjoint_constant": adj["constant"],
        })  # fmt: skip
        if not bp["r2"] >= 0.9:  # backprop itself does not grow (RSS of a GPU run, say)
            how = "constant" if bp["constant"] else f"R² {bp['r2']:.2f}"
            verdict = (f"this meter shows no growth even for backprop ({how}): it cannot "
                       "tell O(1) from O(L) here")  # fmt: skip
        elif abs(ratio) < 0.01:
            verdict = "O(1)"
        elif not adj["r2"] >= 0.9:
            verdict = f"no clear trend (adjoint R² {adj['r2']:.2f}: noise of this meter)"
        else:
            verdict = "grows with steps"
        adj_text = ("constant" if adj["constant"]
                    else f"{fmt_bytes(adj['bytes_per_unit'])} per step")  # fmt: skip
        share = ("" if adj["constant"] or np.isnan(ratio)
                 else f" ({fmt_ratio(ratio)} of backprop's)")  # fmt: skip
        sentences.append(
            f"{meter} ({variant_text(pd.Series(ids), skip=('meter',))}): backprop "
            f"{fmt_bytes(bp['bytes_per_unit'])} per "
            f"step, adjoint {adj_text} over steps {adj['x_range']}{share}: {verdict}."
            + (f" Fitted apart: {adj['excluded']}." if adj["excluded"] else "")
        )
    return sentences, pd.DataFrame(rows)


def x_max(fit: pd.Series) -> float:
    return float(str(fit["x_range"]).split("-")[-1])


def pivot_by_tolerance(table: pd.DataFrame, value: str, columns: str) -> pd.DataFrame:
    """``value`` with a column per ``columns`` value, rows keyed by the rest of the key."""
    key = [c for c in table.columns if c in identity_columns(table) and c != columns]
    same_tol = "atol" in key and (table["rtol"].fillna(-1) == table["atol"].fillna(-1)).all()
    if same_tol:  # atol follows rtol: one of them is enough
        key.remove("atol")
    # a missing key value (no batch for a problem) is a value of its own, not a dropped row
    keyed = table.assign(**{c: table[c].astype(object).where(table[c].notna(), "") for c in key})
    wide = keyed.pivot_table(index=key, columns=columns, values=value, sort=False)
    if columns in DESCENDING:  # tolerances loose to tight
        wide = wide[sorted(wide.columns, reverse=True)]
    else:  # in the order the rows name them (backprop, adjoint, adjoint (seminorm))
        wide = wide[sorted(wide.columns, key=lambda c: (not str(c).startswith("backprop"), str(c)))]
    wide = wide.reset_index()
    wide.columns.name = None
    for c in key:
        wide[c] = wide[c].where(wide[c] != "", np.nan)
    return sort_rows(wide)


def variant_text(row: pd.Series, skip: tuple[str, ...] = ()) -> str:
    """A row's identity values as words: "spiral_trained dopri5 adjoint, batch 8"."""
    names = [c for c in identity_columns(pd.DataFrame(columns=row.index)) if c not in skip]
    named = [c for c in names if c in ALWAYS and fmt_general(row[c])]
    other = [f"{HEADERS.get(c, c)} {fmt_general(row[c])}" for c in names
             if c not in ALWAYS and fmt_general(row[c])]  # fmt: skip
    return " ".join(fmt_general(row[c]) for c in named) + ("".join(f", {o}" for o in other))


def headline(df: pd.DataFrame) -> Headline:
    """The verdicts: adjoint memory per step against backprop's, NFE-B/NFE-F of the adjoint,
    and the gradient error of each mode at each tolerance (rules stated in the sentences)."""
    sentences, tables = [], []
    mem_sentences, mem = memory_verdicts(memory_fits(df))
    sentences += mem_sentences
    if not mem.empty:
        tables.append(("Memory per step: adjoint against backprop (verdict O(1) when the "
                       "adjoint's slope is below 1% of backprop's)", mem))  # fmt: skip
    nfe = nfe_table(df)
    if not nfe.empty:
        adj = nfe[nfe["gradient"].str.startswith("adjoint")]
        if not adj.empty:
            wide = pivot_by_tolerance(adj.drop(columns=["nfe_forward", "nfe_backward"]),
                                       "nfe_ratio_b_f", "rtol")  # fmt: skip
            tables.append(("NFE-B / NFE-F of the adjoint per tolerance (the paper: about 1/2)",
                           tolerance_headers(wide)))  # fmt: skip
            tols = [c for c in wide.columns if isinstance(c, float)]
            for _, row in wide.iterrows():
                ratios = ", ".join(f"{row[t]:.2f} at {t:g}" for t in tols if pd.notna(row[t]))
                if ratios:
                    sentences.append(f"NFE-B/NFE-F, {variant_text(row)}: {ratios}.")
    wp = work_precision(df)
    if not wp.empty and "rtol" in wp and wp["grad_error"].notna().any():
        grad = wp[wp["rtol"].notna() & wp["grad_error"].notna()]
        if grad["gradient"].nunique() > 1:
            keep = [c for c in grad.columns if c in identity_columns(grad)] + ["grad_error"]
            wide = pivot_by_tolerance(grad[keep].drop(columns=["atol"], errors="ignore"),
                                       "grad_error", "gradient")  # fmt: skip
            tables.append(("Gradient error (relative L2) of each mode at each tolerance", wide))
            if {"backprop", "adjoint"} <= set(wide.columns):
                key = [c for c in wide.columns if c in identity_columns(wide) and c != "rtol"]
                ratio = wide.assign(ratio=wide["adjoint"] / wide["backprop"])
                ratio = ratio[ratio["ratio"].notna()]
                parts = []
                for _, g in ratio.groupby(key, sort=False, dropna=False):
                    lo, hi = g["ratio"].min(), g["ratio"].max()
                    span = f"{lo:.3g}x" if lo == hi else f"{lo:.3g}x to {hi:.3g}x"
                    parts.append(f"{variant_text(g.iloc[0], skip=('rtol',))} {span}")
                if parts:
                    sentences.append(
                        "Gradient error of the adjoint against backprop's at equal tolerance "
                        f"(above 1: the adjoint's is larger): {'; '.join(parts)}."
                    )
    times = time_table(df)
    if not times.empty and times["unstable"].any():
        sentences.append(f"Timings of {int(times['unstable'].sum())} of {len(times)} timed cases "
                         f"spread by more than {UNSTABLE_SPREAD:.0%} (IQR/median): marked "
                         "unstable in the Wall time table, not to be trusted.")  # fmt: skip
    # the gradient-mode frontier (odebench.reading.frontier), where more modes than backprop and the
    # adjoint ran: the cheapest mode in time and in memory reaching each gradient error
    from odebench.reading.frontier import (
        beyond_the_papers_modes,
        cheapest,
        frontier_rows,
        summary_lines,
    )

    modes = frontier_rows(df)
    if beyond_the_papers_modes(modes):
        best = cheapest(modes)
        if not best.empty:
            tables.append(("Cheapest gradient mode reaching each gradient error (time: forward "
                           "+ backward; peak: allocated over both; kept: bytes kept for "
                           "backward)", best))  # fmt: skip
            sentences += summary_lines(df)
    return Headline(sentences, tables)


def tolerance_headers(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.rename(columns={c: f"rtol {c:g}" for c in wide.columns if isinstance(c, float)})
