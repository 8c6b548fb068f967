"""The paper's MNIST models: exact parameter counts, factory errors, NFE and memory behaviour."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from odebench.instruments import CountedField, SavedTensors, nfe, phase, reset_nfe
from odebench.solvers import SolverConfig
from odebench.workloads.models.mnist import (
    DEFAULT_ODENET_SOLVER,
    DEFAULT_RKNET_SOLVER,
    MODEL_KINDS,
    build_model,
    count_parameters,
)

BLOCK_PARAMS = 73_984  # two 3x3 64->64 convs without bias + two GroupNorms


@pytest.mark.parametrize(
    ("kind", "stem", "expected"),
    [
        ("resnet", "residual", 601_482),
        ("resnet", "conv", 576_778),
        ("odenet", "conv", 208_266),
        ("odenet", "residual", 232_970),
        ("rknet", "conv", 208_266),
        ("rknet", "residual", 232_970),
        ("mlp", "conv", 238_510),
    ],
)
def test_parameter_counts_match_the_reference_architecture(kind, stem, expected):
    assert count_parameters(build_model(kind, stem=stem)) == expected


def test_resnet_depth_knob_adds_one_block_of_parameters_per_block():
    counts = [count_parameters(build_model("resnet", stem="residual", blocks=b)) for b in (1, 2, 6)]
    assert counts[1] - counts[0] == BLOCK_PARAMS
    assert counts[2] == 601_482


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("stem", ["conv", "residual"])
def test_every_model_maps_images_to_ten_logits(kind, stem):
    solver = SolverConfig(method="rk4", steps=1) if kind in ("rknet", "odenet") else None
    if kind == "odenet":
        solver = SolverConfig(method="rk4", gradient="adjoint", steps=1)
    model = build_model(kind, stem=stem, solver=solver)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_unknown_kind_error_lists_the_valid_kinds():
    with pytest.raises(ValueError, match="mlp, resnet, rknet, odenet"):
        build_model("transformer")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "resnet", "stem": "pool"}, "conv, residual"),
        ({"kind": "resnet", "blocks": 0}, "blocks"),
        ({"kind": "resnet", "solver": DEFAULT_RKNET_SOLVER}, "no ODE block"),
        ({"kind": "rknet", "solver": DEFAULT_ODENET_SOLVER}, "backprop"),
    ],
)
def test_bad_factory_arguments_raise_with_the_fix(kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=message):
        build_model(kind, **kwargs)


def test_default_solvers_are_the_papers():
    odenet, rknet = build_model("odenet"), build_model("rknet")
    assert odenet.solver == SolverConfig(method="dopri5", gradient="adjoint", rtol=1e-3, atol=1e-3)
    assert rknet.solver.method == "rk4" and rknet.solver.gradient == "backprop"


def _step(model, batch=2):
    torch.manual_seed(0)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    reset_nfe(model)
    with SavedTensors(params=model.parameters()) as saved:
        loss = F.cross_entropy(model(x), y)
    with phase("backward"):
        loss.backward()
    return saved.activation_bytes


def test_rknet_counts_four_calls_per_rk4_step_and_none_in_backward():
    model = build_model("rknet", solver=SolverConfig(method="rk4", steps=3))
    _step(model)
    assert isinstance(model.ode_block.field, CountedField)
    assert nfe(model, "forward") == 12
    assert model.ode_block.last_stats.nfe == 12
    assert nfe(model, "backward") == 0


def test_odenet_adjoint_evaluates_the_field_in_backward():
    model = build_model("odenet", solver=SolverConfig(method="rk4", gradient="adjoint", steps=2))
    _step(model)
    assert nfe(model, "forward") == 8
    assert nfe(model, "backward") > 0


def test_saved_memory_grows_with_depth_for_backprop_but_not_for_the_adjoint():
    resnet = [_step(build_model("resnet", blocks=b)) for b in (1, 2, 3)]
    rknet = [
        _step(build_model("rknet", solver=SolverConfig(method="rk4", steps=s))) for s in (1, 2, 3)
    ]
    odenet = [
        _step(build_model("odenet", solver=SolverConfig(method="rk4", gradient="adjoint", steps=s)))
        for s in (1, 2, 3)
    ]
    assert resnet[2] - resnet[1] == resnet[1] - resnet[0] > 0
    assert rknet[2] - rknet[1] == rknet[1] - rknet[0] > 0
    assert odenet[0] == odenet[1] == odenet[2]


def test_adaptive_rknet_backprops_through_dopri5_with_fsal_call_counts():
    solver = SolverConfig(method="dopri5", gradient="backprop", rtol=1e-3, atol=1e-3)
    model = build_model("rknet", solver=solver)
    _step(model)
    stats = model.ode_block.last_stats
    attempted = stats.steps_accepted + stats.steps_rejected
    assert nfe(model, "forward") == stats.nfe == 2 + 6 * attempted
    assert nfe(model, "backward") == 0
