"""The problem registry: built-ins, errors for bad names, and users' own problems."""

import pytest
import torch

from odebench.cases import Case
from odebench.measure import measure
from odebench.problems import get_problem, register_problem


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
