"""What a problem is and where problems are found: :class:`Problem`, the float64 references, and
the registry (:func:`register_problem` for your own, :func:`get_problem` for any).

Each :class:`Problem` knows its vector field, initial state, time span and, where
one exists, its exact solution; :meth:`Problem.reference` falls back to a float64
``dopri8`` solve at rtol=atol=1e-12.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchdiffeq import odeint

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Exact = Callable[[torch.Tensor], torch.Tensor]

REFERENCE_TOL = 1e-12


@dataclass(frozen=True)
class Problem:
    """``dy/dt = f(t, y)``, ``y(t0) = y0`` on ``[t0, t1]``, with an optional exact solution.

    ``exact(t)`` maps a 1-D tensor of times to the states, shape ``(len(t), *y0.shape)``.
    ``make_field`` builds the field (a function or an ``nn.Module``); :meth:`field` calls
    it under ``torch.manual_seed(seed)``, so a factory drawing random weights gives the same
    weights to every caller and process (the case's solve and its reference solve the same
    ODE). ``y0`` is kept in float64 (a case casts it to its own dtype): a float32 initial
    state would floor every float64 error at float32 rounding.
    """

    name: str
    make_field: Callable[[], Field | nn.Module]
    y0: torch.Tensor
    t0: float = 0.0
    t1: float = 1.0
    exact: Exact | None = None
    description: str = ""
    #: the torch seed ``make_field`` is called under (a registered problem's ``seed``)
    seed: int = 0
    #: the first module ``make_field`` built in this process, copied for every caller
    _built: dict[str, nn.Module] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.y0, torch.Tensor) or not torch.is_floating_point(self.y0):
            raise ValueError(f"problem {self.name!r}: y0 must be a floating-point tensor.")
        if self.y0.dtype != torch.float64:
            raise ValueError(
                f"problem {self.name!r}: keep y0 in float64 (cases cast it); pass y0.double()."
            )
        if not self.t1 > self.t0:
            raise ValueError(
                f"problem {self.name!r}: need t1 > t0, got t0={self.t0}, t1={self.t1}."
            )

    def field(self) -> Field | nn.Module:
        """The field, the same weights at every call: a module is the caller's own copy
        (converting or training it, as a case does, never changes what a later caller
        gets), a function the factory's seeded build. The caller's RNG is left untouched."""
        built = self._built.get("module")
        if built is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                made = self.make_field()
            if not isinstance(made, nn.Module):
                return made
            built = self._built.setdefault("module", made)
        return copy.deepcopy(built)

    def times(
        self, n: int = 2, *, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """``n`` equally spaced output times from t0 to t1."""
        return torch.linspace(self.t0, self.t1, n, dtype=dtype, device=device)

    def reference(self, t: torch.Tensor) -> torch.Tensor:
        """Float64 states at ``t``: exact if known, else a dopri8 solve at 1e-12 ending on t."""
        if self.exact is not None:
            return self.exact(t.double())
        return reference_solve(self.field(), self.y0, t)


def reference_odeint(field: Field | nn.Module, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A differentiable float64 dopri8 solve at rtol=atol=1e-12 whose steps end on every ``t``.

    torchdiffeq reads an output time off a 4th-order interpolant of the step across it:
    good to only ~3e-8 at this tolerance. ``step_t=t`` makes a step end exactly on each
    output time, where the interpolant returns the step's own 8th-order state.
    ``field`` must already be in float64 (see :func:`float64_copy`).
    """
    t = t.double()
    return odeint(
        field, y0, t, method="dopri8", rtol=REFERENCE_TOL, atol=REFERENCE_TOL,
        options={"step_t": t[1:]},
    )  # fmt: skip


def reference_solve(field: Field | nn.Module, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The float64 reference states (where no exact solution exists); ``field`` is untouched."""
    if isinstance(field, nn.Module):
        field = float64_copy(field)
    with torch.no_grad():
        return reference_odeint(field, y0.detach().double(), t)


def float64_copy(module: nn.Module) -> nn.Module:
    """A float64 copy of ``module`` (for reference solves); the original is untouched."""
    return copy.deepcopy(module).double()


@dataclass(frozen=True)
class _Entry:
    """How to build a registered problem: at its default size, or (if batched) at any batch."""

    build: Callable[[int | None, int], Problem]
    batched: bool = False


_REGISTRY: dict[str, _Entry] = {}


def register_problem(
    name: str,
    f: Field | Callable[[], Field | nn.Module],
    y0: torch.Tensor | Callable[[int, int], torch.Tensor],
    t_span: tuple[float, float] = (0.0, 1.0),
    exact: Exact | None = None,
    *,
    factory: bool = False,
    batch: int | None = None,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make a problem available by name to ``get_problem``, the cases and the CLI.

    ``f(t, y)`` is the vector field; pass ``factory=True`` when ``f`` instead builds
    a fresh field (an ``nn.Module`` with parameters, say) each time it is called. A
    module passed directly is copied per measurement, never converted in place.
    ``y0`` is the initial state, or a function ``y0(batch, seed)`` drawing a batch of
    them: then cases may set ``batch`` (default ``batch=``) and ``seed``. ``exact(t)``, if
    given, must return ``y0`` at ``t0`` (checked here). Raises ``ValueError`` naming the fix.
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"problem name {name!r} must be a non-empty string without spaces.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"a problem named {name!r} exists already; pass overwrite=True to replace it."
        )
    if not callable(f):
        raise ValueError(f"problem {name!r}: f must be callable, f(t, y) -> dy/dt.")
    if exact is not None and not callable(exact):
        raise ValueError(f"problem {name!r}: exact must be callable, exact(t) -> states.")
    t0, t1 = (float(v) for v in t_span)
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise ValueError(f"problem {name!r}: t_span must be finite with t1 > t0; got {t_span}.")
    make = f if factory else (lambda: f)  # Problem.field() copies a module

    def initial(b: int | None, seed: int) -> torch.Tensor:
        value = y0(b if b is not None else batch, seed) if callable(y0) else y0  # type: ignore[arg-type]
        value = torch.as_tensor(value)
        if not torch.is_floating_point(value):
            raise ValueError(f"problem {name!r}: y0 must be a floating-point tensor.")
        return value.detach().clone().to(torch.float64)

    if callable(y0):
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(
                f"problem {name!r}: y0 is a function of (batch, seed); pass its default batch=N."
            )
    elif batch is not None:
        raise ValueError(f"problem {name!r}: batch= applies only when y0 is a function.")

    def build(b: int | None, seed: int) -> Problem:
        return Problem(
            name=name, make_field=make, y0=initial(b, seed), t0=t0, t1=t1, exact=exact,
            description=description, seed=seed,
        )  # fmt: skip

    problem = build(None, 0)
    if exact is not None:
        at_t0 = torch.as_tensor(exact(torch.tensor([t0], dtype=torch.float64)))
        if at_t0.shape[1:] != problem.y0.shape or not torch.allclose(
            at_t0[0].double(), problem.y0, rtol=1e-9, atol=1e-12
        ):
            raise ValueError(
                f"problem {name!r}: exact(t0) does not equal y0; exact(t) must return the "
                f"states at t with shape (len(t), *y0.shape) = (1, {tuple(problem.y0.shape)})."
            )
    default = functools.cache(lambda: problem)
    _REGISTRY[name] = _Entry(
        build=lambda b, seed: default() if b is None and seed == 0 else build(b, seed),
        batched=callable(y0),
    )


def builtin_problem(
    name: str, *, batched: Callable[[int, int], Problem] | None = None
) -> Callable[[Callable[[], Problem]], Callable[[], Problem]]:
    def decorate(build: Callable[[], Problem]) -> Callable[[], Problem]:
        default = functools.cache(build)
        if batched is None:
            _REGISTRY[name] = _Entry(build=lambda b, seed: default())
        else:
            _REGISTRY[name] = _Entry(
                build=lambda b, seed: (
                    default()
                    if b is None and seed == 0
                    else batched(default().y0.shape[0] if b is None else b, seed)
                ),
                batched=True,
            )
        return build

    return decorate


def problem_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def check_problem(name: str, *, batch: int | None = None, seed: int = 0) -> None:
    """Raise ``ValueError`` naming the fix if ``get_problem(name, batch=, seed=)`` cannot work.

    Builds nothing: validating a suite of large batches must not allocate them.
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown problem {name!r}; choose one of: {', '.join(problem_names())}, "
            "or register your own with odebench.workloads.problems.register_problem()."
        )
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch={batch!r} must be an integer >= 1.")
        if not _REGISTRY[name].batched:
            batched = sorted(n for n, e in _REGISTRY.items() if e.batched)
            raise ValueError(
                f"problem {name!r} has a fixed initial state; batch applies only to: "
                f"{', '.join(batched)}."
            )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0.")


def get_problem(name: str, *, batch: int | None = None, seed: int = 0) -> Problem:
    """The problem registered as ``name``; an unknown name lists the valid ones.

    ``batch`` resizes the batch of initial states and ``seed`` draws other weights and
    states, for the problems that have them (the random fields ``mlp``, ``mlp_small`` and
    user problems whose ``y0`` is a function).
    """
    check_problem(name, batch=batch, seed=seed)
    return _REGISTRY[name].build(batch, seed)
