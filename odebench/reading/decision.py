"""Which gradient method to train with: the decision rule, stated once, computed from the
frontier rows (:func:`odebench.reading.frontier.frontier_rows`) and the user's constraints.

Read by ``odebench advise``, the report's headline and ``odebench profile``; nothing here runs
a model. Per comparison (one subject, loss shape and every other identity column that varies:
batch, dtype, device, ...), with a gradient-accuracy target ``e``:

1. A (mode, rtol) *reaches* ``e`` when its gradient error is ``<= e`` at that rtol **and at
   every tighter rtol measured for that mode**: one lucky loose point does not count.
2. With a memory budget, a row whose peak exceeds it is out; a mode with no peak measured
   cannot be checked against it and is named "not measured", never silently dropped.
3. Ranking (within a mode to choose its tolerance, then across modes): the fastest
   forward + backward. Timings whose spreads overlap (each ``time ± spread/2``) are ties,
   broken by the lower peak memory. Unstable timings (IQR/median above
   :data:`odebench.reading.analysis.UNSTABLE`) cannot win on time: they rank after every
   stable one and are named (with a caution where one reads faster than the winner by more
   than its own spread: measure again). With ``least_memory`` the lowest peak wins instead, time
   breaking ties.
4. The answer: the recommended (mode, rtol), the runner-up (the best of the other modes)
   and one line of why; or "no mode reaches e in the measured range" with what came
   closest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from odebench.reading.analysis import UNSTABLE, fmt_bytes, fmt_seconds, fmt_value
from odebench.reading.frontier import group_columns

#: The gradient error (relative L2, against the float64 reference) asked for by default.
DEFAULT_TARGET = 1e-4
#: ``--loss``: which loss shapes to decide for (``output_times`` 2 is a loss on y(t1)).
LOSSES: tuple[str, ...] = ("all", "y1", "trajectory")


class DecisionError(ValueError):
    """Constraints that cannot be decided on; the message names the fix."""


@dataclass(frozen=True, kw_only=True)
class Constraints:
    """What the researcher asks for."""

    target: float = DEFAULT_TARGET
    memory_budget: float | None = None  # bytes of peak allocation; None: no budget
    least_memory: bool = False  # rank on peak memory first, time second
    loss: str = "all"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target) and self.target > 0):
            raise DecisionError(f"target {self.target} must be a finite error > 0 (e.g. 1e-4).")
        if self.memory_budget is not None and not self.memory_budget > 0:
            raise DecisionError("a memory budget must be > 0 bytes (e.g. 2GiB).")
        if self.loss not in LOSSES:
            raise DecisionError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")


def parse_bytes(text: str) -> float:
    """``"2GiB"``, ``"512MiB"``, ``"300KB"``, ``"1e9"`` -> bytes (KiB/MiB/GiB are 1024-based,
    kB/MB/GB 1000-based), or :class:`DecisionError` showing the form."""
    units = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
             "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}  # fmt: skip
    t = text.strip().lower().replace(" ", "")
    number = t.rstrip("abgikmt")
    unit = t[len(number):]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise DecisionError(f"{text!r} is not a size; give e.g. 2GiB, 512MiB or 1e9.") from None
    if not (math.isfinite(value) and value > 0):
        raise DecisionError(f"{text!r}: a memory budget must be a size > 0 (e.g. 2GiB).")
    return value


def select_loss(rows: pd.DataFrame, loss: str) -> pd.DataFrame:
    """The frontier rows of one loss shape (``y1``, ``trajectory``) or all."""
    if loss == "all" or rows.empty:
        return rows
    on_y1 = rows["loss"] == "loss on y(t1)"
    return rows[on_y1] if loss == "y1" else rows[~on_y1]


def reaching(rows: pd.DataFrame, target: float) -> pd.DataFrame:
    """The rows of one mode that reach ``target``: error <= target at their rtol and at every
    tighter rtol measured (rows without a gradient error are left out)."""
    measured = rows[rows["grad_error"].notna()].sort_values("rtol")  # tightest first
    ok = (measured["grad_error"] <= target).cummin()  # false from the first miss on
    return measured[ok.astype(bool)]


def _half_spread(row: pd.Series) -> float:
    q = row["time_iqr_s"]
    return 0.0 if pd.isna(q) else float(q) / 2


def _peak(row: pd.Series) -> float:
    return math.inf if pd.isna(row["peak_alloc_bytes"]) else float(row["peak_alloc_bytes"])


def _label(row: pd.Series) -> str:
    """"backprop at rtol 1e-05"; a fixed-grid row (no rtol) by its mode alone."""
    return use_text(row["mode"], row["rtol"])


def use_text(mode: str, rtol: float) -> str:
    return str(mode) if pd.isna(rtol) else f"{mode} at rtol {rtol:g}"


def rank(cands: pd.DataFrame, *, least_memory: bool = False) -> list[tuple[pd.Series, str]]:
    """Rows best first, each with the reason it stands there (rule 3 of the module)."""
    if cands.empty:
        return []
    if least_memory:
        order = cands.assign(_p=[_peak(r) for _, r in cands.iterrows()])
        order = order.sort_values(["_p", "time_s"], na_position="last", kind="stable")
        return [(r.drop("_p"), "least peak memory") for _, r in order.iterrows()]
    timed = cands[cands["time_s"].notna()]
    stable = timed[~timed["unstable"].astype(bool)].sort_values("time_s", kind="stable")
    out: list[tuple[pd.Series, str]] = []
    pool = [r for _, r in stable.iterrows()]
    while pool:
        first = pool[0]
        reach = first["time_s"] + _half_spread(first)
        ties = [r for r in pool if r["time_s"] - _half_spread(r) <= reach]
        pick = min(ties, key=_peak)  # min keeps the first (fastest) among equal peaks
        if pick is first:
            reason = "fastest"
        else:
            ratio = _peak(pick) / _peak(first) if math.isfinite(_peak(first)) else math.nan
            reason = (f"within the time spread of {_label(first)} ({fmt_seconds(first['time_s'])})"
                      f" at {ratio:.2g}x its peak memory")  # fmt: skip
        out.append((pick, reason))
        pool = [r for r in pool if r is not pick]
    unstable = timed[timed["unstable"].astype(bool)].sort_values("time_s", kind="stable")
    out += [(r, "timing unstable: not ranked on time") for _, r in unstable.iterrows()]
    untimed = cands[cands["time_s"].isna()]
    out += [(r, "no time measured") for _, r in untimed.iterrows()]
    return out


def _figures(row: pd.Series) -> str:
    parts = []
    if pd.notna(row["time_s"]):
        spread = "" if pd.isna(row["time_iqr_s"]) else f" ± {fmt_seconds(row['time_iqr_s'] / 2)}"
        parts.append(f"{fmt_seconds(row['time_s'])}{spread}")
    if pd.notna(row["peak_alloc_bytes"]):
        parts.append(f"peak {fmt_bytes(row['peak_alloc_bytes'])}")
    parts.append(f"error {row['grad_error']:.2g}")
    return ", ".join(parts)


def decide_group(g: pd.DataFrame, c: Constraints) -> dict[str, object]:
    """The decision for one comparison (rows of one subject, loss and context)."""
    out: dict[str, object] = {"target": c.target, "mode": "", "rtol": math.nan,
                              "grad_error": math.nan, "time_s": math.nan,
                              "peak_alloc_bytes": math.nan, "runner_up": "", "why": "",
                              "unstable": "", "not_measured": ""}  # fmt: skip
    measured = g[g["grad_error"].notna()]
    if measured.empty:
        out["why"] = "no gradient error measured here: nothing to decide on"
        return out
    not_measured: dict[str, list[str]] = {}
    notes: list[str] = []
    no_error = [m for m, r in g.groupby("mode", sort=False) if r["grad_error"].isna().all()]
    if no_error:
        not_measured["gradient error"] = no_error
    best: list[pd.Series] = []
    for mode, rows in measured.groupby("mode", sort=False):
        ok = reaching(rows, c.target)
        lucky = rows[(rows["grad_error"] <= c.target) & ~rows.index.isin(ok.index)]
        if not lucky.empty:
            notes.append(f"{_label(lucky.iloc[0])} met {c.target:g} but a tighter rtol did "
                         "not: not counted")  # fmt: skip
        if c.memory_budget is not None or c.least_memory:
            if not ok.empty and ok["peak_alloc_bytes"].isna().all():
                not_measured.setdefault("peak memory", []).append(str(mode))
            ok = ok[ok["peak_alloc_bytes"].notna()]
            if c.memory_budget is not None:
                over = ok[ok["peak_alloc_bytes"] > c.memory_budget]
                if len(over) and len(over) == len(ok):
                    notes.append(f"{mode} over the memory budget "
                                 f"({fmt_bytes(over['peak_alloc_bytes'].min())} at least)")
                ok = ok[ok["peak_alloc_bytes"] <= c.memory_budget]
        if not c.least_memory and not ok.empty and ok["time_s"].isna().all():
            not_measured.setdefault("time", []).append(str(mode))
        ranked = rank(ok, least_memory=c.least_memory)
        if ranked:
            best.append(ranked[0][0])
    order = rank(pd.DataFrame(best), least_memory=c.least_memory) if best else []
    if not c.least_memory:  # a mode with no time measured cannot be recommended on time
        order = [(r, why) for r, why in order if pd.notna(r["time_s"])]
    unstable = [_label(r) for r, why in order if why.startswith("timing unstable")]
    if order:
        win, reason = order[0]
        out.update({"mode": win["mode"], "rtol": win["rtol"], "grad_error": win["grad_error"],
                    "time_s": win["time_s"], "peak_alloc_bytes": win["peak_alloc_bytes"]})
        if reason == "fastest":
            reason = f"fastest reaching {c.target:g} at this and every tighter rtol"
        elif reason == "least peak memory":
            reason = f"least peak memory reaching {c.target:g}"
        elif reason.startswith("timing unstable"):
            reason = f"reaches {c.target:g}, but every candidate's timing is unstable"
        why = [f"{_label(win)}: {reason} ({_figures(win)})"]
        if len(order) > 1:
            run, run_reason = order[1]
            out["runner_up"] = _label(run)
            unsure = run_reason.startswith(("timing unstable", "no time"))
            why.append(f"runner-up {_label(run)} ({_figures(run)})"
                       + (f": {run_reason}" if unsure else ""))
        else:
            why.append("no other mode reaches it")
    else:
        closest = measured.loc[measured["grad_error"].idxmin()]
        lo, hi = measured["rtol"].min(), measured["rtol"].max()
        where = [] if pd.isna(lo) else [f"rtol {hi:g} to {lo:g}"]
        if c.memory_budget:
            where.append(f"peak <= {fmt_bytes(c.memory_budget)}")
        why = [f"no mode reaches {c.target:g} in the measured range"
               + (f" ({', '.join(where)})" if where else "")
               + f"; closest: {_label(closest)} (error {closest['grad_error']:.2g})"]
        out["mode"] = "none"
    if order and not order[0][1].startswith("timing unstable"):
        win = order[0][0]
        faster = [r for r, why in order if why.startswith("timing unstable")
                  and r["time_s"] + (0 if pd.isna(r["time_iqr_s"]) else r["time_iqr_s"])
                  < win["time_s"]]  # fmt: skip
        if faster:  # the rule stands, but the reader must know the ranking may change
            f = faster[0]
            notes.insert(0, f"caution: {_label(f)} reads faster ({fmt_seconds(f['time_s'])}, "
                         "beyond its spread) but is unstable: measure again before trusting "
                         "this choice")  # fmt: skip
    if unstable:
        out["unstable"] = ", ".join(unstable)
        why.append(f"unstable timing (spread above {UNSTABLE:.0%}), not ranked on time "
                   f"(measure again, or with more timed passes, to rank it): {out['unstable']}")
    if not_measured:
        out["not_measured"] = "; ".join(f"{k}: {', '.join(v)}" for k, v in not_measured.items())
        why.append(f"not measured for this criterion: {out['not_measured']}")
    why += notes
    out["why"] = "; ".join(why)
    return out


def decide(rows: pd.DataFrame, constraints: Constraints | None = None) -> pd.DataFrame:
    """One decision per comparison: the group's identity, then ``mode``, ``rtol``, its
    figures, ``runner_up``, ``why``, ``unstable`` and ``not_measured``."""
    c = constraints or Constraints()
    rows = select_loss(rows, c.loss)
    if rows.empty:
        return pd.DataFrame()
    key = group_columns(rows)
    found = []
    for values, g in rows.groupby(key, sort=False, dropna=False):
        found.append({**dict(zip(key, values, strict=True)), **decide_group(g, c)})
    return pd.DataFrame(found)


def decision_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions as text columns: the comparison, use, runner-up, why."""
    if decisions.empty:
        return decisions
    key = [c for c in decisions.columns if c in group_columns(decisions) and c != "target"
           and c not in ("runner_up", "why", "not_measured")]  # fmt: skip
    use = [m if m in ("", "none") else use_text(m, r)
           for m, r in zip(decisions["mode"], decisions["rtol"], strict=True)]  # fmt: skip
    return pd.DataFrame({
        **{k: decisions[k].map(fmt_value) for k in key},
        "target": decisions["target"].map(lambda v: f"{v:g}"),
        "use": use, "runner-up": decisions["runner_up"], "why": decisions["why"],
    })  # fmt: skip


def decision_lines(decisions: pd.DataFrame) -> list[str]:
    """One sentence per comparison: "spiral_trained, loss on y(t1): use backprop at rtol
    1e-05 (why)"."""
    lines = []
    table = decision_table(decisions)
    key = [c for c in table.columns if c not in ("target", "use", "runner-up", "why")]
    for _, r in table.iterrows():
        name = ", ".join(str(r[k]) if k in ("subject", "loss") else f"{k} {r[k]}"
                         for k in key if r[k])  # fmt: skip
        verb = "use " + r["use"] if r["use"] not in ("", "none") else "no decision"
        lines.append(f"{name}: {verb}. Why: {r['why']}.")
    return lines
