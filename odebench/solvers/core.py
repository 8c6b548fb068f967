"""The one ``solve()`` entry point: checks the inputs, counts the field, hands over to a backend."""

from __future__ import annotations

import functools
import inspect
import math
import sys
import types
import weakref
from collections.abc import Callable, Iterable

import torch
from torch import nn

from odebench.instruments.nfe import PHASES, CountedField
from odebench.instruments.probe import probe_field
from odebench.solvers.backends import BACKENDS, get_backend
from odebench.solvers.config import SolverConfig
from odebench.solvers.result import (
    AdjointParamsError,
    FieldShapeError,
    Solution,
    SolveError,
    Status,
)

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


#: Time tensors already found valid, with what they held then (``_version`` moves on every
#: in-place change): a training loop passing the same ``t`` to every solve checks it once.
#: (Keyed by id and checked by a weak reference: tensors compare elementwise, not by identity.)
_VALID_TIMES: dict[int, tuple[weakref.ref[torch.Tensor], tuple[int, int, torch.Size]]] = {}


def check_inputs(y0: torch.Tensor, t: torch.Tensor, *, finite: bool = True) -> None:
    """Raise ``ValueError`` with the fix for inputs a solver would mishandle.

    ``finite=False`` leaves out the check that ``y0`` is finite (a reduction and a device
    sync): :func:`solve` makes it only where the solve's outputs are not all finite or the
    solve raised, since its first output is ``y0`` itself.
    """
    if not isinstance(y0, torch.Tensor) or not isinstance(t, torch.Tensor):
        raise TypeError("y0 and t must be torch tensors.")
    if not torch.is_floating_point(y0):
        raise ValueError(f"y0 must be a floating-point tensor; got dtype {y0.dtype}.")
    stamp = (t._version, t.data_ptr(), t.shape)
    known = _VALID_TIMES.get(id(t))
    if known is None or known[0]() is not t or known[1] != stamp:
        with torch.no_grad():  # checks must not leave tensors saved for backward
            _check_times(t)
        if len(_VALID_TIMES) >= 64:
            _VALID_TIMES.clear()
        _VALID_TIMES[id(t)] = (weakref.ref(t), stamp)
    if finite:
        check_finite_y0(y0)


def check_finite_y0(y0: torch.Tensor) -> None:
    """Raise ``ValueError`` with the fix if ``y0`` holds a NaN or an inf."""
    with torch.no_grad():
        if not bool(torch.isfinite(y0.detach()).all()):
            raise ValueError("y0 contains NaN or inf; check the initial state.")


def _check_times(t: torch.Tensor) -> None:
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError(
            f"t must be 1-D with at least two times (t0 and t1); got shape {tuple(t.shape)}."
        )
    if not torch.isfinite(t).all():
        raise ValueError("t contains NaN or inf; pass finite times.")
    diffs = t[1:] - t[:-1]
    if not ((diffs > 0).all() or (diffs < 0).all()):
        raise ValueError(
            "t must be strictly monotone (all increasing or all decreasing, no repeats); "
            "sort it and drop duplicates, e.g. torch.unique(t)."
        )


def _first_output(out: object, y: torch.Tensor, checked: list[bool]) -> torch.Tensor:
    """A solve's first output: shaped like the state, or the fix (then no more checks)."""
    if not isinstance(out, torch.Tensor) or out.shape != y.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise FieldShapeError(
            f"the field returned {got} for a state of shape {tuple(y.shape)}: return "
            "dy/dt shaped like y (e.g. value.expand_as(y), or torch.full_like(y, c))."
        )
    checked[0] = True
    return out


def evaluator(
    inner: Field, counts: dict[str, int], hooked: CountedField | None, checked: list[bool]
) -> Field:
    """One evaluation as odebench makes it: count it, call the field, check once per solve
    (``checked[0]``) that it returned the state's shape.

    A closure, built once per field (:meth:`ShapeChecked.rearm`): torchdiffeq keeps the
    function it is given as an attribute of its own module, and a module there is reached
    through ``nn.Module.__getattr__`` at every evaluation (a module wrapping the field cost
    +90-120 us a solve of 20 evaluations over the field itself); a closure is the cheapest
    Python callable (docs/timing.md). With hooks on the counter, the counter itself is
    called (its hooks run, and it counts)."""
    phases = PHASES

    if hooked is None:

        def evaluate(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            counts[phases[-1]] += 1
            out = inner(t, y)
            return out if checked[0] else _first_output(out, y, checked)

    else:

        def evaluate(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            out = hooked(t, y)
            return out if checked[0] else _first_output(out, y, checked)

    return evaluate


class ShapeChecked(nn.Module):
    """odebench's one layer around every evaluation (:func:`evaluator`): counts it on the
    :class:`CountedField`'s counter and checks, once per solve, that the field returns the
    state's shape.

    Solvers broadcast: a field returning a scalar or a row would integrate silently wrong.
    Built once per counted field and reused (:func:`watched`), and it costs one Python frame
    per evaluation: it counts on ``counted.counts`` itself and calls the inner field directly
    (the counter's ``forward`` is not called, unless someone hooked the counter: then the
    counter is called with its hooks and counts). A backend that wants a module (its
    parameters) takes this one; torchdiffeq is given :attr:`evaluate`, the plain callable.

    It holds the inner field (its submodule, so its parameters are the counter's) and the
    counter only weakly: the counter keeps its wrapper, and a wrapper holding the counter
    back would make every field of every case a reference cycle, freed only by the cyclic
    garbage collector. Uncollected, those cycles made later timings of one process slower
    (a case's backward 8.6 -> 11 ms over 40 cases in a row; steady with a collection
    between them): a figure that depended on what ran before it.
    """

    def __init__(self, counted: CountedField):
        super().__init__()
        inner = counted.inner
        if isinstance(inner, nn.Module):
            self.field = inner
        self.__dict__["_counter"] = weakref.ref(counted)
        self.rearm(counted)

    @property
    def counted(self) -> CountedField:
        """The counter this wrapper counts on (alive while anyone uses the wrapper)."""
        counted = self._counter()
        if counted is None:  # pragma: no cover - the counter owns the wrapper
            raise RuntimeError("the CountedField of this ShapeChecked is gone")
        return counted

    def rearm(self, counted: CountedField | None = None) -> None:
        """Start a solve: :attr:`evaluate` checks the next output's shape and calls the inner
        field as it is now. The closure is rebuilt only when the field, the counts or the
        hooks changed: a call site in torchdiffeq that met it stays specialised for it."""
        counted = self.counted if counted is None else counted
        hooked = counted if (
            counted._forward_hooks or counted._forward_pre_hooks or counted._backward_hooks
            or counted._backward_pre_hooks
        ) else None  # fmt: skip
        d = self.__dict__
        inner, counts, made = counted.inner, counted.counts, d.get("_made")
        if made is not None and made[0] is inner and made[1] is counts and made[2] is hooked:
            d["_checked"][0] = False
            return
        checked = [False]
        d["_checked"] = checked
        # a cycle (counter -> wrapper -> closure -> counter) only while hooks are set
        d["_made"] = (inner, counts, hooked)
        d["evaluate"] = evaluator(inner, counts, hooked, checked)

    @property
    def checked(self) -> bool:
        """Whether this solve's first output had the state's shape."""
        return self._checked[0]

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.evaluate(t, y)

    __call__ = forward  # type: ignore[assignment]


#: Where a counted field keeps its :class:`ShapeChecked` (in its ``__dict__``, not as a
#: submodule: the wrapper holds the field, not the other way round).
_WRAPPER_KEY = "_odebench_shape_checked"


def watched(counted: CountedField) -> ShapeChecked:
    """The :class:`ShapeChecked` of ``counted``, built on first use and rearmed per solve."""
    wrapper = counted.__dict__.get(_WRAPPER_KEY)
    if wrapper is None:
        wrapper = ShapeChecked(counted)
        counted.__dict__[_WRAPPER_KEY] = wrapper
    else:
        wrapper.rearm(counted)
    return wrapper


def tensor_names(func: object, *, depth: int = 4) -> dict[int, tuple[str, torch.Tensor]]:
    """Tensors requiring grad that ``func`` reaches, by id, with a path naming each.

    Looks where Python keeps what a function uses: its closure, defaults, the globals it
    names (and attributes it names on imported modules), a bound method's object, a
    partial's arguments, an object's attributes, a module's parameters, plain attributes
    and ``forward``'s globals; ``depth`` levels deep. Incomplete by nature: it names what
    :func:`~odebench.instruments.probe.probe_field` finds, it does not decide.
    """
    found: dict[int, tuple[str, torch.Tensor]] = {}
    seen: set[int] = set()

    def visit(obj: object, path: str, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            if obj.requires_grad:
                found.setdefault(id(obj), (path, obj))
            return
        if isinstance(obj, nn.Module):
            for name, p in obj.named_parameters():
                if p.requires_grad:
                    found.setdefault(id(p), (f"{path}.{name}", p))
            for name, value in vars(obj).items():
                if not name.startswith("_") and not isinstance(value, nn.Module | torch.Tensor):
                    visit(value, f"{path}.{name}", level + 1)
            visit(type(obj).forward, f"{path}.forward", level + 1)
            return
        if isinstance(obj, list | tuple | set | frozenset):
            for i, item in enumerate(obj):
                visit(item, f"{path}[{i}]", level + 1)
            return
        if isinstance(obj, dict):
            for key, item in obj.items():
                visit(item, f"{path}[{key!r}]", level + 1)
            return
        if isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                visit(item, f"{path}(partial)", level + 1)
            return
        if inspect.ismethod(obj):
            visit(obj.__self__, f"{path}.__self__", level + 1)
            visit(obj.__func__, path, level + 1)
            return
        if inspect.isfunction(obj):
            code = obj.__code__
            for name, cell in zip(code.co_freevars, obj.__closure__ or (), strict=False):
                try:
                    visit(cell.cell_contents, name, level + 1)
                except ValueError:  # an empty cell
                    pass
            for item in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
                visit(item, f"{code.co_name} default", level + 1)
            names = set(code.co_names)
            for const in code.co_consts:  # comprehensions and nested functions name globals too
                if isinstance(const, types.CodeType):
                    names |= set(const.co_names)
            for name in names:
                if name not in obj.__globals__:
                    continue
                value = obj.__globals__[name]
                if isinstance(value, types.ModuleType):
                    for attr in names:  # ``mod.net(y)``: a module's attribute the code names
                        visit(getattr(value, attr, None), f"{name}.{attr}", level + 1)
                else:
                    visit(value, f"global {name}", level + 1)
            return
        if hasattr(obj, "__dict__") and not isinstance(obj, type | types.ModuleType):
            for name, value in vars(obj).items():
                visit(value, f"{path}.{name}", level + 1)

    visit(func, "field", 0)
    return found


def hidden_parameters(func: object, *, depth: int = 4) -> list[torch.Tensor]:
    """Tensors requiring grad that a plain function reaches without showing them (static)."""
    return [t for _, t in tensor_names(func, depth=depth).values()]


def _adjoint_params(
    counted: CountedField, given: Iterable[torch.Tensor] | None
) -> tuple[torch.Tensor, ...]:
    if given is not None:
        params = tuple(given)
        if not all(isinstance(p, torch.Tensor) for p in params):
            raise AdjointParamsError(
                "adjoint_params must be tensors, e.g. adjoint_params=tuple(model.parameters())."
            )
        return params
    return tuple(counted.parameters())  # a plain function registers none


#: Fields whose use of tensors was checked against these adjoint parameters (weakly held):
#: a training loop solving with one field checks it once, not at every solve.
_CHECKED: weakref.WeakKeyDictionary[object, tuple[weakref.ref[torch.Tensor], ...]] = (
    weakref.WeakKeyDictionary()
)


def check_adjoint_sees(
    counted: CountedField, y0: torch.Tensor, t0: torch.Tensor, params: tuple[torch.Tensor, ...]
) -> None:
    """Raise :class:`AdjointParamsError` if the field uses a tensor requiring grad that is
    not among ``params`` (the adjoint would leave it without a gradient, silently).

    Decided by evaluating the field once off the count (:func:`probe_field`) and walking
    its output's graph, so no pattern of keeping a network (a plain object, a list, a
    global, helpers) escapes; a field already checked with the same parameters is not
    evaluated again.
    """
    key = counted.inner
    try:
        refs = _CHECKED.get(key)
    except TypeError:  # not weakly referenceable: check every time
        refs = None
    if refs is not None and len(refs) == len(params):
        if all(ref() is p for ref, p in zip(refs, params, strict=True)):
            return
    missing = probe_field(counted, t0, y0, covered=params).leaves
    if missing:
        names = tensor_names(key)
        described = [
            f"{names[id(m)][0]} {tuple(m.shape)}" if id(m) in names else
            f"a tensor of shape {tuple(m.shape)}"
            for m in missing[:4]
        ]  # fmt: skip
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise AdjointParamsError(
            f"gradient='adjoint' would leave {len(missing)} tensor(s) that the field uses "
            f"without a gradient ({', '.join(described)}{more}): the adjoint differentiates "
            "only adjoint_params (default: the parameters registered on an nn.Module field). "
            "Pass them, e.g. adjoint_params=tuple(model.parameters()), or register the network "
            "on the field (an nn.Module attribute or nn.ModuleList; not a plain list, a "
            "global or another object)."
        )
    try:
        _CHECKED[key] = tuple(weakref.ref(p) for p in params)
    except TypeError:
        pass


def solve(
    func: Field | nn.Module,
    y0: torch.Tensor,
    t: torch.Tensor,
    config: SolverConfig,
    *,
    adjoint_params: Iterable[torch.Tensor] | None = None,
    throw: bool = True,
) -> Solution:
    """Integrate ``dy/dt = func(t, y)`` from ``y0`` over the times ``t``.

    ``func`` is wrapped in a :class:`CountedField` (unless it already is one), so the
    returned stats carry the forward NFE and ``Solution.field`` keeps counting during a
    later ``backward()``. Under ``gradient="adjoint"`` the parameters that get a gradient
    are ``adjoint_params`` if given, else the field's own when it is an ``nn.Module``; a
    field that uses a tensor requiring grad outside them (a closure over a model, a network
    in a plain list or a global) fails with the fix instead of leaving it without a
    gradient (checked once per field by evaluating it off the count).

    A solve that does not succeed raises :class:`SolveError` (its ``.status`` says how it
    ended); with ``throw=False`` it returns the Solution with that status instead, where the
    library returned anything.
    """
    if not isinstance(config, SolverConfig):  # a dict would fail later as an AttributeError
        from odebench.solvers.config import SolverConfigError

        raise SolverConfigError(
            f"config is a {type(config).__name__}, not a SolverConfig; pass "
            "SolverConfig(**options) (e.g. SolverConfig(method='rk4', steps=10))."
        )
    check_inputs(y0, t, finite=False)  # no tensor op unless t is new (then under no_grad)
    counted = func if isinstance(func, CountedField) else CountedField(func)
    params: tuple[torch.Tensor, ...] | None = None
    if config.gradient == "adjoint":
        params = _adjoint_params(counted, adjoint_params)
        check_adjoint_sees(counted, y0, t[0], params)
    elif adjoint_params is not None:
        raise AdjointParamsError(
            "adjoint_params only applies to gradient='adjoint'; with backprop every tensor the "
            "field uses gets its gradient: drop adjoint_params."
        )
    before = counted.calls
    try:
        sol = get_backend(config.backend).integrate(watched(counted), y0, t, config, params)
    except SolveError as exc:
        check_finite_y0(y0)  # a NaN in y0 is the caller's, named as before the solve
        if exc.solution is not None:
            exc.solution.stats.nfe = counted.calls - before
            exc.solution.field = counted
        if throw or exc.solution is None:
            raise
        return exc.solution
    except Exception as exc:
        try:
            check_finite_y0(y0)
        except ValueError as bad:
            raise bad from exc
        raise
    sol.stats.nfe = counted.calls - before
    sol.field = counted
    # ys[0] is y0: all outputs finite means y0 was (one check instead of two); their sum is
    # one reduction and no mask, finite unless an output is not (or the sum overflowed: then
    # the outputs themselves are checked)
    if (
        sol.status == Status.SUCCESS
        and not math.isfinite(float(sol.ys.detach().sum()))
        and not bool(torch.isfinite(sol.ys.detach()).all())
    ):
        check_finite_y0(y0)
        sol.status = Status.NON_FINITE
    if sol.status != Status.SUCCESS and throw:
        check_finite_y0(y0)
        raise SolveError(
            f"{config.backend} {config.method}: the solve ended with {sol.status.value}",
            status=sol.status,
            solution=sol,
        )
    return sol


def failure_status(exc: BaseException) -> Status | None:
    """The :class:`Status` of a failed solve, also when it failed in ``backward()`` (the
    adjoint's reverse solve raises the library's own error there); None if not a solve's."""
    if isinstance(exc, SolveError):
        return exc.status
    for module in BACKENDS.values():
        loaded = sys.modules.get(module)  # a library's error implies its backend was loaded
        # a backend whose library raises nothing of its own needs no ``failure_status``
        classify = getattr(loaded, "failure_status", None)
        status = classify(exc) if classify is not None else None
        if status is not None:
            return status
    return None
