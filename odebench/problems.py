"""A zoo of ODE test problems, most with exact solutions, and a registry for your own.

Each :class:`Problem` knows its vector field, initial state, time span and, where
one exists, its exact solution; :meth:`Problem.reference` falls back to a float64
``dopri8`` solve at rtol=atol=1e-12. Register a problem of your own with
:func:`register_problem` and it can be benchmarked like the built-in ones.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def _builtin(
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
            "or register your own with odebench.problems.register_problem()."
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


# --- built-in problems ---------------------------------------------------------------


@_builtin("exponential_decay")
def _exponential_decay() -> Problem:
    k = 1.5
    y0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return Problem(
        name="exponential_decay",
        make_field=lambda: lambda t, y: -k * y,
        y0=y0,
        t1=2.0,
        exact=lambda t: y0 * torch.exp(-k * t)[:, None],
        description="dy/dt = -1.5 y",
    )


@_builtin("harmonic_oscillator")
def _harmonic_oscillator() -> Problem:
    w = 2.0
    x0, v0 = 1.0, 0.0

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack([y[1], -(w**2) * y[0]])

    def exact(t: torch.Tensor) -> torch.Tensor:
        x = x0 * torch.cos(w * t) + v0 / w * torch.sin(w * t)
        v = -x0 * w * torch.sin(w * t) + v0 * torch.cos(w * t)
        return torch.stack([x, v], dim=-1)

    return Problem(
        name="harmonic_oscillator",
        make_field=lambda: f,
        y0=torch.tensor([x0, v0], dtype=torch.float64),
        t1=2 * math.pi,
        exact=exact,
        description="x'' = -4 x (omega 2, period pi), two full periods on [0, 2 pi]",
    )


@_builtin("nonautonomous")
def _nonautonomous() -> Problem:
    y0 = torch.tensor([1.0], dtype=torch.float64)
    return Problem(
        name="nonautonomous",
        make_field=lambda: lambda t, y: torch.cos(t) * y,
        y0=y0,
        t1=4.0,
        exact=lambda t: y0 * torch.exp(torch.sin(t))[:, None],
        description="dy/dt = cos(t) y, y = exp(sin t)",
    )


def _mixed_matrix(dtype: torch.dtype) -> torch.Tensor:
    # eigenvalues -0.1 +- 2i (rotation), -1 and -3 (decay): mixed real and complex
    block = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=torch.float64)
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[:2, :2] = block
    a[2:, 2:] = torch.tensor([[-1.0, 0.5], [0.0, -3.0]], dtype=torch.float64)
    q, _ = torch.linalg.qr(
        torch.tensor(
            [
                [1.0, 0.2, 0.0, 0.1],
                [0.3, 1.0, 0.4, 0.0],
                [0.0, 0.1, 1.0, 0.2],
                [0.2, 0.0, 0.3, 1.0],
            ],
            dtype=torch.float64,
        )
    )
    return (q @ a @ q.T).to(dtype)


def _linear_problem(name: str, batch: int | None) -> Problem:
    a64 = _mixed_matrix(torch.float64)
    gen = torch.Generator().manual_seed(0)
    shape = (4,) if batch is None else (batch, 4)
    y0 = torch.randn(shape, generator=gen, dtype=torch.float64)

    def exact(t: torch.Tensor) -> torch.Tensor:
        expm = torch.linalg.matrix_exp(t.double()[:, None, None] * a64)  # (T, 4, 4)
        return torch.einsum("tij,...j->t...i", expm, y0)

    return Problem(
        name=name,
        make_field=lambda: lambda t, y: y @ a64.T.to(y),  # y's dtype and device
        y0=y0,
        t1=3.0,
        exact=exact,
        description="dy/dt = A y, eigenvalues -0.1+-2i, -1, -3; exact via matrix exponential"
        + ("" if batch is None else f"; a batch of {batch} initial states"),
    )


_builtin("linear_mixed")(lambda: _linear_problem("linear_mixed", None))
_builtin("linear_batched")(lambda: _linear_problem("linear_batched", 16))


@_builtin("logistic")
def _logistic() -> Problem:
    r, y0v = 3.0, 0.05
    return Problem(
        name="logistic",
        make_field=lambda: lambda t, y: r * y * (1 - y),
        y0=torch.tensor([y0v], dtype=torch.float64),
        t1=3.0,
        exact=lambda t: (1 / (1 + (1 / y0v - 1) * torch.exp(-r * t)))[:, None],
        description="dy/dt = 3 y (1 - y), logistic growth from 0.05",
    )


# --- neural vector fields --------------------------------------------------------------


class MLPField(nn.Module):
    """``f(t, y) = W2 tanh(W1 y + b1) + b2``: the MLP vector field of the memory benchmarks."""

    def __init__(self, dim: int = 64, hidden: int = 64, *, seed: int = 0):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        torch.random.set_rng_state(gen_state)
        self.dim = dim
        self.hidden = hidden

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def mlp_problem(
    *, dim: int = 64, hidden: int = 64, batch: int = 128, seed: int = 0, t1: float = 1.0
) -> Problem:
    """A random MLP field with a batch of random initial states; reference by dopri8 at 1e-12."""
    gen = torch.Generator().manual_seed(seed + 1)
    y0 = torch.randn(batch, dim, generator=gen).double()  # float32 draws, kept in float64
    return Problem(
        name="mlp",
        make_field=lambda: MLPField(dim, hidden, seed=seed),
        y0=y0,
        t1=t1,
        description=f"random MLP field {dim}->{hidden} tanh->{dim}, batch {batch}",
    )


def _mlp(batch: int, seed: int) -> Problem:
    return mlp_problem(batch=batch, seed=seed)


def _mlp_small(batch: int, seed: int) -> Problem:
    return mlp_problem(dim=8, hidden=32, batch=batch, seed=seed)


_builtin("mlp", batched=_mlp)(lambda: _mlp(128, 0))
_builtin("mlp_small", batched=_mlp_small)(lambda: _mlp_small(16, 0))


def _trained_mlp_field() -> MLPField:
    field = MLPField(64, 64)
    field.load_state_dict(trained_mlp_state())
    return field


_builtin("mlp_trained")(
    lambda: Problem(
        name="mlp_trained",
        make_field=_trained_mlp_field,
        y0=mlp_problem().y0,
        description="MLP field 64->64 tanh->64 trained 300 Adam steps, batch 128; "
        "reference dopri8 1e-12",
    )
)


class SpiralField(nn.Module):
    """torchdiffeq's ode_demo field: a 2-D MLP that learns the cubic spiral ``y' = (y^3) A``."""

    def __init__(self, hidden: int = 50):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y**3)


_SPIRAL_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


def _cached_fit(key: str, fit: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The weights ``fit()`` trains, cached under ``$ODEBENCH_CACHE`` (a fit takes seconds)."""
    cache = _cache_dir() / f"{key}_torch{torch.__version__}.pt"
    if cache.exists():
        return torch.load(cache)
    gen_state = torch.random.get_rng_state()
    try:
        state = {k: v.detach().clone() for k, v in fit().state_dict().items()}
    finally:
        torch.random.set_rng_state(gen_state)  # a fit never moves the caller's RNG
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, tmp)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only home only costs the refit
    return state


@functools.cache
def trained_spiral_state(iters: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of a :class:`SpiralField` fitted for ``iters`` Adam steps to the true spiral.

    A random MLP is too easy for tolerance sweeps (dopri5 takes the same few steps at
    any tolerance); this trained field has real dynamics, so NFE and error move with
    tolerance. Fitted with fixed-grid rk4 (deterministic for a seed).
    """

    def fit() -> nn.Module:
        torch.manual_seed(seed)
        field = SpiralField()
        t = torch.linspace(0.0, 5.0, 26)
        y0 = torch.tensor([[2.0, 0.0]])
        with torch.no_grad():
            true = odeint(lambda t, y: (y**3) @ _SPIRAL_A, y0, t, method="dopri5")
        opt = torch.optim.Adam(field.parameters(), lr=1e-2)
        for _ in range(iters):
            opt.zero_grad()
            pred = odeint(field, y0, t, method="rk4", options={"step_size": 0.2})
            loss = (pred - true).abs().mean()
            loss.backward()
            opt.step()
        return field

    return _cached_fit(f"spiral_field_{iters}_{seed}", fit)


@functools.cache
def trained_mlp_state(iters: int = 300, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of the 64-wide :class:`MLPField` fitted for ``iters`` Adam steps.

    The target maps each of the ``mlp`` problem's 128 initial states to
    ``1.5 tanh(y0 Q)`` at t = 1 (Q a fixed random rotation): real dynamics, so dopri5's
    steps follow the tolerance, and with a sum loss the adjoint state is large enough
    for the seminorm to change NFE-B (on the random field it changes nothing).
    """

    def fit() -> nn.Module:
        field = MLPField(64, 64, seed=seed)
        y0 = mlp_problem(seed=seed).y0.float()
        rotation, _ = torch.linalg.qr(
            torch.randn(64, 64, generator=torch.Generator().manual_seed(seed + 2))
        )
        target = 1.5 * torch.tanh(y0 @ rotation)
        opt = torch.optim.Adam(field.parameters(), lr=3e-3)
        t = torch.tensor([0.0, 1.0])
        for _ in range(iters):
            opt.zero_grad()
            y1 = odeint(field, y0, t, method="rk4", options={"step_size": 0.1})[-1]
            ((y1 - target) ** 2).mean().backward()
            opt.step()
        return field

    return _cached_fit(f"mlp_field_{iters}_{seed}", fit)


def _cache_dir() -> Path:
    return Path(os.environ.get("ODEBENCH_CACHE", Path.home() / ".cache" / "odebench"))


def _trained_spiral_field() -> SpiralField:
    field = SpiralField()
    field.load_state_dict(trained_spiral_state())
    return field


_builtin("spiral_trained")(
    lambda: Problem(
        name="spiral_trained",
        make_field=_trained_spiral_field,
        y0=torch.tensor([[2.0, 0.0]], dtype=torch.float64),
        t1=5.0,
        description="MLP field trained 200 Adam steps on the cubic spiral; reference dopri8 1e-12",
    )
)
