"""The problem registry: built-ins, errors for bad names, and users' own problems."""

import pytest
import torch
from torch import nn

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.measure import measure
from odebench.workloads.problems import check_problem, get_problem, register_problem


def test_unknown_problem_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown problem 'lorenz'.*harmonic_oscillator"):
        get_problem("lorenz")


def test_batch_applies_only_to_batched_problems() -> None:
    assert get_problem("mlp", batch=4).y0.shape == (4, 64)
    with pytest.raises(ValueError, match="fixed initial state"):
        get_problem("harmonic_oscillator", batch=4)


def test_a_registered_problem_is_benchmarked_like_a_builtin() -> None:
    register_problem(
        "user_growth",
        lambda t, y: 0.5 * y,
        torch.tensor([1.0, 2.0]),
        (0.0, 2.0),
        exact=lambda t: torch.tensor([1.0, 2.0], dtype=t.dtype) * torch.exp(0.5 * t)[:, None],
        overwrite=True,
    )
    rec = measure(Case(problem="user_growth", method="rk4", steps=8, meters=("nfe", "error")))
    assert rec["nfe_forward"] == 32
    assert rec["nfe_backward"] == 0
    assert 0 < rec["state_error"] < 1e-4


def test_registering_a_taken_name_needs_overwrite() -> None:
    with pytest.raises(ValueError, match="exists already"):
        register_problem("harmonic_oscillator", lambda t, y: y, torch.ones(1))


def test_problem_without_exact_solution_uses_a_float64_reference() -> None:
    p = get_problem("mlp_small")
    assert p.exact is None
    ref = p.reference(p.times(2))
    assert ref.shape == (2, *p.y0.shape)
    assert torch.isfinite(ref).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty string"),
        ({"f": 3.0}, "f must be callable"),
        ({"exact": "exp"}, "exact must be callable"),
        (
            {"exact": lambda t: torch.ones(len(t), 2, dtype=t.dtype)},
            r"exact\(t0\) does not equal y0",
        ),
        ({"t_span": (1.0, 0.0)}, "t1 > t0"),
        ({"batch": 4}, "batch= applies only when y0 is a function"),
    ],
)
def test_register_problem_rejects_bad_input_naming_the_fix(kwargs: dict, message: str) -> None:
    args = {"name": "user_bad", "f": lambda t, y: y, "y0": torch.tensor([1.0, 2.0]),
            "t_span": (0.0, 1.0), "overwrite": True, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        register_problem(**args)


class _Field(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lin(y)


def test_a_registered_module_is_never_converted_in_place() -> None:
    module = _Field()
    register_problem("user_module", module, torch.ones(2, 3), overwrite=True)
    measure(Case(problem="user_module", method="rk4", steps=2, dtype="float64",
                 meters=("nfe",)))  # fmt: skip
    assert module.lin.weight.dtype == torch.float32


def test_a_user_problem_may_take_a_batch_and_overwrite_is_honoured_with_one() -> None:
    def draw(batch: int, seed: int) -> torch.Tensor:
        return torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed))

    register_problem("user_batched", lambda t, y: -y, draw, batch=3, overwrite=True)
    assert get_problem("user_batched").y0.shape == (3, 2)
    assert get_problem("user_batched", batch=5, seed=1).y0.shape == (5, 2)
    register_problem("user_batched", lambda t, y: y, lambda b, s: torch.zeros(b, 7), batch=2,
                     overwrite=True)  # fmt: skip
    assert get_problem("user_batched", batch=4).y0.shape == (4, 7)


def test_validating_a_case_never_builds_its_initial_state(monkeypatch: pytest.MonkeyPatch) -> None:
    import odebench.workloads.problems.neural as problems

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a case built its problem while being validated")

    monkeypatch.setattr(problems, "mlp_problem", fail)
    case = Case(problem="mlp", batch=30_000_000, method="rk4", steps=1)
    assert case.batch == 30_000_000
    check_problem("mlp", batch=30_000_000)
    with pytest.raises(CaseError, match="batch=-1"):
        Case(problem="mlp", batch=-1, method="rk4", steps=1)


def _random_linear_module() -> nn.Module:
    return nn.Linear(3, 3)  # random weights from torch's global RNG


class _ThroughModule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = _random_linear_module()

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lin(y)


def _random_matrix_function():  # type: ignore[no-untyped-def]
    a = 0.5 * torch.randn(3, 3)
    return lambda t, y: y @ a.T.to(y)


@pytest.mark.parametrize("factory", [_ThroughModule, _random_matrix_function])
def test_every_call_of_a_factory_problems_field_gives_the_same_field(factory) -> None:  # type: ignore[no-untyped-def]
    register_problem("user_random", factory, torch.ones(2, 3), factory=True, overwrite=True)
    problem = get_problem("user_random")
    y = torch.arange(6.0).reshape(2, 3)
    torch.manual_seed(1)
    first = problem.field()(torch.tensor(0.0), y)
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    second = problem.field()(torch.tensor(0.0), y)
    assert torch.equal(first, second)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    # the case's solve and its reference solve the same ODE: at rtol 1e-9 the state error
    # is the solve's own (it was O(1) when the reference drew other weights)
    case = Case(problem="user_random", method="dopri5", rtol=1e-9, atol=1e-9, dtype="float64",
                meters=("nfe", "error"), seed=3)  # fmt: skip
    assert measure(case)["state_error"] < 1e-7


def test_the_oscillators_description_counts_its_periods() -> None:
    # x'' = -w^2 x with w^2 = 4: period 2 pi / w = pi, so [0, 2 pi] holds two full periods
    import math

    problem = get_problem("harmonic_oscillator")
    f = problem.field()
    w = math.sqrt(-float(f(torch.tensor(0.0), torch.tensor([1.0, 0.0]))[1]))
    periods = (problem.t1 - problem.t0) / (2 * math.pi / w)
    assert periods == pytest.approx(2.0)
    assert "two full periods" in problem.description
    # a whole number of periods brings the state back to y0
    end = problem.exact(torch.tensor([problem.t1], dtype=torch.float64))[0]  # type: ignore[misc]
    assert torch.allclose(end, problem.y0, atol=1e-12)
