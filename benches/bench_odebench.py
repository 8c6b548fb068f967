"""asv benchmarks: thin, parametrised classes over the cases of ``get_suite("bench")``.

Nothing is measured here that :mod:`odebench.benchmark.measure` does not define, and nothing
is typed twice: each class names a *family* of cases (a predicate) and its parameter names;
the parameter values are read from the suite, so every combination asv shows is a case.

* ``params`` are derived at import: the values each named field takes in the family. When
  those values do not form a full product (asv can only show products: a missing
  combination would be an ``n/a`` row), the class takes one parameter, ``case``, whose
  values are the family's case ids without what all of them share.
* The slow set is the ``bench_slow`` suite of :mod:`odebench.benchmark.suites` (``bench``
  and its slower neighbours), chosen with ``ODEBENCH_ASV_SLOW=1``.
* ``setup`` builds the case's workload with :func:`odebench.benchmark.measure.build_workload`;
  the ``time_``/``peakmem_`` benchmarks call its ``forward()``/``step()``, and the ``track_``
  benchmarks return a figure of :func:`odebench.benchmark.measure.measure` run with only that
  meter.
* Torch runs on ``ODEBENCH_ASV_THREADS`` threads (default 1): on a shared 2-core machine two
  OpenMP threads make timings noisy by an order of magnitude.
* The module imports nothing of odebench that an older commit may lack at import time: at
  a commit with neither ``odebench.benchmark`` nor the older ``odebench.cases`` /
  ``odebench.measure`` every benchmark skips.
"""

from __future__ import annotations

import importlib
import itertools
import os
from collections.abc import Callable
from typing import Any

try:  # imported here (not in setup) so asv's forkserver imports torch once per run
    import torch

    try:  # the layered package (odebench/benchmark/)
        from odebench.benchmark.cases import CaseError
        from odebench.benchmark.measure import build_workload, measure
        from odebench.benchmark.suites import get_suite
    except ImportError:  # commits before the layers: the same names at the package top
        from odebench.cases import CaseError, get_suite  # type: ignore[no-redef]
        from odebench.measure import measure  # type: ignore[no-redef]

        try:
            from odebench.measure import build_workload  # type: ignore[no-redef]
        except ImportError:  # odebench before the Subject -> Workload rename
            from odebench.measure import build_subject as build_workload  # type: ignore[no-redef]

    _IMPORT_ERROR: str | None = None
except ImportError as exc:  # an older commit of odebench: skip everything
    _IMPORT_ERROR = f"odebench at this commit lacks what the benchmarks need: {exc}"

SLOW_ENV = "ODEBENCH_ASV_SLOW"
THREADS_ENV = "ODEBENCH_ASV_THREADS"
SUITE = "bench"
SLOW_SUITE = "bench_slow"
#: Field values of cases made before the field existed.
DEFAULTS: dict[str, Any] = {"backend": "torchdiffeq"}
#: Read coarse to fine: tolerances loose to tight.
DESCENDING: tuple[str, ...] = ("rtol", "atol", "step_size")


def slow_enabled() -> bool:
    """Whether the environment asks for the slow set (``ODEBENCH_ASV_SLOW=1``)."""
    return os.environ.get(SLOW_ENV, "") not in ("", "0")


def suite_cases() -> list[Any]:
    """The cases asv runs: ``bench``, or ``bench_slow`` with the slow set on (when it exists)."""
    if _IMPORT_ERROR is not None:
        return []
    if slow_enabled():
        try:
            return get_suite(SLOW_SUITE)
        except CaseError:  # a commit before the named slow suite
            pass
    return get_suite(SUITE)


def field(case: Any, name: str) -> Any:
    return getattr(case, name, DEFAULTS.get(name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def case_label(case: Any, family: list[Any]) -> str:
    """``case``'s id without its hash and without the tokens every case of ``family`` shares."""
    tokens = {id(c): c.case_id.rsplit("-", 1)[0].split("-") for c in family}
    shared = set.intersection(*(set(t) for t in tokens.values())) if len(family) > 1 else set()
    mine = [t for t in tokens[id(case)] if t not in shared]
    return "-".join(mine) or tokens[id(case)][0]


def derive_params(
    family: list[Any], names: tuple[str, ...]
) -> tuple[list[str], list[list[Any]], dict[tuple[Any, ...], Any]]:
    """(param_names, params, {parameter tuple: case}) of a family: the values each named
    field takes, when every combination is a case; else one ``case`` parameter."""
    if not family:  # an older commit without such cases: one placeholder, skipped in setup
        return list(names), [["none"] for _ in names], {}
    values = [sorted({field(c, n) for c in family}, key=_sort_key) for n in names]
    values = [v[::-1] if n in DESCENDING else v for n, v in zip(names, values, strict=True)]
    lookup = {tuple(field(c, n) for n in names): c for c in family}
    complete = len(lookup) == len(family) == len(list(itertools.product(*values)))
    if names != ("case",) and complete:
        return list(names), values, lookup
    labels = {case_label(c, family): c for c in family}
    return ["case"], [list(labels)], {(label,): c for label, c in labels.items()}


def _with_unit(unit: str):  # type: ignore[no-untyped-def]
    def mark(fn):  # type: ignore[no-untyped-def]
        fn.unit = unit
        return fn

    return mark


def family_class(
    name: str, base: type, member: Callable[[Any], bool], names: tuple[str, ...], doc: str
) -> type:
    """A benchmark class over the suite's cases for which ``member(case)`` holds."""
    family = [c for c in suite_cases() if member(c)]
    param_names, params, lookup = derive_params(family, names)
    return type(name, (base,), {
        "__doc__": doc, "param_names": param_names, "params": params, "cases": lookup,
        "__module__": __name__,
    })  # fmt: skip


class _CaseBench:
    """Shared machinery: find the case in ``setup``, build and warm up its workload."""

    cases: dict[tuple[Any, ...], Any] = {}
    timeout = 300.0
    repeat = (3, 10, 20.0)
    warmup_time = 0.1

    def setup(self, *params: Any) -> None:
        if _IMPORT_ERROR is not None:
            raise NotImplementedError(_IMPORT_ERROR)
        if tuple(params) not in self.cases:
            raise NotImplementedError(f"{params} is not a case of this family at this commit")
        self.case = self.cases[tuple(params)]
        torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
        self.workload = build_workload(self.case)
        self.workload.step()  # warm-up: first-call overheads stay out of the timings

    def _record(self, meter: str) -> dict[str, Any]:
        return measure(self.case.with_(meters=(meter,)))


class _Timing(_CaseBench):
    def time_forward(self, *params: Any) -> None:
        """Forward pass: the solve (or the network) and the loss, building the graph."""
        self.workload.forward()

    def time_forward_backward(self, *params: Any) -> None:
        """One training step's gradient: forward plus ``loss.backward()``."""
        self.workload.step()

    def peakmem_forward_backward(self, *params: Any) -> None:
        """Peak RSS of the whole benchmark process (torch included) across a step."""
        self.workload.step()


class _Memory(_Timing):
    @_with_unit("bytes")
    def track_saved_bytes(self, *params: Any) -> int:
        """Bytes of activations saved for backward during the forward pass."""
        return int(self._record("saved")["saved_bytes"])

    @_with_unit("bytes")
    def track_peak_alloc_bytes(self, *params: Any) -> int:
        """Peak bytes allocated during a step (profiler memory events on the CPU)."""
        return int(self._record("peak_alloc")["peak_alloc_bytes"])


class _Nfe(_CaseBench):
    @_with_unit("evaluations")
    def track_nfe_forward(self, *params: Any) -> int:
        return int(self._record("nfe")["nfe_forward"])

    @_with_unit("evaluations")
    def track_nfe_backward(self, *params: Any) -> int:
        return int(self._record("nfe")["nfe_backward"])


class _Figures(_Memory, _Nfe):
    pass


class _Errors(_Figures):
    @_with_unit("relative L2 error")
    def track_state_error(self, *params: Any) -> float:
        """Error of the state at t1 against the exact or float64 reference solution."""
        return float(f"{self._record('error')['state_error']:.4g}")

    @_with_unit("relative L2 error")
    def track_grad_error(self, *params: Any) -> float:
        """Error of the gradient against a float64 reference gradient."""
        return float(f"{self._record('error')['grad_error']:.4g}")


def _has_exact_solution(case: Any) -> bool:
    try:
        from odebench.workloads.problems import get_problem
    except ImportError:  # commits before the layers
        from odebench.problems import get_problem  # type: ignore[no-redef]

    return bool(case.problem) and get_problem(case.problem).exact is not None


SOLVER = ("backend", "gradient")

FieldFixedGrid = family_class(
    "FieldFixedGrid", _Errors,
    lambda c: c.problem == "mlp" and c.steps is not None, SOLVER + ("steps",),
    "MLP vector field (64 -> 64 tanh -> 64, batch 32) through a fixed grid (rk4).",
)  # fmt: skip
FieldAdaptive = family_class(
    "FieldAdaptive", _Errors,
    lambda c: c.problem == "mlp" and c.rtol is not None, SOLVER + ("rtol",),
    "MLP vector field (batch 32) through adaptive dopri5 at rtol = atol. The field is "
    "random: dopri5 takes 2-4 steps at any tolerance, so its error is not monotone in rtol.",
)  # fmt: skip
ExactProblem = family_class(
    "ExactProblem", _Errors, _has_exact_solution, ("problem",) + SOLVER + ("method", "rtol"),
    "Problems with an exact solution: the state error is a true error.",
)  # fmt: skip
MnistModels = family_class(
    "MnistModels", _Memory, lambda c: bool(c.model), ("case",),
    "The MNIST models of the paper's Table 1 (batch 4): MLP, ResNet, RK-Net, ODE-Net.",
)  # fmt: skip
MnistSolverModels = family_class(
    "MnistSolverModels", _Nfe, lambda c: bool(c.model) and c.uses_solver, ("case",),
    "Function evaluations of the MNIST models that solve an ODE: RK-Net and ODE-Net.",
)  # fmt: skip
ResNetDepth = family_class(
    "ResNetDepth", _Timing, lambda c: c.model == "resnet", ("depth",),
    "ResNet of the MNIST table against its number of residual blocks (batch 4).",
)  # fmt: skip

#: Every benchmark class and the family it covers (tests check that together they cover the
#: suite, and that no parameter combination is missing).
FAMILIES: tuple[type, ...] = (FieldFixedGrid, FieldAdaptive, ExactProblem, MnistModels,
                              MnistSolverModels, ResNetDepth)  # fmt: skip


def _needs(module: str, name: str | None = None) -> Any:
    """What a benchmark needs from odebench (a module, or a name in it), or a skip
    (``NotImplementedError``, asv's skip) naming why: a commit before it existed."""
    if _IMPORT_ERROR is not None:
        raise NotImplementedError(_IMPORT_ERROR)
    try:
        found = importlib.import_module(module)
        return getattr(found, name) if name else found
    except (ImportError, AttributeError) as exc:
        raise NotImplementedError(str(exc)) from None


class SolveOverhead:
    """odebench's ``solve()`` over a bare ``torchdiffeq`` call: 1 + the median of paired
    differences (>= 200 interleaved pairs of forward + backward, CPU time) over the bare
    median, MLP field 64, dopri5 rtol = atol = 1e-5, one thread; 1.01 is 1 % overhead.
    ``track_overhead_interval`` is the width of its 95 % bootstrap interval.
    See :mod:`odebench.experiments.overhead`."""

    param_names = ["gradient", "batch"]
    params = [["backprop", "adjoint"], [128, 8]]
    timeout = 1200.0
    repeat = 1
    number = 1

    def setup(self, gradient: str, batch: int) -> None:
        self.solve_overhead = _needs("odebench.experiments.overhead", "solve_overhead")
        torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
        self._result: Any = None

    def _measured(self, gradient: str, batch: int) -> Any:
        if self._result is None:
            self._result = self.solve_overhead(gradient, batch)
        return self._result

    @_with_unit("ratio")
    def track_overhead_ratio(self, gradient: str, batch: int) -> float:
        """1 + median paired difference / bare median (1.0: no overhead)."""
        return float(f"{self._measured(gradient, batch).ratio:.4f}")

    @_with_unit("ratio")
    def track_overhead_interval(self, gradient: str, batch: int) -> float:
        """Width of the ratio's 95 % bootstrap interval (what the ratio can resolve)."""
        r = self._measured(gradient, batch)
        return float(f"{r.high - r.low:.4f}")


class CaseFixedCost:
    """Seconds per case that ``measure()`` spends besides the case's solve, over a grid of
    200 tiny cases (harmonic_oscillator, dopri5, float64, nfe + error; issue 37 goal:
    <= 50 ms)."""

    timeout = 1200.0
    repeat = 1
    number = 1

    def setup(self) -> None:
        self.case_fixed_cost = _needs("odebench.experiments.overhead", "case_fixed_cost")
        torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))

    @_with_unit("seconds")
    def track_fixed_seconds_per_case(self) -> float:
        per_case, per_solve = self.case_fixed_cost()
        return float(f"{per_case - per_solve:.4g}")


class AcaPeerWorkPrecision:
    """``aca`` over TorchDiffEqPack 1.0.1's ACA (``odesolve_adjoint``) at equal gradient
    error: forward + backward time of each at the target error, read off its work-precision
    front over a range of tolerances measured side by side in one process (dopri5, float64;
    see :mod:`odebench.experiments.aca_peer`); below 1.0 aca is faster. Skipped with the
    reason where TorchDiffEqPack is not installed (an optional peer)."""

    param_names = ["field", "target_error"]
    params = [["mlp", "spiral_trained"], [1e-4, 1e-6]]
    timeout = 600.0
    repeat = 1
    number = 1
    _rows: dict[str, list[dict[str, Any]]] = {}  # per field, shared by the targets

    def setup(self, field: str, target_error: float) -> None:
        aca_peer = _needs("odebench.experiments.aca_peer")
        missing = aca_peer.peer_missing()
        if missing is not None:
            raise NotImplementedError(missing)
        torch.set_num_threads(1)
        if field not in self._rows:
            self._rows[field] = aca_peer.measure(field, passes=3)
        self.aca_peer = aca_peer

    @_with_unit("ratio")
    def track_aca_over_peer(self, field: str, target_error: float) -> float:
        """aca's time / the peer's at the target gradient error (nan: a mode's errors do
        not reach across the target)."""
        rows = self._rows[field]
        aca = self.aca_peer.time_at([r for r in rows if r["mode"] == "aca"], target_error)
        peer = self.aca_peer.time_at([r for r in rows if r["mode"] == "peer"], target_error)
        return float(f"{aca / peer:.4f}")
