"""``measure(case) -> Record``: build everything from a case, run it under the instruments.

It never prints or writes files; the runner decides where records go. Meters run in
separate passes (the profiler and the RSS sampler slow a run, so they never share a
pass with the timer): ``nfe`` (also the warm-up), ``saved``, ``peak_rss``,
``peak_alloc``, ``time``, ``error``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from odebench.cases import Case
from odebench.instruments import (
    CountedField,
    SavedTensors,
    Stopwatch,
    Timing,
    grad_error,
    nfe,
    peak_allocated,
    peak_rss,
    phase,
    reset_nfe,
    state_error,
)
from odebench.problems import REFERENCE_TOL, Problem, float64_copy, get_problem
from odebench.solvers import SolveStats, solve

Record = dict[str, Any]
#: Downsampling stem of the MNIST models in every suite (and in ``odebench table1``).
MODEL_STEM = "residual"


class DivergedError(RuntimeError):
    """The solve produced NaN or inf."""


@dataclass
class Subject:
    """What a case runs: a module, a function computing the loss, and what to differentiate."""

    module: nn.Module
    loss: Callable[[], torch.Tensor]
    inputs: list[torch.Tensor]
    problem: Problem | None = None
    t: torch.Tensor | None = None
    last_state: torch.Tensor | None = None
    last_stats: SolveStats | None = None

    def wrt(self) -> list[torch.Tensor]:
        """What the loss is differentiated with respect to: inputs, then parameters."""
        return self.inputs + [p for p in self.module.parameters() if p.requires_grad]

    def zero_grad(self) -> None:
        for p in self.wrt():
            p.grad = None

    def forward(self) -> torch.Tensor:
        """The forward pass: solve (or run the model) and compute the loss."""
        self.zero_grad()
        return self.loss()

    def release(self) -> None:
        """Free the last pass's state and gradients, so a meter starts from a clean level."""
        self.zero_grad()
        self.last_state = None

    def step(self) -> torch.Tensor:
        """One forward + backward pass; returns the detached loss."""
        loss = self.forward()
        loss.backward()
        return loss.detach()


def _dtype(case: Case) -> torch.dtype:
    return getattr(torch, case.dtype)


def check_device(device: str) -> None:
    """Fail with the fix when CUDA is asked for and absent."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} requested but CUDA is not available here "
            f"(torch {torch.__version__}); run with --device cpu, or install a CUDA build of torch "
            "on a machine with an NVIDIA GPU."
        )


def _reduce(value: torch.Tensor, how: str) -> torch.Tensor:
    return value.sum() if how == "sum" else value.mean()


def build_subject(case: Case) -> Subject:
    """Build the model or problem of ``case`` on its device and dtype, seeded."""
    check_device(case.device)
    torch.manual_seed(case.seed)
    dtype, device = _dtype(case), torch.device(case.device)
    if case.model:
        return _model_subject(case, dtype, device)
    return _problem_subject(case, dtype, device)


def _problem_subject(case: Case, dtype: torch.dtype, device: torch.device) -> Subject:
    problem = get_problem(case.problem, batch=case.batch, seed=case.seed)
    field = problem.field()
    module = CountedField(
        field.to(device=device, dtype=dtype) if isinstance(field, nn.Module) else field
    )
    y0 = problem.y0.to(device=device, dtype=dtype).requires_grad_(True)
    t = problem.times(2, device=device).to(dtype)
    config = case.solver()
    subject = Subject(
        module=module, loss=lambda: torch.zeros(()), inputs=[y0], problem=problem, t=t
    )

    def loss() -> torch.Tensor:
        sol = solve(module, y0, t, config)
        y1 = sol.ys[-1]
        subject.last_state, subject.last_stats = y1, sol.stats
        return _reduce(0.5 * y1**2, case.loss)

    subject.loss = loss
    return subject


def _model_subject(case: Case, dtype: torch.dtype, device: torch.device) -> Subject:
    from odebench.models.mnist import build_model

    kwargs: dict[str, Any] = {}
    if case.uses_solver:
        kwargs["solver"] = case.solver()
    if case.depth is not None:
        kwargs["blocks"] = case.depth
    # the residual stem, as in ``odebench table1``: the one that gives the paper's 0.60M ResNet
    # (its 7x7 feature maps make each ODE-block step save 49/36 of the conv stem's 6x6)
    model = build_model(case.model, stem=MODEL_STEM, **kwargs).to(device=device, dtype=dtype)
    batch = case.batch or 128
    gen = torch.Generator().manual_seed(case.seed)
    x = torch.rand(batch, 1, 28, 28, generator=gen, dtype=dtype).to(device)
    labels = torch.randint(0, 10, (batch,), generator=gen).to(device)

    def loss() -> torch.Tensor:
        logits = model(x)
        return nn.functional.cross_entropy(logits, labels, reduction=case.loss)

    return Subject(module=model, loss=loss, inputs=[])


def _check_finite(loss: torch.Tensor, subject: Subject) -> None:
    if not torch.isfinite(loss):
        raise DivergedError(f"loss is {float(loss)}: the solve diverged (NaN or inf).")
    if subject.last_state is not None and not torch.isfinite(subject.last_state).all():
        raise DivergedError("the state at t1 has NaN or inf: the solve diverged.")


def measure(case: Case) -> Record:
    """Run ``case`` under its meters and return its figures (no I/O)."""
    subject = build_subject(case)
    meters = set(case.meters)
    rec: Record = {"params": sum(p.numel() for p in subject.module.parameters() if p.requires_grad)}

    # nfe pass (always run: it is also the warm-up of every later pass)
    reset_nfe(subject.module)
    loss = subject.forward()
    _check_finite(loss, subject)
    with phase("backward"):
        loss.backward()
    rec["loss"] = loss.item()
    if "nfe" in meters and case.uses_solver:
        rec["nfe_forward"] = nfe(subject.module, "forward")
        rec["nfe_backward"] = nfe(subject.module, "backward")
        if subject.last_stats is not None:
            rec["steps_accepted"] = subject.last_stats.steps_accepted
            rec["steps_rejected"] = subject.last_stats.steps_rejected
    state = subject.last_state.detach().clone() if subject.last_state is not None else None
    grads = [None if p.grad is None else p.grad.detach().clone() for p in subject.wrt()]

    if "saved" in meters:
        with SavedTensors(params=list(subject.module.parameters())) as saved:
            loss = subject.forward()
        rec["saved_bytes"] = saved.activation_bytes
        del loss
    if "peak_rss" in meters:
        subject.release()
        rec["peak_rss_bytes"], _ = peak_rss(subject.step)
    if "peak_alloc" in meters:
        subject.release()
        rec["peak_alloc_bytes"], _ = peak_allocated(subject.step, case.device)
    if "time" in meters:
        forward, backward = [], []
        for _ in range(case.repeats):
            with Stopwatch(case.device) as sw:
                loss = subject.forward()
            forward.append(sw.seconds)
            with Stopwatch(case.device) as sw:
                loss.backward()
            backward.append(sw.seconds)
        rec.update(_summary("time_forward", forward))
        rec.update(_summary("time_backward", backward))
    if "error" in meters and subject.problem is not None and state is not None:
        assert subject.t is not None
        ref_state = subject.problem.reference(subject.t)[-1].to(state.device)
        rec["state_error"] = state_error(state, ref_state)
        rec["grad_error"] = grad_error(grads, reference_grads(case, subject))
    return rec


def _summary(name: str, times: list[float]) -> Record:
    timing = Timing(tuple(times))
    return {f"{name}_s": timing.median, f"{name}_iqr_s": timing.iqr}


def reference_grads(case: Case, subject: Subject) -> list[torch.Tensor]:
    """Gradient of the case's loss by backprop through a float64 dopri8 solve at 1e-12."""
    from torchdiffeq import odeint

    assert subject.problem is not None and subject.t is not None
    module = float64_copy(subject.module)
    y0 = subject.inputs[0].detach().to(torch.float64).requires_grad_(True)
    t = subject.t.to(torch.float64)
    ys = odeint(module, y0, t, method="dopri8", rtol=REFERENCE_TOL, atol=REFERENCE_TOL)
    loss = _reduce(0.5 * ys[-1] ** 2, case.loss)
    wrt = [y0] + [p for p in module.parameters() if p.requires_grad]
    return list(torch.autograd.grad(loss, wrt, allow_unused=True))
