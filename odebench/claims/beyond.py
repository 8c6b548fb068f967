"""Claims whose measurements are costs beyond Table 1 and Figure 3 (Sec. 1-2's statements on
the adjoint's cost) and what training does to the solve (issue 34's training-dynamics summary:
Fig. 3d on its models, the regularisers' literature, Ott et al.'s solver dependence).

Every check reads results tables only and returns a :class:`~odebench.claims.rules.Finding`,
or ``None`` when its table is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from odebench.claims.rules import (
    PATHS,
    Claim,
    Conditions,
    Finding,
    Sources,
    gradient_rows,
    methods_of,
    ok_status,
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
        f"{methods_of(rows)}",
        here=Conditions(metric="per-evaluation wall time of whole passes (solver overhead "
                        "included)"),  # fmt: skip
        note="timings on a shared CPU: compared as ratios within one run",
    )


#: "Linear": forward + backward time ~ batch^k with k at most this.
LINEAR_EXPONENT = 1.2
#: Below this exponent the time barely grows with size: fixed per-step overhead dominates and
#: the compute term's scaling cannot show (the row is "uninformative").
OVERHEAD_EXPONENT = 0.5


def size_scaling(src: Sources) -> Finding | None:
    """Sec. 1: the adjoint 'scales linearly with problem size', read as time against batch size
    (the backends suite's MLP field at batch 8, 32, 128; torchdiffeq)."""
    b = src.backends
    if b is None or not {"problem", "batch", "gradient", "time_forward_s"} <= set(b.columns):
        return None
    rows = ok_status(b)
    rows = rows[rows["batch"].notna() & rows["time_forward_s"].notna()
                & rows["time_backward_s"].notna()]  # fmt: skip
    if "backend" in rows:
        rows = rows[rows["backend"].fillna("torchdiffeq") == "torchdiffeq"]
    cells, exps = [], {}
    for (problem, gradient), g in rows.groupby(["problem", "gradient"]):
        t = (g["time_forward_s"] + g["time_backward_s"]).groupby(g["batch"]).median()
        if len(t) < 3:
            continue
        k = float(np.polyfit(np.log(t.index.to_numpy(float)), np.log(t.to_numpy()), 1)[0])
        exps[(problem, gradient)] = k
        cells.append(f"{problem} {gradient}: time ~ batch^{k:.2f} (batch {int(t.index.min())}-"
                     f"{int(t.index.max())}, {t.iloc[0] * 1e3:.1f} -> {t.iloc[-1] * 1e3:.1f} ms)")
    adjoint = {key: k for key, k in exps.items() if key[1] == "adjoint"}
    if not adjoint:
        return None
    overhead = all(k < OVERHEAD_EXPONENT for k in adjoint.values())
    return Finding(
        measured="; ".join(cells),
        holds=all(k <= LINEAR_EXPONENT for k in adjoint.values()),
        conditions="backends suite, torchdiffeq, forward + backward time (median of timed "
        "passes) against batch size",
        note="timings on a shared CPU",
        uninformative=(f"the time grows as batch^{max(adjoint.values()):.2f} at most: fixed "
                       "per-step overhead dominates at these sizes, so how the compute scales "
                       "cannot show; a sweep to larger problems would") if overhead else "",
    )


# --- what training does to the solve (issue 34's summary) ----------------------------------

#: The columns of a training-dynamics ``summary.csv`` (one row per arm, means and sds over
#: seeds; issue 34's ``odebench training-dynamics``) these rows read, besides the model's test
#: loss at dopri5 1e-8 (:data:`DYNAMICS_RUNS`).
DYNAMICS_COLUMNS = ("arm", "seeds", "nfe_forward_first_mean", "nfe_forward_final_mean",
                    "nfe_forward_final_sd")  # fmt: skip
DYNAMICS_SOLVER_COLUMNS = ("training_solver", "solver_gap_mean")
#: The arm without a regulariser (adaptive dopri5), the regularised arms, the fixed-grid arm.
NO_REGULARISER, REGULARISERS, FIXED_ARM = "none", ("rnode", "steer"), "fixed_rk4"
#: "Depends on the solver": the test NLL at the training solver and at dopri5 1e-8 differ by
#: more than this (nats), and by more than the adaptive arm's gap.
SOLVER_DEPENDENCE = 0.05
#: The same on the latent ODE, whose test loss is an RMSE: the gap exceeds this fraction of
#: the test RMSE at dopri5 1e-8 (and the adaptive arm's gap).
SOLVER_DEPENDENCE_RELATIVE = 0.1
CNF_MODEL = "2-D CNF on eight Gaussians (issue 34)"
LATENT_MODEL = "spiral latent ODE (issue 34; Table 2's spirals, 30 of 100 points observed)"


@dataclass(frozen=True)
class DynamicsRun:
    """One model's training-dynamics run: its source, model and test loss."""

    source: str  # a key of PATHS
    model: str
    metric: str  # the test loss's column stem in summary.csv
    label: str  # the test loss in words
    unit: str


DYNAMICS_RUNS: dict[str, DynamicsRun] = {
    "dynamics": DynamicsRun("dynamics", CNF_MODEL, "test_nll", "test NLL", " nats"),
    "dynamics_latent": DynamicsRun("dynamics_latent", LATENT_MODEL, "test_rmse", "test RMSE",
                                   ""),  # fmt: skip
}


def _dynamics(
    src: Sources, run: DynamicsRun, columns: tuple[str, ...]
) -> tuple[pd.DataFrame | None, str]:
    d = getattr(src, run.source)
    if d is None:
        return None, ""
    missing = [c for c in (*columns, f"{run.metric}_fine_mean") if c not in d.columns]
    if missing:
        return None, f"{PATHS[run.source]} lacks {', '.join(missing)}"
    return d.set_index("arm"), ""


def _dynamics_missing(why: str) -> Finding | None:
    return Finding("", None, "", note=why) if why else None


def _nfe(row: pd.Series) -> str:
    return f"{row['nfe_forward_final_mean']:.1f} +- {row['nfe_forward_final_sd']:.1f}"


def nfe_grows_dynamics(src: Sources, source: str = "dynamics") -> Finding | None:
    """Fig. 3d's growth on an issue 34 model, without a regulariser."""
    run = DYNAMICS_RUNS[source]
    d, why = _dynamics(src, run, DYNAMICS_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    if NO_REGULARISER not in d.index:
        return None
    r = d.loc[NO_REGULARISER]
    return Finding(
        measured=f"NFE-F {r['nfe_forward_first_mean']:.1f} (first iterations) -> {_nfe(r)} "
        f"(last; mean +- sd over {int(r['seeds'])} seeds)",
        holds=bool(r["nfe_forward_final_mean"] >= r["nfe_forward_first_mean"] + 1),
        conditions="training-dynamics run, no regulariser, dopri5",
        here=Conditions(model=run.model),
    )


def regularisers_cut_nfe(src: Sources, source: str = "dynamics") -> Finding | None:
    """RNODE / STEER: fewer evaluations at the end of training than no regulariser."""
    run = DYNAMICS_RUNS[source]
    d, why = _dynamics(src, run, DYNAMICS_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    regs = [a for a in REGULARISERS if a in d.index]
    if NO_REGULARISER not in d.index or not regs:
        return None
    fine = f"{run.metric}_fine_mean"
    cells = [f"{a}: NFE-F {_nfe(d.loc[a])}, {run.label} {d.loc[a, fine]:.3f}"
             for a in (NO_REGULARISER, *regs)]  # fmt: skip
    base = d.loc[NO_REGULARISER]
    return Finding(
        measured=f"at the end of training (mean +- sd over seeds; {run.label} at dopri5 1e-8): "
        + "; ".join(cells),
        holds=all(bool(d.loc[a, "nfe_forward_final_mean"] < base["nfe_forward_final_mean"])
                  for a in regs),  # fmt: skip
        conditions="training-dynamics run, end of training",
        here=Conditions(model=run.model),
    )


def solver_dependence(src: Sources, source: str = "dynamics") -> Finding | None:
    """Ott et al. 2021: a model trained with a loose fixed solver depends on that solver."""
    run = DYNAMICS_RUNS[source]
    d, why = _dynamics(src, run, DYNAMICS_COLUMNS + DYNAMICS_SOLVER_COLUMNS)
    if d is None:
        return _dynamics_missing(why)
    if FIXED_ARM not in d.index or NO_REGULARISER not in d.index:
        return None
    fixed, adaptive = d.loc[FIXED_ARM], d.loc[NO_REGULARISER]
    gap, base = abs(fixed["solver_gap_mean"]), abs(adaptive["solver_gap_mean"])
    if run.metric == "test_nll":
        bar = SOLVER_DEPENDENCE
    else:
        bar = SOLVER_DEPENDENCE_RELATIVE * abs(fixed[f"{run.metric}_fine_mean"])
    return Finding(
        measured=f"{run.label} at the training solver minus at dopri5 1e-8: {FIXED_ARM} "
        f"({fixed['training_solver']}) {fixed['solver_gap_mean']:+.3f}{run.unit}; none "
        f"({adaptive['training_solver']}) {adaptive['solver_gap_mean']:+.3f}{run.unit}"
        + ("" if run.metric == "test_nll" else
           f" (the bar: {SOLVER_DEPENDENCE_RELATIVE:g} x {FIXED_ARM}'s {run.label} at dopri5 "
           f"1e-8, {bar:.3f})"),  # fmt: skip
        holds=bool(gap > bar and gap > base),
        conditions="training-dynamics run, end of training, mean over seeds",
        here=Conditions(model=run.model),
    )


def cnf_out_of_scope() -> Callable[[Sources], Finding | None]:
    return out_of_scope(
        "Sec. 4's cost claims compare a CNF's trace cost with a planar flow's determinant at "
        "scale; issue 34's 2-D CNF measures NFE and gradients, not that comparison"
    )


def beyond_claims() -> list[Claim]:
    """The claims of this module, each once."""
    return [
        Claim("vjp-cost", "Vector-Jacobian products cost about as much as evaluating f "
              "(Sec. 2)", "VJP ~ f",
              f"median time per backward evaluation / per forward evaluation of the adjoint "
              f"in [{VJP_BAND[0]}, {VJP_BAND[1]}] (f + VJPs = 1.5-3 f)", "gradients",
              vjp_cost, basis="paper, Sec. 2",
              conditions=Conditions(metric="cost of one VJP against one f")),
        Claim("size-scaling", "The adjoint method scales linearly with problem size "
              "(Sec. 1)", "linear in size",
              f"the adjoint's forward + backward time ~ batch^k with k <= {LINEAR_EXPONENT} "
              f"(batch size as problem size; >= 3 sizes); uninformative when k < "
              f"{OVERHEAD_EXPONENT} (overhead-bound)", "backends", size_scaling,
              basis="paper, Sec. 1"),
        Claim("nfe-growth-dynamics", "without a regulariser, on issue 34's 2-D CNF", "",
              "mean NFE-F of the last window >= the first window's + 1", "dynamics",
              nfe_grows_dynamics, part_of="fig3d", basis="measurement of Fig. 3d"),
        Claim("nfe-growth-dynamics-latent", "without a regulariser, on the spiral latent ODE "
              "(issue 34)", "", "mean NFE-F of the last window >= the first window's + 1",
              "dynamics_latent", partial(nfe_grows_dynamics, source="dynamics_latent"),
              part_of="fig3d", basis="measurement of Fig. 3d"),
        Claim("regularisers", "Regularisers (RNODE, STEER) cut the NFE of a trained model "
              "(Finlay et al. 2020, Ghosh et al. 2020)", "fewer NFE",
              "every regularised arm ends training at a lower mean NFE-F than no regulariser "
              "(its test NLL shown beside: the cost)", "dynamics", regularisers_cut_nfe,
              basis="literature (not the paper)", by="literature"),
        Claim("regularisers-latent", "on the spiral latent ODE (issue 34)", "fewer NFE",
              "every regularised arm ends training at a lower mean NFE-F than no regulariser "
              "(its test RMSE shown beside: the cost)", "dynamics_latent",
              partial(regularisers_cut_nfe, source="dynamics_latent"), part_of="regularisers",
              basis="literature (not the paper)", by="literature"),
        Claim("solver-dependence", "A model trained with a loose fixed solver depends on it: "
              "re-solved finer, its test loss changes (Ott et al. 2021)", "depends",
              f"the fixed-grid arm's |test NLL at its training solver - at dopri5 1e-8| > "
              f"{SOLVER_DEPENDENCE} nats and above the adaptive arm's", "dynamics",
              solver_dependence, basis="literature (not the paper)", by="literature"),
        Claim("solver-dependence-latent", "on the spiral latent ODE (issue 34)", "depends",
              f"the fixed-grid arm's |test RMSE at its training solver - at dopri5 1e-8| > "
              f"{SOLVER_DEPENDENCE_RELATIVE:g} x its test RMSE at dopri5 1e-8, and above the "
              "adaptive arm's", "dynamics_latent",
              partial(solver_dependence, source="dynamics_latent"), part_of="solver-dependence",
              basis="literature (not the paper)", by="literature"),
        Claim("cnf", "Continuous normalizing flows: their cost claims (Sec. 4)", "CNF results",
              "out of scope", "dynamics", cnf_out_of_scope(), basis="paper, Sec. 4"),
    ]  # fmt: skip
