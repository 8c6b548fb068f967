"""Two figures beside a case's own: the library's loop time, and a batch solved one sample
at a time.

**Loop time** (torchode's paper): the forward solve's time per attempted step minus the
field's own evaluation time, ``(time_forward - nfe_forward * field_eval) / steps``: what the
library itself costs per step, apart from the model. ``field_eval_s`` is the median time of
one evaluation of the field at ``y0`` outside any solver (with autograd recording where the
case's forward solve records: backprop, checkpoint, aca).

**Alone** (a :class:`~odebench.workloads.problems.batched.BatchedProblem`): each sample
solved as a batch of one with the case's solver, forward only. ``batch_dependence`` is the
largest difference, over samples, between the sample's y(t1) solved in the batch and alone,
relative to max(|y_alone|, 1): zero where the library steps each sample on its own (its
answer does not depend on its batch-mates), the effect of a shared step size otherwise.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import torch

from odebench.instruments import CountedField
from odebench.solvers import SolveStats, solve

if TYPE_CHECKING:
    from odebench.benchmark.cases import Case

#: :class:`odebench.benchmark.measure.Workload` (measure imports this module, not back)
Workload = Any

Record = dict[str, Any]
#: gradient modes whose forward solve records autograd's graph
RECORDING = ("backprop", "checkpoint", "aca")


def step_figures(stats: SolveStats) -> Record:
    """The rejected-step ratio, and the per-sample means where the library steps each
    sample apart (torchode; a shared step size gives every sample the batch's steps)."""
    out: Record = {}
    acc, rej = stats.steps_accepted, stats.steps_rejected
    if acc is not None and rej is not None and acc + rej:
        out["rejected_step_ratio"] = rej / (acc + rej)
    out["steps_accepted_mean"] = (
        stats.steps_accepted_mean if stats.steps_accepted_mean is not None else acc
    )
    out["steps_rejected_mean"] = (
        stats.steps_rejected_mean if stats.steps_rejected_mean is not None else rej
    )
    out["library_nfe"] = stats.library_nfe
    out["library_nfe_mean"] = stats.library_nfe_mean
    return out


def field_eval_seconds(case: Case, workload: Workload, calls: int = 50) -> float:
    """Median time of one evaluation of the case's field at (t0, y0)."""
    assert workload.t is not None
    inner = workload.module.inner if isinstance(workload.module, CountedField) else workload.module
    t0 = workload.t[0]
    y = workload.inputs[0].detach().clone().requires_grad_(case.gradient in RECORDING)
    times = []
    with torch.set_grad_enabled(case.gradient in RECORDING):
        for i in range(calls + 5):
            start = time.perf_counter()
            out = inner(t0, y)
            if case.device != "cpu":
                torch.cuda.synchronize()
            if i >= 5:  # the first calls warm caches
                times.append(time.perf_counter() - start)
            del out
    return statistics.median(times)


def loop_time(case: Case, workload: Workload, rec: Record) -> Record:
    """``field_eval_s`` and ``loop_time_per_step_s`` from the figures of a timed case."""
    steps = (rec.get("steps_accepted") or 0) + (rec.get("steps_rejected") or 0)
    if workload.t is None or "time_forward_s" not in rec or "nfe_forward" not in rec:
        return {}
    field = field_eval_seconds(case, workload)
    out: Record = {"field_eval_s": field}
    if steps:
        out["loop_time_per_step_s"] = (rec["time_forward_s"] - rec["nfe_forward"] * field) / steps
    return out


def alone(case: Case, workload: Workload, state: torch.Tensor) -> Record:
    """Each sample of a batched problem solved alone: steps, NFE, time, batch-dependence."""
    problem = workload.problem
    sample = getattr(problem, "sample", None)
    if sample is None or workload.t is None or state.ndim < 2:
        return {}
    dtype, device = state.dtype, state.device
    config = case.solver()
    steps, nfes, seconds, diffs = [], [], 0.0, []
    for i in range(state.shape[0]):
        one = sample(i)
        field = one.field()
        if isinstance(field, torch.nn.Module):
            field = field.to(device=device, dtype=dtype)
        y0 = one.y0.to(device=device, dtype=dtype)
        start = time.perf_counter()
        with torch.no_grad():
            sol = solve(field, y0, workload.t, config)
        seconds += time.perf_counter() - start
        steps.append(sol.stats.steps_accepted or 0)
        nfes.append(sol.stats.nfe)
        y1 = sol.ys[-1][0].double()
        diff = (state[i].double() - y1).abs().max() / max(float(y1.abs().max()), 1.0)
        diffs.append(float(diff))
    return {
        "alone_steps_mean": statistics.fmean(steps),
        "alone_nfe_total": sum(nfes),
        "alone_time_forward_s": seconds,
        "batch_dependence": max(diffs),
        "batch_dependence_median": statistics.median(diffs),
    }
