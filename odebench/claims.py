"""``odebench claims``: every checkable claim of the paper as a measured row with a verdict.

It reads the committed results tables only (never runs a model) and writes
``results/claims.md`` and ``results/claims.csv``: one row per claim with the paper's
figure, the measured figure, the conditions, the results file it came from and a verdict
computed by the claim's stated rule:

* **reproduced** / **contradicted**: the rule holds / fails, and the claim does not
  depend on conditions that differ from the paper's (or they are the paper's);
* **measured under other conditions**: the claim depends on conditions that differ here
  (training budget, solver, data preprocessing); ``rule_holds`` says which way it points;
* **depends on the field**: the rule holds on some vector fields and fails on others;
* **not comparable: architecture differs**: the paper's figure belongs to a model whose
  layers it does not specify, and ours differs (``note`` says which detail);
* **not measured**: its results are missing; ``command`` says what measures it;
* **not measured (out of scope)**: odebench does not measure it (``note`` says why).

Every row names its ``basis`` (the paper's section, table or figure, the seed slides, or
torchdiffeq's example) and who makes the claim (``by``: the paper, or odebench's own
findings). Figure 3c is one claim; its measurements are rows ``part_of`` it, listed beneath
it and not counted in the tally.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

VERDICTS: tuple[str, ...] = (
    "reproduced",
    "contradicted",
    "depends on the field",
    "measured under other conditions",
    "not comparable: architecture differs",
    "not measured",
    "not measured (out of scope)",
)
#: "≈ ½": a median NFE-B / NFE-F within 20 % of 0.5.
HALF_BAND = (0.4, 0.6)
#: "O(1)": the adjoint's slope below this fraction of backprop's.
O1_FRACTION = 0.01
#: "O(L)": a positive slope on a line this straight (R^2), memory and time.
MEMORY_R2 = 0.99
TIME_R2 = 0.9
#: A test error within this many percentage points of the paper's (or below it).
ERROR_MARGIN = 0.001
PAPER_EPOCHS = 160
RESNET_BLOCKS = 6


class ClaimsError(ValueError):
    """A results file that exists but cannot be read as its claim needs."""


@dataclass(frozen=True)
class Sources:
    """The results tables claims are read from (``None``: the file is absent)."""

    table1: pd.DataFrame | None = None
    table1_results: pd.DataFrame | None = None
    table1_provenance: dict[str, Any] | None = None
    fig3a: pd.DataFrame | None = None
    fig3c: pd.DataFrame | None = None
    fig3c_failures: pd.DataFrame | None = None
    odenet_log: pd.DataFrame | None = None
    quick: pd.DataFrame | None = None
    table2: pd.DataFrame | None = None
    table2_provenance: dict[str, Any] | None = None
    test_tolerance: pd.DataFrame | None = None
    single_nfe: pd.DataFrame | None = None
    gradients: pd.DataFrame | None = None
    reconstruction: pd.DataFrame | None = None
    #: The provenance of the run the trained ODE-Net's measurements come from, when that is
    #: not Table 1's run (see :data:`ODENET_FALLBACK`), and the paths actually read.
    odenet_provenance: dict[str, Any] | None = None
    paths: dict[str, str] | None = None


#: Where each source lives under the results folder (the claims' ``source`` column).
PATHS: dict[str, str] = {
    "table1": "table1/table1.csv",
    "table1_results": "table1/results.csv",
    "table1_provenance": "table1/provenance.json",
    "fig3a": "table1/fig3a_block_error.csv",
    "fig3c": "table1/fig3c_nfe.csv",
    "fig3c_failures": "table1/fig3c_failures.csv",
    "odenet_log": "table1/logs/odenet_train_log.csv",
    "test_tolerance": "table1/test_tolerance.csv",
    "single_nfe": "table1/single_image_nfe.csv",
    "quick": "quick/results.csv",
    "gradients": "gradients/results.csv",
    "reconstruction": "claims_measured/reconstruction.csv",
    "table2": "table2/table2.csv",
    "table2_provenance": "table2/provenance.json",
}
#: The trained ODE-Net's measurements (Figure 3c, test-time tolerance, NFE per input) are read
#: from this folder when Table 1's run predates them (its own provenance then states their
#: conditions).
ODENET_FALLBACK = "table1_short"
ODENET_KEYS = ("fig3c", "fig3c_failures", "test_tolerance", "single_nfe")
#: What (re)measures each source.
COMMANDS: dict[str, str] = {
    **{key: "odebench table1" for key in PATHS},
    "quick": "odebench run --suite quick",
    "gradients": "odebench run --suite gradients --out results/gradients",
    "reconstruction": "odebench claims --measure",
    "table2": "odebench spirals",
    "table2_provenance": "odebench spirals",
}


def load_sources(results: str | Path) -> Sources:
    """Read every source present under ``results`` (a missing file stays ``None``)."""
    root = Path(results)
    if not root.is_dir():  # checked before anything is written (--out defaults to it)
        raise ClaimsError(f"--results {root} is not a folder; pass the results folder (results).")
    found: dict[str, Any] = {}
    for key, rel in PATHS.items():
        path = root / rel
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                found[key] = json.loads(path.read_text())
            elif key in ("table1_results", "quick", "gradients"):
                from odebench.results import read_results

                found[key] = read_results(path)
            else:
                found[key] = pd.read_csv(path)
        except (ValueError, OSError) as exc:
            raise ClaimsError(f"{path}: cannot be read ({exc}); regenerate it.") from None
    if not found:
        raise ClaimsError(
            f"--results {root} holds none of the tables the claims read (e.g. "
            f"{PATHS.get('quick', 'quick/results.csv')}); pass the results folder (results)."
        )
    fallback = root / ODENET_FALLBACK
    if "test_tolerance" not in found and (fallback / "test_tolerance.csv").is_file():
        paths = {}
        for key in ODENET_KEYS:
            rel = PATHS[key].replace("table1/", f"{ODENET_FALLBACK}/", 1)
            found.pop(key, None)
            if (root / rel).is_file():
                try:
                    found[key] = pd.read_csv(root / rel)
                except (ValueError, OSError) as exc:
                    raise ClaimsError(
                        f"{root / rel}: cannot be read ({exc}); regenerate it."
                    ) from None
                paths[key] = rel
        prov = fallback / "provenance.json"
        found["odenet_provenance"] = json.loads(prov.read_text()) if prov.is_file() else {}
        found["paths"] = paths
    return Sources(**found)


@dataclass(frozen=True)
class Finding:
    """What the results say about one claim."""

    measured: str
    holds: bool | None  # None: not measured
    conditions: str
    same_conditions: bool
    note: str = ""
    #: A verdict the rule's outcome alone cannot give (one of VERDICTS), e.g. "depends on
    #: the field" or "not comparable: architecture differs"; None: computed by verdict().
    verdict: str | None = None


@dataclass(frozen=True)
class Claim:
    """One checkable claim: the paper's statement and figure, the rule, where it is read."""

    id: str
    claim: str
    paper: str
    rule: str
    source: str  # a key of PATHS
    check: Callable[[Sources], Finding | None]
    #: Where the claim is made: "paper, Table 1", "seed slides", "torchdiffeq's example".
    basis: str = ""
    #: The id of the claim this row is a measurement of ("" for a claim of its own).
    part_of: str = ""
    #: Who claims it: "paper" (or the seed slides, see basis) or "odebench" (own findings).
    by: str = "paper"


def verdict(holds: bool | None, same_conditions: bool) -> str:
    """The verdict of a rule's outcome under the measurement's conditions."""
    if holds is None:
        return "not measured"
    if not same_conditions:
        return "measured under other conditions"
    return "reproduced" if holds else "contradicted"


# --- conditions ---------------------------------------------------------------------------


def _budget(src: Sources) -> dict[str, Any]:
    prov = src.table1_provenance or {}
    budget = prov.get("budget")
    return budget if isinstance(budget, dict) else {}


def _paper_budget(src: Sources) -> bool:
    b = _budget(src)
    return b.get("epochs") == PAPER_EPOCHS and b.get("train_subset") in (None, "")


def _train_text(src: Sources) -> str:
    b = _budget(src)
    if not b:
        return "training budget unknown"
    subset = "all 60,000" if b.get("train_subset") in (None, "") else f"{b['train_subset']:,}"
    return (
        f"{b.get('epochs')} epochs on {subset} images (the paper states no MNIST budget; "
        f"torchdiffeq's examples/odenet_mnist.py trains {PAPER_EPOCHS} epochs on 60,000)"
    )


def _device_text(src: Sources) -> str:
    prov = src.table1_provenance or {}
    return f"{prov.get('device', '?')}, {prov.get('threads', '?')} thread(s)"


def _row(table: pd.DataFrame | None, model: str) -> pd.Series | None:
    if table is None or "model" not in table:
        return None
    rows = table[table["model"] == model]
    return None if rows.empty else rows.iloc[-1]


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


# --- Table 2 and gradients ----------------------------------------------------------------

#: Table 2's readings of "predictive RMSE on 100 time points extending beyond those that were
#: used for training" (``odebench spirals`` scores each): column -> what it scores.
TABLE2_READINGS: dict[str, str] = {
    "rmse_window": "the observed window after the first observation",
    "rmse_extrap10": "the first 10 extrapolated points",
    "rmse_extrap": "100 extrapolated points within the training radii",
    "rmse_extrap_all": "100 extrapolated points, every test spiral",
}
#: The paper's Table 2 (one RNN row) by observed points.
PAPER_TABLE2: dict[str, dict[int, float]] = {
    "latent_ode": {30: 0.1642, 50: 0.1502, 100: 0.1346},
    "rnn": {30: 0.3937, 50: 0.3202, 100: 0.1813},
}
#: Each of the six numbers within this fraction of the paper's under the matching reading.
TABLE2_MARGIN = 0.2
#: Iterations and seeds below which a Table 2 row is "measured under other conditions".
TABLE2_ITERS, TABLE2_SEEDS = 2000, 3


def _t2(src: Sources) -> pd.DataFrame | None:
    t = src.table2
    if t is None or not {"model", "n_obs"} <= set(t.columns):
        return None
    return t[t["status"] == "ok"] if "status" in t else t


def _t2_rnns(t: pd.DataFrame) -> list[str]:
    return sorted(m for m in set(t["model"]) if str(m) in ("rnn", "rnn_gap", "gru_gap"))


def _t2_distance(t: pd.DataFrame, col: str, rnn: str) -> tuple[float, list[tuple]]:
    """Mean |ours / paper - 1| over the paper's six numbers present, the paper's RNN row
    compared with ``rnn``; with the pairs (model, n_obs, ours, paper)."""
    means = t.groupby(["model", "n_obs"])[col].mean()
    pairs = []
    for paper_model, ours in (("latent_ode", "latent_ode"), ("rnn", rnn)):
        for n_obs, paper in PAPER_TABLE2[paper_model].items():
            value = means.get((ours, n_obs), float("nan"))
            if not math.isnan(value):
                pairs.append((ours, n_obs, float(value), paper))
    if not pairs:
        return float("nan"), []
    return sum(abs(o / p - 1) for *_, o, p in pairs) / len(pairs), pairs


def _t2_match(t: pd.DataFrame) -> tuple[str, str, float, list[tuple]] | None:
    """The reading (and RNN variant) whose means lie closest to the paper's six numbers."""
    best = None
    for col in [c for c in TABLE2_READINGS if c in t.columns]:
        for rnn in _t2_rnns(t):
            d, pairs = _t2_distance(t, col, rnn)
            if pairs and (best is None or d < best[2]):
                best = (col, rnn, d, pairs)
    return best


def _t2_conditions(src: Sources, t: pd.DataFrame) -> tuple[str, bool]:
    """The run's conditions, and whether they are the paper's terms by the stated rule:
    >= 2,000 iterations (torchdiffeq's example; the paper gives none), >= 3 seeds, every
    trained model at a plateau (``plateau`` column)."""
    iters = int(t["iters"].max()) if "iters" in t and len(t) else 0
    seeds = int(t["seed"].nunique()) if "seed" in t else 1
    trained = t[t["iters"] > 0] if "iters" in t else t
    plateau = bool(trained["plateau"].fillna(False).astype(bool).all()) if "plateau" in t else False
    at = "every model at a plateau" if plateau else "not every model at a plateau"
    text = f"spirals, {iters or '?'} iterations, {seeds} seed(s), {at}"
    return text, iters >= TABLE2_ITERS and seeds >= TABLE2_SEEDS and plateau


def _table2_ranking(reading: str | None) -> Callable[[Sources], Finding | None]:
    """The latent ODE below every RNN variant at every count, under one reading (``None``:
    the reading that matches the paper's numbers)."""

    def check(src: Sources) -> Finding | None:
        t = _t2(src)
        if t is None:
            return None
        match = _t2_match(t)
        col = reading if reading is not None else (match[0] if match else None)
        if col is None or col not in t.columns:
            return None
        wide = t.pivot_table(index="n_obs", columns="model", values=col, aggfunc="mean")
        rnns = [m for m in _t2_rnns(t) if m in wide.columns]
        if "latent_ode" not in wide.columns or not rnns:
            return None
        best_rnn = wide[rnns].min(axis=1)
        better = wide["latent_ode"] < best_rnn
        cells = "; ".join(f"n={int(n)}: {wide.loc[n, 'latent_ode']:.3f} vs {best_rnn[n]:.3f}"
                          for n in wide.index)  # fmt: skip
        text, same = _t2_conditions(src, t)
        matches = match is not None and match[0] == col
        return Finding(
            measured=f"{col} ({TABLE2_READINGS.get(col, col)}), latent ODE vs the best of "
            f"{', '.join(rnns)}: {cells}",
            holds=bool(better.all()),
            conditions=text + ("; the reading that matches the paper's numbers" if matches
                               else "; not the reading that matches the paper's numbers"),
            same_conditions=same and matches,
        )  # fmt: skip

    return check


def _table2_numbers(src: Sources) -> Finding | None:
    t = _t2(src)
    match = None if t is None else _t2_match(t)
    if match is None:
        return None
    col, rnn, distance, pairs = match
    text, same = _t2_conditions(src, t)
    cells = "; ".join(f"{m} n={n}: {o:.3f} vs {p:.4f}" for m, n, o, p in pairs)
    return Finding(
        measured=f"closest reading: {col} ({TABLE2_READINGS[col]}), paper's RNN as {rnn}, "
        f"mean relative distance {distance:.1%}: {cells}",
        holds=len(pairs) == 6 and all(abs(o / p - 1) <= TABLE2_MARGIN for *_, o, p in pairs),
        conditions=text,
        same_conditions=same,
    )


# --- the claims ---------------------------------------------------------------------------


def _claims() -> list[Claim]:
    from odebench.claims_table1 import (
        LABELS,
        PAPER_ERRORS,
        PAPER_PARAMS,
        _adjoint_o1_mnist,
        _adjoint_o1_quick,
        _depth_ratio,
        _fig3a,
        _fig3b,
        _fig3d,
        _linear_growth,
        _params,
        _test_error,
    )

    claims: list[Claim] = []
    for m in ("mlp", "resnet", "rknet", "odenet"):
        claims.append(Claim(
            f"params-{m}", f"{LABELS[m]} has {PAPER_PARAMS[m]:.2f}M parameters (Table 1)",
            f"{PAPER_PARAMS[m]:.2f}M", "the count in millions rounds to the paper's figure",
            "table1", _params(m),
        ))  # fmt: skip
    for m in ("mlp", "resnet", "rknet", "odenet"):
        claims.append(Claim(
            f"test-error-{m}", f"{LABELS[m]} test error (Table 1)",
            f"{100 * PAPER_ERRORS[m]:.2f}%",
            f"test error <= the paper's + {100 * ERROR_MARGIN:.1f} percentage point; "
            "depends on the training budget", "table1", _test_error(m),
        ))  # fmt: skip
    claims += [
        Claim("memory-resnet", "ResNet memory is O(L) in its depth (Table 1)", "O(L)",
              f"saved bytes grow linearly with blocks: slope > 0, R^2 >= {MEMORY_R2}",
              "table1", _linear_growth("resnet", "saved", MEMORY_R2, "block")),
        Claim("memory-rknet", "RK-Net memory is O(L~) in its steps (Table 1)", "O(L~)",
              f"saved bytes grow linearly with rk4 steps: slope > 0, R^2 >= {MEMORY_R2}",
              "table1", _linear_growth("rknet", "saved", MEMORY_R2, "rk4 step")),
        Claim("memory-odenet", "ODE-Net (adjoint) memory is O(1) in its NFE (Table 1)", "O(1)",
              f"|adjoint's saved bytes per NFE| < {O1_FRACTION:.0%} of RK-Net backprop's per NFE",
              "table1", _adjoint_o1_mnist),
        Claim("memory-adjoint-steps", "The adjoint's memory is O(1) in the number of solver "
              "steps (Sec. 2)", "O(1)",
              f"|adjoint's saved bytes per step| < {O1_FRACTION:.0%} of backprop's per step",
              "quick", _adjoint_o1_quick),
        Claim("time-resnet", "ResNet time is O(L) (Table 1)", "O(L)",
              f"forward + backward time grows with blocks: slope > 0, R^2 >= {TIME_R2}",
              "table1", _linear_growth("resnet", "time", TIME_R2, "block")),
        Claim("time-rknet", "RK-Net time is O(L~) (Table 1)", "O(L~)",
              f"forward + backward time grows with rk4 steps: slope > 0, R^2 >= {TIME_R2}",
              "table1", _linear_growth("rknet", "time", TIME_R2, "rk4 step")),
        Claim("time-odenet", "ODE-Net time is O(L~) (Table 1)", "O(L~)",
              f"forward + backward time grows with NFE-F: slope > 0, R^2 >= {TIME_R2}",
              "table1", _linear_growth("odenet", "time", TIME_R2, "NFE-F")),
        Claim("depth", "The ODE-Net's evaluations ('depth') are 2-4x a ResNet's depth "
              "(seed slides)",
              "2-4x", f"mean NFE-F over the last epoch / {RESNET_BLOCKS} blocks in [2, 4]; "
              "depends on training", "odenet_log", _depth_ratio),
        Claim("fig3a", "The tolerance trades accuracy for cost (Fig. 3a)",
              "error falls as NFE rises",
              "tightening the tolerance never lowers NFE-F nor raises the error, and the "
              "tightest is costlier and more accurate than the loosest", "fig3a", _fig3a),
        Claim("fig3b", "Forward time grows with NFE (Fig. 3b)", "linear",
              f"forward time on NFE-F: slope > 0, R^2 >= {TIME_R2}", "table1_results", _fig3b),
        Claim("fig3d", "NFE grows over training (Fig. 3d)", "grows",
              "mean NFE-F over the last 10% of iterations >= the first 10%'s + 1; depends on "
              "training", "odenet_log", _fig3d),
        Claim("table2-numbers", "Table 2's six RMSEs, under the reading of 'predictive RMSE "
              "on 100 time points extending beyond those used for training' they match",
              "0.1642/0.1502/0.1346 (latent ODE), 0.3937/0.3202/0.1813 (RNN)",
              "the reading closest to the six numbers (mean |ours/paper - 1|); each within "
              f"{TABLE2_MARGIN:.0%} of the paper's; depends on training", "table2",
              _table2_numbers),
        Claim("table2-ranking", "The latent ODE beats the RNN at every number of observations "
              "(Table 2), under the reading that matches the paper's numbers",
              "latent ODE < RNN RMSE",
              "latent ODE's mean RMSE below every RNN's at every n_obs; depends on training",
              "table2", _table2_ranking(None)),
        *[Claim(f"table2-ranking-{col.removeprefix('rmse_')}", "The latent ODE beats the RNN at "
                f"every number of observations (Table 2), reading: {what}",
                "latent ODE < RNN RMSE",
                "latent ODE's mean RMSE below every RNN's at every n_obs; depends on training",
                "table2", _table2_ranking(col))
          for col, what in TABLE2_READINGS.items()],
    ]  # fmt: skip
    from odebench.claims_findings import findings_claims

    claims += findings_claims()
    # Table 2's ranking under each reading is a measurement of the ranking claim, not another
    return [
        replace(
            c,
            basis=c.basis or _basis(c.id),
            part_of=c.part_of or ("table2-ranking" if c.id.startswith("table2-ranking-") else ""),
        )
        for c in claims
    ]


#: Where each of this module's claims is made (claims_findings' rows name their own).
BASIS: dict[str, str] = {
    "depth": "seed slides (not in the paper)",
    "fig3a": "paper, Fig. 3a",
    "fig3b": "paper, Fig. 3b",
    "fig3d": "paper, Fig. 3d",
    "memory-adjoint-steps": "paper, Sec. 2",
}


def _basis(claim_id: str) -> str:
    if claim_id in BASIS:
        return BASIS[claim_id]
    if claim_id.startswith("table2"):
        return "paper, Table 2"
    return "paper, Table 1"


CLAIMS: tuple[Claim, ...] = tuple(_claims())
COLUMNS: tuple[str, ...] = (
    "id", "claim", "by", "basis", "part_of", "paper", "measured", "rule", "rule_holds",
    "verdict", "conditions", "source", "command", "note",
)  # fmt: skip


def evaluate(src: Sources, claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim (and per measurement beneath a claim): figure, rule and verdict.

    A measurement beneath a claim (``part_of``) carries its rule's outcome but no verdict
    of its own: the claim above it has the verdict, and the tally counts claims once.
    """
    rows = []
    for c in claims:
        finding = c.check(src)
        if finding is None:
            finding = Finding("", None, "", False, note=f"no results in {PATHS[c.source]}")
        path = (src.paths or {}).get(c.source, PATHS[c.source])
        command = COMMANDS[c.source]
        judged = finding.verdict or verdict(finding.holds, finding.same_conditions)
        rows.append({
            "id": c.id, "claim": c.claim, "by": c.by, "basis": c.basis, "part_of": c.part_of,
            "paper": c.paper, "measured": finding.measured, "rule": c.rule,
            "rule_holds": "n/a" if finding.holds is None else ("yes" if finding.holds else "no"),
            "verdict": "" if c.part_of else judged,
            "conditions": finding.conditions, "source": f"results/{path}",
            "command": command if finding.holds is None and not finding.verdict else "",
            "note": finding.note,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tally(table: pd.DataFrame) -> dict[str, int]:
    """How many claims (measurements beneath a claim left out) have each verdict."""
    claims = table[table["part_of"].fillna("") == ""]
    counts = claims["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def render_markdown(table: pd.DataFrame) -> str:
    """``claims.md``: the tally first, then each claim (its measurements beneath it)."""
    counts = tally(table)
    claims = table[table["part_of"].fillna("") == ""]
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    ours = int((claims["by"] == "odebench").sum())
    lines = [
        "# The paper's claims, measured",
        "",
        "Generated by `odebench claims` from the committed results tables (it runs no model). "
        f"{len(claims)} claims, each counted once ({len(claims) - ours} of the paper or the "
        f"seed slides, {ours} odebench's own findings): {summary}.",
        "",
        "Verdicts: **reproduced** / **contradicted**: the rule holds / fails and the claim "
        "does not depend on conditions that differ from the paper's; **depends on the "
        "field**: it holds on some vector fields and fails on others; **measured under "
        "other conditions**: it depends on conditions that differ (training budget, solver, "
        "preprocessing), and `rule holds` says which way the measurement points; **not "
        "comparable: architecture differs**: the paper's model is not specified and ours "
        "differs (the note says how); **not measured**: no results, and the command that "
        "measures it; **not measured (out of scope)**: the note says why. Rows marked ↳ are "
        "measurements of the claim above them, not claims of their own.",
        "",
        "| Claim | Basis | Paper | Measured | Rule holds | Verdict | Conditions | Source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        measured = r["measured"] or "-"
        if r["note"]:
            measured += f" ({r['note']})"
        source = r["source"] + (f"; run `{r['command']}`" if r["command"] else "")
        name = f"↳ {r['claim']}" if r["part_of"] else r["claim"]
        basis = r["basis"]
        if r["by"] == "odebench" and "odebench" not in basis:
            basis += " (odebench's finding, not the paper's)"
        judged = f"**{r['verdict']}**" if r["verdict"] else "(measurement)"
        lines.append(
            f"| {name} | {basis} | {r['paper'] or '-'} | {measured} | {r['rule_holds']} | "
            f"{judged} | {r['conditions'] or '-'} | {source} |"
        )
    lines += ["", "## Rules", ""]
    lines += [f"- `{r['id']}`: {r['rule']}." for _, r in table.iterrows()]
    lines.append("")
    return "\n".join(lines)


def write_claims(results: str | Path = "results", out: str | Path | None = None) -> list[Path]:
    """Evaluate every claim on the tables under ``results``; write claims.md/.csv to ``out``."""
    table = evaluate(load_sources(results))
    out_dir = Path(out) if out is not None else Path(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "claims.csv", out_dir / "claims.md"
    table.to_csv(csv_path, index=False)
    md_path.write_text(render_markdown(table))
    return [md_path, csv_path]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "claims",
        help="each checkable claim of the paper with its measured figure and a verdict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder of the results tables (default: results)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="where to write (default: --results)")
    p.add_argument("--measure", action="store_true",
                   help="first run the ledger's own small measurement (y0 rebuilt from y(t1) "
                   "on the trained spiral field) into <results>/claims_measured/")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="with --measure: move an earlier measurement aside first")  # fmt: skip
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "measure", False):
            from odebench.experiments.claims import measure

            if not Path(args.results).is_dir():
                raise ClaimsError(f"--results {args.results} is not a folder; pass the "
                                  "results folder (results).")  # fmt: skip
            print(f"wrote {measure(args.results, force=args.force)}")
        written = write_claims(args.results, args.out)
    except ClaimsError as exc:
        print(f"odebench claims: error: {exc}", file=sys.stderr)
        return 2
    table = pd.read_csv(written[1])
    for _, r in table[table["part_of"].fillna("") == ""].iterrows():
        print(f"{r['verdict']:36s} {r['claim']}")
    print(f"wrote {written[0]} and {written[1]}")
    return 0


__all__ = ["CLAIMS", "Claim", "Finding", "Sources", "evaluate", "verdict", "write_claims"]
