"""Gradient modes: checkpoint and aca against backprop, their NFE and saved bytes by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchdiffeq import odeint

from odebench.instruments import SavedTensors
from odebench.instruments.nfe import phase
from odebench.solvers import SolverConfig, SolverConfigError, solve
from odebench.solvers.gradients import aca_odeint


class Field(nn.Module):
    """A small smooth field (tanh MLP) with a time input, so t's path is exercised too."""

    def __init__(self, width: int = 16, dim: int = 3, dtype: torch.dtype = torch.float64):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w1 = nn.Parameter(torch.randn(dim, width, generator=gen, dtype=dtype) / dim**0.5)
        self.w2 = nn.Parameter(torch.randn(width, dim, generator=gen, dtype=dtype) / width**0.5)
        self.b = nn.Parameter(torch.zeros(width, dtype=dtype))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y @ self.w1 + self.b + t) @ self.w2


def _run(gradient: str, times: int = 2, **kw: object) -> tuple[torch.Tensor, torch.Tensor, object]:
    """ys, the flat gradient (y0 then parameters) and the solution, for a fixed loss."""
    field = Field()
    y0 = torch.linspace(-1, 1, 8 * 3, dtype=torch.float64).reshape(8, 3).requires_grad_(True)
    t = torch.linspace(0.0, 1.5, times, dtype=torch.float64)
    sol = solve(field, y0, t, SolverConfig(gradient=gradient, **kw))  # type: ignore[arg-type]
    loss = (sol.ys**2).sum() + sol.ys[-1].sum()
    with phase("backward"):
        loss.backward()
    grad = torch.cat([y0.grad.flatten()] + [p.grad.flatten() for p in field.parameters()])
    return sol.ys.detach(), grad, sol


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


GRIDS = [
    {"method": "rk4", "steps": 5},
    {"method": "dopri5", "rtol": 1e-6, "atol": 1e-6},
]


@pytest.mark.parametrize("kw", GRIDS, ids=["rk4", "dopri5"])
@pytest.mark.parametrize("times", [2, 6])
def test_checkpoint_gradient_is_backprops(kw: dict, times: int) -> None:
    ys_b, g_b, _ = _run("backprop", times, **kw)
    ys_c, g_c, _ = _run("checkpoint", times, **kw)
    assert torch.equal(ys_c, ys_b)
    assert _rel(g_c, g_b) <= 1e-12


def test_checkpoint_nfe_backward_counts_each_recomputed_call() -> None:
    """rk4 with n steps calls f 4n times forward; checkpoint re-runs each call once in
    backward (NFE-B: field calls made during ``backward()``), so NFE-B = 4n too."""
    for n in (1, 3, 7):
        _, _, sol = _run("checkpoint", 2, method="rk4", steps=n)
        assert (sol.field.nfe_forward, sol.field.nfe_backward) == (4 * n, 4 * n)
        _, _, sol = _run("backprop", 2, method="rk4", steps=n)
        assert (sol.field.nfe_forward, sol.field.nfe_backward) == (4 * n, 0)


def _saved(gradient: str, steps: int, dtype: torch.dtype = torch.float32, **kw: object) -> int:
    field = Field(width=32, dim=16, dtype=dtype)
    y0 = torch.ones(64, 16, dtype=dtype).requires_grad_(True)
    t = torch.tensor([0.0, 1.0], dtype=dtype)
    config = SolverConfig(method="rk4", steps=steps, gradient=gradient, **kw)  # type: ignore[arg-type]
    with SavedTensors(params=list(field.parameters())) as saved:
        sol = solve(field, y0, t, config)
        loss = sol.ys[-1].sum()
    del loss
    return saved.activation_bytes


STATE = 64 * 16 * 4  # bytes of one float32 state


def test_checkpoint_saved_tensor_bytes_per_rk4_step() -> None:
    """Per rk4 step the graph keeps, as tensors: the state input of each of the 4 calls (the
    field's activations are dropped), the step's dt (saved by ``dt * k``), the two stage times
    t0 + dt/3 and t0 + 2dt/3 (inputs of calls 2 and 3), and one more element of the time grid
    whose views t0 and t1 are the other calls' inputs: 4 states + 4 x 4 B."""
    per_step = 4 * STATE + 4 * 4
    slopes = {_saved("checkpoint", n + 1) - _saved("checkpoint", n) for n in (1, 2, 4)}
    assert slopes == {per_step}
    # backprop keeps the field's activations too: (y, tanh output) per call, 2 states of
    # width 32 = 4 x 16-wide states per call, against 1 state per call here
    assert _saved("backprop", 2) - _saved("backprop", 1) > per_step


def _other(gradient: str, steps: int) -> int:
    field = Field(width=32, dim=16, dtype=torch.float32)
    y0 = torch.ones(64, 16).requires_grad_(True)
    t = torch.tensor([0.0, 1.0])
    config = SolverConfig(method="rk4", steps=steps, gradient=gradient)  # type: ignore[arg-type]
    with SavedTensors(params=list(field.parameters())) as saved:
        sol = solve(field, y0, t, config)
        loss = sol.ys[-1].sum()
    del loss
    return saved.other_bytes


def test_checkpoint_keeps_an_rng_state_per_call() -> None:
    """torch.utils.checkpoint also keeps the CPU RNG state of each call (to replay dropout),
    outside the saved-tensor hooks: a uint8 tensor of ``torch.get_rng_state().numel()``
    bytes per call, 4 calls per rk4 step; its inputs (t, y) are tensors, so nothing else.
    aca and backprop keep none."""
    rng = torch.get_rng_state().numel()
    slopes = {_other("checkpoint", n + 1) - _other("checkpoint", n) for n in (1, 2, 4)}
    assert slopes == {4 * rng}
    assert _other("aca", 3) == _other("backprop", 3) == 0


def test_aca_saved_bytes_one_state_and_times_per_step() -> None:
    """aca keeps per step its start state and (t0, dt, t1) in the time dtype, nothing else."""
    for n in (1, 2, 5):
        assert _saved("aca", n) == n * (STATE + 3 * 4)
        assert _saved("aca", n, dtype=torch.float64) == n * (2 * STATE + 3 * 8)


def test_aca_saved_bytes_adaptive() -> None:
    """On dopri5 each accepted step keeps its state, its stage-0 derivative and 3 float64
    times."""
    field = Field(width=32, dim=16, dtype=torch.float32)
    y0 = torch.ones(64, 16).requires_grad_(True)
    t = torch.tensor([0.0, 3.0])
    with SavedTensors(params=list(field.parameters())) as saved:
        sol = solve(
            field, y0, t, SolverConfig(method="dopri5", rtol=1e-6, atol=1e-6, gradient="aca")
        )
        loss = sol.ys[-1].sum()
    del loss
    steps = sol.stats.steps_accepted
    assert steps >= 3
    assert saved.activation_bytes == steps * (2 * STATE + 3 * 8)


@pytest.mark.parametrize("times", [2, 5])
@pytest.mark.parametrize(
    "kw",
    [
        {"method": "rk4", "steps": 6},
        {"method": "euler", "steps": 9},
        {"method": "rk4", "step_size": 0.4},
    ],
    ids=["rk4", "euler", "rk4-h"],
)
def test_aca_equals_backprop_on_a_fixed_grid(kw: dict, times: int) -> None:
    ys_b, g_b, sol_b = _run("backprop", times, **kw)
    ys_a, g_a, sol_a = _run("aca", times, **kw)
    assert torch.equal(ys_a, ys_b)  # the same forward computation, bit for bit
    assert _rel(g_a, g_b) <= 1e-10
    steps = sol_b.stats.steps_accepted
    calls = 4 if kw["method"] == "rk4" else 1
    # forward: every call; backward: each step replayed once
    assert (sol_a.field.nfe_forward, sol_a.field.nfe_backward) == (calls * steps, calls * steps)


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "fehlberg2", "adaptive_heun"])
def test_aca_is_backprop_with_the_steps_held_fixed(method: str) -> None:
    """torchdiffeq computes every later step size under no_grad; only an automatic first
    step (chosen from y0 and f(t0, y0)) carries a graph, and with it every later step time.
    Given ``first_step``, backprop and aca differentiate the same computation and agree to
    rounding; the forward output is the same bit for bit."""
    field = Field()
    y0 = torch.linspace(-1, 1, 24, dtype=torch.float64).reshape(8, 3)
    t = torch.linspace(0.0, 1.5, 4, dtype=torch.float64)
    opts = {"method": method, "rtol": 1e-5, "atol": 1e-5, "options": {"first_step": 0.05}}
    grads = []
    for run in ("backprop", "aca"):
        y = y0.clone().requires_grad_(True)
        if run == "backprop":
            ys = odeint(field, y, t, **opts)
        else:
            ys = aca_odeint(field, y, t, tuple(field.parameters()), **opts)
        wrt = [y, *field.parameters()]
        got = torch.autograd.grad(ys.square().sum(), wrt)
        grads.append((ys.detach(), torch.cat([g.flatten() for g in got])))
    assert torch.equal(grads[0][0], grads[1][0])
    assert _rel(grads[1][1], grads[0][1]) <= 1e-12


def test_aca_dopri5_nfe() -> None:
    """dopri5: forward 2 + 6 per attempted step; backward 6 per accepted step + f(t0, y0)."""
    _, _, sol = _run("aca", 3, method="dopri5", rtol=1e-6, atol=1e-6)
    st = sol.stats
    assert sol.field.nfe_forward == 2 + 6 * (st.steps_accepted + st.steps_rejected)
    assert sol.field.nfe_backward == 6 * st.steps_accepted + 1


@pytest.mark.parametrize(
    ("kw", "fix"),
    [
        ({"method": "implicit_adams", "steps": 4, "gradient": "aca"}, "Runge-Kutta"),
        ({"method": "explicit_adams", "steps": 4, "gradient": "aca"}, "Runge-Kutta"),
        ({"method": "scipy_lsoda", "gradient": "aca"}, "gradient='adjoint'"),
        ({"backend": "torchode", "method": "dopri5", "gradient": "aca"}, "backend='torchdiffeq'"),
        ({"method": "dopri5", "gradient": "adjoint_joint"}, "backend='torchode'"),
        ({"method": "dopri5", "gradient": "aca", "seminorm": True}, "gradient='adjoint'"),
        (
            {"method": "dopri5", "gradient": "checkpoint", "adjoint_rtol": 1e-3},
            "gradient='adjoint'",
        ),
        ({"method": "dopri5", "gradient": "bogus"}, "checkpoint"),
    ],
)
def test_unsupported_combinations_fail_at_construction(kw: dict, fix: str) -> None:
    with pytest.raises(SolverConfigError, match=fix):
        SolverConfig(**kw)


def test_aca_dopri5_gradient_error_within_2x_of_backprops() -> None:
    """Against the float64 reference gradient (measure's), on the trained spiral field."""
    from odebench.benchmark.cases import Case
    from odebench.benchmark.measure import measure

    base = Case(
        problem="spiral_trained", method="dopri5", rtol=1e-5, atol=1e-5, dtype="float64",
        meters=("nfe", "error"),
    )  # fmt: skip
    backprop = measure(base)["grad_error"]
    aca = measure(base.with_(gradient="aca"))["grad_error"]
    assert 0 < aca <= 2 * backprop


def test_torchode_checkpoint_is_its_backprop_and_adjoints_are_counted() -> None:
    """torchode: checkpoint gives its backprop's gradient and re-runs each forward call once;
    the backsolve adjoints (per sample, and joint over the batch) are counted by odebench's
    counter (torchode's own count covers the forward solve only: it must agree there)."""
    kw = {"backend": "torchode", "method": "dopri5", "rtol": 1e-8, "atol": 1e-8}
    ys_b, g_b, sol_b = _run("backprop", 3, **kw)
    ys_c, g_c, sol_c = _run("checkpoint", 3, **kw)
    assert torch.equal(ys_c, ys_b) and _rel(g_c, g_b) <= 1e-12
    assert sol_c.field.nfe_backward == sol_c.field.nfe_forward == sol_b.field.nfe_forward
    for mode in ("adjoint", "adjoint_joint"):
        _, g, sol = _run(mode, 3, **kw)
        assert sol.field.nfe_forward == sol.stats.library_nfe
        assert sol.field.nfe_backward > 0
        assert _rel(g, g_b) < 1e-5  # both reverse solves at 1e-8


def test_aca_and_backprop_differ_by_the_first_steps_derivative_alone() -> None:
    from odebench.solvers.gradients import step_size_derivative

    y0 = torch.linspace(-1, 1, 24, dtype=torch.float64).reshape(8, 3)
    t = torch.linspace(0.0, 1.5, 4, dtype=torch.float64)
    diff, held = step_size_derivative(Field(), y0, t, rtol=1e-4, atol=1e-4)
    assert diff > 1e-12  # backprop differentiates the automatic first step
    assert held <= 1e-12  # with that step a constant, nothing else differs


@pytest.mark.parametrize("method", ["dopri8", "dopri5", "bosh3", "fehlberg2", "adaptive_heun"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_aca_replays_torchdiffeqs_step_to_rounding(method: str, dtype: torch.dtype) -> None:
    """The replay sums each stage with its own adds instead of torchdiffeq's stacked
    reduction: every stage and the step's end state must still be torchdiffeq's
    ``_runge_kutta_step`` (same tableau, same stage times), to a few ulps."""
    from torchdiffeq._impl import rk_common
    from torchdiffeq._impl.odeint import SOLVERS

    from odebench.solvers.gradients import _replay_rk_step, _Stages

    field = Field(dtype=dtype)
    y0 = torch.linspace(-1, 1, 24, dtype=dtype).reshape(8, 3)
    from torchdiffeq._impl.misc import _PerturbFunc, _rms_norm

    solver = SOLVERS[method](func=field, y0=y0, rtol=1e-6, atol=1e-6, norm=_rms_norm)
    func = _PerturbFunc(field)
    t0 = torch.tensor(0.3, dtype=torch.float64)
    dt = torch.tensor(0.125, dtype=torch.float64)
    t1 = t0 + dt
    f0 = field(t0.to(dtype), y0)
    with torch.no_grad():
        y1, _, _, k = rk_common._runge_kutta_step(func, y0, f0, t0, dt, t1, solver.tableau)
        got, ks = _replay_rk_step(func, y0, f0, t0, dt, t1, _Stages.of(solver.tableau))
    eps = torch.finfo(dtype).eps
    assert len(ks) == k.shape[-1]
    for j, kj in enumerate(ks):
        assert torch.allclose(kj, k[..., j], rtol=16 * eps, atol=16 * eps), j
    assert torch.allclose(got, y1, rtol=16 * eps, atol=16 * eps)
    assert not torch.equal(got, y0)  # the step moved the state: the check is not vacuous
