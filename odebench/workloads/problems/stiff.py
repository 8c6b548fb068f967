"""Stiff problems with float64 references you can trust: Van der Pol (mu = 1, 10, 100, 1000,
about one limit cycle), Robertson's kinetics (ROBER) and linear systems of a chosen
stiffness ratio.

The nonlinear problems have no exact solution, and the zoo's fallback reference (torchdiffeq's
explicit dopri8 at 1e-12) would need millions of steps on them; their reference is scipy's
``solve_ivp`` Radau (implicit, order 5) at rtol :data:`REFERENCE_RTOL`, integrated from one
output time to the next so every output is a step's own end point (no dense-output
interpolant). Gradients come from the same solve of the variational equations
``dJ/dt = (df/dy) J``, ``J(t0) = I``: the gradient of a loss ``L(y(t_1), ..., y(t_n))`` with
respect to ``y0`` is ``sum_i J(t_i)^T dL/dy(t_i)``. :func:`cross_check` solves again with a
second, independent method (DOP853 where the problem is mildly stiff, ODEPACK's LSODA
otherwise) and returns the largest difference; ``tests/test_stiff_problems.py`` asserts it
against :data:`AGREEMENT`. The linear systems are exact (``torch.linalg.matrix_exp``).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from odebench.workloads.problems.registry import Problem, builtin_problem

#: rtol (and atol scale) of the Radau references and their cross-checks
REFERENCE_RTOL = 1e-13
#: Van der Pol's mu -> t1: about one period of its limit cycle from (2, 0) (the period
#: grows like (3 - 2 ln 2) mu for large mu)
VDP_PERIODS: dict[int, float] = {1: 6.6633, 10: 19.0784, 100: 162.8, 1000: 1614.3}
#: the linear systems' stiffness ratios (|fastest| / |slowest| eigenvalue)
LINEAR_RATIOS: tuple[int, ...] = (10, 1000, 100000)
#: ROBER's span and the log time grid its reference is cross-checked on
ROBER_T1 = 1e5
ROBER_LOG_GRID: tuple[float, ...] = tuple(10.0**k for k in range(-5, 6))
#: the largest relative difference (max-norm over the state, relative to max(|y|, atol
#: scale)) allowed between a reference and its cross-check, per problem
AGREEMENT: dict[str, float] = {
    "vdp_mu1": 1e-9, "vdp_mu10": 1e-8, "vdp_mu100": 1e-6, "vdp_mu1000": 1e-5, "rober": 1e-6,
}  # fmt: skip

#: The references at (t0, t1) with their sensitivities and cross-checks, computed once by
#: ``python -m odebench.workloads.problems.stiff`` (Radau at 1e-13 takes minutes at mu=1000)
REFERENCE_FILE = Path(__file__).with_name("stiff_references.json")

NumpyField = Callable[[float, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Spec:
    """A nonlinear stiff system in numpy (for scipy) beside its torch field."""

    f: NumpyField
    jac: Callable[[float, np.ndarray], np.ndarray]
    atol: float  # absolute tolerance scale: below it a component counts as zero
    cross_method: str  # the independent second method of :func:`cross_check`


def _vdp_numpy(mu: float) -> tuple[NumpyField, Callable[[float, np.ndarray], np.ndarray]]:
    def f(t: float, y: np.ndarray) -> np.ndarray:
        return np.array([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    def jac(t: float, y: np.ndarray) -> np.ndarray:
        return np.array([[0.0, 1.0], [-2 * mu * y[0] * y[1] - 1, mu * (1 - y[0] ** 2)]])

    return f, jac


def _rober_f(t: float, y: np.ndarray) -> np.ndarray:
    return np.array([
        -0.04 * y[0] + 1e4 * y[1] * y[2],
        0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
        3e7 * y[1] ** 2,
    ])  # fmt: skip


def _rober_jac(t: float, y: np.ndarray) -> np.ndarray:
    return np.array([
        [-0.04, 1e4 * y[2], 1e4 * y[1]],
        [0.04, -1e4 * y[2] - 6e7 * y[1], -1e4 * y[1]],
        [0.0, 6e7 * y[1], 0.0],
    ])  # fmt: skip


class VanDerPol(torch.nn.Module):
    """``y1' = y2``, ``y2' = mu (1 - y1^2) y2 - y1`` on the last axis; ``mu`` a float or a
    tensor broadcasting against ``y[..., 0]`` (one mu per batch sample)."""

    def __init__(self, mu: float | torch.Tensor):
        super().__init__()
        if isinstance(mu, torch.Tensor):
            self.register_buffer("mu", mu.detach().clone())
        else:
            self.mu = float(mu)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y[..., 0], y[..., 1]
        return torch.stack([y2, self.mu * (1 - y1 * y1) * y2 - y1], dim=-1)


def rober_field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Robertson's chemical kinetics (Hairer & Wanner II, §IV.1)."""
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    return torch.stack(
        [
            -0.04 * y1 + 1e4 * y2 * y3,
            0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2,
            3e7 * y2 * y2,
        ],
        dim=-1,
    )


def _segments(
    f: NumpyField, jac: Callable | None, y0: np.ndarray, times: np.ndarray, method: str,
    rtol: float, atol: float,
) -> np.ndarray:  # fmt: skip
    """States at ``times``, solved from each output time to the next (outputs are step ends)."""
    from scipy.integrate import solve_ivp

    out, y = [np.asarray(y0, dtype=np.float64)], np.asarray(y0, dtype=np.float64)
    kwargs = {"jac": jac} if jac is not None and method in ("Radau", "BDF", "LSODA") else {}
    for a, b in zip(times[:-1], times[1:], strict=True):
        sol = solve_ivp(f, (float(a), float(b)), y, method=method, rtol=rtol, atol=atol, **kwargs)
        if not sol.success:
            raise RuntimeError(f"reference solve ({method}) failed: {sol.message}")
        y = sol.y[:, -1]
        out.append(y)
    return np.stack(out)


def _variational(spec: Spec) -> tuple[NumpyField, Callable[[float, np.ndarray], np.ndarray]]:
    """The system ``[y, J]`` with ``J' = (df/dy) J`` (J flattened row-major), and its Jacobian."""

    def f(t: float, z: np.ndarray) -> np.ndarray:
        n = int(round((math.sqrt(1 + 4 * z.size) - 1) / 2))
        y, jm = z[:n], z[n:].reshape(n, n)
        return np.concatenate([spec.f(t, y), (spec.jac(t, y) @ jm).ravel()])

    def jac(t: float, z: np.ndarray) -> np.ndarray:
        # the block lower-triangular Jacobian, its (J, y) block by central differences
        n = int(round((math.sqrt(1 + 4 * z.size) - 1) / 2))
        y, jm = z[:n], z[n:].reshape(n, n)
        a = spec.jac(t, y)
        full = np.zeros((z.size, z.size))
        full[:n, :n] = a
        full[n:, n:] = np.kron(a, np.eye(n))
        for k in range(n):
            h = 1e-7 * max(1.0, abs(y[k]))
            e = np.zeros(n)
            e[k] = h
            full[n:, k] = ((spec.jac(t, y + e) - spec.jac(t, y - e)) @ jm).ravel() / (2 * h)
        return full

    return f, jac


@functools.cache
def stored_references() -> dict[str, dict]:
    """The stored references (:data:`REFERENCE_FILE`), by problem name ({} if none)."""
    if not REFERENCE_FILE.exists():
        return {}
    return json.loads(REFERENCE_FILE.read_text())["problems"]


@functools.lru_cache(maxsize=64)
def _reference(name: str, times: tuple[float, ...], method: str, sensitivities: bool) -> np.ndarray:
    spec, y0 = _SPECS[name]
    entry = stored_references().get(name)
    if method == "Radau" and entry is not None and tuple(entry["t"]) == times:
        z = np.array(entry["z"])
        return z if sensitivities else z[:, : len(y0)]
    return compute_reference(name, times, method, sensitivities)


def compute_reference(
    name: str, times: tuple[float, ...], method: str = "Radau", sensitivities: bool = True
) -> np.ndarray:
    """Solve for the reference now (no stored copy): states, then J flattened, per time."""
    spec, y0 = _SPECS[name]
    n = len(y0)
    if sensitivities:
        f, jac = _variational(spec)
        z0 = np.concatenate([y0, np.eye(n).ravel()])
        return _segments(f, jac, z0, np.array(times), method, REFERENCE_RTOL, spec.atol)
    return _segments(spec.f, spec.jac, y0, np.array(times), method, REFERENCE_RTOL, spec.atol)


def reference_states(name: str, t: torch.Tensor, *, method: str = "Radau") -> torch.Tensor:
    """The float64 states of problem ``name`` at times ``t`` (Radau at rtol 1e-13)."""
    times = tuple(float(v) for v in t.double().tolist())
    return torch.from_numpy(_reference(name, times, method, False).copy())


def reference_sensitivities(name: str, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(states, dy(t)/dy0) at times ``t``, shapes (len(t), n) and (len(t), n, n)."""
    times = tuple(float(v) for v in t.double().tolist())
    z = torch.from_numpy(_reference(name, times, "Radau", True).copy())
    n = _SPECS[name][1].size
    return z[:, :n], z[:, n:].reshape(-1, n, n)


def cross_check(name: str, t: torch.Tensor | None = None) -> float:
    """The largest difference between the Radau reference and a second method's solve at
    ``t`` (default: the problem's t0, t1; ROBER's log grid), relative to max(|y|, atol scale)."""
    spec, y0 = _SPECS[name]
    if t is None:
        problem = _PROBLEMS[name]()
        grid = (0.0, *ROBER_LOG_GRID) if name == "rober" else (problem.t0, problem.t1)
        t = torch.tensor(grid, dtype=torch.float64)
    a = reference_states(name, t).numpy()
    b = reference_states(name, t, method=spec.cross_method).numpy()
    scale = np.maximum(np.abs(a), spec.atol / REFERENCE_RTOL)
    return float(np.max(np.abs(a - b) / scale))


@dataclass(frozen=True)
class ReferencedProblem(Problem):
    """A problem whose reference gradient comes from its own sensitivities, not a
    differentiable torch solve (an explicit reference solve of a stiff problem would take
    millions of steps). ``sensitivity(t)`` returns (states, dy(t)/dy0)."""

    sensitivity: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    def reference_gradients(
        self, t: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor]
    ) -> list[torch.Tensor]:
        """``[dL/dy0]`` of ``loss(ys)`` at the reference states: ``sum_i J_i^T dL/dy_i``."""
        assert self.sensitivity is not None
        ys, js = self.sensitivity(t.double().cpu())
        ys = ys.reshape(len(t), *self.y0.shape).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(ys), ys)
        flat = g.reshape(len(t), -1)
        return [torch.einsum("tij,ti->j", js, flat).reshape(self.y0.shape)]


def _nonlinear(name: str, make: Callable[[], torch.nn.Module | Callable], t1: float,
               description: str) -> ReferencedProblem:  # fmt: skip
    y0 = torch.from_numpy(_SPECS[name][1].copy())
    return ReferencedProblem(
        name=name, make_field=make, y0=y0, t0=0.0, t1=t1,
        exact=lambda t: reference_states(name, t), description=description,
        sensitivity=lambda t: reference_sensitivities(name, t),
    )  # fmt: skip


_SPECS: dict[str, tuple[Spec, np.ndarray]] = {}
_PROBLEMS: dict[str, Callable[[], Problem]] = {}

for _mu, _period in VDP_PERIODS.items():
    _f, _jac = _vdp_numpy(float(_mu))
    _SPECS[f"vdp_mu{_mu}"] = (
        Spec(_f, _jac, atol=1e-13, cross_method="DOP853" if _mu <= 10 else "LSODA"),
        np.array([2.0, 0.0]),
    )
    _PROBLEMS[f"vdp_mu{_mu}"] = builtin_problem(f"vdp_mu{_mu}")(
        functools.partial(
            _nonlinear, f"vdp_mu{_mu}", functools.partial(VanDerPol, float(_mu)), _period,
            f"Van der Pol, mu={_mu}, y0=(2, 0), about one limit cycle (t1={_period}); "
            "reference: scipy Radau at rtol 1e-13",
        )
    )  # fmt: skip
_SPECS["rober"] = (Spec(_rober_f, _rober_jac, atol=1e-18, cross_method="LSODA"),
                   np.array([1.0, 0.0, 0.0]))  # fmt: skip
_PROBLEMS["rober"] = builtin_problem("rober")(
    functools.partial(
        _nonlinear, "rober", lambda: rober_field, ROBER_T1,
        "Robertson's kinetics, y0=(1, 0, 0), t in [0, 1e5]; reference: scipy Radau at rtol "
        "1e-13, cross-checked by LSODA on a log time grid 1e-5..1e5",
    )
)  # fmt: skip


def stiff_matrix(ratio: float) -> torch.Tensor:
    """A symmetric 3x3 matrix with eigenvalues -1, -sqrt(ratio), -ratio (stiffness ratio
    ``ratio``), rotated by a fixed orthogonal matrix so every component sees every mode."""
    q, _ = torch.linalg.qr(
        torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.5, 2.0], [0.3, -1.0, 1.0]], dtype=torch.float64)
    )
    lam = torch.tensor([-1.0, -math.sqrt(ratio), -float(ratio)], dtype=torch.float64)
    return q @ torch.diag(lam) @ q.T


class LinearField(torch.nn.Module):
    """``dy/dt = A y`` with a fixed (buffer) matrix, in the case's dtype."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.register_buffer("a", a.clone())

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return y @ self.a.T


def _linear_stiff(ratio: int) -> ReferencedProblem:
    a = stiff_matrix(ratio)
    y0 = torch.ones(3, dtype=torch.float64)

    def exact(t: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.linalg.matrix_exp(a * float(s)) @ y0 for s in t.double()])

    def sensitivity(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        js = torch.stack([torch.linalg.matrix_exp(a * float(s)) for s in t.double()])
        return js @ y0, js

    return ReferencedProblem(
        name=f"linear_stiff_r{ratio}", make_field=lambda: LinearField(a), y0=y0, t0=0.0,
        t1=5.0, exact=exact, sensitivity=sensitivity,
        description=f"dy/dt = A y, A symmetric 3x3 with eigenvalues -1, -sqrt({ratio}), "
        f"-{ratio} (stiffness ratio {ratio}), y0 = 1, t in [0, 5]; exact by matrix exponential",
    )  # fmt: skip


for _ratio in LINEAR_RATIOS:
    builtin_problem(f"linear_stiff_r{_ratio}")(functools.partial(_linear_stiff, _ratio))

#: the stiff problems, in order of the suite's tables
STIFF_PROBLEMS: tuple[str, ...] = (
    *(f"vdp_mu{m}" for m in VDP_PERIODS), "rober",
    *(f"linear_stiff_r{r}" for r in LINEAR_RATIOS),
)  # fmt: skip


def write_references(names: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Compute the references at (t0, t1) with sensitivities, cross-check each against its
    second method, and store them in :data:`REFERENCE_FILE` (the agreement recorded)."""
    import scipy

    problems = dict(stored_references())
    for name in names or tuple(_SPECS):
        spec, y0 = _SPECS[name]
        problem = _PROBLEMS[name]()
        times = (problem.t0, problem.t1)
        start = time.perf_counter()
        z = compute_reference(name, times, "Radau", True)
        seconds = time.perf_counter() - start
        n = len(y0)
        grid = (0.0, *ROBER_LOG_GRID) if name == "rober" else times
        radau = z[:, :n] if grid == times else compute_reference(name, grid, "Radau", False)
        other = compute_reference(name, grid, spec.cross_method, False)
        scale = np.maximum(np.abs(radau), spec.atol / REFERENCE_RTOL)
        problems[name] = {
            "t": list(times), "z": z.tolist(), "radau_seconds": seconds,
            "cross_method": spec.cross_method, "cross_grid": list(grid),
            "agreement": float(np.max(np.abs(radau - other) / scale)),
            "rtol": REFERENCE_RTOL, "atol": spec.atol,
        }  # fmt: skip
        print(f"{name}: Radau {seconds:.1f} s, agreement {problems[name]['agreement']:.2e}",
              flush=True)  # fmt: skip
        REFERENCE_FILE.write_text(json.dumps(
            {"scipy": scipy.__version__, "problems": problems}, indent=1))  # fmt: skip
    stored_references.cache_clear()
    _reference.cache_clear()
    return problems


if __name__ == "__main__":
    import sys

    write_references(tuple(sys.argv[1:]) or None)
