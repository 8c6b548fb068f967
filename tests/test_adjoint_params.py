"""The adjoint never drops a parameter silently, wherever the field keeps its network.

Each pattern below hid its network from the old static search of closures: solve() then
passed no parameter to torchdiffeq's adjoint, which returned no gradient for it (and a
wrong NFE-B: fewer backward steps without the parameters' error terms). The truth for
the gradients: the same solve by backprop (rk4 on a fixed grid: the adjoint's reverse
rk4 solve differs from backprop's discrete gradient by the solver's error only).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from odebench.instruments import CountedField, nfe, probe_field
from odebench.solvers import AdjointParamsError, SolverConfig, solve

torch.manual_seed(0)
NET_COMPREHENSION = nn.Linear(3, 3)
NET_CHAIN = nn.Linear(3, 3)
NET_GLOBAL = nn.Linear(3, 3)
T = torch.tensor([0.0, 1.0])
ADJOINT = SolverConfig(method="rk4", steps=4, gradient="adjoint")


class Holder:
    """A plain (non-``nn.Module``) object holding the network."""

    def __init__(self) -> None:
        self.net = nn.Linear(3, 3)

    def field(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def comprehension_field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([NET_COMPREHENSION(row) for row in y])


def _third(y: torch.Tensor) -> torch.Tensor:
    return NET_CHAIN(y)


def _second(y: torch.Tensor) -> torch.Tensor:
    return _third(y)


def _first(y: torch.Tensor) -> torch.Tensor:
    return _second(y)


def chain_field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return _first(y)


class ListField(nn.Module):
    """An ``nn.Module`` whose network sits in a plain Python list (not registered)."""

    def __init__(self) -> None:
        super().__init__()
        self.nets = [nn.Linear(3, 3)]

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.nets[0](y)


class GlobalField(nn.Module):
    """An ``nn.Module`` with a parameter of its own that also uses a global network."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scale * NET_GLOBAL(y)


def _patterns() -> dict[str, tuple[Callable[..., torch.Tensor], list[torch.Tensor], str]]:
    """name -> (field, every tensor it uses, a name the error must give)."""
    holder = Holder()
    other = Holder()
    lst, glob = ListField(), GlobalField()
    return {
        "bound method of a plain object": (holder.field, [*holder.net.parameters()], "net"),
        "lambda reading an object's attribute": (
            lambda t, y: other.net(y), [*other.net.parameters()], "other.net"
        ),
        "global inside a comprehension": (
            comprehension_field, [*NET_COMPREHENSION.parameters()], "NET_COMPREHENSION"
        ),
        "chain of three helpers": (chain_field, [*NET_CHAIN.parameters()], "NET_CHAIN"),
        "module with a network in a plain list": (lst, [*lst.nets[0].parameters()], "nets[0]"),
        "module using a global network": (
            glob, [glob.scale, *NET_GLOBAL.parameters()], "NET_GLOBAL"
        ),
    }


PATTERNS = list(_patterns())


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_adjoint_refuses_a_field_whose_network_it_cannot_see(pattern: str) -> None:
    field, _, name = _patterns()[pattern]
    with pytest.raises(AdjointParamsError, match=r"adjoint_params=tuple\(model.parameters") as e:
        solve(field, torch.ones(2, 3), T, ADJOINT)
    assert name in str(e.value)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_given_every_tensor_the_adjoint_gradient_matches_backprop(pattern: str) -> None:
    field, used, _ = _patterns()[pattern]
    y0 = torch.ones(2, 3, dtype=torch.float64)
    for p in used:
        p.data = p.data.double()
    try:
        grads = {}
        for config, params in (
            (SolverConfig(method="rk4", steps=4), None),
            (ADJOINT, tuple(used)),
        ):
            solve(field, y0, T.double(), config, adjoint_params=params).ys[-1].sum().backward()
            grads[config.gradient] = [p.grad.clone() for p in used]  # type: ignore[union-attr]
            for p in used:
                p.grad = None
    finally:
        for p in used:
            p.data = p.data.float()
    for a, b in zip(grads["adjoint"], grads["backprop"], strict=True):
        # the reverse rk4 solve over the same grid: equal to backprop's up to O(h^4)
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)


def test_the_check_costs_no_evaluation_and_leaves_the_rng_alone() -> None:
    field = CountedField(GlobalField())
    state = torch.random.get_rng_state()
    with pytest.raises(AdjointParamsError):
        solve(field, torch.ones(2, 3), T, ADJOINT)
    assert field.calls == 0 and nfe(field) == 0  # rk4: 16 calls per solve, none made yet
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_probe_restores_a_modules_buffers_and_draws_nothing() -> None:
    # a batch norm in training mode updates its running mean at every call: the probe's
    # call must not; dropout draws random numbers: the probe's draw must not move the RNG
    field = _NormField()
    mean = field.net[0].running_mean.clone()
    y = torch.randn(4, 3)
    state = torch.random.get_rng_state()
    use = probe_field(field, torch.tensor(0.0), y)
    assert torch.equal(field.net[0].running_mean, mean)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert {id(p) for p in use.leaves} == {id(p) for p in field.parameters()}


class _NormField(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def test_a_field_is_checked_once_across_solves() -> None:
    field = GlobalField()
    params = (field.scale, *NET_GLOBAL.parameters())
    calls = CountedField(field)
    for _ in range(3):
        solve(calls, torch.ones(2, 3), T, ADJOINT, adjoint_params=params)
    assert calls.counts["probe"] == 1
    assert calls.calls == 3 * 16


def test_a_closure_fields_parameters_enter_grad_error_under_backprop() -> None:
    # y' = w y with w a closure's Linear(1, 1) without bias: under backprop the case trains w,
    # so its gradient is measured (it was left out: params 0, grad_error over y0 alone)
    from odebench.benchmark.cases import Case
    from odebench.benchmark.measure import build_workload, measure
    from odebench.workloads.problems import register_problem

    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.5)
    register_problem(
        "closure_growth", lambda t, y: lin(y), torch.ones(1, 1), (0.0, 1.0),
        exact=lambda t: torch.exp(0.5 * t)[:, None, None].double(), overwrite=True,
    )  # fmt: skip
    case = Case(problem="closure_growth", method="rk4", steps=64, meters=("nfe", "error"))
    workload = build_workload(case)
    assert workload.hidden == [lin.weight]
    rec = measure(case)
    assert rec["params"] == 1
    assert rec["grad_error"] < 1e-5
    # loss 0.5 y1^2 with y1 = e^w: dL/dw = y1^2 = e^(2w) = e, which the measured pass reproduces
    workload.step()
    assert float(lin.weight.grad) == pytest.approx(math.e, rel=1e-5)  # type: ignore[arg-type]
    assert lin.weight.dtype == torch.float32  # the float64 reference gave its values back
