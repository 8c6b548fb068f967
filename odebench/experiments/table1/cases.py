"""Table 1's measurements as Cases: each row's trained model, its scaling sweep, other solvers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from odebench.benchmark.cases import Case
from odebench.experiments.table1.config import (
    FIG3C_SOLVERS,
    RESNET_BLOCKS,
    ROWS,
    TABLE1_METERS,
    RowSpec,
    Table1Config,
    checkpoint_path,
)
from odebench.solvers import SolverConfig


def _base(spec: RowSpec, cfg: Table1Config) -> dict[str, Any]:
    return {
        "suite": "table1",
        "model": spec.kind,
        "batch": cfg.measure_batch,
        "device": cfg.train.device,
        "seed": cfg.train.seed,
        "reduction": "mean",
        "inputs": cfg.inputs,
        "meters": TABLE1_METERS,
        "timed_passes": cfg.timed_passes,
    }


def solver_fields(solver: SolverConfig) -> dict[str, Any]:
    """The Case fields of a solver configuration (those a Case has)."""
    fields = {
        "method": solver.method, "gradient": solver.gradient, "rtol": solver.rtol,
        "atol": solver.atol, "steps": solver.steps, "step_size": solver.step_size,
    }  # fmt: skip
    if solver.backend != "torchdiffeq":
        fields["backend"] = solver.backend
    return {k: v for k, v in fields.items() if v is not None}


def main_case(spec: RowSpec, cfg: Table1Config) -> Case:
    """The case of the row's own trained model (its memory, time and NFE in the table)."""
    base = {**_base(spec, cfg), "weights": str(checkpoint_path(cfg, spec.name))}
    if spec.kind == "resnet":
        return Case(**base, depth=RESNET_BLOCKS)
    if spec.solver is None:
        return Case(**base)
    return Case(**base, **solver_fields(spec.solver))


def scaling_cases(spec: RowSpec, cfg: Table1Config) -> list[Case]:
    """The row's sweep for the O(...) fits; the trained weights wherever they fit the model.

    ResNets of other depths cannot load the 6-block checkpoint, so the depth sweep runs
    untrained networks (a fixed graph: its bytes and time do not depend on the weights).
    """
    base = _base(spec, cfg)
    if spec.scaling == "blocks":
        return [Case(**base, depth=d) for d in sorted(set(cfg.depths))]
    if spec.solver is None or not spec.scaling:
        return []
    weights = str(checkpoint_path(cfg, spec.name))
    if spec.scaling == "rk4_steps":
        steps = sorted(set(cfg.rk_steps) | {spec.solver.steps or 0} - {0})
        configs = [replace(spec.solver, steps=n) for n in steps]
    else:
        tols = sorted(set(cfg.tolerances) | {spec.solver.rtol or 0} - {0}, reverse=True)
        configs = [replace(spec.solver, rtol=t, atol=t) for t in tols]
    return [Case(**base, weights=weights, **solver_fields(s)) for s in configs]


def solver_cases(cfg: Table1Config) -> list[Case]:
    """The trained ODE-Net under Figure 3c's other solvers (NFE and time; a failure is kept).

    Solvers whose only difference is an option a Case does not carry (the flat norm) are
    measured in Figure 3c's points only.
    """
    if "odenet" not in cfg.models:
        return []
    spec = ROWS["odenet"]
    base = {**_base(spec, cfg), "weights": str(checkpoint_path(cfg, spec.name))}
    base["meters"] = ("nfe", "time")
    cases = []
    for name in cfg.fig3c_solvers:
        solver = FIG3C_SOLVERS[name]
        if name == "dopri5" or solver.flat_norm:
            continue  # the row's own solver is swept already; the flat norm is not a Case field
        cases.append(Case(**base, **solver_fields(solver)))
    return cases


def all_cases(cfg: Table1Config) -> list[Case]:
    """Every case of the run, each once, in row order; Figure 3c's solvers last."""
    seen: dict[str, Case] = {}
    for name in cfg.models:
        spec = ROWS[name]
        for case in (main_case(spec, cfg), *scaling_cases(spec, cfg)):
            seen.setdefault(case.case_id, case)
    for case in solver_cases(cfg):
        seen.setdefault(case.case_id, case)
    return list(seen.values())
