"""Benchmark cases and the named suites: the one source of truth for what is measured.

The CLI (``odebench run``), the asv suite in ``benches/`` and the pytest benchmarks
all read their cases from here. A :class:`Case` is frozen and hashable; a suite is
a list of cases. Users add suites from a TOML file (:mod:`odebench.benchmark.suitefile`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from odebench.solvers import SolverConfig
from odebench.workloads.models.mnist import MODEL_KINDS, SOLVER_MODELS

if TYPE_CHECKING:
    import torch

DTYPES: tuple[str, ...] = ("float32", "float64")
METERS: tuple[str, ...] = ("nfe", "saved", "peak_alloc", "peak_rss", "time", "error")
REDUCTIONS: tuple[str, ...] = ("sum", "mean")
#: What a model case feeds its network: seeded random images, or the first ``batch`` MNIST
#: test images (what a trained model's figures mean: its NFE depends on real inputs).
INPUTS: tuple[str, ...] = ("random", "mnist")
#: The batch of a model case that names none (recorded as such: the figure says what ran).
DEFAULT_MODEL_BATCH = 128


class CaseError(ValueError):
    """A case or suite that cannot run; the message names the valid choices."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One measurement: a problem (or an MNIST model), a solver, a gradient mode, a size.

    Exactly one of ``problem`` (see :mod:`odebench.workloads.problems`) or ``model`` (one of
    :data:`MODEL_KINDS`) is set. ``depth`` is the ResNet's number of blocks;
    ``steps``/``step_size`` the fixed grid, ``rtol``/``atol`` the adaptive tolerances.
    ``reduction`` reduces the loss over the state (``sum`` or ``mean``: the adjoint's NFE-B
    depends on it). A model case may load trained ``weights`` (a checkpoint written by
    :func:`odebench.experiments.training.save_checkpoint`) and feed it ``inputs="mnist"`` images.
    ``meters`` selects what to measure; ``timed_passes`` is the number of timed passes
    (after a warm-up) whose median and IQR are recorded.
    """

    suite: str = "custom"
    problem: str = ""
    model: str = ""
    backend: str = "torchdiffeq"
    method: str = "dopri5"
    gradient: str = "backprop"
    rtol: float | None = None
    atol: float | None = None
    step_size: float | None = None
    steps: int | None = None
    depth: int | None = None
    batch: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    seed: int = 0
    seminorm: bool = False
    reduction: str = "sum"
    weights: str = ""
    inputs: str = "random"
    meters: tuple[str, ...] = ("nfe", "saved", "peak_alloc", "time", "error")
    timed_passes: int = 3
    #: Output times of a problem's solve, equally spaced from t0 to t1: 2 puts the loss on
    #: y(t1) alone; more puts it on the whole trajectory after y0 (as in fitting a series).
    output_times: int = 2
    #: Step budget of each solve (attempted steps per output interval, the reverse solve's
    #: too; :func:`odebench.solvers.budget.step_budget`): a solve that reaches it ends with
    #: status ``max_steps`` and the figures it reached. None: the libraries' own limits.
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if bool(self.problem) == bool(self.model):
            raise CaseError("a case names exactly one of problem=... or model=....")
        if self.model and self.model not in MODEL_KINDS:
            raise CaseError(
                f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_KINDS)}."
            )
        if self.batch is not None and (
            isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1
        ):
            raise CaseError(f"batch={self.batch!r} must be an integer >= 1.")
        if self.problem:
            from odebench.workloads.problems import check_problem

            try:  # names and sizes only: validating a case never builds its tensors
                check_problem(self.problem, batch=self.batch, seed=self.seed)
            except ValueError as exc:
                raise CaseError(str(exc)) from None
            if self.weights or self.inputs != "random":
                raise CaseError("weights and inputs are for model cases; drop them.")
        elif self.batch is None:
            object.__setattr__(self, "batch", DEFAULT_MODEL_BATCH)
        if self.dtype not in DTYPES:
            raise CaseError(f"unknown dtype {self.dtype!r}; choose one of: {', '.join(DTYPES)}.")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise CaseError(f"unknown device {self.device!r}; use 'cpu' or 'cuda'.")
        if isinstance(self.meters, str):
            raise CaseError(f"meters={self.meters!r} must be a list of meter names.")
        bad = [m for m in self.meters if m not in METERS]
        if bad:
            raise CaseError(f"unknown meters {bad}; choose from: {', '.join(METERS)}.")
        if self.reduction not in REDUCTIONS:
            raise CaseError(f"unknown loss reduction {self.reduction!r}; choose 'sum' or 'mean'.")
        if self.inputs not in INPUTS:
            raise CaseError(f"unknown inputs {self.inputs!r}; choose one of: {', '.join(INPUTS)}.")
        if (
            isinstance(self.timed_passes, bool)
            or not isinstance(self.timed_passes, int)
            or self.timed_passes < 1
        ):
            raise CaseError(f"timed_passes={self.timed_passes!r} must be an integer >= 1.")
        if (
            isinstance(self.output_times, bool)
            or not isinstance(self.output_times, int)
            or self.output_times < 2
        ):
            raise CaseError(
                f"output_times={self.output_times!r} must be an integer >= 2 (t0 and t1 at least)."
            )
        if self.model and self.output_times != 2:
            raise CaseError(
                "output_times is for problem cases (a model's ODE block outputs y(t1) only): "
                "drop it."
            )
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, int)
            or self.max_steps < 1
            or not self.uses_solver
        ):
            raise CaseError(
                f"max_steps={self.max_steps!r} must be an integer >= 1 on a case with an ODE "
                "solve (a problem, rknet or odenet)."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise CaseError(f"seed={self.seed!r} must be an integer >= 0.")
        if self.depth is not None and self.model != "resnet":
            raise CaseError(
                "depth is the ResNet's number of blocks: set it only with model='resnet'."
            )
        if (
            self.model == "resnet"
            and self.depth is not None
            and (isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1)
        ):
            raise CaseError(f"depth={self.depth!r} must be an integer >= 1.")
        if self.uses_solver:
            self.solver()  # validates method/tolerances/grid with a message showing the fix
            if self.model == "rknet" and self.gradient != "backprop":
                raise CaseError(
                    "RK-Net backpropagates through the solver: use gradient='backprop' "
                    "(for the adjoint, use model='odenet')."
                )
        else:
            ignored = {
                k: getattr(self, k)
                for k in ("rtol", "atol", "step_size", "steps")
                if getattr(self, k) is not None
            }
            if self.gradient != "backprop" or self.seminorm or self.backend != "torchdiffeq":
                ignored["gradient/seminorm/backend"] = "set"
            if ignored:
                raise CaseError(
                    f"model {self.model!r} has no ODE solve: drop {', '.join(ignored)} "
                    "(solver options apply to rknet, odenet and problems)."
                )

    @property
    def uses_solver(self) -> bool:
        """Whether the case integrates an ODE (a problem, RK-Net or ODE-Net)."""
        return not self.model or self.model in SOLVER_MODELS

    def solver(self) -> SolverConfig:
        """The solver configuration this case integrates with."""
        return SolverConfig(
            backend=self.backend,
            method=self.method,
            gradient=self.gradient,  # type: ignore[arg-type]
            rtol=self.rtol,
            atol=self.atol,
            steps=self.steps,
            step_size=self.step_size,
            seminorm=self.seminorm,
        )

    @property
    def subject(self) -> str:
        return self.model or self.problem

    def loss_states(self, ys: torch.Tensor) -> torch.Tensor:
        """The states the loss is on, from a solve's outputs ``ys``: y(t1) alone with 2
        output times, else every output after y0 (the trajectory)."""
        return ys[-1] if self.output_times == 2 else ys[1:]

    @property
    def case_id(self) -> str:
        """Stable, human-readable id: what varies, then a short hash of everything."""
        parts = [self.subject]
        if self.uses_solver:
            if self.backend != "torchdiffeq":
                parts.append(self.backend)
            parts += [self.method, self.gradient]
            if self.rtol is not None:
                parts.append(f"tol{self.rtol:g}")
            if self.steps is not None:
                parts.append(f"n{self.steps}")
            if self.step_size is not None:
                parts.append(f"h{self.step_size:g}")
            if self.seminorm:
                parts.append("seminorm")
            if self.output_times != 2:
                parts.append(f"o{self.output_times}")
            if self.max_steps is not None:
                parts.append(f"max{self.max_steps}")
        if self.depth is not None:
            parts.append(f"d{self.depth}")
        if self.batch is not None:
            parts.append(f"b{self.batch}")
        if self.weights:
            parts.append("trained")
        parts += [self.dtype, f"s{self.seed}"]
        digest = hashlib.sha1(repr(sorted(self.identity().items())).encode()).hexdigest()[:6]
        return "-".join(parts) + "-" + digest

    def identity(self) -> dict[str, Any]:
        """The fields that define the measurement (suite excluded: same case, same id)."""
        d = asdict(self)
        d.pop("suite")
        if d["backend"] == "torchdiffeq":  # ids of cases from before the backend field stay
            d.pop("backend")
        for name in ("weights", "inputs", "output_times", "max_steps"):
            if d[name] == _DEFAULTS[name]:
                d.pop(name)
        # renamed fields keep their old names in the hash: ids stay stable across the rename
        d["loss"] = d.pop("reduction")
        d["repeats"] = d.pop("timed_passes")
        d["meters"] = ",".join(self.meters)
        return d

    def with_(self, **changes: Any) -> Case:
        return replace(self, **changes)


CASE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Case))
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Case)}
