"""The float64 reference of the error meter: computed once per process for what it depends
on, the same figures whatever ran before, and a small fixed cost per case."""

from __future__ import annotations

import gc

import pytest
import torch

from odebench.benchmark import measure as measure_module
from odebench.benchmark.cases import Case
from odebench.benchmark.measure import build_workload, clear_references, measure, reference_key
from odebench.instruments import probe_field

BASE = Case(problem="mlp_small", dtype="float64", method="dopri5", rtol=1e-6, atol=1e-6,
            meters=("nfe", "error"))  # fmt: skip


def test_cases_differing_in_method_or_tolerance_share_one_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_references()
    fresh = measure_module._fresh_reference
    calls: list[str] = []

    def counted(case: Case, workload: object) -> object:
        calls.append(case.case_id)
        return fresh(case, workload)  # type: ignore[arg-type]

    monkeypatch.setattr(measure_module, "_fresh_reference", counted)
    for case in (BASE, BASE.with_(rtol=1e-4, atol=1e-4), BASE.with_(method="rk4", rtol=None,
                                                                      atol=None, steps=8)):
        measure(case)
    assert calls == [BASE.case_id]
    # a different seed draws other weights: another reference
    measure(BASE.with_(seed=1))
    assert len(calls) == 2


def test_the_errors_are_the_same_whatever_ran_before() -> None:
    clear_references()
    alone = measure(BASE)
    others = [BASE.with_(rtol=1e-3, atol=1e-3), BASE.with_(seed=3), BASE.with_(dtype="float32")]
    for case in others:
        measure(case)
    after = measure(BASE)  # from the cache
    clear_references()
    again = measure(BASE)  # computed afresh
    for key in ("state_error", "grad_error"):
        assert alone[key] == after[key] == again[key]


def test_the_key_follows_the_fields_values_not_only_its_name() -> None:
    case = BASE
    one, two = build_workload(case), build_workload(case)
    assert reference_key(case, one) == reference_key(case, two)
    with torch.no_grad():
        next(two.module.parameters()).add_(1e-12)
    assert reference_key(case, one) != reference_key(case, two)
    assert reference_key(case.with_(reduction="mean"), one) != reference_key(case, one)


def test_the_probe_frees_a_cyclic_graph_without_a_full_collection() -> None:
    class Cyclic(torch.nn.Module):
        """Makes a reference cycle around an activation: only a collection frees it."""

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3))

        def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            scale = torch.full_like(y, 2.0)  # made in the call: autograd saves it, no grad_fn
            box: dict[str, object] = {"scale": scale}
            box["self"] = box  # a cycle: only a collection frees the tensor
            return y * scale * self.w

    field = Cyclic()
    gc.collect()
    use = probe_field(field, torch.tensor(0.0), torch.ones(3))
    # the weight is kept by the field; the call's own tensor, freed, is not reported
    assert [c.data_ptr() for c in use.constants] == [field.w.data_ptr()]
    assert gc.isenabled()
