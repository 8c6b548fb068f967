"""asv benchmarks: thin, parametrised classes over the cases of ``get_suite("bench")``.

Nothing is measured here that :mod:`odebench.measure` does not define: each parameter
combination is looked up among the suite's cases, ``setup`` builds the case's subject
with :func:`odebench.measure.build_subject`, the ``time_``/``peakmem_`` benchmarks call
its ``forward()``/``step()``, and the ``track_`` benchmarks return a figure of
:func:`odebench.measure.measure` run with only the meter they report.

* A combination that is not a case raises ``NotImplementedError`` in ``setup`` (asv's skip).
* The slow set (``ODEBENCH_ASV_SLOW=1``) adds neighbours of ``bench`` cases with one field
  changed (more steps, a tighter tolerance, the other gradient mode): they are skipped
  otherwise.
* Torch runs on ``ODEBENCH_ASV_THREADS`` threads (default 1): on a shared 2-core
  machine two OpenMP threads make timings noisy by an order of magnitude.
* The module imports nothing of odebench that an older commit may lack at import time:
  at a commit without ``odebench.cases``/``odebench.measure`` every benchmark skips.
"""

from __future__ import annotations

import os
from typing import Any

try:  # imported here (not in setup) so asv's forkserver imports torch once per run
    import torch

    from odebench.cases import Case, CaseError, get_suite
    from odebench.measure import Record, Subject, build_subject, measure

    _IMPORT_ERROR: str | None = None
except ImportError as exc:  # an older commit of odebench: skip everything
    _IMPORT_ERROR = f"odebench at this commit lacks what the benchmarks need: {exc}"

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # pragma: no cover - asv_runner is present wherever asv runs benchmarks
    SkipNotImplemented = NotImplementedError  # type: ignore[assignment,misc]

SLOW_ENV = "ODEBENCH_ASV_SLOW"
THREADS_ENV = "ODEBENCH_ASV_THREADS"
SUITE = "bench"


def slow_enabled() -> bool:
    """Whether the environment asks for the slow set (``ODEBENCH_ASV_SLOW=1``)."""
    return os.environ.get(SLOW_ENV, "") not in ("", "0")


def find_case(family: dict[str, Any], wanted: dict[str, Any]) -> Case:
    """The ``bench`` case of ``family`` with the ``wanted`` fields, or a skip.

    With the slow set on, a combination that the suite lacks is derived from the
    family's closest ``bench`` case by changing the ``wanted`` fields (``atol`` follows
    ``rtol``, as in the suites).
    """
    if _IMPORT_ERROR is not None:
        raise NotImplementedError(_IMPORT_ERROR)
    members = [c for c in get_suite(SUITE) if all(getattr(c, k) == v for k, v in family.items())]
    for case in members:
        if all(getattr(case, k) == v for k, v in wanted.items()):
            return case
    if not members:
        raise NotImplementedError(f"no {SUITE!r} case with {family} at this commit")
    if not slow_enabled():
        raise NotImplementedError(f"{wanted} is not a {SUITE!r} case (slow set: {SLOW_ENV}=1)")
    # the template: the family's case that already has the most of the wanted fields
    template = max(members, key=lambda c: sum(getattr(c, k) == v for k, v in wanted.items()))
    changes = dict(wanted)
    if "rtol" in changes:
        changes["atol"] = changes["rtol"]
    try:
        return template.with_(**changes)
    except (CaseError, ValueError) as exc:
        raise NotImplementedError(f"{wanted} is not a valid case: {exc}") from None


def _with_unit(unit: str):  # type: ignore[no-untyped-def]
    def mark(fn):  # type: ignore[no-untyped-def]
        fn.unit = unit
        return fn

    return mark


class _CaseBench:
    """Shared machinery: resolve the case in ``setup``, build and warm up its subject."""

    #: fields every case of this family shares (e.g. the problem and the method)
    family: dict[str, Any] = {}
    #: parameters that also belong to the family (a slow case is derived within it)
    family_params: tuple[str, ...] = ()
    timeout = 300.0
    repeat = (3, 10, 20.0)
    warmup_time = 0.1
    case: Case
    subject: Subject

    def wanted(self, *params: Any) -> dict[str, Any]:
        """The case fields that the asv parameters name."""
        return dict(zip(self.param_names, params, strict=True))  # type: ignore[attr-defined]

    def setup(self, *params: Any) -> None:
        wanted = self.wanted(*params)
        family = {**self.family, **{k: wanted[k] for k in self.family_params}}
        self.case = find_case(family, wanted)
        torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
        self.subject = build_subject(self.case)
        self.subject.step()  # warm-up: first-call overheads stay out of the timings

    def _record(self, meter: str) -> Record:
        return measure(self.case.with_(meters=(meter,)))


class _Timing(_CaseBench):
    def time_forward(self, *params: Any) -> None:
        """Forward pass: the solve (or the network) and the loss, building the graph."""
        self.subject.forward()

    def time_forward_backward(self, *params: Any) -> None:
        """One training step's gradient: forward plus ``loss.backward()``."""
        self.subject.step()

    def peakmem_forward_backward(self, *params: Any) -> None:
        """Peak RSS of the whole benchmark process (torch included) across a step."""
        self.subject.step()


class _Figures(_Timing):
    @_with_unit("evaluations")
    def track_nfe_forward(self, *params: Any) -> int:
        rec = self._record("nfe")
        if "nfe_forward" not in rec:
            raise SkipNotImplemented("no ODE solve in this model")
        return int(rec["nfe_forward"])

    @_with_unit("evaluations")
    def track_nfe_backward(self, *params: Any) -> int:
        rec = self._record("nfe")
        if "nfe_backward" not in rec:
            raise SkipNotImplemented("no ODE solve in this model")
        return int(rec["nfe_backward"])

    @_with_unit("bytes")
    def track_saved_bytes(self, *params: Any) -> int:
        """Bytes of activations saved for backward during the forward pass."""
        return int(self._record("saved")["saved_bytes"])

    @_with_unit("bytes")
    def track_peak_alloc_bytes(self, *params: Any) -> int:
        """Peak bytes allocated during a step (profiler memory events on the CPU)."""
        return int(self._record("peak_alloc")["peak_alloc_bytes"])


class _Errors(_Figures):
    @_with_unit("relative L2 error")
    def track_state_error(self, *params: Any) -> float:
        """Error of the state at t1 against the exact or float64 reference solution."""
        return float(self._record("error")["state_error"])

    @_with_unit("relative L2 error")
    def track_grad_error(self, *params: Any) -> float:
        """Error of the gradient against a float64 reference gradient."""
        return float(self._record("error")["grad_error"])


class FieldFixedGrid(_Errors):
    """MLP vector field (64 -> 64 tanh -> 64, batch 32) through fixed-grid rk4."""

    family = {"problem": "mlp", "method": "rk4"}
    params = (["backprop", "adjoint"], [2, 8, 32])
    param_names = ["gradient", "steps"]


class FieldAdaptive(_Errors):
    """MLP vector field (batch 32) through adaptive dopri5 at rtol = atol."""

    family = {"problem": "mlp", "method": "dopri5"}
    params = (["backprop", "adjoint"], [1e-3, 1e-5, 1e-7])
    param_names = ["gradient", "rtol"]


class ExactProblem(_Errors):
    """A problem with an exact solution through dopri5: the state error is a true error."""

    family = {"method": "dopri5"}
    family_params = ("problem",)
    params = (["harmonic_oscillator"], ["backprop", "adjoint"], [1e-5])
    param_names = ["problem", "gradient", "rtol"]


class MnistModels(_Figures):
    """The MNIST models of the paper's Table 1 (batch 4): MLP, ResNet, RK-Net, ODE-Net."""

    params = (["mlp", "resnet", "rknet", "odenet"], ["backprop", "adjoint"])
    param_names = ["model", "gradient"]
    family_params = ("model",)

    def setup(self, model: str, gradient: str) -> None:
        if model in ("mlp", "resnet") and gradient != "backprop":
            raise NotImplementedError(f"{model} has no ODE solve: only backprop applies")
        if model == "rknet" and gradient != "backprop":
            raise NotImplementedError("RK-Net is backprop through rk4 by definition")
        super().setup(model, gradient)


class ResNetDepth(_Timing):
    """ResNet of the MNIST table against its number of residual blocks (batch 4)."""

    family = {"model": "resnet"}
    params = ([2, 6],)
    param_names = ["depth"]
