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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUDGETS: tuple[str, ...] = ("quick", "default", "full")
#: The output times of the trajectory loss the battery measures beside the loss on y(t1).
DEFAULT_OUTPUT_TIMES = 11
#: The tolerance of the cases that time other batches.
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
    """Call the factory: ``(field, y0, (t0, t1))``, y0 in its own dtype; or
    :class:`ProfileError`."""
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
    return field, y0.detach(), (float(span[0]), float(span[1]))


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def native_dtype(field: Any, y0: Any, *, drawn: bool = False) -> str:
    """The dtype the user's field works in: its parameters' (float64 if any is), else the
    factory's y0's (not a ``drawn`` one); ``float32`` otherwise. A float64 field is profiled
    in float64."""
    import torch

    params = list(field.parameters()) if hasattr(field, "parameters") else []
    floats = [p.dtype for p in params if torch.is_floating_point(p)]
    if floats:
        return "float64" if torch.float64 in floats else "float32"
    return "float64" if y0.dtype == torch.float64 and not drawn else "float32"


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`ProfileError` if the body (the user's factory, the check of the field)
    runs past ``seconds``: a field that hangs gets an answer, not a silent wait. SIGALRM:
    the main thread on a Unix; elsewhere the body runs unbounded."""
    import signal
    import threading

    if not (hasattr(signal, "setitimer") and math.isfinite(seconds)
            and threading.current_thread() is threading.main_thread()):  # fmt: skip
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ProfileError(f"{what} did not finish within --timeout {seconds:g} s (the factory "
                           "call and one evaluation of the field at 4 times of the span, then "
                           "one rk4 step with its gradient); make them faster or pass a "
                           "longer --timeout.")  # fmt: skip

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Where in the span (0: t0, 1: t1) :func:`validate` evaluates the field.
CHECK_TIMES: tuple[float, ...] = (0.0, 1 / 3, 2 / 3, 1.0)


def check_output(what: str, field: Any, t: float, y: Any) -> None:
    """One evaluation of the user's field at time ``t``: it must return a finite dy/dt of the
    state's shape and dtype; else :class:`ProfileError` naming the field and ``t``."""
    import torch

    with torch.no_grad():
        try:
            out = field(torch.tensor(t, dtype=y.dtype), y)
        except Exception as exc:  # the user's field: say what it raised, in one line
            raise ProfileError(
                f"{what} raised {type(exc).__name__} at t = {t:.4g} on a {y.dtype} state of "
                f"shape {tuple(y.shape)} ({exc}); it must take (t, y) and return dy/dt."
            ) from None
    if not isinstance(out, torch.Tensor) or out.shape != y.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ProfileError(f"{what} returns {got} at t = {t:.4g} for a state of shape "
                           f"{tuple(y.shape)}; dy/dt must have the state's shape.")  # fmt: skip
    if out.dtype != y.dtype:
        raise ProfileError(f"{what} returns {out.dtype} at t = {t:.4g} for a {y.dtype} state; "
                           "return dy/dt in the state's dtype (or pass --dtype).")  # fmt: skip
    if not torch.isfinite(out).all():
        raise ProfileError(f"{what} returns NaN or inf at t = {t:.4g} (at y0); check it.")


def validate(target: Target, dtype: str = "float32") -> tuple[Any, Any, tuple[float, float]]:
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
    torch_dtype = getattr(torch, dtype)
    if isinstance(field, nn.Module):
        field = copy.deepcopy(field).to(torch_dtype)
    y = y0[:2].to(torch_dtype)  # the dtype the cases run in
    what = f"{target.spec}: the field {type(field).__name__}"
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
    for t in CHECK_TIMES:  # across the span: a field may fail at one time only
        t = t0 + t * (t1 - t0)
        check_output(what, field, t, y)
    config = SolverConfig(method="rk4", steps=1, gradient="adjoint")
    try:
        times = torch.tensor([t0, t1], dtype=torch_dtype)
        sol = solve(field, y.clone().requires_grad_(True), times, config)
        sol.ys[-1].sum().backward()
    except (SolveError, ValueError, TypeError, RuntimeError) as exc:
        raise ProfileError(f"{what} failed in a solve over [{t0:g}, {t1:g}] (rk4, one step; "
                           f"{type(exc).__name__}: {exc}); it must accept any t in the span "
                           "and keep the state's shape and dtype.") from None
    if not torch.isfinite(sol.ys[-1]).all():
        raise ProfileError(f"{what}: one rk4 step over [{t0:g}, {t1:g}] gives NaN or inf at "
                           f"t = {t1:g}; the field blows up there: try a shorter --t-span, a "
                           "smaller y0, or --dtype float64.")  # fmt: skip
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
    name: str, *, batch: int, budget: str = "quick", backends: Sequence[str] = ("torchdiffeq",),
    dtype: str = "float32", output_times: int = DEFAULT_OUTPUT_TIMES,
) -> list:  # type: ignore[type-arg]
    """The standard cases on problem ``name`` (suite ``profile``); ``budget`` bounds the grid.

    Every case runs in ``dtype``; the gradient modes are measured with both loss shapes (a
    loss on y(t1), and on ``output_times`` output times), since the shape flips the
    adjoint's verdict."""
    from odebench.benchmark.suites import atol_follows_rtol, grid

    if budget not in BUDGETS:
        raise ProfileError(f"unknown budget {budget!r}; choose one of: {', '.join(BUDGETS)}.")
    quick = budget == "quick"
    full = budget == "full"
    # every mode on your batch and dtype
    s = {"suite": "profile", "problem": name, "batch": batch, "dtype": dtype}
    losses = (2, output_times)
    steps = (1, 2, 4, 8, 16, 32, 64) if full else (1, 2, 4, 8, 16)
    tols = {"quick": (1e-3, 1e-5, 1e-7), "default": tuple(10.0**-k for k in range(3, 8)),
            "full": tuple(10.0**-k for k in range(1, 9))}[budget]  # fmt: skip
    batches = sorted({max(1, batch // 4), batch, batch * 2 if quick else batch * 4})
    memory = ("nfe", "saved", "peak_alloc", "peak_rss")
    errors = ("nfe", "error", "time")
    cases = grid(
        {**s, "method": "rk4", "meters": memory, "timed_passes": 1},
        gradient=("backprop", "adjoint"),
        steps=steps,
    )
    for backend in backends:
        adaptive = {**s, "backend": backend, "method": "dopri5", "meters": errors}
        cases += grid(adaptive, gradient=("backprop", "adjoint"), rtol=tols,
                      output_times=losses)  # fmt: skip
        if backend == "torchdiffeq":  # the seminorm is torchdiffeq's option
            cases += grid({**adaptive, "gradient": "adjoint", "seminorm": True}, rtol=tols,
                          output_times=losses)  # fmt: skip
            # the gradient-mode frontier (odebench.reading.frontier): memory of every mode, and the
            # recomputing modes' error and time
            frontier = {**adaptive, "meters": ("nfe", "saved", "peak_alloc")}
            cases += grid(frontier, gradient=("backprop", "adjoint"), rtol=tols,
                          output_times=losses)  # fmt: skip
            cases += grid({**adaptive, "meters": ("nfe", "saved", "peak_alloc", "error", "time")},
                          gradient=("checkpoint", "aca"), rtol=tols,
                          output_times=losses)  # fmt: skip
    cases += grid(
        {"suite": "profile", "problem": name, "dtype": dtype, "method": "dopri5",
         "rtol": DEFAULT_SUMMARY_RTOL, "meters": ("nfe", "time")},
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


# --- the decision, first ---------------------------------------------------------------


def decision_lines(df, *, batch: int | None = None, target: float = 1e-4) -> list[str]:  # type: ignore[no-untyped-def]
    """The decision first (:mod:`odebench.reading.decision`): per loss shape on the user's own
    batch, the mode and tolerance to train with, why, and the small frontier table behind it."""
    import pandas as pd

    from odebench.reading.decision import Constraints, decide
    from odebench.reading.decision import decision_lines as sentences
    from odebench.reading.frontier import format_rows, frontier_rows

    # the adaptive cases (the fixed-grid ones measure memory against steps); on the user's
    # batch (the other batches time the batch only). Not "rows with a gradient error": the
    # memory of backprop and the adjoint is measured by cases of their own, same identity
    graded = df[df["method"] == "dopri5"]
    if batch is not None:
        graded = graded[pd.to_numeric(graded["batch"], errors="coerce") == batch]
    rows = frontier_rows(graded) if not graded.empty else graded
    if rows.empty:
        return ["No gradient error measured on your batch: nothing to decide on."]
    lines = [f"Which gradient method? (gradient error <= {target:g} at this and every tighter "
             "rtol; overlapping timings: the lower peak; rule: odebench advise --help)"]
    lines += [f"- {line}" for line in sentences(decide(rows, Constraints(target=target)))]
    small = format_rows(rows).drop(columns=["saved/step", "NFE-F/B"], errors="ignore")
    lines += ["", "The frontier behind it:", small.to_string(index=False), ""]
    return lines
