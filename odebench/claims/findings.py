"""Claims beyond Table 1's rows: Figure 3c as one claim with its measurements beneath, the
gradient's accuracy and cost, Sec. 6's reconstruction, what is out of scope, and odebench's own
findings (rows marked as odebench's, not the paper's).

Every check reads results tables only (:class:`odebench.claims.rules.Sources`) and returns a
:class:`~odebench.claims.rules.Finding`, or ``None`` when its table is absent.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from odebench.claims.rules import (
    HALF_BAND,
    PAPER_MNIST_BUDGET,
    Claim,
    Conditions,
    Finding,
    Sources,
    gradient_rows,
    methods_of,
    mnist_budget,
    ok_status,
    out_of_scope,
    problems_of,
    train_text,
)

#: The solver of the paper's MNIST runs (scipy's odeint, LSODA; torchdiffeq issue #97).
PAPER_SOLVER = "lsoda"
MNIST_ODENET = "trained MNIST ODE-Net"
#: Sec. 6: the paper's informal reconstruction check.
RECONSTRUCTION_CONDITIONS = Conditions(model="continuous normalizing flows",
                                       tolerance="default tolerances")  # fmt: skip
#: "Not a practical problem": y0 rebuilt from y(t1) within this multiple of the tolerance.
RECONSTRUCTION_FACTOR = 10.0


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
        conditions=f"trained ODE-Net weights ({train_text(src)}), batches of 128 "
        "training images, rtol = atol = 1e-3, scipy.integrate.odeint with a banded Jacobian",
        here=Conditions(solver=PAPER_SOLVER, budget=mnist_budget(src), model=MNIST_ODENET),
    )  # fmt: skip


def fig3c_points(solver: str, where: str) -> Callable[[Sources], Finding | None]:
    """One solver's NFE-B / NFE-F on the trained ODE-Net's weights (a measurement beneath)."""

    def check(src: Sources) -> Finding | None:
        rows = _fig3c_rows(src, solver)
        if rows.empty:
            f = src.fig3c_failures
            failed = f[f["solver"] == solver] if f is not None and "solver" in f else None
            if failed is not None and len(failed):
                return Finding("could not run", None, where,
                               note=str(failed["error"].iloc[0])[:240])  # fmt: skip
            return None
        return Finding(
            measured=_ratio_text(_ratio(rows), "batches"),
            holds=_half(_ratio(rows)),
            conditions=f"{where}; error norm of the reverse solve: {_norm_of(rows)}",
            here=Conditions(solver=solver, budget=mnist_budget(src), model=MNIST_ODENET),
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
        here=Conditions(solver="dopri5", budget=mnist_budget(src), model=MNIST_ODENET),
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
            here=Conditions(solver=method, model="trained spiral field"),
        )

    return check


# --- the gradient: accuracy and cost ----------------------------------------------------------


def _paired(rows: pd.DataFrame, value: pd.Series) -> pd.DataFrame:
    rows = rows.assign(value=value)
    wide = rows.pivot_table(index=["problem", "method", "rtol"], columns="gradient",
                            values="value", aggfunc="median")  # fmt: skip
    return wide.dropna() if {"backprop", "adjoint"} <= set(wide.columns) else pd.DataFrame()


def gradient_error(src: Sources) -> Finding | None:
    """Backprop less accurate than the adjoint (the seed slides), judged per field."""
    found = gradient_rows(src)
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
    return Finding(
        measured="gradient error of the adjoint over backprop's at equal tolerance, "
        + "; ".join(cells),
        holds=all(per_field.values()),
        conditions=f"{dtype}, dopri5, loss on y(t1), against a float64 reference gradient "
        f"({'gradients' if key == 'gradients' else 'quick'} suite)",
        here=Conditions(solver=methods_of(rows)),
        per_field=per_field,
        note="where the adjoint is worse, the measurements show why: it rebuilds the "
        "trajectory backwards, and on a field that contracts forward that reconstruction "
        "loses y (tightening the reverse tolerance does not help; issue 20's 1e-12 runs); "
        "the paper names this caveat itself (Sec. 6, 'reconstructing forward trajectories')"
        + ("" if dtype == "float64" else "; float32 figures exaggerate the ratio"),
    )


#: Fig. 3c's conditions, from which the paper infers the adjoint's efficiency.
FIG3C_CONDITIONS = Conditions(solver=PAPER_SOLVER, model=MNIST_ODENET,
                              metric="NFE-B against NFE-F")  # fmt: skip


def efficiency(src: Sources) -> Finding | None:
    """Fig. 3c 'suggests' the adjoint is more efficient than backprop (Sec. 3): the inference
    checked with wall times, on the fields and solver the gradients suite has."""
    found = gradient_rows(src)
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
        conditions=f"median of timed passes, rtol 1e-3..1e-7, "
        f"{'gradients' if key == 'gradients' else 'quick'} suite",
        here=Conditions(solver=methods_of(rows), model=problems_of(rows),
                        metric="forward + backward wall time"),  # fmt: skip
        note="timings on a shared CPU: compared as ratios within one run",
    )


#: torchdiffeq's default tolerances (odeint's rtol and atol).
DEFAULT_TOLERANCES = (1e-7, 1e-9)


def _reconstruction_model(r: pd.DataFrame) -> str:
    problems = [str(p) for p in r["problem"].unique()]
    if all(p.startswith("cnf") for p in problems):
        return RECONSTRUCTION_CONDITIONS.model or ""
    return ", ".join(sorted(problems))


def _reconstruction_tol(r: pd.DataFrame) -> str:
    atol = r["atol"] if "atol" in r else r["rtol"]
    if ((r["rtol"] == DEFAULT_TOLERANCES[0]) & (atol == DEFAULT_TOLERANCES[1])).all():
        return RECONSTRUCTION_CONDITIONS.tolerance or ""
    return "; ".join(f"rtol {a:g}, atol {b:g}" for a, b in zip(r["rtol"], atol, strict=True))


def _is_cnf(r: pd.DataFrame) -> pd.Series:
    return r["problem"].astype(str).str.startswith("cnf")


def reconstruction_check(which: str) -> Callable[[Sources], Finding | None]:
    """The trajectory rebuilt backwards: the paper 'informally checked' it on continuous
    normalizing flows with default tolerances and found it 'not a practical problem' (Sec. 6).

    ``which``: "paper" judges the CNF rows when the measurement has them (else every row);
    "other" shows the other fields' rows beneath.
    """

    def check(src: Sources) -> Finding | None:
        r = src.reconstruction
        if r is None or r.empty or "problem" not in r:
            return None
        cnf = _is_cnf(r)
        if which == "paper":
            r = r[cnf] if cnf.any() else r
        else:
            r = r[~cnf] if cnf.any() else r.iloc[0:0]
        if r.empty:
            return None
        atol = r["atol"] if "atol" in r else r["rtol"]
        cells = "; ".join(f"{p} rtol {t:g} atol {a:g}: {100 * e:.3g}%" for p, t, a, e in zip(
            r["problem"], r["rtol"], atol, r["relative_error"], strict=True))  # fmt: skip
        return Finding(
            measured=f"y0 rebuilt from y(t1) by the reverse solve, relative error: {cells}",
            holds=bool((r["relative_error"] <= RECONSTRUCTION_FACTOR * r["rtol"]).all()),
            conditions=f"{problems_of(r)}, {r['method'].iloc[0]}, {r['dtype'].iloc[0]}",
            here=Conditions(model=_reconstruction_model(r), tolerance=_reconstruction_tol(r)),
        )

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
    )


def _claim(*args: object, **kwargs: object) -> Claim:
    return Claim(*args, **kwargs)  # type: ignore[arg-type]


def findings_claims() -> list[Claim]:
    """The claims of this module, each once; Figure 3c's measurements marked ``part_of``."""
    half = f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]"
    trained = "trained ODE-Net weights, batches of 128 training images, rtol = atol = 1e-3"
    fig3c = Conditions(solver=PAPER_SOLVER, budget=PAPER_MNIST_BUDGET, model=MNIST_ODENET)
    sub = {"part_of": "fig3c", "basis": "measurement of Fig. 3c", "conditions": fig3c}
    return [
        _claim("fig3c", "NFE-B is about half NFE-F (Fig. 3c)", "NFE-B ~ NFE-F / 2",
               f"{half} with the paper's solver (LSODA, scipy's odeint) on the trained "
               "ODE-Net; the measurements beneath show other solvers and norms", "fig3c",
               fig3c_headline, basis="paper, Fig. 3c (solver: torchdiffeq issue #97)",
               conditions=fig3c),
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
               "compared with the adjoint (seed slides)", "backprop less accurate",
               "per field: backprop's gradient error above the adjoint's in most tolerances; "
               "'depends on the field' when fields disagree", "gradients",
               gradient_error, basis="seed slides (not in the paper; caveat: paper, Sec. 6)",
               by="seed slides"),
        _claim("efficiency", "Fig. 3c's NFE-B about half NFE-F 'suggests' the adjoint is more "
               "computationally efficient than backpropagating through the integrator "
               "(Sec. 3)", "adjoint faster (suggested, from NFE counts)",
               "adjoint's forward + backward time below backprop's in most comparisons at "
               "equal tolerance", "gradients", efficiency, basis="paper, Sec. 3 / Fig. 3c",
               conditions=FIG3C_CONDITIONS),
        _claim("reconstruction", "Reconstructing the trajectory backwards, 'informally "
               "checked' on continuous normalizing flows with default tolerances, is 'not a "
               "practical problem' (Sec. 6)", "not a practical problem",
               f"y0 rebuilt from y(t1) within {RECONSTRUCTION_FACTOR:g}x the tolerance "
               "(relative) at every tolerance; judged on the CNF rows when measured",
               "reconstruction", reconstruction_check("paper"), basis="paper, Sec. 6",
               conditions=RECONSTRUCTION_CONDITIONS),
        _claim("reconstruction/other", "other fields (the trained spiral field)", "",
               f"y0 rebuilt within {RECONSTRUCTION_FACTOR:g}x the tolerance", "reconstruction",
               reconstruction_check("other"), part_of="reconstruction",
               basis="measurement of Sec. 6's check", conditions=RECONSTRUCTION_CONDITIONS),
        _claim("poisson", "The latent ODE with a Poisson process likelihood (Sec. 5)",
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
