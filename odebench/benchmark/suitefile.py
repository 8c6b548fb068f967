"""User suites from a TOML file, checked against a schema before any case is built.

The file::

    problems = ["my_problems"]      # optional: modules (or .py files) that register problems

    [suite]
    name = "my-sweep"               # optional (default: the file's name)
    description = "..."             # optional

    [[grid]]                        # one or more; the cases are the product of the lists
    problem = "mlp"
    method = "rk4"
    gradient = ["backprop", "adjoint"]
    steps = [1, 2, 4, 8]
    meters = ["nfe", "saved"]

Each ``[[grid]]`` key is a field of :class:`odebench.benchmark.cases.Case`, set to a value or a
list of
values; its type comes from the Case (one place to add a field). Every error names the file,
its line where one can be found, and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from odebench.benchmark.cases import Case, CaseError
from odebench.benchmark.usermodules import UserModuleError, import_modules, normalize

TOP_KEYS: tuple[str, ...] = ("problems", "suite", "grid")
SUITE_KEYS: tuple[str, ...] = ("name", "description")
GRID_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Case) if f.name != "suite")
#: Lower bounds beyond the type: (minimum, inclusive).
_MINIMUM: dict[str, tuple[float, bool]] = {
    "rtol": (0.0, False),
    "atol": (0.0, True),
    "step_size": (0.0, False),
    "steps": (1, True),
    "depth": (1, True),
    "batch": (1, True),
    "seed": (0, True),
    "timed_passes": (1, True),
}
#: The most steps a fixed grid may take (a grid of 10**9 float32 times is 4 GB).
MAX_STEPS = 10**9
#: Keys that configure an ODE solve: meaningless on a model without one (resnet, mlp).
SOLVER_KEYS: tuple[str, ...] = (
    "method", "gradient", "backend", "seminorm", "rtol", "atol", "steps", "step_size",
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SuiteFileError(CaseError):
    """A suite file that does not follow the schema; the message names the fix."""


@dataclass(frozen=True)
class SuiteFile:
    """A suite read from TOML: its name, its cases and the user modules it imports."""

    name: str
    cases: list[Case]
    imports: tuple[str, ...]
    search: tuple[str, ...]


def _check_keys(where: str, table: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise SuiteFileError(
                f"{where}: unknown key {key!r}.{did_you_mean} Valid keys: {', '.join(allowed)}."
            )


def _kind(name: str) -> str:
    """The value kind of a Case field from its annotation: str, int, float, bool, list, any."""
    annotation = str(next(f.type for f in dataclasses.fields(Case) if f.name == name))
    if annotation.startswith("tuple"):
        return "list"
    for kind in ("bool", "float", "int", "str"):
        if re.search(rf"\b{kind}\b", annotation):
            return kind
    return "any"


def _value_error(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the field ``key`` (None if it can)."""
    kind = _kind(key)
    if kind == "list":
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return None
        return f'{key} is a list of names: write {key} = ["nfe", ...]'
    if kind == "bool":
        return None if isinstance(value, bool) else f"{key} is true or false, not {value!r}"
    if kind == "str":
        return None if isinstance(value, str) else f"{key} is a text in quotes, not {value!r}"
    if kind in ("int", "float"):
        number = (int, float) if kind == "float" else (int,)
        if isinstance(value, bool) or not isinstance(value, number):
            what = "an integer" if kind == "int" else "a number"
            return f"{key} must be {what}, not {value!r}"
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return f"{key} = {value} does not fit in 64 bits (TOML's integers); give a smaller one"
        if key == "steps" and value > MAX_STEPS:
            return (
                f"steps = {value} is above {MAX_STEPS:,}: its grid alone would not fit in "
                "memory and the run would take days; give fewer steps"
            )
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} must be finite, not {value!r}"
        if key in _MINIMUM:
            low, inclusive = _MINIMUM[key]
            if value < low or (value == low and not inclusive):
                return f"{key} must be {'>=' if inclusive else '>'} {low:g}, not {value!r}"
    return None


def _line_of(text: str, pattern: str, start: int = 0) -> int | None:
    """The 1-based line number of the first line from ``start`` matching ``pattern``."""
    for i, line in enumerate(text.splitlines()[start:], start=start):
        if re.match(pattern, line):
            return i + 1
    return None


def read_suite_file(path: str | Path) -> SuiteFile:
    """Read and check a suite file, import its ``problems`` modules, build its cases."""
    path = Path(path)
    if not path.exists():
        raise SuiteFileError(f"suite file {str(path)!r} not found; pass the path to a .toml file.")
    if not path.is_file():
        raise SuiteFileError(f"{path} is not a file; pass the path to a .toml suite file.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8."
        ) from None
    except OSError as exc:
        raise SuiteFileError(f"{path}: cannot read it ({exc.strerror}).") from None
    if text.startswith("\ufeff"):
        raise SuiteFileError(
            f"{path} starts with a byte-order mark (BOM, U+FEFF), which TOML does not allow; "
            "save it as UTF-8 without BOM."
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteFileError(f"{path}: not valid TOML ({exc}).") from None
    _check_keys(str(path), data, TOP_KEYS)

    meta = data.get("suite", {})
    if not isinstance(meta, dict):
        line = _line_of(text, r"\s*suite\s*=")
        raise SuiteFileError(
            f"{path}:{line}: 'suite' is a table: write [suite] and then name = {meta!r} below it."
        )
    _check_keys(f"{path} [suite]", meta, SUITE_KEYS)
    for key in SUITE_KEYS:
        if key in meta and not isinstance(meta[key], str):
            raise SuiteFileError(f"{path} [suite]: {key} is a text in quotes, not {meta[key]!r}.")
    name = meta.get("name", path.stem)
    if not _NAME.match(name):
        raise SuiteFileError(
            f"{path} [suite]: name {name!r} must be letters, digits, '.', '_' or '-' "
            "(it names the results folder)."
        )

    problems = data.get("problems", [])
    if isinstance(problems, str):
        problems = [problems]
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise SuiteFileError(
            f'{path}: problems is a list of module names: problems = ["my_pkg.problems"].'
        )
    base = path.resolve().parent
    try:
        imports = normalize(problems, base=base)
    except UserModuleError as exc:
        raise SuiteFileError(f"{path}: problems: {exc}") from None
    search = (str(Path.cwd()), str(base))
    try:
        import_modules(imports, search=search)
    except UserModuleError as exc:
        raise SuiteFileError(f"{path}: problems: {exc}") from None

    grids = data.get("grid", [])
    if isinstance(grids, dict):
        line = _line_of(text, r"\s*\[grid\]")
        raise SuiteFileError(
            f"{path}:{line}: write [[grid]] (double brackets: one table per grid), not [grid]."
        )
    if not isinstance(grids, list) or not grids:
        raise SuiteFileError(f"{path}: no [[grid]] table; add one naming a problem or model.")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    line = 0
    for i, grid in enumerate(grids):
        found = _line_of(text, r"\s*\[\[\s*grid\s*\]\]", line)
        line = found or line
        where = f"{path}:{found} [[grid]] #{i + 1}" if found else f"{path} [[grid]] #{i + 1}"
        if not isinstance(grid, dict):
            raise SuiteFileError(f"{where}: write each grid as a [[grid]] table of key = value.")
        _check_keys(where, grid, GRID_KEYS)
        tied = grid.get("atol") == "rtol"  # atol = "rtol": each case's atol is its rtol
        if tied and "rtol" not in grid:
            raise SuiteFileError(f'{where}: atol = "rtol" ties atol to rtol; give rtol too.')
        axes: dict[str, list[Any]] = {}
        for key, value in grid.items():
            if key == "atol" and tied:
                continue
            key_line = _line_of(text, rf"\s*{re.escape(key)}\s*=", line) if found else None
            at = f"{path}:{key_line}" if key_line else where
            values = [value] if _kind(key) == "list" or not isinstance(value, list) else value
            if not values:
                raise SuiteFileError(
                    f"{at}: {key} = [] expands to no case; give at least one value."
                )
            for v in values:
                why = _value_error(key, v)
                if why:
                    raise SuiteFileError(f"{at}: {why}.")
                if key == "weights" and v and not Path(v).is_file():
                    raise SuiteFileError(
                        f"{at}: weights file {v!r} not found (paths are relative to the folder "
                        "odebench runs in); train it first or fix the path."
                    )
            axes[key] = [tuple(v) if isinstance(v, list) else v for v in values]
        keys = list(axes)
        for combo in itertools.product(*(axes[k] for k in keys)):
            fields = dict(zip(keys, combo, strict=True))
            if tied:
                fields["atol"] = fields["rtol"]
            try:
                case = Case(suite=name, **fields)
            except (ValueError, TypeError) as exc:
                raise SuiteFileError(f"{where}: {exc}") from None
            _check_case(where, case, grid)
            if "timed_passes" in grid and "time" not in case.meters:
                raise SuiteFileError(
                    f'{where}: timed_passes counts timed passes, but meters has no "time": '
                    "add it to meters or drop timed_passes."
                )
            if case.case_id in seen:
                raise SuiteFileError(
                    f"{where} repeats a case of {seen[case.case_id]} ({case.case_id}); "
                    "remove the duplicate values (use run --repeats for repeated rows)."
                )
            seen[case.case_id] = f"[[grid]] #{i + 1}"
            cases.append(case)
    return SuiteFile(name=name, cases=cases, imports=imports, search=search)


def _check_case(where: str, case: Case, grid: dict[str, Any]) -> None:
    """What a Case accepts but cannot measure as written: refused before anything runs."""
    import torch

    if not case.uses_solver:
        given = [k for k in SOLVER_KEYS if k in grid]
        if given:
            raise SuiteFileError(
                f"{where}: model {case.model!r} has no ODE solve, so {', '.join(given)} would "
                "be ignored; drop it (solver options apply to rknet, odenet and problems)."
            )
    tolerances = [v for v in (case.rtol, case.atol) if v is not None]
    if tolerances:
        eps = torch.finfo(getattr(torch, case.dtype)).eps
        if max(tolerances) < eps:
            # the state carries no more digits than eps: a tighter tolerance only makes the
            # steps shrink until the error estimate rounds to zero or the step underflows
            # (measured: float64 dopri5 at rtol = atol = 1e-30 ran 5 minutes without ending;
            # float32 at 1e-300 underflows at once)
            raise SuiteFileError(
                f"{where}: rtol and atol ({max(tolerances):g} at most) are below {case.dtype}'s "
                f"resolution (eps {eps:.1e}), which no solve can meet. Loosen the tolerance"
                + (" or use dtype = \"float64\"." if case.dtype == "float32" else ".")
            )


def load_suite_file(path: str | Path) -> list[Case]:
    """The cases of a suite file (see :func:`read_suite_file`)."""
    return read_suite_file(path).cases
