"""The registry of solver libraries: one module per library, loaded when first named.

A backend module provides

- ``ADAPTIVE_METHODS``, ``FIXED_GRID_METHODS`` and ``METHODS`` (tuples of names),
- ``check(config) -> str | None``: a constraint of the library the generic checks of
  :class:`~odebench.solvers.SolverConfig` do not know, as a message naming the fix,
- ``integrate(field, y0, t, config, adjoint_params) -> Solution``: the solve, with its
  stats (steps) and its :class:`~odebench.solvers.Status`.

Adding a library is one module plus one line here (and its tests).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: backend name -> module implementing it
BACKENDS: dict[str, str] = {
    "torchdiffeq": "odebench.solvers.torchdiffeq_backend",
    "torchode": "odebench.solvers.torchode_backend",
    "scipy_odeint": "odebench.solvers.odeint_backend",
}


#: backends already imported: ``importlib`` is not free, and ``solve()`` asks at every call
_LOADED: dict[str, ModuleType] = {}


def get_backend(name: str) -> ModuleType:
    """The module of backend ``name`` (imported on first use: a library you never name
    is never imported)."""
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = importlib.import_module(BACKENDS[name])
    return module
