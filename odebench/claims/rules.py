"""The ledger's rules: verdicts, thresholds, the results it reads (:class:`Sources`), a claim and
its finding, and the helpers every row shares (conditions, rows, numbers).

The verdicts, each computed by the claim's stated rule:

* **reproduced** / **contradicted**: the rule holds / fails, and the claim does not
  depend on conditions that differ from the paper's (or they are the paper's);
* **measured under other conditions**: the claim depends on conditions that differ here
  (training budget, solver, data preprocessing); ``rule_holds`` says which way it points;
* **depends on the field**: the rule holds on some vector fields and fails on others;
* **not comparable: architecture differs**: the paper's figure belongs to a model whose
  layers it does not specify, and ours differs (``note`` says which detail);
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


def budget(src: Sources) -> dict[str, Any]:
    prov = src.table1_provenance or {}
    budget = prov.get("budget")
    return budget if isinstance(budget, dict) else {}


def paper_budget(src: Sources) -> bool:
    b = budget(src)
    return b.get("epochs") == PAPER_EPOCHS and b.get("train_subset") in (None, "")


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
