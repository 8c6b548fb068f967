"""User modules (``--import``, a suite file's ``problems = [...]``): imported wherever cases run.

A user's problem is registered by importing the module that calls
:func:`odebench.workloads.problems.register_problem`. The CLI imports it in its own process (so the
suite can name the problem) and the runner imports it again in every worker (local child
processes, submitit jobs), which start fresh and know only the built-in problems.

A spec is a dotted module name (found on ``sys.path`` or in the ``search`` folders) or a
path to a ``.py`` file.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class UserModuleError(ValueError):
    """A user module that cannot be found or raised while being imported."""


def is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def normalize(specs: Iterable[str], *, base: str | Path = ".") -> tuple[str, ...]:
    """Specs with file paths made absolute (relative to ``base``): valid in any process."""
    out: list[str] = []
    for spec in specs:
        spec = str(spec).strip()
        if not spec:
            raise UserModuleError("an empty module name; pass a module name or a .py file.")
        if is_path(spec):
            path = (Path(base) / spec).resolve()
            if not path.is_file():
                raise UserModuleError(f"module file {spec!r} not found (looked at {path}).")
            spec = str(path)
        elif not _DOTTED.match(spec):
            raise UserModuleError(
                f"{spec!r} is neither a module name (like my_pkg.problems) nor a .py file path."
            )
        if spec not in out:
            out.append(spec)
    return tuple(out)


def import_modules(specs: Sequence[str], *, search: Sequence[str] = ()) -> list[ModuleType]:
    """Import each spec once (a module already imported is not run again)."""
    for folder in reversed(search):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    modules = []
    for spec in specs:
        try:
            modules.append(_import_file(spec) if is_path(spec) else _import_name(spec))
        except UserModuleError:
            raise
        except Exception as exc:  # the user's module raised: say which, in one line
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            raise UserModuleError(
                f"importing {spec!r} failed ({detail}); fix the module or drop it."
            ) from exc
    return modules


def _import_name(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UserModuleError(
                f"no module named {name!r} here; run from the folder that holds it, add it to "
                "PYTHONPATH, or pass the path to its .py file."
            ) from None
        raise


def _import_file(path: str) -> ModuleType:
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == path:
            return module
    name = "odebench_user_" + re.sub(r"\W", "_", Path(path).stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserModuleError(f"cannot import {path!r}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
