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
from odebench.reading.frontier import loss_name
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
        short = len(rows) - 1
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
        rows[short]["verdict"] = verdict.split(" (")[0]
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


#: The most bullets the headline holds: one per question the suite asks.
MAX_BULLETS = 8


def span_text(values: pd.Series, fmt: str = "{:.2g}") -> str:
    lo, hi = values.min(), values.max()
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} to {fmt.format(hi)}"


def by_loss(table: pd.DataFrame, value: str, fmt: str = "{:.2g}") -> str:
    """``value``'s range per loss shape: "loss on y(t1) 0.81 to 1.9; 11 output times ..."."""
    if "output_times" not in table:
        return span_text(table[value], fmt)
    times = table["output_times"].fillna(2).astype(int)
    parts = [f"{loss_name(n)} {span_text(table.loc[times == n, value], fmt)}"
             for n in sorted(times.unique())]  # fmt: skip
    return "; ".join(parts)


def memory_bullet(mem: pd.DataFrame) -> str | None:
    """Memory per fixed-grid step, one clause per meter: the adjoint's verdict counted over
    the variants, backprop's fitted slope."""
    if mem.empty:
        return None
    parts = []
    for meter, g in mem.groupby("meter", sort=False):
        verdicts = g["verdict"].value_counts()
        said = ", ".join(f"{v} in {n} of {len(g)}" for v, n in verdicts.items())
        bp = span_text(g["backprop_per_step"], "{}").split(" to ")
        slope = " to ".join(fmt_bytes(float(b)) for b in bp)
        parts.append(f"{meter}: adjoint {said} variants (backprop {slope} per step)")
    return ("Memory, O(1) against O(L) (slopes fitted over fixed-grid steps; verdict O(1) "
            f"below 1% of backprop's slope): {'; '.join(parts)}.")  # fmt: skip


def price_bullet(rows: pd.DataFrame) -> str | None:
    """What tightening the tolerance costs: per comparison and mode, forward + backward time
    at the tightest rtol over the loosest, and the gradient error the other way."""
    from odebench.reading.frontier import group_columns

    if rows.empty:
        return None
    found = []
    for _, g in rows.groupby([*group_columns(rows), "mode"], sort=False, dropna=False):
        g = g[g["time_s"].notna() & g["grad_error"].notna()].sort_values("rtol")
        if len(g) < 2:
            continue
        tight, loose = g.iloc[0], g.iloc[-1]
        found.append({"time": tight["time_s"] / loose["time_s"], "loose": loose["rtol"],
                      "tight": tight["rtol"],
                      "error": loose["grad_error"] / tight["grad_error"]})  # fmt: skip
    if not found:
        return None
    f = pd.DataFrame(found)
    return (f"Tolerance's price ({len(f)} mode-problem pairs, from the loosest rtol measured "
            "to the tightest): forward + backward "
            f"time x{f['time'].median():.2g} (median; {f['time'].min():.2g} to "
            f"{f['time'].max():.2g}) for a gradient error {f['error'].median():.3g}x smaller "
            "(median).")  # fmt: skip


def headline(df: pd.DataFrame) -> Headline:
    """The answer first: which gradient method and tolerance to use per problem and loss shape
    (:mod:`odebench.reading.decision`); then at most :data:`MAX_BULLETS` bullets, one per
    other question (memory per step, NFE-B/NFE-F, the adjoint's gradient error against
    backprop's, the tolerance's price, unstable timings), each computed, with the tables
    they are read from."""
    from odebench.reading.decision import DEFAULT_TARGET, decide, decision_table
    from odebench.reading.frontier import frontier_rows

    sentences, tables = [], []
    rows = frontier_rows(df)
    decisions = decide(rows) if not rows.empty else pd.DataFrame()
    if not decisions.empty:  # comparisons without any gradient error have nothing to decide
        decisions = decisions[decisions["mode"] != ""].reset_index(drop=True)
    if not decisions.empty:
        tables.append((f"Which gradient method? Per problem and loss shape, the fastest mode "
                       f"and tolerance whose gradient error is <= {DEFAULT_TARGET:g} there and "
                       "at every tighter tolerance measured (overlapping timings: the lower "
                       "peak memory; unstable timings never win on time)",
                       decision_table(decisions)))  # fmt: skip
        undecided = decisions[decisions["mode"] == "none"]
        if len(undecided):
            subjects = undecided["subject"].value_counts(sort=False)
            sentences.append(f"No mode reaches {DEFAULT_TARGET:g} in {len(undecided)} of "
                             f"{len(decisions)} comparisons (the table says what came "
                             "closest): " + ", ".join(f"{s} ({n})" for s, n in subjects.items())
                             + ".")  # fmt: skip
    _, mem = memory_verdicts(memory_fits(df))
    bullet = memory_bullet(mem)
    if bullet:
        sentences.append(bullet)
        tables.append(("Memory per step: adjoint against backprop (verdict O(1) when the "
                       "adjoint's slope is below 1% of backprop's)", mem))  # fmt: skip
    nfe = nfe_table(df)
    if not nfe.empty:
        adj = nfe[nfe["gradient"].str.startswith("adjoint")]
        adj = adj[adj["nfe_ratio_b_f"].notna()]
        if not adj.empty:
            wide = pivot_by_tolerance(adj.drop(columns=["nfe_forward", "nfe_backward"]),
                                       "nfe_ratio_b_f", "rtol")  # fmt: skip
            tables.append(("NFE-B / NFE-F of the adjoint per tolerance (the paper: about 1/2)",
                           tolerance_headers(wide)))  # fmt: skip
            sentences.append(f"NFE-B/NFE-F of the adjoint (the paper: about 1/2) over "
                             f"{len(wide)} variants and their tolerances: "
                             f"{by_loss(adj, 'nfe_ratio_b_f')}.")  # fmt: skip
    wp = work_precision(df)
    if not wp.empty and "rtol" in wp and wp["grad_error"].notna().any():
        grad = wp[wp["rtol"].notna() & wp["grad_error"].notna()]
        if grad["gradient"].nunique() > 1:
            keep = [c for c in grad.columns if c in identity_columns(grad)] + ["grad_error"]
            wide = pivot_by_tolerance(grad[keep].drop(columns=["atol"], errors="ignore"),
                                       "grad_error", "gradient")  # fmt: skip
            tables.append(("Gradient error (relative L2) of each mode at each tolerance", wide))
            if {"backprop", "adjoint"} <= set(wide.columns):
                ratio = wide.assign(ratio=wide["adjoint"] / wide["backprop"])
                ratio = ratio[ratio["ratio"].notna()]
                if not ratio.empty:
                    sentences.append(
                        "The adjoint's gradient error over backprop's at equal tolerance (above "
                        f"1: the adjoint's is larger): {by_loss(ratio, 'ratio', '{:.3g}x')}."
                    )
    bullet = price_bullet(rows)
    if bullet:
        sentences.append(bullet)
    times = time_table(df)
    if not times.empty and times["unstable"].any():
        sentences.append(f"Timings of {int(times['unstable'].sum())} of {len(times)} timed cases "
                         f"spread by more than {UNSTABLE_SPREAD:.0%} (IQR/median): marked "
                         "unstable in the Wall time table; they never win a decision on "
                         "time.")  # fmt: skip
    return Headline(sentences[:MAX_BULLETS], tables)


def tolerance_headers(wide: pd.DataFrame) -> pd.DataFrame:
    return wide.rename(columns={c: f"rtol {c:g}" for c in wide.columns if isinstance(c, float)})
