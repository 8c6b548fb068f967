"""Claims whose measurements are costs beyond Table 1 and Figure 3 (Sec. 1-2's statements on
the adjoint's cost) and what training does to the solve (issue 34's training-dynamics summary:
Fig. 3d on its models, the regularisers' literature, Ott et al.'s solver dependence).

Every check reads results tables only and returns a :class:`~odebench.claims.rules.Finding`,
or ``None`` when its table is absent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from odebench.claims.rules import (
    Claim,
    Conditions,
    Finding,
    Sources,
    device_text,
    gradient_rows,
    methods_of,
    out_of_scope,
)

# --- Sec. 2's cost statements -------------------------------------------------------------

#: "About as much as evaluating f": one backward evaluation of the adjoint (f and its VJPs)
#: costs this range of forward evaluations, i.e. the VJPs 0.5-2x one f.
VJP_BAND = (1.5, 3.0)


def vjp_cost(src: Sources) -> Finding | None:
    """Sec. 2: the vector-Jacobian products cost about as much as evaluating f."""
    found = gradient_rows(src)
    if found is None:
        return None
    rows, key = found
    if not {"nfe_forward", "nfe_backward", "time_forward_s", "time_backward_s"} <= set(rows):
        return None
    rows = rows[(rows["gradient"] == "adjoint") & (rows["nfe_forward"] > 0)
                & (rows["nfe_backward"] > 0)]  # fmt: skip
    rows = rows[rows["time_forward_s"].notna() & rows["time_backward_s"].notna()]
    if rows.empty:
        return None
    per = (rows["time_backward_s"] / rows["nfe_backward"]) / (
        rows["time_forward_s"] / rows["nfe_forward"])  # fmt: skip
    cells = "; ".join(
        f"{p}: {g.min():.2f}-{g.max():.2f}x" for p, g in per.groupby(rows["problem"])
    )
    return Finding(
        measured=f"time per backward evaluation (f and its VJPs) over time per forward "
        f"evaluation, adjoint: {cells}",
        holds=bool(VJP_BAND[0] <= float(per.median()) <= VJP_BAND[1]),
        conditions=f"{'gradients' if key == 'gradients' else 'quick'} suite, "
        f"{methods_of(rows)}; {device_text(src)}",
        here=Conditions(metric="per-evaluation wall time of whole passes (solver overhead "
                        "included)"),  # fmt: skip
        note="timings on a shared CPU: compared as ratios within one run",
    )


def size_scaling(src: Sources) -> Finding | None:
    """Sec. 1: the adjoint 'scales linearly with problem size': needs a size sweep."""
    found = gradient_rows(src)
    if found is None or "batch" not in found[0]:
        return None
    rows = found[0]
    if not {"time_forward_s", "time_backward_s"} <= set(rows):
        return None
    rows = rows[(rows["gradient"] == "adjoint") & rows["batch"].notna()]
    sizes = rows.groupby("problem")["batch"].nunique()
    swept = sizes[sizes >= 3].index
    if not len(swept):
        return None
    cells, exps = [], []
    for p in swept:
        g = rows[rows["problem"] == p].groupby("batch")[["time_forward_s", "time_backward_s"]]
        t = g.median().sum(axis=1)
        slope = float(np.polyfit(np.log(t.index.to_numpy(float)), np.log(t.to_numpy()), 1)[0])
        exps.append(slope)
        cells.append(f"{p}: time ~ batch^{slope:.2f} (batch {int(t.index.min())}-"
                     f"{int(t.index.max())})")  # fmt: skip
    return Finding(
        measured="; ".join(cells),
        holds=all(e <= 1.2 for e in exps),
        conditions="adjoint, forward + backward time against batch size",
        here=Conditions(metric="batch size as problem size"),
    )


# --- what training does to the solve (issue 34's summary) ----------------------------------

#: The columns of ``training_dynamics/summary.csv`` these rows read.
DYNAMICS_COLUMNS = ("model", "regulariser", "nfe_forward_start", "nfe_forward_end", "loss_end")
DYNAMICS_SOLVER_COLUMNS = ("loss_finer", "loss_looser")
#: The regulariser label of the unregularised runs.
NO_REGULARISER = "none"
#: "Depends on the solver": the test loss moves by more than this fraction when re-solved.
SOLVER_DEPENDENCE = 0.05


def _dynamics(src: Sources, columns: tuple[str, ...]) -> tuple[pd.DataFrame | None, str]:
    d = src.dynamics
    if d is None:
        return None, ""
    missing = [c for c in columns if c not in d.columns]
    if missing:
        return None, f"training_dynamics/summary.csv lacks {', '.join(missing)}"
    return d.groupby(["model", "regulariser"]).mean(numeric_only=True).reset_index(), ""


def _dynamics_missing(why: str) -> Finding | None:
    return Finding("", None, "", note=why) if why else None


def nfe_grows_dynamics(src: Sources) -> Finding | None:
    """Fig. 3d's growth on issue 34's models, without a regulariser."""
    d, why = _dynamics(src, DYNAMICS_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    d = d[d["regulariser"] == NO_REGULARISER]
    if d.empty:
        return None
    cells = "; ".join(f"{r['model']}: {r['nfe_forward_start']:.1f} -> {r['nfe_forward_end']:.1f}"
                      for _, r in d.iterrows())  # fmt: skip
    return Finding(
        measured=f"NFE-F at the start -> the end of training (mean over seeds): {cells}",
        holds=bool((d["nfe_forward_end"] >= d["nfe_forward_start"] + 1).all()),
        conditions="training-dynamics run, no regulariser",
        here=Conditions(model=", ".join(sorted(d["model"].astype(str)))),
    )


def regularisers_cut_nfe(src: Sources) -> Finding | None:
    """RNODE / STEER: fewer evaluations at the end of training than no regulariser."""
    d, why = _dynamics(src, DYNAMICS_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    base = d[d["regulariser"] == NO_REGULARISER].set_index("model")
    reg = d[(d["regulariser"] != NO_REGULARISER) & d["model"].isin(base.index)]
    if base.empty or reg.empty:
        return None
    cells, holds = [], []
    for _, r in reg.iterrows():
        b = base.loc[r["model"]]
        holds.append(bool(r["nfe_forward_end"] < b["nfe_forward_end"]))
        cells.append(f"{r['model']} {r['regulariser']}: NFE-F {r['nfe_forward_end']:.1f} vs "
                     f"{b['nfe_forward_end']:.1f}, loss {r['loss_end']:.3g} vs "
                     f"{b['loss_end']:.3g}")  # fmt: skip
    return Finding(
        measured="; ".join(cells),
        holds=all(holds),
        conditions="training-dynamics run, end of training, mean over seeds",
    )


def solver_dependence(src: Sources) -> Finding | None:
    """Ott et al. 2021: a trained model's test loss depends on the solver it is re-solved with."""
    d, why = _dynamics(src, DYNAMICS_COLUMNS + DYNAMICS_SOLVER_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    change = pd.concat([(d["loss_finer"] / d["loss_end"] - 1).abs(),
                        (d["loss_looser"] / d["loss_end"] - 1).abs()], axis=1).max(axis=1)
    cells = "; ".join(f"{r['model']} {r['regulariser']}: {c:.1%}"
                      for (_, r), c in zip(d.iterrows(), change, strict=True))  # fmt: skip
    return Finding(
        measured=f"largest change of the test loss re-solved finer / looser: {cells}",
        holds=bool((change > SOLVER_DEPENDENCE).any()),
        conditions="training-dynamics run, end of training, mean over seeds",
    )


def beyond_claims() -> list[Claim]:
    """The claims of this module, each once."""
    dyn = "regulariser (NFE-F at the end of training) and re-solves with a finer / looser solver"
    return [
        Claim("vjp-cost", "Vector-Jacobian products cost about as much as evaluating f "
               "(Sec. 2)", "VJP ~ f",
               f"median time per backward evaluation / per forward evaluation of the adjoint "
               f"in [{VJP_BAND[0]}, {VJP_BAND[1]}] (f + VJPs = 1.5-3 f)", "gradients",
               vjp_cost, basis="paper, Sec. 2",
               conditions=Conditions(metric="cost of one VJP against one f")),
        Claim("size-scaling", "The adjoint method scales linearly with problem size "
               "(Sec. 1)", "linear in size",
               "forward + backward time ~ size^k with k <= 1.2 on every swept field",
               "gradients", size_scaling, basis="paper, Sec. 1"),
        Claim("nfe-growth-dynamics", "NFE grows over training without a regulariser "
               "(Fig. 3d, on issue 34's models)", "grows",
               "NFE-F at the end >= the start's + 1 on every model", "dynamics",
               nfe_grows_dynamics, part_of="fig3d", basis="measurement of Fig. 3d"),
        Claim("regularisers", "Regularisers (RNODE, STEER) cut the NFE of a trained model "
               "(Finlay et al. 2020, Ghosh et al. 2020)", "fewer NFE",
               f"every regularised run ends at fewer NFE-F than no regulariser; per {dyn}",
               "dynamics", regularisers_cut_nfe, basis="literature (not the paper)",
               by="literature"),
        Claim("solver-dependence", "A trained model's test loss depends on the solver it is "
               "re-solved with (Ott et al. 2021)", "depends",
               f"the test loss moves by > {SOLVER_DEPENDENCE:.0%} re-solved finer or looser",
               "dynamics", solver_dependence, basis="literature (not the paper)",
               by="literature"),
        Claim("cnf", "Continuous normalizing flows: their cost claims (Sec. 4)", "CNF results",
               "out of scope", "dynamics", out_of_scope(
                   "the ledger judges no CNF cost claim yet: issue 34's CNF (its gradients-"
                   "suite rows and training dynamics) is where they would be read"),
               basis="paper, Sec. 4"),
    ]  # fmt: skip
