"""``measure(case) -> Record``: build everything from a case, run it under the instruments.

It never prints or writes files; the runner decides where records go. Meters run in
separate passes (the profiler and the RSS sampler slow a run, so they never share a
pass with the timer): ``nfe`` (also the warm-up), ``saved``, ``peak_rss``,
``peak_alloc``, ``time``, ``error``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from odebench.benchmark import solo
from odebench.benchmark.cases import Case
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
    probe_field,
    reset_nfe,
    rss_method,
    state_error,
)
from odebench.instruments.memory import RSS_NOT_FRESH
from odebench.solvers import SolveError, SolveStats, solve
from odebench.solvers.budget import step_budget
from odebench.workloads.problems import Problem, float64_copy, get_problem, reference_odeint

Record = dict[str, Any]
#: Downsampling stem of the MNIST models in every suite (and in ``odebench table1``).
MODEL_STEM = "residual"


class DivergedError(RuntimeError):
    """The solve produced NaN or inf."""


@dataclass
class Workload:
    """What a case runs: a module, a function computing the loss, and what to differentiate.

    Everything in it is the case's own (copied from the registry, never shared), so a
    measurement cannot change what a later case sees. ``hidden`` are the tensors requiring
    grad that a field uses without registering them (a function's closure over a model),
    ``constants`` what the field keeps and autograd saves (weights, buffers, a closure's
    tensors): both found by evaluating the field once (:func:`probe_field`).
    """

    module: nn.Module
    loss: Callable[[], torch.Tensor]
    inputs: list[torch.Tensor]
    problem: Problem | None = None
    t: torch.Tensor | None = None
    last_state: torch.Tensor | None = None
    last_stats: SolveStats | None = None
    hidden: list[torch.Tensor] = field(default_factory=list)
    constants: list[torch.Tensor] = field(default_factory=list)

    def parameters(self) -> list[torch.Tensor]:
        """What the case trains: the module's parameters requiring grad, then hidden ones."""
        return [p for p in self.module.parameters() if p.requires_grad] + self.hidden

    def wrt(self) -> list[torch.Tensor]:
        """What the loss is differentiated with respect to: inputs, then parameters."""
        return self.inputs + self.parameters()

    def kept(self) -> list[torch.Tensor]:
        """Tensors that live beyond a pass, wherever the field keeps them: not activations.

        A model case's buffers are not among them (the ODE-Net's integration times are a
        buffer its adjoint saves, counted as its 8 bytes of times since the baselines)."""
        return [*self.module.parameters(), *self.hidden, *self.constants]

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


class DeviceUnavailableError(RuntimeError):
    """A device was asked for that this machine does not have."""


def check_device(device: str) -> torch.device:
    """``torch.device(device)``, or :class:`DeviceUnavailableError` naming the fix."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device {device!r} requested but CUDA is not available here "
            f"(torch {torch.__version__}); run with --device cpu, or install a CUDA build of torch "
            "on a machine with an NVIDIA GPU."
        )
    return torch.device(device)


def _reduce(value: torch.Tensor, how: str) -> torch.Tensor:
    return value.sum() if how == "sum" else value.mean()


def build_workload(case: Case) -> Workload:
    """Build the model or problem of ``case`` on its device and dtype, seeded."""
    check_device(case.device)
    torch.manual_seed(case.seed)
    dtype, device = _dtype(case), torch.device(case.device)
    if case.model:
        return _model_workload(case, dtype, device)
    return _problem_workload(case, dtype, device)


def _problem_workload(case: Case, dtype: torch.dtype, device: torch.device) -> Workload:
    problem = get_problem(case.problem, batch=case.batch, seed=case.seed)
    made = problem.field()  # the case's own copy
    if isinstance(made, nn.Module):
        made = made.to(device=device, dtype=dtype)
    # a field that is already a counter is not wrapped again (each call counted once)
    module = made if isinstance(made, CountedField) else CountedField(made)
    # a copy whatever the dtype: ``.to`` returns the registry's own tensor when the dtype
    # matches, and marking that one would change every later case's gradient
    y0 = problem.y0.detach().to(device=device, dtype=dtype, copy=True).requires_grad_(True)
    t = problem.times(case.output_times, dtype=dtype, device=device)
    config = case.solver()
    use = probe_field(module, t[0], y0)
    own = {id(p) for p in module.parameters()}
    workload = Workload(
        module=module, loss=lambda: torch.zeros(()), inputs=[y0], problem=problem, t=t,
        hidden=[p for p in use.leaves if id(p) not in own],
        constants=[*use.constants, *module.buffers()],  # a field's buffers, used or not
    )  # fmt: skip

    # the loss reaches its workload weakly: a closure over the workload that holds the
    # closure is a reference cycle, and cycles left to the collector slow later cases
    held = weakref.ref(workload)

    def loss() -> torch.Tensor:
        sol = solve(module, y0, t, config)
        kept = held()
        if kept is not None:
            kept.last_state, kept.last_stats = sol.ys[-1], sol.stats
        return _reduce(0.5 * case.loss_states(sol.ys) ** 2, case.reduction)

    workload.loss = loss
    return workload


def _model_inputs(case: Case, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch a model case feeds: seeded random images, or the first MNIST test images."""
    assert case.batch is not None  # a model case always records its batch
    if case.inputs == "mnist":
        from odebench.workloads.data.mnist import load_mnist, to_float

        data = load_mnist()
        if case.batch > len(data.test_images):
            raise ValueError(f"batch={case.batch} exceeds the {len(data.test_images)} test images.")
        # copies, not views: a view keeps all 10,000 labels alive in the loss's saved tensors
        images = to_float(data.test_images[: case.batch].clone()).to(dtype)
        return images, data.test_labels[: case.batch].clone()
    gen = torch.Generator().manual_seed(case.seed)
    x = torch.rand(case.batch, 1, 28, 28, generator=gen, dtype=dtype)
    return x, torch.randint(0, 10, (case.batch,), generator=gen)


def _model_workload(case: Case, dtype: torch.dtype, device: torch.device) -> Workload:
    from odebench.workloads.models.mnist import build_model

    kwargs: dict[str, Any] = {}
    if case.uses_solver:
        kwargs["solver"] = case.solver()
    if case.depth is not None:
        kwargs["blocks"] = case.depth
    # the residual stem, as in ``odebench table1``: the one that gives the paper's 0.60M ResNet
    # (its 7x7 feature maps make each ODE-block step save 49/36 of the conv stem's 6x6)
    model = build_model(case.model, stem=MODEL_STEM, **kwargs)
    if case.weights:
        state = torch.load(Path(case.weights), map_location="cpu", weights_only=False)
        model.load_state_dict(state["state_dict"] if "state_dict" in state else state)
    model = model.to(device=device, dtype=dtype)
    x, labels = _model_inputs(case, dtype)
    x, labels = x.to(device), labels.to(device)

    def loss() -> torch.Tensor:
        logits = model(x)
        return nn.functional.cross_entropy(logits, labels, reduction=case.reduction)

    return Workload(module=model, loss=loss, inputs=[])


def _check_finite(loss: torch.Tensor, workload: Workload) -> None:
    if not torch.isfinite(loss):
        raise DivergedError(f"loss is {float(loss)}: the solve diverged (NaN or inf).")
    if workload.last_state is not None and not torch.isfinite(workload.last_state).all():
        raise DivergedError("the state at t1 has NaN or inf: the solve diverged.")


#: Cases measured in this process so far: the RSS meter needs a process that measured none.
_MEASURED = [0]


def measure(case: Case) -> Record:
    """Run ``case`` under its meters and return its figures (no I/O); every solve under the
    case's step budget (``max_steps``). A solve that stops early (its budget, an underflow)
    raises with ``.record`` holding the figures it reached (:func:`reached`)."""
    with step_budget(case.max_steps):
        return _measure(case)


def reached(workload: Workload, exc: BaseException) -> Record:
    """The figures of a solve that stopped: NFE forward/backward so far, and the steps the
    solver took before it stopped (where the library said)."""
    rec: Record = {
        "nfe_forward": nfe(workload.module, "forward"),
        "nfe_backward": nfe(workload.module, "backward"),
    }
    stats = exc.solution.stats if isinstance(exc, SolveError) and exc.solution else None
    stats = stats or workload.last_stats
    if stats is not None:
        rec["steps_accepted"] = stats.steps_accepted
        rec["steps_rejected"] = stats.steps_rejected
    return rec


def _measure(case: Case) -> Record:
    """Run ``case`` under its meters and return its figures (no I/O).

    The peak RSS meter measures only in a process that has measured no other case (an
    earlier case's freed memory, kept by the allocator, would be reused without the RSS
    growing: inline runs read up to 15x low); elsewhere it records no figure and says why
    in ``peak_rss_method``.
    """
    fresh = _MEASURED[0] == 0
    _MEASURED[0] += 1
    workload = build_workload(case)
    meters = set(case.meters)
    rec: Record = {"params": sum(p.numel() for p in workload.parameters())}

    # nfe pass (always run: it is also the warm-up of every later pass)
    reset_nfe(workload.module)
    try:
        loss = workload.forward()
        _check_finite(loss, workload)
        with phase("backward"):
            loss.backward()
    except Exception as exc:
        exc.record = reached(workload, exc)  # type: ignore[attr-defined]
        raise
    rec["loss"] = loss.item()
    if "nfe" in meters and case.uses_solver:
        rec["nfe_forward"] = nfe(workload.module, "forward")
        rec["nfe_backward"] = nfe(workload.module, "backward")
        if workload.last_stats is not None:
            rec["steps_accepted"] = workload.last_stats.steps_accepted
            rec["steps_rejected"] = workload.last_stats.steps_rejected
            rec.update(solo.step_figures(workload.last_stats))
    state = workload.last_state.detach().clone() if workload.last_state is not None else None
    grads = [None if p.grad is None else p.grad.detach().clone() for p in workload.wrt()]

    if "saved" in meters:
        with SavedTensors(params=workload.kept()) as saved:
            loss = workload.forward()
            saved.watch(loss)
        rec["saved_bytes"] = saved.activation_bytes
        rec["saved_other_bytes"] = saved.other_bytes
        del loss
    if "peak_rss" in meters:
        workload.release()
        if fresh:
            rec["peak_rss_method"] = rss_method()
            rec["peak_rss_bytes"], _ = peak_rss(workload.step, method=rec["peak_rss_method"])
        else:
            rec["peak_rss_method"] = RSS_NOT_FRESH
    if "peak_alloc" in meters:
        workload.release()
        rec["peak_alloc_bytes"], _ = peak_allocated(workload.step, case.device)
    if "time" in meters:
        forward, backward = [], []
        for _ in range(case.timed_passes):
            with Stopwatch(case.device) as sw:
                loss = workload.forward()
            forward.append(sw.seconds)
            with Stopwatch(case.device) as sw:
                loss.backward()
            backward.append(sw.seconds)
        rec.update(_summary("time_forward", forward))
        rec.update(_summary("time_backward", backward))
        rec.update(solo.loop_time(case, workload, rec))
    if "nfe" in meters and state is not None and workload.problem is not None:
        rec.update(solo.alone(case, workload, state))  # a batch of independent problems
    if "error" in meters and workload.problem is not None and state is not None:
        assert workload.t is not None
        # references are float64 on the CPU, whatever the case's device
        own = getattr(workload.problem, "reference_gradients", None)
        if own is not None:  # a stiff problem's sensitivities (no explicit reference solve)
            ref_grads = own(workload.t.cpu(), lambda ys: _reduce(
                0.5 * case.loss_states(ys) ** 2, case.reduction))  # fmt: skip
            ref_state = workload.problem.reference(workload.t.cpu())[-1]
        else:
            ref_grads, _ = reference_solution(case, workload)
            ref_state = reference_state(case, workload)
        rec["state_error"] = state_error(state, ref_state)
        rec["grad_error"] = grad_error(grads, ref_grads)
    return rec


def _summary(name: str, times: list[float]) -> Record:
    timing = Timing(tuple(times))
    return {f"{name}_s": timing.median, f"{name}_iqr_s": timing.iqr}


def reference_grads(case: Case, workload: Workload) -> list[torch.Tensor | None]:
    """Gradient of the case's loss by backprop through the float64 reference solve (CPU)."""
    return reference_solution(case, workload)[0]


#: Float64 references computed in this process, by :func:`reference_key`: a grid of cases
#: that differ only in method or tolerance shares one (the reference depends on neither).
_REFERENCES: dict[str, tuple[list[torch.Tensor | None], torch.Tensor, torch.Tensor]] = {}
_REFERENCES_KEPT = 16


def reference_key(case: Case, workload: Workload) -> str:
    """What the reference depends on, as a digest: the problem, the loss (reduction and the
    states it is on), the output times, and the values of y0, every parameter, buffer and
    hidden tensor of the field (so a user problem re-registered under the same name, or a
    field changed in place, never reads another's reference)."""
    import hashlib

    assert workload.problem is not None and workload.t is not None
    digest = hashlib.sha1(repr((case.problem, case.reduction, case.output_times,
                                type(workload.module).__qualname__)).encode())  # fmt: skip
    tensors = [workload.problem.y0, workload.t, *workload.module.parameters(),
               *workload.module.buffers(), *workload.hidden]  # fmt: skip
    for x in tensors:
        x64 = x.detach().to("cpu", torch.float64).contiguous()
        digest.update(repr((tuple(x64.shape), x.dtype)).encode())
        digest.update(x64.numpy().tobytes())
    return digest.hexdigest()


def reference_solution(
    case: Case, workload: Workload
) -> tuple[list[torch.Tensor | None], torch.Tensor]:
    """(gradients, states) of the float64 reference solve (CPU): the gradient of the case's
    loss with respect to y0, the module's parameters and the field's hidden tensors (made
    float64 for the solve, restored after). Computed once per process for each
    :func:`reference_key` (the figures are the same as a fresh computation's: the solve
    is deterministic and nothing of the case outside the key enters it)."""
    grads, ys, _ = _reference(case, workload)
    return grads, ys


def reference_state(case: Case, workload: Workload) -> torch.Tensor:
    """The float64 reference state at t1 that the case's ``state_error`` is measured against."""
    return _reference(case, workload)[2]


def _reference(
    case: Case, workload: Workload
) -> tuple[list[torch.Tensor | None], torch.Tensor, torch.Tensor]:
    key = reference_key(case, workload)
    kept = _REFERENCES.get(key)
    if kept is None:
        grads, ys = _fresh_reference(case, workload)
        assert workload.problem is not None and workload.t is not None
        if workload.problem.exact is None and workload.hidden:
            ref_state = ys[-1]  # a function's own tensors, made float64 for the reference
        else:
            ref_state = workload.problem.reference(workload.t.cpu())[-1]
        if len(_REFERENCES) >= _REFERENCES_KEPT:
            _REFERENCES.pop(next(iter(_REFERENCES)))
        kept = _REFERENCES[key] = (grads, ys, ref_state.detach())
    return kept


def clear_references() -> None:
    """Forget the references computed so far (tests compare a fresh computation)."""
    _REFERENCES.clear()


def _fresh_reference(
    case: Case, workload: Workload
) -> tuple[list[torch.Tensor | None], torch.Tensor]:
    assert workload.problem is not None and workload.t is not None
    inner = workload.module.inner if isinstance(workload.module, CountedField) else None
    plain = inner is not None and not isinstance(inner, nn.Module)
    # a plain function's copy would be the same function (or a bound method's copy of its
    # object): its hidden tensors are made float64 in place for the solve instead
    module = workload.module if plain else float64_copy(workload.module).cpu()
    with _as_float64(workload.hidden):
        y0 = workload.problem.y0.detach().to(torch.float64, copy=True).requires_grad_(True)
        ys = reference_odeint(module, y0, workload.t.cpu())
        loss = _reduce(0.5 * case.loss_states(ys) ** 2, case.reduction)
        params = [p for p in module.parameters() if p.requires_grad] + workload.hidden
        grads = list(torch.autograd.grad(loss, [y0, *params], allow_unused=True))
    grads = [None if g is None else g.detach().clone() for g in grads]
    return grads, ys.detach()


@contextmanager
def _as_float64(tensors: list[torch.Tensor]) -> Iterator[None]:
    """Give ``tensors`` float64 CPU values for the block, then their own back."""
    kept = [t.data for t in tensors]
    try:
        for t in tensors:
            t.data = t.data.to("cpu", torch.float64)
        yield
    finally:
        for t, data in zip(tensors, kept, strict=True):
            t.data = data
