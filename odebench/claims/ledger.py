"""The ledger: every checkable claim of the paper as a measured row with a verdict.

It reads the committed results tables only (never runs a model) and writes
``results/claims.md`` and ``results/claims.csv``: one row per claim with the source's
figure, the measured figure, the conditions, the results file it came from and a verdict.

The rule: each claim states its source's conditions (solver, model or field, budget,
tolerance, metric) and each measurement its own; the verdict is computed from the rule's
outcome and the conditions that differ (column ``differs``), never written by hand:

* **reproduced** / **contradicted**: the rule holds / fails and no stated condition differs;
* **matched by construction**: it holds for a figure odebench chose to match;
* **measured under other conditions**: a stated condition differs; ``rule_holds`` says which
  way the measurement points;
* **depends on the field**: the rule holds on some vector fields and fails on others;
* **not comparable: architecture differs**: the paper does not specify the model and ours
  differs;
* **uninformative**: the measurement cannot show the claim either way (``note`` says why);
* **awaiting the committed run**: a trained model's figure, and results/table1 is not
  Table 1's multi-epoch run from a clean commit;
* **not measured**: its results are missing; ``command`` says what measures it;
* **not measured (out of scope)**: odebench does not measure it (``note`` says why).

Table 2 is read as the paper describes it; which reading lies closest to its numbers is a
finding of its own. Every row names its ``basis`` and who makes the claim (``by``: the paper,
the seed slides, the literature, or odebench). Rows ``part_of`` a claim are measurements
listed beneath it and not counted in the tally.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from odebench.claims.beyond import beyond_claims
from odebench.claims.findings import findings_claims
from odebench.claims.rules import (
    COMMANDS,
    ERROR_MARGIN,
    MEMORY_R2,
    O1_FRACTION,
    PAPER_MNIST_BUDGET,
    PATHS,
    PROPORTIONAL_INTERCEPT,
    RESNET_BLOCKS,
    TIME_R2,
    TRAINED_SOURCES,
    VERDICTS,
    Claim,
    Conditions,
    Finding,
    Sources,
    committed_run,
    judge,
    load_sources,
)
from odebench.claims.table1 import (
    LABELS,
    PAPER_ERRORS,
    PAPER_PARAMS,
    SAME_PERFORMANCE,
    adjoint_o1_mnist,
    adjoint_o1_quick,
    backward_faster,
    depth_ratio,
    fig3a,
    fig3b,
    fig3d,
    linear_growth,
    params_claim,
    same_performance,
    test_error_claim,
)
from odebench.claims.table2 import (
    HEADLINE_READING,
    PAPER_CONDITIONS,
    PAPER_RNN,
    PAPER_WORDS,
    TABLE2_MARGIN,
    TABLE2_READINGS,
    extrapolation,
    table2_numbers,
    table2_ranking,
    table2_reading_match,
)
from odebench.claims.trained import trained_claims

# --- the claims ---------------------------------------------------------------------------

MNIST = Conditions(budget=PAPER_MNIST_BUDGET)
#: Table 1's MLP figure is LeCun et al. 1998's (its own preprocessing), not the paper's run.
LECUN = Conditions(budget=PAPER_MNIST_BUDGET, model="LeCun et al. 1998's 1-layer MLP")


def _table2_claims() -> list[Claim]:
    headline = TABLE2_READINGS[HEADLINE_READING]
    numbers = "0.1642/0.1502/0.1346 (latent ODE), 0.3937/0.3202/0.1813 (RNN)"
    within = f"each of the six within {TABLE2_MARGIN:.0%} of the paper's; depends on training"
    ranks = "latent ODE's mean RMSE below every RNN's at every n_obs; depends on training"
    sub = {"basis": "paper, Table 2", "conditions": PAPER_CONDITIONS}
    claims = [
        Claim("table2-numbers", f"Table 2's six RMSEs, read as the paper describes them "
              f"({PAPER_WORDS}: {headline})", numbers,
              f"{within}; the paper's RNN row compared with odebench's '{PAPER_RNN}'", "table2",
              table2_numbers(HEADLINE_READING), **sub),
    ]
    for col, what in TABLE2_READINGS.items():
        for rnn in ("rnn", "rnn_gap"):
            if col == HEADLINE_READING and rnn == PAPER_RNN:
                continue
            claims.append(Claim(
                f"table2-numbers/{col.removeprefix('rmse_')}-{rnn}", f"reading: {what}, the "
                f"paper's RNN as {rnn}", "", within, "table2", table2_numbers(col, rnn),
                part_of="table2-numbers", **sub))  # fmt: skip
    claims += [
        Claim("odebench-table2-reading", "odebench: the reading the paper describes is the one "
              "closest to its six numbers", "-", "of every reading and RNN variant, the "
              "paper-described reading lies closest (mean |ours/paper - 1|); reported, never a "
              "verdict's basis", "table2", table2_reading_match,
              basis="odebench's finding on Table 2", by="odebench",
              conditions=PAPER_CONDITIONS),
        Claim("table2-ranking", "The latent ODE beats the RNN at every number of observations "
              f"(Table 2), read as the paper describes ({headline})", "latent ODE < RNN RMSE",
              ranks, "table2", table2_ranking(HEADLINE_READING), **sub),
    ]
    claims.append(Claim(
        "extrapolation", "Reconstructions and extrapolations are consistent with the ground "
        "truth regardless of the number of observed points and despite the noise (Sec. 5.1)",
        "consistent", "the latent ODE's RMSE, read as Table 2 describes, below the "
        "observations' noise at every n_obs", "table2", extrapolation,
        basis="paper, Sec. 5.1", conditions=PAPER_CONDITIONS))  # fmt: skip
    for long in (False, True):
        for col, what in TABLE2_READINGS.items():
            if col == HEADLINE_READING and not long:
                continue
            tag = "long-" if long else ""
            run = "; latent ODE at the long budget" if long else ""
            claims.append(Claim(
                f"table2-ranking/{tag}{col.removeprefix('rmse_')}", f"reading: {what}{run}",
                "", ranks, "table2_long" if long else "table2", table2_ranking(col, long),
                part_of="table2-ranking", **sub))  # fmt: skip
    return claims


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
            conditions=LECUN if m == "mlp" else MNIST, trained=True,
        ))  # fmt: skip
    claims += [
        Claim("same-performance", "ODE-Nets and RK-Nets can achieve around the same "
              "performance as the ResNet (Table 1)", "0.42% / 0.47% vs 0.41%",
              f"at one budget, RK-Net's and ODE-Net's test errors <= the ResNet's + "
              f"{100 * SAME_PERFORMANCE:.1f} percentage point", "table1", same_performance,
              conditions=MNIST, trained=True),
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
              "depends on training", "odenet_log", depth_ratio, by="seed slides",
              conditions=MNIST),
        Claim("backward-faster", "The adjoint gives a faster backward pass (seed slides)",
              "backward faster than forward",
              "the ODE-Net's backward time below its forward time at most dopri5 tolerances",
              "table1_results", backward_faster, by="seed slides", conditions=MNIST),
        Claim("fig3a", "The tolerance trades accuracy for cost (Fig. 3a)",
              "error falls as NFE rises",
              "tightening the tolerance never lowers NFE-F nor raises the error, and the "
              "tightest is costlier and more accurate than the loosest", "fig3a", fig3a,
              conditions=MNIST),
        Claim("fig3b", "Forward time is proportional to NFE (Fig. 3b)", "proportional",
              f"forward time on NFE-F: slope > 0, R^2 >= {TIME_R2}, |intercept| <= "
              f"{PROPORTIONAL_INTERCEPT:.0%} of the time at the lowest NFE-F", "table1_results",
              fig3b, conditions=MNIST),
        Claim("fig3d", "NFE grows over training (Fig. 3d)", "grows",
              "mean NFE-F over the last 10% of iterations >= the first 10%'s + 1; depends on "
              "training", "odenet_log", fig3d, conditions=MNIST),
        *_table2_claims(),
    ]  # fmt: skip
    claims += findings_claims() + trained_claims() + beyond_claims()
    return [replace(c, basis=c.basis or _basis(c.id)) for c in claims]


#: Where each of this module's claims is made (claims_findings' rows name their own).
BASIS: dict[str, str] = {
    "depth": "seed slides (not in the paper)",
    "backward-faster": "seed slides (not in the paper)",
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
    "verdict", "differs", "conditions", "source", "command", "note",
)  # fmt: skip


def evaluate(src: Sources, claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim (and per measurement beneath a claim): figure, rule and verdict.

    The verdict is :func:`~odebench.claims.rules.judge`'s, from the finding and the claim's
    conditions; rows read from a trained model wait for Table 1's committed multi-epoch run.
    A measurement beneath a claim (``part_of``) carries its rule's outcome but no verdict
    of its own: the claim above it has the verdict, and the tally counts claims once.
    """
    waiting = committed_run(src)
    rows = []
    for c in claims:
        finding = c.check(src)
        if finding is None:
            finding = Finding("", None, "", note=f"no results in {PATHS[c.source]}")
        awaiting = waiting if c.trained or c.source in TRAINED_SOURCES else ""
        judged, differ = judge(finding, c.conditions, awaiting)
        note = "; ".join(x for x in (awaiting and f"awaiting the committed run: {awaiting}",
                                     finding.uninformative, finding.note) if x)  # fmt: skip
        rows.append({
            "id": c.id, "claim": c.claim, "by": c.by, "basis": c.basis, "part_of": c.part_of,
            "paper": c.paper, "measured": finding.measured, "rule": c.rule,
            "rule_holds": "n/a" if finding.holds is None else ("yes" if finding.holds else "no"),
            "verdict": "" if c.part_of else judged, "differs": "; ".join(differ),
            "conditions": finding.conditions,
            "source": f"results/{PATHS[finding.read_from or c.source]}",
            "command": COMMANDS[c.source] if judged in ("not measured",
                                                        "awaiting the committed run") else "",
            "note": note,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tally(table: pd.DataFrame) -> dict[str, int]:
    """How many claims (measurements beneath a claim left out) have each verdict."""
    claims = table[table["part_of"].fillna("") == ""]
    counts = claims["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def render_markdown(table: pd.DataFrame) -> str:
    """``claims.md``: the rule, the tally, then each claim (its measurements beneath it)."""
    counts = tally(table)
    claims = table[table["part_of"].fillna("") == ""]
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    ours = int((claims["by"] == "odebench").sum())
    lines = [
        "# The paper's claims, measured",
        "",
        "Generated by `odebench claims` from the committed results tables (it runs no model). "
        f"{len(claims)} claims, each counted once ({len(claims) - ours} of the paper, the "
        f"seed slides or the literature, {ours} odebench's own findings): {summary} "
        "(each verdict's rows: [Verdicts](#verdicts)).",
        "",
        "The rule: each claim states its source's conditions (solver, model or field, "
        "budget, tolerance, metric) and each measurement its own; the verdict is computed "
        "from the rule's outcome and from which stated conditions differ (column *Differs*), "
        "never written by hand. **reproduced** / **contradicted**: the rule holds / fails "
        "and no stated condition differs; **matched by construction**: it holds for a figure "
        "odebench chose to match; **measured under other conditions**: a stated condition "
        "differs, and `rule holds` says which way the measurement points; **depends on the "
        "field**: it holds on some vector fields and fails on others; **not comparable: "
        "architecture differs**: the paper's model is not specified and ours differs; "
        "**uninformative**: the measurement cannot show it either way (the note says why); "
        "**awaiting the committed run**: it needs Table 1's multi-epoch run from a clean "
        "commit; **not measured**: no results, and the command that measures it; **not "
        "measured (out of scope)**: the note says why. Rows marked ↳ are measurements of the "
        "claim above them, not claims of their own. Table 2 is read as the paper describes "
        "it; which reading lies closest to its numbers is a finding of its own.",
        "",
        "| Claim | Basis | Paper | Measured | Rule holds | Verdict | Differs | Conditions "
        "| Source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        measured = r["measured"] or "-"
        if r["note"]:
            measured += f" ({r['note']})"
        source = r["source"] + (f"; run `{r['command']}`" if r["command"] else "")
        anchor = f'<a id="{r["id"].replace("/", "-")}"></a>'
        name = anchor + (f"↳ {r['claim']}" if r["part_of"] else r["claim"])
        basis = r["basis"]
        if r["by"] == "odebench" and "odebench" not in basis:
            basis += " (odebench's finding, not the paper's)"
        judged = f"**{r['verdict']}**" if r["verdict"] else "(measurement)"
        lines.append(
            f"| {name} | {basis} | {r['paper'] or '-'} | {measured} | {r['rule_holds']} | "
            f"{judged} | {r['differs'] or '-'} | {r['conditions'] or '-'} | {source} |"
        )
    lines += ["", "## Verdicts", ""]
    for v in VERDICTS:
        ids = [i for i in claims[claims["verdict"] == v]["id"]]
        if ids:
            links = ", ".join(f"[{i}](#{i.replace('/', '-')})" for i in ids)
            lines.append(f"- **{v}** ({len(ids)}): {links}")
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
    from odebench.running.provenance import provenance

    commit = provenance(suite="claims", threads=1).get("commit") or "unknown"
    table.to_csv(csv_path, index=False)
    made = f"\nMade by `odebench claims` at commit {commit}.\n"
    md_path.write_text(render_markdown(table) + made)
    return [md_path, csv_path]


__all__ = ["CLAIMS", "Claim", "evaluate", "render_markdown", "tally", "write_claims"]
