"""The small measurements the claims ledger needs that no suite makes
(``odebench claims --measure``).

- How well the reverse solve rebuilds y0 from y(t1), the reconstruction the adjoint relies
  on. The paper (Sec. 6) "informally checked" it on continuous normalizing flows at default
  tolerances: every registered ``cnf*`` problem is measured at torchdiffeq's defaults
  (rtol 1e-7, atol 1e-9) beside the trained spiral field at rtol = atol.
- The trained ODE-Net's NFE per input at tolerances where inputs take different step counts
  (at Table 1's 1e-3 every image may take the same), on Table 1's committed weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

#: Where ``--measure`` writes under the results folder (read by the ledger).
MEASURED_FOLDER = "claims_measured"


#: torchdiffeq's default tolerances, the paper's "default tolerances" (rtol, atol).
DEFAULT_TOLERANCES = ((1e-7, 1e-9),)


def reconstruction_points(
    problem: str = "spiral_trained",
    tolerances: tuple[float, ...] | tuple[tuple[float, float], ...] = (1e-3, 1e-5, 1e-7),
    method: str = "dopri5",
) -> pd.DataFrame:
    """y0 rebuilt by solving back from y(t1), at each tolerance, float64.

    Forward t0 -> t1 and back t1 -> t0 with the same method and tolerance (a number: rtol =
    atol; a pair: (rtol, atol)), as the adjoint's reverse solve rebuilds the state. Error:
    relative L2 norm of the rebuilt y0's error.
    """
    from odebench.solvers import SolverConfig, solve
    from odebench.workloads.problems import get_problem

    p = get_problem(problem)
    field = p.field()
    if isinstance(field, torch.nn.Module):
        field = field.double()
    y0 = p.y0.to(torch.float64)
    t = torch.tensor([p.t0, p.t1], dtype=torch.float64)
    rows = []
    with torch.no_grad():
        for tol in tolerances:
            rtol, atol = tol if isinstance(tol, tuple) else (tol, tol)
            cfg = SolverConfig(method=method, rtol=rtol, atol=atol)
            y1 = solve(field, y0, t, cfg).ys[-1]
            back = solve(field, y1, t.flip(0), cfg).ys[-1]
            err = float(torch.linalg.vector_norm(back - y0) / torch.linalg.vector_norm(y0))
            rows.append({"problem": problem, "method": method, "rtol": rtol, "atol": atol,
                         "dtype": "float64", "t1": p.t1, "relative_error": err})  # fmt: skip
    return pd.DataFrame(rows)


#: Where Table 1's committed run keeps the trained ODE-Net (its provenance beside).
ODENET_CHECKPOINT = "table1/checkpoints/odenet.pt"
PER_INPUT_TOLERANCES = (1e-3, 1e-5, 1e-7)
PER_INPUT_IMAGES = 32


def per_input_nfe_points(
    checkpoint: Path,
    tolerances: tuple[float, ...] = PER_INPUT_TOLERANCES,
    images: int = PER_INPUT_IMAGES,
) -> pd.DataFrame:
    """NFE-F of each of the first ``images`` test images alone and of them as one batch, for
    the trained ODE-Net at each dopri5 tolerance (rtol = atol)."""
    from dataclasses import replace

    from odebench.benchmark.measure import MODEL_STEM
    from odebench.instruments.nfe import nfe, reset_nfe
    from odebench.workloads.data.mnist import load_mnist, to_float
    from odebench.workloads.models.mnist import DEFAULT_ODENET_SOLVER, build_model

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    x = to_float(load_mnist().test_images[:images])
    rows = []
    for tol in tolerances:
        solver = replace(DEFAULT_ODENET_SOLVER, rtol=tol, atol=tol)
        net = build_model("odenet", stem=MODEL_STEM, solver=solver)
        net.load_state_dict(state)
        net.eval()
        with torch.no_grad():
            for i in range(len(x)):
                reset_nfe(net)
                net(x[i : i + 1])
                rows.append({"rtol": tol, "atol": tol, "kind": "single", "index": i,
                             "batch": 1, "nfe_forward": nfe(net, "forward")})  # fmt: skip
            reset_nfe(net)
            net(x)
            rows.append({"rtol": tol, "atol": tol, "kind": "batch", "index": 0,
                         "batch": len(x), "nfe_forward": nfe(net, "forward")})  # fmt: skip
    return pd.DataFrame(rows)


def measure(results: Path, *, force: bool = False) -> Path:
    """Write ``<results>/claims_measured/reconstruction.csv`` (a folder claimed as a run)."""
    from odebench.running.folders import claim_folder
    from odebench.running.provenance import provenance, record_run

    folder = Path(results) / MEASURED_FOLDER
    with claim_folder(folder, force=force) as claim:
        if claim.backup:
            print(f"odebench claims: the earlier measurement moved to {claim.backup}",
                  file=sys.stderr)  # fmt: skip
        record_run(folder, provenance(suite="claims_measured", argv=sys.argv, threads=1,
                                      out=folder))  # fmt: skip
        path = folder / "reconstruction.csv"
        from odebench.workloads.problems import problem_names

        tables = [reconstruction_points()]
        tables += [reconstruction_points(name, DEFAULT_TOLERANCES)
                   for name in problem_names() if name.startswith("cnf")]  # fmt: skip
        pd.concat(tables, ignore_index=True).to_csv(path, index=False)
        checkpoint = Path(results) / ODENET_CHECKPOINT
        if checkpoint.is_file():
            import json

            prov = checkpoint.parent.parent / "provenance.json"
            commit = json.loads(prov.read_text()).get("commit", "") if prov.is_file() else ""
            per_input = per_input_nfe_points(checkpoint).assign(weights_commit=commit)
            per_input.to_csv(folder / "per_input_nfe.csv", index=False)
        else:
            print(f"odebench claims: no {checkpoint}: the per-input NFE sweep waits for Table "
                  "1's committed run", file=sys.stderr)  # fmt: skip
    return path


__all__ = ["MEASURED_FOLDER", "measure", "reconstruction_points"]
