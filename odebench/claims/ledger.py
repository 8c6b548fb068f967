"""The ledger: every checkable claim of the paper as a measured row with a verdict.

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

from dataclasses import replace
from pathlib import Path

import pandas as pd

from odebench.claims.findings import findings_claims
from odebench.claims.rules import (
    COMMANDS,
    ERROR_MARGIN,
    MEMORY_R2,
    O1_FRACTION,
    PATHS,
    RESNET_BLOCKS,
    TIME_R2,
    VERDICTS,
    Claim,
    Finding,
    Sources,
    load_sources,
    verdict,
)
from odebench.claims.table1 import (
    LABELS,
    PAPER_ERRORS,
    PAPER_PARAMS,
    adjoint_o1_mnist,
    adjoint_o1_quick,
    depth_ratio,
    fig3a,
    fig3b,
    fig3d,
    linear_growth,
    params_claim,
    test_error_claim,
)
from odebench.claims.table2 import TABLE2_MARGIN, TABLE2_READINGS, table2_numbers, table2_ranking

# --- the claims ---------------------------------------------------------------------------


def _claims() -> list[Claim]:
    claims: list[Claim] = []
    for m in ("mlp", "resnet", "rknet", "odenet"):
        claims.append(Claim(
            f"params-{m}", f"{LABELS[m]} has {PAPER_PARAMS[m]:.2f}M parameters (Table 1)",
            f"{PAPER_PARAMS[m]:.2f}M", "the count in millions rounds to the paper's figure",
            "table1", params_claim(m),
        ))  # fmt: skip
    for m in ("mlp", "resnet", "rknet", "odenet"):
        claims.append(Claim(
            f"test-error-{m}", f"{LABELS[m]} test error (Table 1)",
            f"{100 * PAPER_ERRORS[m]:.2f}%",
            f"test error <= the paper's + {100 * ERROR_MARGIN:.1f} percentage point; "
            "depends on the training budget", "table1", test_error_claim(m),
        ))  # fmt: skip
    claims += [
        Claim("memory-resnet", "ResNet memory is O(L) in its depth (Table 1)", "O(L)",
              f"saved bytes grow linearly with blocks: slope > 0, R^2 >= {MEMORY_R2}",
              "table1", linear_growth("resnet", "saved", MEMORY_R2, "block")),
        Claim("memory-rknet", "RK-Net memory is O(L~) in its steps (Table 1)", "O(L~)",
              f"saved bytes grow linearly with rk4 steps: slope > 0, R^2 >= {MEMORY_R2}",
              "table1", linear_growth("rknet", "saved", MEMORY_R2, "rk4 step")),
        Claim("memory-odenet", "ODE-Net (adjoint) memory is O(1) in its NFE (Table 1)", "O(1)",
              f"|adjoint's saved bytes per NFE| < {O1_FRACTION:.0%} of RK-Net backprop's per NFE",
              "table1", adjoint_o1_mnist),
        Claim("memory-adjoint-steps", "The adjoint's memory is O(1) in the number of solver "
              "steps (Sec. 2)", "O(1)",
              f"|adjoint's saved bytes per step| < {O1_FRACTION:.0%} of backprop's per step",
              "quick", adjoint_o1_quick),
        Claim("time-resnet", "ResNet time is O(L) (Table 1)", "O(L)",
              f"forward + backward time grows with blocks: slope > 0, R^2 >= {TIME_R2}",
              "table1", linear_growth("resnet", "time", TIME_R2, "block")),
        Claim("time-rknet", "RK-Net time is O(L~) (Table 1)", "O(L~)",
              f"forward + backward time grows with rk4 steps: slope > 0, R^2 >= {TIME_R2}",
              "table1", linear_growth("rknet", "time", TIME_R2, "rk4 step")),
        Claim("time-odenet", "ODE-Net time is O(L~) (Table 1)", "O(L~)",
              f"forward + backward time grows with NFE-F: slope > 0, R^2 >= {TIME_R2}",
              "table1", linear_growth("odenet", "time", TIME_R2, "NFE-F")),
        Claim("depth", "The ODE-Net's evaluations ('depth') are 2-4x a ResNet's depth "
              "(seed slides)",
              "2-4x", f"mean NFE-F over the last epoch / {RESNET_BLOCKS} blocks in [2, 4]; "
              "depends on training", "odenet_log", depth_ratio),
        Claim("fig3a", "The tolerance trades accuracy for cost (Fig. 3a)",
              "error falls as NFE rises",
              "tightening the tolerance never lowers NFE-F nor raises the error, and the "
              "tightest is costlier and more accurate than the loosest", "fig3a", fig3a),
        Claim("fig3b", "Forward time grows with NFE (Fig. 3b)", "linear",
              f"forward time on NFE-F: slope > 0, R^2 >= {TIME_R2}", "table1_results", fig3b),
        Claim("fig3d", "NFE grows over training (Fig. 3d)", "grows",
              "mean NFE-F over the last 10% of iterations >= the first 10%'s + 1; depends on "
              "training", "odenet_log", fig3d),
        Claim("table2-numbers", "Table 2's six RMSEs, under the reading of 'predictive RMSE "
              "on 100 time points extending beyond those used for training' they match",
              "0.1642/0.1502/0.1346 (latent ODE), 0.3937/0.3202/0.1813 (RNN)",
              "the reading closest to the six numbers (mean |ours/paper - 1|); each within "
              f"{TABLE2_MARGIN:.0%} of the paper's; depends on training", "table2",
              table2_numbers),
        Claim("table2-ranking", "The latent ODE beats the RNN at every number of observations "
              "(Table 2), under the reading that matches the paper's numbers",
              "latent ODE < RNN RMSE",
              "latent ODE's mean RMSE below every RNN's at every n_obs; depends on training",
              "table2", table2_ranking(None)),
        *[Claim(f"table2-ranking-{col.removeprefix('rmse_')}", "The latent ODE beats the RNN at "
                f"every number of observations (Table 2), reading: {what}",
                "latent ODE < RNN RMSE",
                "latent ODE's mean RMSE below every RNN's at every n_obs; depends on training",
                "table2", table2_ranking(col))
          for col, what in TABLE2_READINGS.items()],
    ]  # fmt: skip
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


__all__ = ["CLAIMS", "Claim", "evaluate", "render_markdown", "tally", "write_claims"]
