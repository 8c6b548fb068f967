"""The ledger's rules: verdicts, thresholds, the results it reads (:class:`Sources`), a claim and
its finding, and the helpers every row shares (conditions, rows, numbers).

The verdicts, each computed by the claim's stated rule:

Conditions are data: each claim states the paper's :class:`Conditions` (solver, model or
field, budget, tolerance, metric; ``None`` where the source states none) and each finding the
measurement's; :func:`differing` compares them and :func:`judge` turns the rule's outcome and
that comparison into one verdict. No check passes a verdict or a "same conditions" flag.

* **reproduced** / **contradicted**: the rule holds / fails and every condition the source
  states is the measurement's;
* **matched by construction**: the rule holds for a figure odebench chose to match it;
* **measured under other conditions**: a stated condition differs (the row names which);
  ``rule_holds`` says which way the measurement points;
* **depends on the field**: the rule holds on some vector fields and fails on others;
* **not comparable: architecture differs**: the paper's figure belongs to a model whose
  layers it does not specify, and ours differs (``note`` says which detail);
* **uninformative**: the measurement cannot show the claim either way (``note`` says why);
* **awaiting the committed run**: the row needs Table 1's multi-epoch run from a clean
  commit, and ``results/table1`` does not hold one yet;
* **not measured**: its results are missing; ``command`` says what measures it;
* **not measured (out of scope)**: odebench does not measure it (``note`` says why).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

VERDICTS: tuple[str, ...] = (
    "reproduced",
    "contradicted",
    "matched by construction",
    "depends on the field",
    "measured under other conditions",
    "not comparable: architecture differs",
    "uninformative",
    "awaiting the committed run",
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
#: "Proportional": the fitted line's intercept at most this share of the time at the lowest NFE.
PROPORTIONAL_INTERCEPT = 0.1
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
    table2_long: pd.DataFrame | None = None
    table2_cost: pd.DataFrame | None = None
    test_tolerance: pd.DataFrame | None = None
    single_nfe: pd.DataFrame | None = None
    gradients: pd.DataFrame | None = None
    reconstruction: pd.DataFrame | None = None
    dynamics: pd.DataFrame | None = None
    dynamics_latent: pd.DataFrame | None = None
    per_input: pd.DataFrame | None = None
    backends: pd.DataFrame | None = None


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
    "table2_long": "table2_long/table2.csv",
    "table2_cost": "table2/table2_cost.csv",
    "dynamics": "training_dynamics/summary.csv",
    "dynamics_latent": "training_dynamics_latent/summary.csv",
    "per_input": "claims_measured/per_input_nfe.csv",
    "backends": "backends/results.csv",
}
#: The sources a trained model's figures come from: their rows wait for Table 1's multi-epoch
#: run from a clean commit (:func:`committed_run`).
TRAINED_SOURCES = frozenset(
    {"table1_results", "fig3a", "fig3c", "odenet_log", "test_tolerance", "single_nfe",
     "per_input"}
)
#: What (re)measures each source.
COMMANDS: dict[str, str] = {
    **{key: "odebench table1" for key in PATHS},
    "quick": "odebench run --suite quick",
    "gradients": "odebench run --suite gradients --out results/gradients",
    "reconstruction": "odebench claims --measure",
    "table2": "odebench spirals",
    "table2_provenance": "odebench spirals",
    "table2_cost": "odebench spirals",
    "table2_long": "odebench spirals --models latent_ode --budget long --out results/table2_long",
    "dynamics": "odebench training-dynamics (issue 34)",
    "dynamics_latent": "odebench training-dynamics --model latent --out "
    "results/training_dynamics_latent (issue 34)",
    "per_input": "odebench claims --measure --force (after Table 1's committed run)",
    "backends": "odebench run --suite backends --out results/backends",
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
            elif key in ("table1_results", "quick", "gradients", "backends"):
                from odebench.running.results import read_results

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
    return Sources(**found)


# --- conditions, findings, verdicts -------------------------------------------------------

CONDITION_NAMES: tuple[str, ...] = ("solver", "model", "budget", "tolerance", "metric")


@dataclass(frozen=True)
class Conditions:
    """The conditions a figure was made under; ``None``: not stated (never compared)."""

    solver: str | None = None
    model: str | None = None
    budget: str | None = None
    tolerance: str | None = None
    metric: str | None = None


def differing(paper: Conditions, here: Conditions) -> list[str]:
    """Each condition the paper states that the measurement does not share, as text."""
    out = []
    for name in CONDITION_NAMES:
        want, got = getattr(paper, name), getattr(here, name)
        if want is not None and got != want:
            out.append(f"{name}: paper {want}; here {got or 'not stated'}")
    return out


@dataclass(frozen=True)
class Finding:
    """What the results say about one claim: the figure, the rule's outcome, the conditions.

    The verdict is never given here: :func:`judge` computes it from these fields and the
    claim's own conditions. The optional fields are facts that decide special verdicts.
    """

    measured: str
    holds: bool | None  # None: not measured
    conditions: str
    here: Conditions = Conditions()
    note: str = ""
    #: The rule's outcome per vector field, when judged per field.
    per_field: dict[str, bool] | None = None
    #: What odebench chose so the figure would match (empty: nothing was).
    constructed: str = ""
    #: The detail the paper leaves unspecified and ours differs in (empty: none).
    unspecified: str = ""
    #: Why the measurement cannot show the claim either way (empty: it can).
    uninformative: str = ""
    #: Why odebench does not measure it (empty: in scope).
    out_of_scope: str = ""
    #: The source (a key of PATHS) actually read, when not the claim's own.
    read_from: str = ""


@dataclass(frozen=True)
class Claim:
    """One checkable claim: the source's statement and figure, the rule, where it is read."""

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
    #: Who claims it: "paper", "seed slides", "literature" or "odebench" (own findings).
    by: str = "paper"
    #: The conditions the claim's source states (compared with each finding's).
    conditions: Conditions = Conditions()
    #: Its figure comes from a trained MNIST model (beyond :data:`TRAINED_SOURCES`): it waits
    #: for Table 1's committed multi-epoch run.
    trained: bool = False


def judge(finding: Finding, paper: Conditions, awaiting: str = "") -> tuple[str, list[str]]:
    """The verdict of a finding under the claim's conditions, and the conditions that differ.

    ``awaiting``: why the run the row needs is not committed yet (empty: it is).
    """
    # a figure not measured has no conditions to compare
    differ = differing(paper, finding.here) if finding.holds is not None else []
    if finding.out_of_scope:
        return "not measured (out of scope)", []
    if awaiting:
        return "awaiting the committed run", differ
    if finding.holds is None:
        return "not measured", differ
    if finding.uninformative:
        return "uninformative", differ
    if finding.unspecified and not finding.holds:
        return "not comparable: architecture differs", differ
    if differ:
        return "measured under other conditions", differ
    fields = finding.per_field or {}
    if any(fields.values()) and not all(fields.values()):
        return "depends on the field", differ
    if finding.holds and finding.constructed:
        return "matched by construction", differ
    return ("reproduced" if finding.holds else "contradicted"), differ


def committed_run(src: Sources) -> str:
    """Why ``results/table1`` is not Table 1's multi-epoch run from a clean commit ("" if it is)."""
    prov = src.table1_provenance
    if not prov:
        return "results/table1 has no provenance.json"
    commit = str(prov.get("commit") or "")
    b = budget(src)
    why = []
    if not commit or commit.endswith("-dirty"):
        why.append(f"its run came from an uncommitted tree ({commit or 'no commit'})")
    if not isinstance(b.get("epochs"), int) or b["epochs"] < 2:
        why.append(f"it trained {b.get('epochs', '?')} epoch(s), not several")
    if b.get("train_subset") not in (None, ""):
        why.append(f"it trained on a subset of {b['train_subset']:,} images")
    return "results/table1: " + "; ".join(why) if why else ""


# --- conditions ---------------------------------------------------------------------------


def budget(src: Sources) -> dict[str, Any]:
    prov = src.table1_provenance or {}
    budget = prov.get("budget")
    return budget if isinstance(budget, dict) else {}


def budget_label(epochs: Any, subset: Any) -> str:
    """One MNIST budget as text: the paper's and the measurement's are compared as these."""
    images = "all 60,000" if subset in (None, "") else f"{subset:,}"
    return f"{epochs} epochs on {images} images"


#: The paper states no MNIST budget; torchdiffeq's examples/odenet_mnist.py trains this one.
PAPER_MNIST_BUDGET = budget_label(PAPER_EPOCHS, None)


def mnist_budget(src: Sources) -> str | None:
    """The budget of Table 1's run as :func:`budget_label` text (``None``: unknown)."""
    b = budget(src)
    return budget_label(b.get("epochs"), b.get("train_subset")) if b else None


def train_text(src: Sources) -> str:
    b = budget(src)
    if not b:
        return "training budget unknown"
    subset = "all 60,000" if b.get("train_subset") in (None, "") else f"{b['train_subset']:,}"
    return (
        f"{b.get('epochs')} epochs on {subset} images (the paper states no MNIST budget; "
        f"torchdiffeq's examples/odenet_mnist.py trains {PAPER_EPOCHS} epochs on 60,000)"
    )


def device_text(src: Sources) -> str:
    prov = src.table1_provenance or {}
    return f"{prov.get('device', '?')}, {prov.get('threads', '?')} thread(s)"


def model_row(table: pd.DataFrame | None, model: str) -> pd.Series | None:
    if table is None or "model" not in table:
        return None
    rows = table[table["model"] == model]
    return None if rows.empty else rows.iloc[-1]


def as_float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def ok_status(df: pd.DataFrame) -> pd.DataFrame:
    """The rows whose case finished (``status == "ok"``), as they are."""
    return df[df["status"] == "ok"] if "status" in df else df


#: Where the gradient rows are read from, first found first.
GRADIENT_SOURCES = ("gradients", "quick")


def gradient_rows(src: Sources) -> tuple[pd.DataFrame, str] | None:
    """Backprop and adjoint rows on problems (float64 from the gradients suite if present,
    else the quick suite), loss on y(t1) alone, torchdiffeq."""
    for key in GRADIENT_SOURCES:
        df = getattr(src, key)
        if df is None or "problem" not in df:
            continue
        rows = ok_status(df)
        rows = rows[rows["problem"].notna() & (rows["problem"].astype(str) != "")]
        rows = rows[rows["gradient"].isin(["backprop", "adjoint"]) & rows["rtol"].notna()]
        if "seminorm" in rows:
            rows = rows[rows["seminorm"].astype(str).str.lower() != "true"]
        if "backend" in rows:
            rows = rows[rows["backend"].fillna("torchdiffeq").isin(["torchdiffeq", ""])]
        if "output_times" in rows:
            rows = rows[rows["output_times"].fillna(2).astype(int) == 2]
        if "dtype" in rows and (rows["dtype"] == "float64").any():
            rows = rows[rows["dtype"] == "float64"]
        if not rows.empty:
            return rows, key
    return None


def methods_of(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(str(m) for m in rows["method"].dropna().unique()))


def problems_of(rows: pd.DataFrame) -> str:
    return ", ".join(sorted(str(p) for p in rows["problem"].dropna().unique()))


def out_of_scope(reason: str) -> Callable[[Sources], Finding | None]:
    def check(src: Sources) -> Finding | None:
        return Finding("", None, "", note=reason, out_of_scope=reason)

    return check
