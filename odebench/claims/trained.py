"""The trained MNIST ODE-Net's claims beyond Table 1 and Figure 3: train tight and test loose
(Sec. 3), 1e-3 without degrading performance (Sec. 6), and NFE per input (the abstract's
adaptivity, Sec. 6's minibatches), judged where NFE varies per input.

Every check reads results tables only and returns a :class:`~odebench.claims.rules.Finding`,
or ``None`` when its table is absent.
"""

from __future__ import annotations

import pandas as pd

from odebench.claims.rules import (
    PAPER_MNIST_BUDGET,
    Claim,
    Conditions,
    Finding,
    Sources,
    mnist_budget,
    train_text,
)

#: Test-time tolerance: a looser tolerance may cost at most this much test error.
TOLERANCE_MARGIN = 0.005
#: "Does not grow substantially": a batch's NFE-F at most this multiple of one image's.
BATCH_GROWTH = 2.0
#: The trained ODE-Net's conditions: the torchdiffeq example's budget (the paper states none).
MNIST = Conditions(budget=PAPER_MNIST_BUDGET)

def test_tolerance(src: Sources) -> Finding | None:
    """Train at high accuracy, test at lower accuracy (Sec. 3)."""
    t = src.test_tolerance
    if t is None or t.empty:
        return None
    trained = t[t["rtol"] == t["trained_rtol"]]
    if trained.empty:
        return None
    base_err, base_nfe = float(trained["test_error"].iloc[0]), float(
        trained["nfe_forward_per_batch"].iloc[0])  # fmt: skip
    loose = t[t["rtol"] > t["trained_rtol"]]
    cells = "; ".join(f"{r['rtol']:g}: {100 * r['test_error']:.2f}% at NFE-F "
                      f"{r['nfe_forward_per_batch']:.1f}" for _, r in t.iterrows())  # fmt: skip
    holds = bool(len(loose)) and bool(
        (loose["test_error"] <= base_err + TOLERANCE_MARGIN).all()
        and (loose["nfe_forward_per_batch"] < base_nfe).all()
    )
    return Finding(
        measured=f"trained at {trained['rtol'].iloc[0]:g}; tested at {cells}",
        holds=holds,
        conditions=f"trained ODE-Net ({train_text(src)}), first "
        f"{int(t['test_images'].iloc[0]):,} test images",
        here=Conditions(budget=mnist_budget(src)),
    )


#: Sec. 6: 1e-3 'without degrading performance': within this much of the tightest tested.
DEGRADE_MARGIN = 0.001


def tolerance_1e3(src: Sources) -> Finding | None:
    """Sec. 6: image classification at rtol = atol = 1e-3 without degrading performance."""
    t = src.test_tolerance
    if t is None or t.empty or not (t["rtol"] == 1e-3).any() or t["rtol"].min() >= 1e-3:
        return None
    at = float(t[t["rtol"] == 1e-3]["test_error"].iloc[0])
    tight = t.sort_values("rtol").iloc[0]
    return Finding(
        measured=f"test error at 1e-3: {100 * at:.2f}%; at {tight['rtol']:g} (tightest "
        f"tested): {100 * tight['test_error']:.2f}%",
        holds=at <= float(tight["test_error"]) + DEGRADE_MARGIN,
        conditions=f"trained ODE-Net ({train_text(src)}), first "
        f"{int(t['test_images'].iloc[0]):,} test images",
        here=Conditions(budget=mnist_budget(src)),
    )


def _per_input(src: Sources) -> tuple[pd.DataFrame, str] | str | None:
    """Single images' and batches' NFE-F by tolerance, and the source key it came from: the
    ledger's own sweep (``claims --measure``) when it used Table 1's weights, else Table 1's
    file at 1e-3. A sweep of other weights is refused (the text says how to redo it)."""
    p = src.per_input
    if p is not None and not p.empty and {"kind", "rtol", "nfe_forward"} <= set(p.columns):
        used = str(p["weights_commit"].iloc[0]) if "weights_commit" in p else ""
        table1 = str((src.table1_provenance or {}).get("commit", ""))
        if used != table1:
            return (f"claims_measured/per_input_nfe.csv used the weights of commit "
                    f"{used or '?'}, results/table1 is {table1 or '?'}: run odebench claims "
                    "--measure --force")  # fmt: skip
        return p, "per_input"
    s = src.single_nfe
    if s is None or s.empty or "kind" not in s:
        return None
    return s.assign(rtol=s["rtol"] if "rtol" in s else 1e-3), "single_nfe"


def _by_tolerance(rows: pd.DataFrame) -> list[tuple[float, pd.Series, pd.DataFrame]]:
    out = []
    for tol, g in rows.groupby("rtol"):
        one = g[g["kind"] == "single"]["nfe_forward"]
        if len(one):
            out.append((float(tol), one, g[g["kind"] == "batch"]))
    return out


def _fixed_steps(per_tol: list[tuple[float, pd.Series, pd.DataFrame]]) -> str:
    """Why per-input NFE claims are uninformative here ("" when some tolerance's differ)."""
    if any(one.nunique() > 1 for _, one, _ in per_tol):
        return ""
    cells = ", ".join(f"{int(one.iloc[0])} at {tol:g}" for tol, one, _ in per_tol)
    return (
        f"every single image takes the same evaluations ({cells}), so nothing varies per "
        "input: measure at tolerances where inputs take different step counts (odebench "
        "claims --measure sweeps 1e-3, 1e-5, 1e-7 on Table 1's weights)"
    )


def _refused(found: tuple[pd.DataFrame, str] | str | None) -> Finding | None:
    return Finding("", None, "", note=found) if isinstance(found, str) else None


def minibatch_nfe(src: Sources) -> Finding | None:
    """NFE with minibatches does not grow substantially (Sec. 6), where NFE varies per input."""
    found = _per_input(src)
    if found is None or isinstance(found, str):
        return _refused(found)
    rows, key = found
    per_tol = [(t, one, b) for t, one, b in _by_tolerance(rows) if not b.empty]
    if not per_tol:
        return None
    varying = [(t, one, b) for t, one, b in per_tol if one.nunique() > 1] or per_tol
    cells, holds = [], []
    for tol, one, batches in varying:
        big = batches.sort_values("batch").iloc[-1]
        holds.append(bool(big["nfe_forward"] <= BATCH_GROWTH * float(one.median())))
        cells.append(f"{tol:g}: batch of {int(big['batch'])} {int(big['nfe_forward'])} vs one "
                     f"image at a time median {one.median():g}, max {int(one.max())}")  # fmt: skip
    return Finding(
        measured="NFE-F " + "; ".join(cells),
        holds=all(holds),
        conditions=f"trained ODE-Net, dopri5, forward; {train_text(src)}",
        here=Conditions(budget=mnist_budget(src)),
        uninformative=_fixed_steps(per_tol),
        read_from=key,
    )


def adapts(src: Sources) -> Finding | None:
    """Evaluation adapts to each input (abstract), at some tolerance."""
    found = _per_input(src)
    if found is None or isinstance(found, str):
        return _refused(found)
    rows, key = found
    per_tol = _by_tolerance(rows)
    if not per_tol:
        return None
    cells = "; ".join(f"{tol:g}: min {int(one.min())}, median {one.median():g}, max "
                      f"{int(one.max())}" for tol, one, _ in per_tol)  # fmt: skip
    return Finding(
        measured=f"NFE-F of single test images ({len(per_tol[0][1])} images) at {cells}",
        holds=any(bool(one.max() > one.min()) for _, one, _ in per_tol),
        conditions=f"trained ODE-Net, dopri5; {train_text(src)}",
        here=Conditions(budget=mnist_budget(src)),
        uninformative=_fixed_steps(per_tol),
        read_from=key,
    )


def trained_claims() -> list[Claim]:
    """The claims of this module, each once."""
    return [
        Claim("test-tolerance", "A model trained at high accuracy can be evaluated at lower "
               "accuracy (Sec. 3)", "train tight, test loose",
               f"every looser test tolerance: test error <= the training tolerance's + "
               f"{100 * TOLERANCE_MARGIN:.1f} points, at fewer NFE-F; depends on training",
               "test_tolerance", test_tolerance, basis="paper, Sec. 3", conditions=MNIST),
        Claim("tolerance-1e-3", "Image classification at rtol = atol = 1e-3 'without "
               "degrading performance' (Sec. 6)", "1e-3 suffices",
               f"test error at 1e-3 <= the tightest tested tolerance's + "
               f"{100 * DEGRADE_MARGIN:.1f} points", "test_tolerance", tolerance_1e3,
               basis="paper, Sec. 6", conditions=MNIST),
        Claim("minibatch-nfe", "NFE with minibatches does not grow substantially (Sec. 6)",
               "no substantial growth", f"the largest batch's NFE-F <= {BATCH_GROWTH:g}x the "
               "median single image's; uninformative when every image takes the same NFE",
               "single_nfe", minibatch_nfe, basis="paper, Sec. 6", conditions=MNIST),
        Claim("adapts", "Evaluation adapts its cost to each input (abstract)", "adaptive",
               "single images' NFE-F differ; uninformative when every image takes the same "
               "NFE", "single_nfe", adapts, basis="paper, abstract", conditions=MNIST),
    ]  # fmt: skip
