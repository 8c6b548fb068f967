"""``odebench claims``: every checkable claim of the paper as a measured row with a verdict.

It reads the committed results tables only (never runs a model) and writes
``results/claims.md`` and ``results/claims.csv``: one row per claim with the paper's
figure, the measured figure, the conditions, the results file it came from and a verdict
computed by the claim's stated rule:

* **reproduced** / **contradicted**: the rule holds / fails, and the claim does not
  depend on conditions that differ from the paper's (or they are the paper's);
* **measured under other conditions**: the claim depends on conditions that differ here
  (training budget, solver, data preprocessing); ``rule_holds`` says which way it points;
* **not measured**: its results are missing; ``command`` says what measures it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

VERDICTS: tuple[str, ...] = (
    "reproduced",
    "contradicted",
    "measured under other conditions",
    "not measured",
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


#: Where each source lives under the results folder (the claims' ``source`` column).
PATHS: dict[str, str] = {
    "table1": "table1.csv",
    "table1_results": "table1/results.csv",
    "table1_provenance": "table1/provenance.json",
    "fig3a": "table1/fig3a_block_error.csv",
    "fig3c": "table1/fig3c_nfe.csv",
    "fig3c_failures": "table1/fig3c_failures.csv",
    "odenet_log": "table1_logs/odenet_train_log.csv",
    "quick": "quick/results.csv",
    "table2": "table2.csv",
    "table2_provenance": "table2.provenance.json",
}
#: What (re)measures each source.
COMMANDS: dict[str, str] = {
    **{key: "odebench table1" for key in PATHS if key not in ("quick", "table2")},
    "quick": "odebench run --suite quick",
    "table2": "odebench spirals",
    "table2_provenance": "odebench spirals",
}


def load_sources(results: str | Path) -> Sources:
    """Read every source present under ``results`` (a missing file stays ``None``)."""
    root = Path(results)
    found: dict[str, Any] = {}
    for key, rel in PATHS.items():
        path = root / rel
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                found[key] = json.loads(path.read_text())
            elif key in ("table1_results", "quick"):
                from odebench.results import read_results

                found[key] = read_results(path)
            else:
                found[key] = pd.read_csv(path)
        except (ValueError, OSError) as exc:
            raise ClaimsError(f"{path}: cannot be read ({exc}); regenerate it.") from None
    return Sources(**found)


@dataclass(frozen=True)
class Finding:
    """What the results say about one claim."""

    measured: str
    holds: bool | None  # None: not measured
    conditions: str
    same_conditions: bool
    note: str = ""


@dataclass(frozen=True)
class Claim:
    """One checkable claim: the paper's statement and figure, the rule, where it is read."""

    id: str
    claim: str
    paper: str
    rule: str
    source: str  # a key of PATHS
    check: Callable[[Sources], Finding | None]


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
    return f"{b.get('epochs')} epochs on {subset} images (paper: {PAPER_EPOCHS} on 60,000)"


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


# --- Table 1 ------------------------------------------------------------------------------


PAPER_PARAMS = {"mlp": 0.24, "resnet": 0.60, "rknet": 0.22, "odenet": 0.22}
PAPER_ERRORS = {"mlp": 0.0160, "resnet": 0.0041, "rknet": 0.0047, "odenet": 0.0042}
LABELS = {"mlp": "1-layer MLP", "resnet": "ResNet", "rknet": "RK-Net", "odenet": "ODE-Net"}


def _params(model: str) -> Callable[[Sources], Finding | None]:
    def check(src: Sources) -> Finding | None:
        r = _row(src.table1, model)
        params = _num(None if r is None else r.get("params"))
        if math.isnan(params):
            return None
        rounded = round(params / 1e6, 2)
        return Finding(
            measured=f"{int(params):,} ({rounded:.2f}M)",
            holds=abs(rounded - PAPER_PARAMS[model]) < 1e-9,
            conditions="architecture of odebench.models.mnist, residual stem",
            same_conditions=True,
            note="" if model != "odenet" and model != "rknet" else
            "the residual stem the paper's 0.60M ResNet needs adds 24,704 parameters",
        )  # fmt: skip

    return check


def _test_error(model: str) -> Callable[[Sources], Finding | None]:
    def check(src: Sources) -> Finding | None:
        r = _row(src.table1, model)
        err = _num(None if r is None else r.get("test_error"))
        if math.isnan(err):
            return None
        same = _paper_budget(src) and model != "mlp"
        note = ""
        if model == "mlp":
            note = "the paper's figure is LeCun et al. 1998 (other preprocessing), not its own run"
        return Finding(
            measured=f"{100 * err:.2f}%",
            holds=err <= PAPER_ERRORS[model] + ERROR_MARGIN,
            conditions=f"{_train_text(src)}; {_device_text(src)}",
            same_conditions=same,
            note=note,
        )

    return check


def _slope(r: pd.Series | None, prefix: str) -> tuple[float, float]:
    if r is None:
        return math.nan, math.nan
    return _num(r.get(f"{prefix}_slope")), _num(r.get(f"{prefix}_r2"))


def _linear_growth(model: str, prefix: str, r2_min: float, unit: str) -> Callable:
    def check(src: Sources) -> Finding | None:
        r = _row(src.table1, model)
        slope, r2 = _slope(r, prefix)
        if math.isnan(slope):
            return None
        scale, text = (2**20, "MiB") if prefix == "saved" else (1e-3, "ms")
        r2_text = "constant" if math.isnan(r2) else f"R^2 {r2:.3f}"
        assert r is not None
        return Finding(
            measured=f"{slope / scale:+.2f} {text} per {unit} ({r2_text}; {unit} "
            f"{r.get('scaling_range')})",
            holds=bool(slope > 0 and not math.isnan(r2) and r2 >= r2_min),
            conditions=f"one training step at batch 128; {_device_text(src)}",
            same_conditions=True,
        )

    return check


def _adjoint_o1_mnist(src: Sources) -> Finding | None:
    ode, rk = _row(src.table1, "odenet"), _row(src.table1, "rknet")
    ode_slope, _ = _slope(ode, "saved")
    rk_slope, _ = _slope(rk, "saved")
    if math.isnan(ode_slope) or math.isnan(rk_slope) or rk_slope <= 0:
        return None
    per_nfe = rk_slope / 4  # rk4: 4 evaluations per step
    peak, _ = _slope(ode, "peak")
    return Finding(
        measured=f"ODE-Net (adjoint) {ode_slope / 2**20:+.3f} MiB saved per NFE "
        f"(peak {peak / 2**20:+.2f} MiB per NFE) vs RK-Net (backprop) "
        f"{per_nfe / 2**20:+.2f} MiB per NFE",
        holds=abs(ode_slope) < O1_FRACTION * per_nfe,
        conditions=f"trained models, batch 128, dopri5 tolerances vs rk4 steps; "
        f"{_device_text(src)}",
        same_conditions=True,
    )


def _fit(x: pd.Series, y: pd.Series) -> tuple[float, float, float]:
    from odebench.report import linear_fit

    return linear_fit(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if "status" in df else df


def _adjoint_o1_quick(src: Sources) -> Finding | None:
    q = src.quick
    if q is None or "problem" not in q:
        return None
    rows = _ok(q)
    rows = rows[(rows["problem"] == "mlp") & (rows["method"] == "rk4")]
    rows = rows[rows["steps"].notna() & rows["saved_bytes"].notna()]
    slopes = {}
    for gradient in ("backprop", "adjoint"):
        g = rows[rows["gradient"] == gradient]
        if g["steps"].nunique() < 2:
            return None
        slopes[gradient] = round(_fit(g["steps"], g["saved_bytes"])[0], 6) + 0.0  # no "-0"
    if slopes["backprop"] <= 0:
        return None
    steps = rows["steps"].astype(int)
    return Finding(
        measured=f"adjoint {slopes['adjoint']:+,.0f} B saved per rk4 step vs backprop "
        f"{slopes['backprop']:+,.0f} B per step",
        holds=abs(slopes["adjoint"]) < O1_FRACTION * slopes["backprop"],
        conditions=f"MLP field 64-64-64, rk4 {steps.min()}-{steps.max()} steps (quick suite)",
        same_conditions=True,
    )


def _depth_ratio(src: Sources) -> Finding | None:
    log = src.odenet_log
    if log is None or log.empty:
        return None
    last = log[log["epoch"] == log["epoch"].max()]
    nfe = float(last["nfe_forward"].mean())
    ratio = nfe / RESNET_BLOCKS
    return Finding(
        measured=f"NFE-F {nfe:.1f} (mean over the last training epoch) = {ratio:.1f}x the "
        f"ResNet's {RESNET_BLOCKS} blocks",
        holds=2 <= ratio <= 4,
        conditions=f"dopri5 rtol=atol=1e-3, adjoint; {_train_text(src)}",
        same_conditions=_paper_budget(src),
    )


# --- Figure 3 -----------------------------------------------------------------------------


def _fig3a(src: Sources) -> Finding | None:
    e = src.fig3a
    if e is None or len(e) < 2:
        return None
    e = e.sort_values("rtol", ascending=False)
    nfe, err = e["nfe_forward"].to_numpy(float), e["relative_error"].to_numpy(float)
    holds = bool(
        np.all(np.diff(nfe) >= 0) and np.all(np.diff(err) <= 0) and nfe[-1] > nfe[0]
        and err[-1] < err[0]
    )  # fmt: skip
    return Finding(
        measured=f"tol {e['rtol'].iloc[0]:g} -> {e['rtol'].iloc[-1]:g}: NFE-F "
        f"{int(nfe[0])} -> {int(nfe[-1])}, relative error {err[0]:.1e} -> {err[-1]:.1e}",
        holds=holds,
        conditions=f"trained ODE-Net, {e['method'].iloc[0]}, against {e['reference'].iloc[0]}",
        same_conditions=True,
    )


def _fig3b(src: Sources) -> Finding | None:
    df = src.table1_results
    if df is None:
        return None
    rows = _ok(df)
    rows = rows[(rows["model"] == "odenet") & rows["nfe_forward"].notna()]
    rows = rows[rows["time_forward_s"].notna() & (rows["method"] == "dopri5")]
    if rows["nfe_forward"].nunique() < 2:
        return None
    slope, _, r2 = _fit(rows["nfe_forward"], rows["time_forward_s"])
    return Finding(
        measured=f"{slope * 1e3:+.1f} ms per NFE-F (R^2 {r2:.2f}; NFE-F "
        f"{int(rows['nfe_forward'].min())}-{int(rows['nfe_forward'].max())})",
        holds=bool(slope > 0 and r2 >= TIME_R2),
        conditions=f"trained ODE-Net, dopri5 tolerances, batch 128; {_device_text(src)}",
        same_conditions=True,
    )


def _ratio_finding(ratios: pd.Series, what: str, conditions: str, same: bool) -> Finding:
    med = float(ratios.median())
    return Finding(
        measured=f"median NFE-B / NFE-F {med:.2f} (range {ratios.min():.2f}-{ratios.max():.2f}"
        f" over {len(ratios)} {what})",
        holds=HALF_BAND[0] <= med <= HALF_BAND[1],
        conditions=conditions,
        same_conditions=same,
    )


def _fig3c_training(src: Sources) -> Finding | None:
    log = src.odenet_log
    if log is None or log.empty:
        return None
    return _ratio_finding(
        log["nfe_backward"] / log["nfe_forward"], "training iterations",
        f"dopri5 rtol=atol=1e-3 adjoint (the paper: LSODA / implicit Adams); "
        f"{_train_text(src)}", same=False,
    )  # fmt: skip


def _fig3c_solver(solver: str, paper_solver: bool) -> Callable[[Sources], Finding | None]:
    def check(src: Sources) -> Finding | None:
        p = src.fig3c
        rows = p[p["solver"] == solver] if p is not None and "solver" in p else pd.DataFrame()
        if rows.empty:
            f = src.fig3c_failures
            failed = f[f["solver"] == solver] if f is not None and "solver" in f else None
            if failed is not None and len(failed):
                return Finding(
                    measured="could not run", holds=None,
                    conditions="trained ODE-Net weights, batches of 128 training images",
                    same_conditions=paper_solver, note=str(failed["error"].iloc[0])[:240],
                )  # fmt: skip
            return None
        return _ratio_finding(
            rows["nfe_backward"] / rows["nfe_forward"], "batches",
            f"{solver} adjoint on the trained ODE-Net's weights, batches of 128", paper_solver,
        )  # fmt: skip

    return check


def _fig3c_spiral(method: str) -> Callable[[Sources], Finding | None]:
    """NFE-B / NFE-F of the adjoint with ``method`` on the trained spiral field (quick suite)."""

    def check(src: Sources) -> Finding | None:
        q = src.quick
        if q is None or "problem" not in q:
            return None
        rows = _ok(q)
        if "seminorm" in rows:
            rows = rows[rows["seminorm"].astype(str).str.lower() != "true"]
        rows = rows[(rows["problem"] == "spiral_trained") & (rows["gradient"] == "adjoint")]
        rows = rows[(rows["method"] == method) & (rows["nfe_forward"] > 0)]
        if rows.empty:
            return None
        ratios = rows["nfe_backward"] / rows["nfe_forward"]
        tols = ", ".join(f"{t:g}" for t in rows["rtol"])
        return _ratio_finding(
            ratios, "tolerances", f"trained spiral field, {method} adjoint, rtol {tols} "
            "(quick suite; the paper's figure is the MNIST ODE-Net)", same=False,
        )  # fmt: skip

    return check


def _fig3d(src: Sources) -> Finding | None:
    log = src.odenet_log
    if log is None or len(log) < 20:
        return None
    n = max(1, len(log) // 10)
    first, last = (
        float(log["nfe_forward"].iloc[:n].mean()),
        float(log["nfe_forward"].iloc[-n:].mean()),
    )
    return Finding(
        measured=f"NFE-F {first:.1f} (first {n} iterations) -> {last:.1f} (last {n} of "
        f"{len(log):,})",
        holds=last >= first + 1,
        conditions=f"dopri5 rtol=atol=1e-3 adjoint; {_train_text(src)}",
        same_conditions=_paper_budget(src),
    )


# --- Table 2 and gradients ----------------------------------------------------------------

#: Table 2's RMSE, the paper's metric first (extrapolation, as ``odebench spirals`` reports it).
RMSE_COLUMNS = ("rmse_extrap", "rmse", "rmse_interp", "predictive_rmse", "test_rmse")


def _table2(src: Sources) -> Finding | None:
    t = src.table2
    if t is None or not {"model", "n_obs"} <= set(t.columns):
        return None
    col = next((c for c in RMSE_COLUMNS if c in t.columns), None)
    if col is None:
        return None
    if "status" in t:
        t = t[t["status"] == "ok"]
    wide = t.pivot_table(index="n_obs", columns="model", values=col, aggfunc="mean")
    rnns = [m for m in wide.columns if str(m).startswith("rnn")]
    if "latent_ode" not in wide.columns or not rnns:
        return None
    best_rnn = wide[rnns].min(axis=1)
    better = wide["latent_ode"] < best_rnn
    cells = "; ".join(
        f"n={int(n)}: {wide.loc[n, 'latent_ode']:.3f} vs {best_rnn[n]:.3f}" for n in wide.index
    )
    settings = (src.table2_provenance or {}).get("settings", {})
    seeds = t["seed"].nunique() if "seed" in t else 1
    budget = settings.get("budget", "?")
    iters = f"{int(t['iters'].max())} iterations" if "iters" in t else "odebench's iterations"
    return Finding(
        measured=f"{col} (mean over {seeds} seed(s)), latent ODE vs the best of "
        f"{', '.join(map(str, rnns))}: {cells}",
        holds=bool(better.all()),
        conditions=f"spirals, {iters}, budget {budget!r}",
        same_conditions=budget == "paper",
    )


def _gradient_error(src: Sources) -> Finding | None:
    q = src.quick
    if q is None or "grad_error" not in q:
        return None
    rows = _ok(q)
    if "seminorm" in rows:
        rows = rows[rows["seminorm"].astype(str).str.lower() != "true"]
    rows = rows[rows["grad_error"].notna() & rows["rtol"].notna()]
    rows = rows[rows["gradient"].isin(["backprop", "adjoint"])]
    if rows.empty or "problem" not in rows:
        return None
    wide = rows.pivot_table(
        index=["problem", "method", "rtol"], columns="gradient", values="grad_error",
        aggfunc="median",
    ).dropna()  # fmt: skip
    if wide.empty or not {"backprop", "adjoint"} <= set(wide.columns):
        return None
    worse = wide["backprop"] > wide["adjoint"]
    cells = "; ".join(
        f"{p} {m} {t:g}: {r['backprop']:.1e} vs {r['adjoint']:.1e}"
        for (p, m, t), r in wide.iterrows()
    )
    return Finding(
        measured=f"gradient error backprop vs adjoint at equal tolerance: {cells}",
        holds=bool(worse.sum() > len(worse) / 2),
        conditions="against a float64 backprop through a dopri8 reference (quick suite)",
        same_conditions=True,
        note=f"backprop less accurate in {int(worse.sum())} of {len(worse)} comparisons",
    )


# --- the claims ---------------------------------------------------------------------------


def _claims() -> list[Claim]:
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
        Claim("depth", "The ODE-Net's evaluations ('depth') are 2-4x a ResNet's depth",
              "2-4x", f"mean NFE-F over the last epoch / {RESNET_BLOCKS} blocks in [2, 4]; "
              "depends on training", "odenet_log", _depth_ratio),
        Claim("fig3a", "The tolerance trades accuracy for cost (Fig. 3a)",
              "error falls as NFE rises",
              "tightening the tolerance never lowers NFE-F nor raises the error, and the "
              "tightest is costlier and more accurate than the loosest", "fig3a", _fig3a),
        Claim("fig3b", "Forward time grows with NFE (Fig. 3b)", "linear",
              f"forward time on NFE-F: slope > 0, R^2 >= {TIME_R2}", "table1_results", _fig3b),
        Claim("fig3c-training", "NFE-B is about half NFE-F (Fig. 3c): during training",
              "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]; depends on the solver",
              "odenet_log", _fig3c_training),
        Claim("fig3c-dopri5", "NFE-B is about half NFE-F (Fig. 3c): dopri5, trained weights",
              "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]; depends on the solver",
              "fig3c", _fig3c_solver("dopri5", paper_solver=False)),
        Claim("fig3c-implicit-adams", "NFE-B is about half NFE-F (Fig. 3c): implicit Adams",
              "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]; torchdiffeq's "
              "implicit_adams is fixed-grid, not the paper's adaptive Adams", "fig3c",
              _fig3c_solver("implicit_adams", paper_solver=False)),
        Claim("fig3c-lsoda", "NFE-B is about half NFE-F (Fig. 3c): LSODA, the paper's solver",
              "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]", "fig3c",
              _fig3c_solver("scipy_lsoda", paper_solver=True)),
        Claim("fig3c-spiral", "NFE-B is about half NFE-F (Fig. 3c): trained spiral field",
              "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]; depends on the solver",
              "quick", _fig3c_spiral("dopri5")),
        Claim("fig3c-spiral-lsoda", "NFE-B is about half NFE-F (Fig. 3c): LSODA on the "
              "trained spiral field", "NFE-B ~ NFE-F / 2",
              f"median NFE-B / NFE-F in [{HALF_BAND[0]}, {HALF_BAND[1]}]", "quick",
              _fig3c_spiral("scipy_lsoda")),
        Claim("fig3d", "NFE grows over training (Fig. 3d)", "grows",
              "mean NFE-F over the last 10% of iterations >= the first 10%'s + 1; depends on "
              "training", "odenet_log", _fig3d),
        Claim("table2-ranking", "The latent ODE beats the RNN at every number of observations "
              "(Table 2)", "latent ODE < RNN RMSE",
              "latent ODE's RMSE below the RNN's at every n_obs; depends on training",
              "table2", _table2),
        Claim("gradient-error", "Backpropagating through the solver adds numerical error "
              "compared with the adjoint (Sec. 2)", "backprop less accurate",
              "backprop's gradient error above the adjoint's in most comparisons at equal "
              "tolerance", "quick", _gradient_error),
    ]  # fmt: skip
    return claims


CLAIMS: tuple[Claim, ...] = tuple(_claims())
COLUMNS: tuple[str, ...] = (
    "id", "claim", "paper", "measured", "rule", "rule_holds", "verdict", "conditions",
    "source", "command", "note",
)  # fmt: skip


def evaluate(src: Sources, claims: tuple[Claim, ...] = CLAIMS) -> pd.DataFrame:
    """One row per claim: the measured figure and the verdict of its rule."""
    rows = []
    for c in claims:
        finding = c.check(src)
        if finding is None:
            finding = Finding("", None, "", False, note=f"no results in {PATHS[c.source]}")
        command = COMMANDS[c.source]
        rows.append({
            "id": c.id, "claim": c.claim, "paper": c.paper, "measured": finding.measured,
            "rule": c.rule,
            "rule_holds": "n/a" if finding.holds is None else ("yes" if finding.holds else "no"),
            "verdict": verdict(finding.holds, finding.same_conditions),
            "conditions": finding.conditions, "source": f"results/{PATHS[c.source]}",
            "command": command if finding.holds is None else "", "note": finding.note,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def render_markdown(table: pd.DataFrame) -> str:
    """``claims.md``: the verdicts first, then each claim's figures, rule and source."""
    counts = table["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    lines = [
        "# The paper's claims, measured",
        "",
        "Generated by `odebench claims` from the committed results tables (it runs no model). "
        f"{len(table)} claims: {summary}.",
        "",
        "Verdicts: **reproduced** / **contradicted**: the rule holds / fails and the claim "
        "does not depend on conditions that differ from the paper's; **measured under other "
        "conditions**: it does (training budget, solver, preprocessing), and `rule` says "
        "which way the measurement points; **not measured**: no results, and the command "
        "that measures it.",
        "",
        "| Claim | Paper | Measured | Rule holds | Verdict | Conditions | Source |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        measured = r["measured"] or "-"
        if r["note"]:
            measured += f" ({r['note']})"
        source = r["source"] + (f"; run `{r['command']}`" if r["command"] else "")
        lines.append(
            f"| {r['claim']} | {r['paper']} | {measured} | {r['rule_holds']} | "
            f"**{r['verdict']}** | {r['conditions'] or '-'} | {source} |"
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
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        written = write_claims(args.results, args.out)
    except ClaimsError as exc:
        print(f"odebench claims: error: {exc}", file=sys.stderr)
        return 2
    table = pd.read_csv(written[1])
    for _, r in table.iterrows():
        print(f"{r['verdict']:32s} {r['claim']}")
    print(f"wrote {written[0]} and {written[1]}")
    return 0


__all__ = ["CLAIMS", "Claim", "Finding", "Sources", "evaluate", "verdict", "write_claims"]
