"""Claims beyond Table 1's rows: Figure 3c as one claim with its measurements beneath, the
gradient's accuracy and cost, the paper's other checkable statements (or why they are out of
scope), and odebench's own findings (rows marked as odebench's, not the paper's).

Every check reads results tables only (:class:`odebench.claims.ledger.Sources`) and returns a
:class:`~odebench.claims.ledger.Finding`, or ``None`` when its table is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from odebench.claims.rules import (
    HALF_BAND,
    Claim,
    Finding,
    Sources,
    device_text,
    ok_status,
    paper_budget,
    train_text,
)

#: The solver of the paper's MNIST runs (scipy's odeint, LSODA; torchdiffeq issue #97).
PAPER_SOLVER = "lsoda"
#: Test-time tolerance: a looser tolerance may cost at most this much test error.
TOLERANCE_MARGIN = 0.005
#: "Does not grow substantially": a batch's NFE-F at most this multiple of one image's.
BATCH_GROWTH = 2.0
#: "Not a practical problem": y0 rebuilt from y(t1) within this multiple of the tolerance.
RECONSTRUCTION_FACTOR = 10.0
#: Where the sources of this module's claims are said to come from.
GRADIENT_SOURCES = ("gradients", "quick")


def _trained(src: Sources) -> Sources:
    """``src`` with the provenance of the run the trained ODE-Net's measurements come from."""
    if src.odenet_provenance is None:
        return src
    return replace(src, table1_provenance=src.odenet_provenance)


def _ratio(rows: pd.DataFrame) -> pd.Series:
    return rows["nfe_backward"] / rows["nfe_forward"]


def _half(ratios: pd.Series) -> bool:
    return HALF_BAND[0] <= float(ratios.median()) <= HALF_BAND[1]


def _ratio_text(ratios: pd.Series, what: str) -> str:
    return (
        f"median NFE-B / NFE-F {ratios.median():.2f} (range {ratios.min():.2f}-"
        f"{ratios.max():.2f} over {len(ratios)} {what})"
    )


def _fig3c_rows(src: Sources, solver: str) -> pd.DataFrame:
    p = src.fig3c
    if p is None or "solver" not in p:
        return pd.DataFrame()
    return p[p["solver"] == solver]


def _norm_of(rows: pd.DataFrame) -> str:
    return str(rows["norm"].iloc[0]) if "norm" in rows and len(rows) else "?"


# --- Figure 3c: one claim, its measurements beneath ------------------------------------------


def fig3c_headline(src: Sources) -> Finding | None:
    """The verdict comes from the paper's solver (LSODA) on the trained ODE-Net."""
    rows = _fig3c_rows(src, PAPER_SOLVER)
    if rows.empty:
        return None
    others = []
    for solver in ("dopri5", "dopri5-flat"):
        r = _fig3c_rows(src, solver)
        if len(r):
            others.append(f"{solver} {_ratio(r).median():.2f}")
    return Finding(
        measured=f"LSODA (the paper's solver): {_ratio_text(_ratio(rows), 'batches')}"
        + (f"; dopri5 with torchdiffeq's norm / ODEPACK's flat norm: {', '.join(others)}"
           if others else ""),
        holds=_half(_ratio(rows)),
        conditions=f"trained ODE-Net weights ({train_text(_trained(src))}), batches of 128 "
        "training images, rtol = atol = 1e-3, scipy.integrate.odeint with a banded Jacobian",
        same_conditions=paper_budget(_trained(src)),
    )  # fmt: skip


def fig3c_points(solver: str, where: str) -> Callable[[Sources], Finding | None]:
    """One solver's NFE-B / NFE-F on the trained ODE-Net's weights (a measurement beneath)."""

    def check(src: Sources) -> Finding | None:
        rows = _fig3c_rows(src, solver)
        if rows.empty:
            f = src.fig3c_failures
            failed = f[f["solver"] == solver] if f is not None and "solver" in f else None
            if failed is not None and len(failed):
                return Finding("could not run", None, where, False,
                               note=str(failed["error"].iloc[0])[:240])  # fmt: skip
            return None
        return Finding(
            measured=_ratio_text(_ratio(rows), "batches"),
            holds=_half(_ratio(rows)),
            conditions=f"{where}; error norm of the reverse solve: {_norm_of(rows)}",
            same_conditions=False,
        )

    return check


def fig3c_training(src: Sources) -> Finding | None:
    log = src.odenet_log
    if log is None or log.empty:
        return None
    return Finding(
        measured=_ratio_text(_ratio(log), "training iterations"),
        holds=_half(_ratio(log)),
        conditions=f"dopri5 rtol=atol=1e-3 adjoint during training; {train_text(src)}",
        same_conditions=False,
    )


def fig3c_spiral(method: str) -> Callable[[Sources], Finding | None]:
    """NFE-B / NFE-F of the adjoint with ``method`` on the trained spiral field (quick suite)."""

    def check(src: Sources) -> Finding | None:
        q = src.quick
        if q is None or "problem" not in q:
            return None
        rows = ok_status(q)
        if "seminorm" in rows:
            rows = rows[rows["seminorm"].astype(str).str.lower() != "true"]
        rows = rows[(rows["problem"] == "spiral_trained") & (rows["gradient"] == "adjoint")]
        rows = rows[(rows["method"] == method) & (rows["nfe_forward"] > 0)]
        if rows.empty:
            return None
        tols = ", ".join(f"{t:g}" for t in rows["rtol"])
        return Finding(
            measured=_ratio_text(_ratio(rows), "tolerances"),
            holds=_half(_ratio(rows)),
            conditions=f"trained spiral field, {method} adjoint, rtol {tols} (quick suite)",
            same_conditions=False,
        )

    return check


# --- the gradient: accuracy and cost ----------------------------------------------------------


def _gradient_rows(src: Sources) -> tuple[pd.DataFrame, str] | None:
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


def _paired(rows: pd.DataFrame, value: pd.Series) -> pd.DataFrame:
    rows = rows.assign(value=value)
    wide = rows.pivot_table(index=["problem", "method", "rtol"], columns="gradient",
                            values="value", aggfunc="median")  # fmt: skip
    return wide.dropna() if {"backprop", "adjoint"} <= set(wide.columns) else pd.DataFrame()


def gradient_error(src: Sources) -> Finding | None:
    """Backprop less accurate than the adjoint (Sec. 2), judged per field."""
    found = _gradient_rows(src)
    if found is None:
        return None
    rows, key = found
    rows = rows[rows["grad_error"].notna()]
    wide = _paired(rows, rows["grad_error"])
    if wide.empty:
        return None
    per_field = {}
    cells = []
    for problem, g in wide.groupby(level="problem"):
        ratio = g["adjoint"] / g["backprop"]
        per_field[problem] = bool((g["backprop"] > g["adjoint"]).sum() > len(g) / 2)
        tols = ", ".join(f"{t:g}" for t in g.index.get_level_values("rtol"))
        cells.append(f"{problem}: adjoint / backprop {ratio.min():.2g}-{ratio.max():.2g}x "
                     f"(rtol {tols})")  # fmt: skip
    dtype = str(rows["dtype"].iloc[0]) if "dtype" in rows else "?"
    holds = all(per_field.values())
    mixed = any(per_field.values()) and not holds
    return Finding(
        measured="gradient error of the adjoint over backprop's at equal tolerance, "
        + "; ".join(cells),
        holds=holds,
        conditions=f"{dtype}, dopri5, loss on y(t1), against a float64 reference gradient "
        f"({'gradients' if key == 'gradients' else 'quick'} suite)",
        same_conditions=True,
        note="where the adjoint is worse, the measurements show why: it rebuilds the "
        "trajectory backwards, and on a field that contracts forward that reconstruction "
        "loses y (tightening the reverse tolerance does not help; issue 20's 1e-12 runs); "
        "the paper names this caveat itself (Sec. 6, 'reconstructing forward trajectories')"
        + ("" if dtype == "float64" else "; float32 figures exaggerate the ratio"),
        verdict="depends on the field" if mixed else None,
    )


def efficiency(src: Sources) -> Finding | None:
    """The adjoint 'more computationally efficient' than backprop (Sec. 3), from times."""
    found = _gradient_rows(src)
    if found is None:
        return None
    rows, key = found
    if not {"time_forward_s", "time_backward_s"} <= set(rows.columns):
        return None
    rows = rows[rows["time_forward_s"].notna() & rows["time_backward_s"].notna()]
    wide = _paired(rows, rows["time_forward_s"] + rows["time_backward_s"])
    if wide.empty:
        return None
    ratio = wide["adjoint"] / wide["backprop"]
    cells = "; ".join(
        f"{p}: {ratio.xs(p, level='problem').min():.1f}-{ratio.xs(p, level='problem').max():.1f}x"
        for p in ratio.index.get_level_values("problem").unique()
    )
    return Finding(
        measured=f"adjoint's forward + backward time over backprop's at equal tolerance: {cells}",
        holds=bool((ratio < 1).sum() > len(ratio) / 2),
        conditions=f"median of timed passes, dopri5 at rtol 1e-3..1e-7, "
        f"{'gradients' if key == 'gradients' else 'quick'} suite; {device_text(src)}",
        same_conditions=True,
        note="timings on a shared CPU: compared as ratios within one run",
    )


def reconstruction(src: Sources) -> Finding | None:
    """The trajectory rebuilt backwards is 'not a practical problem' (Sec. 6)."""
    r = src.reconstruction
    if r is None or r.empty:
        return None
    cells = "; ".join(f"{t:g}: {100 * e:.3g}%" for t, e in zip(r["rtol"], r["relative_error"],
                                                               strict=True))  # fmt: skip
    holds = bool((r["relative_error"] <= RECONSTRUCTION_FACTOR * r["rtol"]).all())
    return Finding(
        measured=f"y0 rebuilt from y(t1) by the reverse solve, relative error at rtol = atol "
        f"{cells}",
        holds=holds,
        conditions=f"{r['problem'].iloc[0]}, {r['method'].iloc[0]}, {r['dtype'].iloc[0]}",
        same_conditions=True,
    )


# --- the trained ODE-Net's other claims ------------------------------------------------------


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
        conditions=f"trained ODE-Net ({train_text(_trained(src))}), first "
        f"{int(t['test_images'].iloc[0]):,} test images",
        same_conditions=paper_budget(_trained(src)),
    )


def _single(src: Sources) -> tuple[pd.Series, pd.DataFrame] | None:
    s = src.single_nfe
    if s is None or s.empty or "kind" not in s:
        return None
    one = s[s["kind"] == "single"]["nfe_forward"]
    return (one, s[s["kind"] == "batch"]) if len(one) else None


def minibatch_nfe(src: Sources) -> Finding | None:
    """NFE with minibatches does not grow substantially (Sec. 6)."""
    found = _single(src)
    if found is None:
        return None
    one, batches = found
    if batches.empty:
        return None
    big = batches.sort_values("batch").iloc[-1]
    med = float(one.median())
    return Finding(
        measured=f"NFE-F of a batch of {int(big['batch'])}: {int(big['nfe_forward'])}; one "
        f"image at a time: median {med:g}, max {int(one.max())} ({len(one)} images)",
        holds=bool(big["nfe_forward"] <= BATCH_GROWTH * med),
        conditions=f"trained ODE-Net, dopri5 1e-3, forward; {train_text(_trained(src))}",
        same_conditions=paper_budget(_trained(src)),
    )


def adapts(src: Sources) -> Finding | None:
    """Evaluation adapts to each input (abstract)."""
    found = _single(src)
    if found is None:
        return None
    one, _ = found
    return Finding(
        measured=f"NFE-F of single test images: min {int(one.min())}, median "
        f"{one.median():g}, max {int(one.max())} over {len(one)} images",
        holds=bool(one.max() > one.min()),
        conditions=f"trained ODE-Net, dopri5 1e-3; {train_text(_trained(src))}",
        same_conditions=paper_budget(_trained(src)),
    )


def out_of_scope(reason: str) -> Callable[[Sources], Finding | None]:
    def check(src: Sources) -> Finding | None:
        return Finding("", None, "", False, note=reason, verdict="not measured (out of scope)")

    return check


# --- odebench's own findings (results/gradients) ----------------------------------------------


def _frontier(src: Sources) -> pd.DataFrame | None:
    g = src.gradients
    if g is None or not {"gradient", "problem", "grad_error", "saved_bytes", "rtol"} <= set(g):
        return None
    rows = ok_status(g)
    rows = rows[rows["problem"].notna() & (rows["problem"].astype(str) != "")]
    return rows if not rows.empty else None


def checkpoint_equals_backprop(src: Sources) -> Finding | None:
    rows = _frontier(src)
    if rows is None:
        return None
    keys = ["problem", "rtol", "output_times"] if "output_times" in rows else ["problem", "rtol"]
    td = rows[rows.get("backend", pd.Series("torchdiffeq", index=rows.index))
              .fillna("torchdiffeq").isin(["torchdiffeq", ""])]  # fmt: skip
    wide = td.pivot_table(index=keys, columns="gradient", values=["grad_error", "saved_bytes"],
                          aggfunc="median")  # fmt: skip
    if ("grad_error", "checkpoint") not in wide or ("grad_error", "backprop") not in wide:
        return None
    e_cp, e_bp = wide[("grad_error", "checkpoint")], wide[("grad_error", "backprop")]
    s_cp, s_bp = wide[("saved_bytes", "checkpoint")], wide[("saved_bytes", "backprop")]
    same = ((e_cp - e_bp).abs() <= 1e-9 * e_bp.abs().clip(lower=1e-300)).mean()
    ratio = s_cp / s_bp
    per = "; ".join(
        f"{p} {ratio.xs(p, level='problem').min():.2f}-{ratio.xs(p, level='problem').max():.2f}x"
        for p in ratio.index.get_level_values("problem").unique()
    )
    return Finding(
        measured=f"checkpoint's gradient error equals backprop's in {same:.0%} of "
        f"{len(e_cp)} cases; saved bytes over backprop's: {per}",
        holds=bool(same == 1 and (s_cp <= s_bp).all()),
        conditions="gradients suite, float64, dopri5",
        same_conditions=True,
    )


def trajectory_loss_hides_reconstruction(src: Sources) -> Finding | None:
    rows = _frontier(src)
    if rows is None or "output_times" not in rows:
        return None
    td = rows[(rows["backend"].fillna("torchdiffeq").isin(["torchdiffeq", ""]))
              & (rows["problem"] == "spiral_trained")]  # fmt: skip
    wide = td.pivot_table(index=["output_times", "rtol"], columns="gradient",
                          values="grad_error", aggfunc="median")  # fmt: skip
    if not {"adjoint", "backprop"} <= set(wide.columns):
        return None
    ratio = (wide["adjoint"] / wide["backprop"]).dropna()
    outs = sorted(ratio.index.get_level_values("output_times").unique())
    if len(outs) < 2:
        return None
    few, many = ratio.xs(outs[0], level="output_times"), ratio.xs(outs[-1], level="output_times")
    return Finding(
        measured=f"adjoint / backprop gradient error, y(t1) alone: {few.min():.3g}-"
        f"{few.max():.3g}x; {outs[-1] - 1} output times: {many.min():.3g}-{many.max():.3g}x",
        holds=bool(many.max() < few.min()),
        conditions="gradients suite, trained spiral field, float64, dopri5",
        same_conditions=True,
    )


def _claim(*args: object, **kwargs: object) -> Claim:
    return Claim(*args, **kwargs)  # type: ignore[arg-type]


def findings_claims() -> list[Claim]:
    """The claims of this module, each once; Figure 3c's measurements marked ``part_of``."""
    half = f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]"
    trained = "trained ODE-Net weights, batches of 128 training images, rtol = atol = 1e-3"
    sub = {"part_of": "fig3c", "basis": "measurement of Fig. 3c"}
    return [
        _claim("fig3c", "NFE-B is about half NFE-F (Fig. 3c)", "NFE-B ~ NFE-F / 2",
               f"{half} with the paper's solver (LSODA, scipy's odeint) on the trained "
               "ODE-Net; the measurements beneath show other solvers and norms", "fig3c",
               fig3c_headline, basis="paper, Fig. 3c (solver: torchdiffeq issue #97)"),
        _claim("fig3c/lsoda", "LSODA (scipy odeint, banded Jacobian), trained weights", "",
               half, "fig3c", fig3c_points("lsoda", f"{trained}, scipy odeint"), **sub),
        _claim("fig3c/dopri5", "dopri5, torchdiffeq's adjoint norm, trained weights", "",
               half, "fig3c", fig3c_points("dopri5", trained), **sub),
        _claim("fig3c/dopri5-flat", "dopri5, flat RMS norm (ODEPACK's), trained weights", "",
               half, "fig3c", fig3c_points("dopri5-flat", trained), **sub),
        _claim("fig3c/implicit-adams", "implicit Adams (torchdiffeq's, fixed grid 0.1)", "",
               half, "fig3c", fig3c_points("implicit_adams", trained), **sub),
        _claim("fig3c/training", "dopri5 during training", "", half, "odenet_log",
               fig3c_training, **sub),
        _claim("fig3c/spiral-dopri5", "dopri5 on the trained spiral field", "", half, "quick",
               fig3c_spiral("dopri5"), **sub),
        _claim("fig3c/spiral-lsoda", "LSODA (torchdiffeq's solve_ivp wrapper) on the trained "
               "spiral field", "", half, "quick", fig3c_spiral("scipy_lsoda"), **sub),
        _claim("gradient-error", "Backpropagating through the solver adds numerical error "
               "compared with the adjoint (Sec. 2)", "backprop less accurate",
               "per field: backprop's gradient error above the adjoint's in most tolerances; "
               "verdict per field, 'depends on the field' when they disagree", "gradients",
               gradient_error, basis="paper, Sec. 2 (caveat: Sec. 6)"),
        _claim("efficiency", "The adjoint is more computationally efficient than "
               "backpropagating through the integrator (Sec. 3)", "adjoint faster",
               "adjoint's forward + backward time below backprop's in most comparisons at "
               "equal tolerance", "gradients", efficiency, basis="paper, Sec. 3"),
        _claim("reconstruction", "Reconstructing the trajectory backwards is not a practical "
               "problem (Sec. 6)", "not a practical problem",
               f"y0 rebuilt from y(t1) within {RECONSTRUCTION_FACTOR:g}x the tolerance "
               "(relative) at every tolerance", "reconstruction", reconstruction,
               basis="paper, Sec. 6"),
        _claim("test-tolerance", "A model trained at high accuracy can be evaluated at lower "
               "accuracy (Sec. 3)", "train tight, test loose",
               f"every looser test tolerance: test error <= the training tolerance's + "
               f"{100 * TOLERANCE_MARGIN:.1f} points, at fewer NFE-F; depends on training",
               "test_tolerance", test_tolerance, basis="paper, Sec. 3"),
        _claim("minibatch-nfe", "NFE with minibatches does not grow substantially (Sec. 6)",
               "no substantial growth", f"the largest batch's NFE-F <= {BATCH_GROWTH:g}x the "
               "median single image's", "single_nfe", minibatch_nfe, basis="paper, Sec. 6"),
        _claim("adapts", "Evaluation adapts its cost to each input (abstract)", "adaptive",
               "single images' NFE-F differ", "single_nfe", adapts, basis="paper, abstract"),
        _claim("cnf", "Continuous normalizing flows (Sec. 4)", "CNF results",
               "out of scope", "table1", out_of_scope(
                   "odebench benchmarks the solvers and gradients of Table 1, Figure 3 and "
                   "Table 2's latent ODE; it trains no density model"), basis="paper, Sec. 4"),
        _claim("poisson", "The latent ODE with a Poisson process likelihood (Sec. 5.1)",
               "event-rate fit", "out of scope", "table2", out_of_scope(
                   "odebench's spirals experiment has no event times; the Poisson-process "
                   "likelihood would need its own data and model"), basis="paper, Sec. 5"),
        _claim("odebench-checkpoint", "odebench: gradient='checkpoint' gives backprop's "
               "gradient while saving fewer bytes", "-",
               "equal gradient error (1e-9 relative) in every case, saved bytes <= backprop's",
               "gradients", checkpoint_equals_backprop, basis="odebench's finding (issue 20)",
               by="odebench"),
        _claim("odebench-trajectory-loss", "odebench: a loss on many output times hides most "
               "of the adjoint's reconstruction error (spiral field)", "-",
               "adjoint / backprop gradient-error ratio with 11 outputs below every ratio "
               "with y(t1) alone", "gradients", trajectory_loss_hides_reconstruction,
               basis="odebench's finding (issue 20)", by="odebench"),
    ]  # fmt: skip

