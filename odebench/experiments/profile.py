"""``odebench profile``: the standard battery on your own vector field, in one command.

The target is ``module:factory`` (a module name or a ``.py`` path, then a function in it).
The factory takes no argument and returns one of:

* an ``nn.Module`` field ``f(t, y)``: the initial state is drawn (seeded, standard normal)
  with ``--y0-shape``, whose first size is the batch;
* ``(field, y0)`` or ``(field, y0, (t0, t1))``;
* an :class:`odebench.workloads.problems.Problem`.

The field is validated once (it returns the state's shape, finite values, and the adjoint
can see its parameters), registered as a problem by a small module written into the
results folder (``target.py``, imported in every worker like ``--import``), and the
battery runs as a suite through the normal runner: memory against fixed-grid steps
(backprop vs adjoint), NFE/state error/gradient error/time across tolerances (backprop,
adjoint, adjoint with the seminorm, against the float64 reference), time against batch,
and every installed solver backend side by side. Nothing here measures: it builds cases.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUDGETS: tuple[str, ...] = ("quick", "full")
#: The tolerance the summary quotes unless ``--rtol`` says otherwise.
DEFAULT_SUMMARY_RTOL = 1e-5


class ProfileError(ValueError):
    """A target that cannot be profiled; the message names the fix."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """What ``odebench profile`` measures: a factory spec and how to make its initial state."""

    spec: str
    y0_shape: tuple[int, ...] | None = None
    t_span: tuple[float, float] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        parse_spec(self.spec)

    @property
    def module(self) -> str:
        return parse_spec(self.spec)[0]

    @property
    def function(self) -> str:
        return parse_spec(self.spec)[1]

    @property
    def name(self) -> str:
        """The problem name: the factory's name with the module's last part."""
        stem = Path(self.module).stem if self.module.endswith(".py") else self.module
        return f"{stem.rsplit('.', 1)[-1]}_{self.function}"


def parse_spec(spec: str) -> tuple[str, str]:
    """``module:function`` split, or :class:`ProfileError` showing the form."""
    module, sep, function = spec.rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise ProfileError(
            f"target {spec!r} is not MODULE:FUNCTION; pass e.g. my_pkg.fields:make_field or "
            "path/to/fields.py:make_field."
        )
    return module, function


def parse_shape(text: str) -> tuple[int, ...]:
    """``"128,64"`` -> ``(128, 64)``; every size a whole number >= 1, batch first."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape; give sizes separated by commas, batch first: 128,64"
        ) from None
    if not shape or any(size < 1 for size in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: every size must be >= 1 (e.g. 128,64)")
    return shape


def _factory(target: Target) -> Callable[[], Any]:
    from odebench.benchmark.usermodules import UserModuleError, import_modules

    try:
        (module,) = import_modules([target.module])
    except UserModuleError as exc:
        raise ProfileError(str(exc)) from None
    factory = getattr(module, target.function, None)
    if not callable(factory):
        raise ProfileError(
            f"{target.module!r} has no function {target.function!r}; name a function that "
            "returns the field, (field, y0) or a Problem."
        )
    return factory


def _draw_y0(shape: Sequence[int], seed: int):  # type: ignore[no-untyped-def]
    import torch

    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def build(target: Target):  # type: ignore[no-untyped-def]
    """Call the factory: ``(field, y0, (t0, t1))`` with y0 in float64, or :class:`ProfileError`."""
    import torch

    from odebench.workloads.problems import Problem

    made = _factory(target)()
    t_span = target.t_span
    if isinstance(made, Problem):
        field, y0, span = made.field(), made.y0, (made.t0, made.t1)
    elif isinstance(made, tuple) and len(made) in (2, 3):
        field, y0 = made[0], made[1]
        span = tuple(made[2]) if len(made) == 3 else (0.0, 1.0)
    elif callable(made):
        if target.y0_shape is None:
            raise ProfileError(
                f"{target.spec} returns only a field: pass --y0-shape BATCH,DIM (e.g. 128,64), "
                "or return (field, y0) from it."
            )
        field, y0, span = made, _draw_y0(target.y0_shape, target.seed), (0.0, 1.0)
    else:
        raise ProfileError(
            f"{target.spec} returned {type(made).__name__}; return the field, (field, y0), "
            "(field, y0, (t0, t1)) or a Problem."
        )
    if not isinstance(y0, torch.Tensor) or not torch.is_floating_point(y0):
        raise ProfileError(f"{target.spec}: y0 must be a floating-point tensor.")
    if target.y0_shape is not None and tuple(y0.shape) != target.y0_shape:
        raise ProfileError(
            f"{target.spec} returns y0 of shape {tuple(y0.shape)} but --y0-shape says "
            f"{target.y0_shape}; drop --y0-shape or make them agree."
        )
    if y0.ndim < 2:
        raise ProfileError(
            f"{target.spec}: y0 has shape {tuple(y0.shape)}; the battery varies the batch, so "
            "give y0 a batch dimension first (e.g. y0.unsqueeze(0))."
        )
    if t_span is not None:
        span = t_span
    return field, y0.detach().double(), (float(span[0]), float(span[1]))


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def validate(target: Target) -> tuple[Any, Any, tuple[float, float]]:
    """Build the target once and check what the battery relies on; returns the build.

    The field must return the state's shape and finite values, and the adjoint must be
    able to see its parameters (an ``nn.Module``, not a function closing over one).
    """
    import copy

    import torch
    from torch import nn

    from odebench.solvers import SolveError, SolverConfig, solve

    built = build(target)
    field, y0, (t0, t1) = built
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise ProfileError(f"{target.spec}: the time span must be finite with t1 > t0.")
    if isinstance(field, nn.Module):
        field = copy.deepcopy(field).float()
    y = y0[:2].float()  # float32, the cases' default dtype
    with torch.no_grad():
        try:
            out = field(torch.tensor(t0), y)
        except Exception as exc:  # the user's field: say what it raised, in one line
            raise ProfileError(
                f"{target.spec}: the field raised {type(exc).__name__} on a float32 state of "
                f"shape {tuple(y.shape)} ({exc}); it must take (t, y) and return dy/dt."
            ) from None
    if not isinstance(out, torch.Tensor) or out.shape != y.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ProfileError(
            f"{target.spec}: the field returns {got} for a state of shape {tuple(y.shape)}; "
            "dy/dt must have the state's shape."
        )
    if not torch.isfinite(out).all():
        raise ProfileError(f"{target.spec}: the field returns NaN or inf at y0; check it.")
    config = SolverConfig(method="rk4", steps=1, gradient="adjoint")
    if not isinstance(field, nn.Module) and getattr(field, "__closure__", None):
        if any(
            isinstance(_contents(cell), nn.Module | torch.Tensor)
            for cell in field.__closure__  # type: ignore[union-attr]
        ):
            raise ProfileError(
                f"{target.spec}: the field is a function closing over a module or tensor, whose "
                "parameters the adjoint cannot see; return an nn.Module whose forward(t, y) "
                "computes dy/dt."
            )
    try:
        sol = solve(field, y.clone().requires_grad_(True), torch.tensor([t0, t1]), config)
        sol.ys[-1].sum().backward()
    except (SolveError, ValueError, TypeError) as exc:
        raise ProfileError(f"{target.spec}: {exc}") from None
    if not isinstance(field, nn.Module) or not any(p.requires_grad for p in field.parameters()):
        raise ProfileError(
            f"{target.spec}: the field has no parameters the adjoint can see; return an "
            "nn.Module whose forward(t, y) computes dy/dt (its parameters get gradients)."
        )
    return built


def module_source(target: Target) -> str:
    """The ``target.py`` that registers the target as a problem in every process."""
    return (
        '"""Written by `odebench profile`: registers the profiled field in every worker."""\n\n'
        "from odebench.experiments.profile import Target, register\n\n"
        f"register(Target(spec={target.spec!r}, y0_shape={target.y0_shape!r}, "
        f"t_span={target.t_span!r}, seed={target.seed!r}))\n"
    )


def register(target: Target, built: tuple[Any, Any, tuple[float, float]] | None = None) -> str:
    """Register ``target`` as a batched problem (y0 resampled or tiled per batch); its name.

    ``built`` is :func:`validate`'s build, so that the factory is not called again here.
    """
    from odebench.workloads.problems import register_problem

    _, y0, span = build(target) if built is None else built
    default_batch = int(y0.shape[0])

    def initial(batch: int, seed: int):  # type: ignore[no-untyped-def]
        if target.y0_shape is not None and y0.shape == target.y0_shape:
            return _draw_y0((batch, *target.y0_shape[1:]), target.seed + seed)
        import torch

        return y0[torch.arange(batch) % default_batch]  # the factory's own states, tiled

    def make_field():  # type: ignore[no-untyped-def]
        return build(target)[0]  # a fresh field per measurement

    register_problem(
        target.name, make_field, initial, span, factory=True, batch=default_batch,
        description=f"profiled field {target.spec}", overwrite=True,
    )  # fmt: skip
    return target.name


# --- the battery ----------------------------------------------------------------------------


def battery(
    name: str, *, batch: int, budget: str = "quick", backends: Sequence[str] = ("torchdiffeq",)
) -> list:  # type: ignore[type-arg]
    """The standard cases on problem ``name`` (suite ``profile``); ``budget`` bounds the grid."""
    from odebench.benchmark.suites import atol_follows_rtol, grid

    if budget not in BUDGETS:
        raise ProfileError(f"unknown budget {budget!r}; choose one of: {', '.join(BUDGETS)}.")
    quick = budget == "quick"
    s = {"suite": "profile", "problem": name}
    steps = (1, 2, 4, 8, 16) if quick else (1, 2, 4, 8, 16, 32, 64)
    tols = (1e-3, 1e-5, 1e-7) if quick else tuple(10.0**-k for k in range(1, 9))
    batches = sorted({max(1, batch // 4), batch, batch * 4 if not quick else batch * 2})
    memory = ("nfe", "saved", "peak_alloc", "peak_rss")
    errors = ("nfe", "error", "time")
    cases = grid(
        {**s, "method": "rk4", "meters": memory, "timed_passes": 1},
        gradient=("backprop", "adjoint"),
        steps=steps,
    )
    for backend in backends:
        adaptive = {**s, "backend": backend, "method": "dopri5", "meters": errors}
        cases += grid(adaptive, gradient=("backprop", "adjoint"), rtol=tols)
        if backend == "torchdiffeq":  # the seminorm is torchdiffeq's option
            cases += grid({**adaptive, "gradient": "adjoint", "seminorm": True}, rtol=tols)
            # the gradient-mode frontier (odebench.reading.frontier): memory of every mode, and the
            # recomputing modes' error and time
            frontier = {**adaptive, "meters": ("nfe", "saved", "peak_alloc")}
            cases += grid(frontier, gradient=("backprop", "adjoint"), rtol=tols)
            cases += grid({**adaptive, "meters": ("nfe", "saved", "peak_alloc", "error", "time")},
                          gradient=("checkpoint", "aca"), rtol=tols)  # fmt: skip
    cases += grid(
        {**s, "method": "dopri5", "rtol": DEFAULT_SUMMARY_RTOL, "meters": ("nfe", "time")},
        gradient=("backprop", "adjoint"),
        batch=batches,  # the user's own batch too: the tolerance sweep leaves it unrecorded
    )
    return atol_follows_rtol(cases)


def available_backends() -> tuple[str, ...]:
    """The solver backends whose library imports here (torchdiffeq always)."""
    import importlib.util

    from odebench.solvers import BACKENDS

    names = ["torchdiffeq"]
    for name in BACKENDS:
        if name != "torchdiffeq" and importlib.util.find_spec(name) is not None:
            names.append(name)
    return tuple(names)


# --- the summary ----------------------------------------------------------------------------


def _mib(n: float) -> str:
    n = 0.0 if abs(n) < 0.5 else n  # a fitted zero prints as 0, not -0
    return f"{n / 2**20:.3f} MiB" if abs(n) >= 2**16 else f"{n:,.0f} B"


def summary(df, *, rtol: float = DEFAULT_SUMMARY_RTOL) -> list[str]:  # type: ignore[no-untyped-def]
    """One screen of measured figures: bytes per step, NFE, gradient error, what they imply."""
    import numpy as np

    from odebench.reading.tables import fit_line  # the report's own fit: one rule for a slope

    ok = df[df["status"] == "ok"]
    lines: list[str] = []
    slopes: dict[str, float] = {}
    memory = ok[(ok["method"] == "rk4") & ok["saved_bytes"].notna()]
    for gradient, group in memory.groupby("gradient"):
        per_step = group.groupby("steps")["saved_bytes"].median()
        if len(per_step) >= 2:
            fit = fit_line(per_step.index.to_numpy(float), per_step.to_numpy(float))
            slopes[str(gradient)] = fit.slope
            lines.append(
                f"memory  {gradient:9s} saved activations {_mib(fit.slope)} per rk4 step "
                f"(+ {_mib(fit.intercept)}), steps {int(fit.x.min())}..{int(fit.x.max())}"
            )
    adaptive = ok[(ok["method"] == "dopri5") & ok["grad_error"].notna()]
    if "backend" in adaptive:
        adaptive = adaptive[adaptive["backend"].fillna("torchdiffeq") == "torchdiffeq"]

    def mode(row: Any) -> str:
        return "adjoint+seminorm" if str(row["seminorm"]) == "True" else str(row["gradient"])

    if len(adaptive):
        adaptive = adaptive.assign(mode=adaptive.apply(mode, axis=1))
        at = adaptive[np.isclose(adaptive["rtol"].astype(float), rtol)]
        for m, group in at.groupby("mode"):
            row = group.median(numeric_only=True)
            lines.append(
                f"rtol {rtol:g} {m:17s} NFE-F {row['nfe_forward']:.0f}  NFE-B "
                f"{row['nfe_backward']:.0f}  gradient error {row['grad_error']:.2e}  "
                f"forward+backward {row['time_forward_s'] + row['time_backward_s']:.4f} s"
            )
        adj = adaptive[adaptive["mode"] == "adjoint"].groupby("rtol")["grad_error"].median()
        bp = adaptive[adaptive["mode"] == "backprop"].groupby("rtol")["grad_error"].median()
        if "backprop" in slopes and "adjoint" in slopes and len(adj):
            saved = slopes["backprop"] - slopes["adjoint"]
            errs = ", ".join(
                f"{adj[t]:.2e} at rtol={t:g} (backprop {bp.get(t, float('nan')):.2e})"
                for t in sorted(adj.index, reverse=True)
            )
            lines.append(
                f"measured: the adjoint saves {_mib(saved)} of activations per step; its "
                f"gradient error is {errs}."
            )
    from odebench.reading.frontier import summary_lines as frontier_lines

    lines += frontier_lines(df)  # the cheapest gradient mode reaching each error
    failed = df[df["status"] != "ok"]
    if len(failed):
        lines.append(
            f"{len(failed)} case(s) did not finish ok: see the status table in the report."
        )
    return lines
