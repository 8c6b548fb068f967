"""The gradient-mode frontier from a results table: memory, time and gradient error per mode.

Read by the report's headline, the frontier figure
(:func:`odebench.reading.plots.gradient_frontier`)
and ``odebench profile``; nothing here runs a model. Rules, stated once:

* a row's *memory* is what its graph keeps for backward: ``saved_bytes`` plus
  ``saved_other_bytes`` (checkpoint's RNG states, autograd's saved numbers) where measured;
  *per step* divides it by the accepted steps; *peak* is ``peak_alloc_bytes``;
* a row's *time* is forward + backward (medians of the timed passes);
* the *cheapest mode reaching an error* ``e``: among the rows of one problem and loss shape
  whose ``grad_error <= e``, the one with the least time, the lowest peak, the fewest bytes
  kept (:data:`CRITERIA`); ties go to the first in mode order. A mode reaching ``e`` at no
  tolerance is not a candidate.

``python -m odebench.reading.frontier RESULTS [--subject S] [--rtol R]`` prints the frontier table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from odebench.reading.analysis import fmt_bytes, fmt_seconds, gradient_of, ok_rows

#: Error levels the headline asks the cheapest mode for.
TARGETS: tuple[float, ...] = (1e-2, 1e-4, 1e-6)
#: What "cheapest" is judged on: the least time, the lowest peak allocated over forward and
#: backward (the reverse solve's allocations included), the fewest bytes kept for backward.
CRITERIA: dict[str, str] = {
    "fastest": "time_s",
    "lowest peak": "peak_alloc_bytes",
    "least kept": "memory_bytes",
}
#: The order modes are listed in (ties go to the earlier).
MODE_ORDER: tuple[str, ...] = (
    "backprop", "checkpoint", "aca", "adjoint", "torchode adjoint", "torchode adjoint_joint",
)  # fmt: skip


def mode_name(backend: str, gradient: str) -> str:
    """One label per (backend, gradient): torchdiffeq's modes plain, torchode's prefixed."""
    return gradient if backend in ("", "torchdiffeq") else f"{backend} {gradient}"


def loss_name(output_times: float) -> str:
    n = int(output_times)
    return "loss on y(t1)" if n == 2 else f"loss on {n} output times"


def frontier_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per finished case with a gradient mode: subject, loss, mode, rtol and the
    frontier's figures (memory, per step, peak, time, gradient error, NFE)."""
    rows = ok_rows(df)
    if rows.empty or "gradient" not in rows:
        return pd.DataFrame()
    rows = rows[rows["gradient"] != ""]

    def col(name: str) -> pd.Series:
        if name not in rows:
            return pd.Series(float("nan"), index=rows.index)
        return pd.to_numeric(rows[name], errors="coerce")

    out = pd.DataFrame(index=rows.index)
    out["subject"] = rows["subject"]
    out["loss"] = col("output_times").fillna(2).map(loss_name)
    out["mode"] = [mode_name(b, g) for b, g in zip(rows["backend"], rows["gradient"], strict=True)]
    out["rtol"] = col("rtol")
    out["memory_bytes"] = col("saved_bytes") + col("saved_other_bytes").fillna(0)
    steps = col("steps_accepted")
    out["bytes_per_step"] = out["memory_bytes"] / steps.where(steps > 0)
    out["peak_alloc_bytes"] = col("peak_alloc_bytes")
    out["time_s"] = col("time_forward_s") + col("time_backward_s")
    for name in ("grad_error", "nfe_forward", "nfe_backward"):
        out[name] = col(name)
    # several repeats of a case: their median
    key = ["subject", "loss", "mode", "rtol"]
    out = out.groupby(key, sort=False, dropna=False, as_index=False).median(numeric_only=True)
    order = {m: i for i, m in enumerate(MODE_ORDER)}
    out["_order"] = out["mode"].map(lambda m: order.get(m, len(order)))
    out = out.sort_values(
        ["subject", "loss", "_order", "rtol"], ascending=[True, True, True, False]
    )
    return out.drop(columns="_order").reset_index(drop=True)


def beyond_the_papers_modes(rows: pd.DataFrame) -> bool:
    """Whether a mode other than the paper's two (backprop, torchdiffeq's adjoint, with or
    without an option such as the seminorm) ran: only then is there a frontier to draw."""
    if rows.empty:
        return False
    return not {gradient_of(str(m)) for m in rows["mode"]} <= {"backprop", "adjoint"}


def cheapest(rows: pd.DataFrame, targets: Sequence[float] = TARGETS) -> pd.DataFrame:
    """Per subject, loss and target error: the cheapest row reaching it by each criterion."""
    found = []
    if rows.empty:
        return pd.DataFrame()
    for (subject, loss), g in rows.groupby(["subject", "loss"], sort=False):
        g = g[g["grad_error"].notna()]
        if g.empty:  # no gradient error measured (a model case): nothing to rank on it
            continue
        for target in targets:
            ok = g[g["grad_error"] <= target]
            entry: dict[str, object] = {"subject": subject, "loss": loss, "target": target}
            for label, col in CRITERIA.items():
                cand = ok[ok[col].notna()]
                if cand.empty:
                    entry[label] = "none reaches it"
                    continue
                best = cand.loc[cand[col].idxmin()]
                value = fmt_seconds(best[col]) if col == "time_s" else fmt_bytes(best[col])
                entry[label] = f"{best['mode']} at rtol {best['rtol']:g} ({value})"
            found.append(entry)
    return pd.DataFrame(found)


def summary_lines(df: pd.DataFrame, targets: Sequence[float] = TARGETS) -> list[str]:
    """The headline's sentences: per problem, loss and target, the cheapest mode."""
    best = cheapest(frontier_rows(df), targets)
    lines = []
    for _, r in best.iterrows():
        lines.append(
            f"{r['subject']}, {r['loss']}: gradient error <= {r['target']:g}: fastest "
            f"{r['fastest']}; lowest peak {r['lowest peak']}; least kept for backward "
            f"{r['least kept']}."
        )
    return lines


def format_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The frontier rows as text columns."""
    if rows.empty:
        return rows
    return pd.DataFrame(
        {
            "subject": rows["subject"],
            "loss": rows["loss"],
            "mode": rows["mode"],
            "rtol": rows["rtol"].map(lambda v: f"{v:g}"),
            "saved": rows["memory_bytes"].map(fmt_bytes),
            "saved/step": rows["bytes_per_step"].map(fmt_bytes),
            "peak": rows["peak_alloc_bytes"].map(fmt_bytes),
            "time": rows["time_s"].map(fmt_seconds),
            "grad error": rows["grad_error"].map(lambda v: f"{v:.3g}" if pd.notna(v) else ""),
            "NFE-F/B": [
                f"{int(f)}/{int(b)}" if pd.notna(f) and pd.notna(b) else ""
                for f, b in zip(rows["nfe_forward"], rows["nfe_backward"], strict=True)
            ],
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    from odebench.running.results import read_results

    parser = argparse.ArgumentParser(
        prog="python -m odebench.reading.frontier", description=__doc__
    )
    parser.add_argument("results", help="a results folder or results.csv")
    parser.add_argument("--subject", default=None, help="only this problem or model")
    parser.add_argument("--rtol", type=float, default=None, help="only this tolerance")
    args = parser.parse_args(argv)
    try:
        rows = frontier_rows(read_results(args.results))
    except (OSError, ValueError) as exc:
        print(f"odebench.reading.frontier: {exc}", file=sys.stderr)
        return 2
    if args.subject is not None:
        rows = rows[rows["subject"] == args.subject]
    if args.rtol is not None:
        rows = rows[(rows["rtol"] - args.rtol).abs() <= 1e-12 * args.rtol]
    if rows.empty:
        print("odebench.reading.frontier: no finished gradient rows match.", file=sys.stderr)
        return 2
    print(format_rows(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
