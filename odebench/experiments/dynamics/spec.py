"""What one training-dynamics run is: the models, the arms, their constants, and one arm's spec.

The names here are plain data (no torch), read by the training loop, the summary, the figures
and the command line alike; what each model *does* lives in :mod:`.models`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from odebench.solvers import SolverConfig
from odebench.workloads.data.toy2d import TOY_DENSITIES

#: the regularisers (and training solvers) compared
ARMS: tuple[str, ...] = ("none", "rnode", "steer", "fixed_rk4")
#: the models trained (the adaptors are in :data:`.models.MODELS`, in this order)
MODEL_NAMES: tuple[str, ...] = ("cnf", "latent")
#: what each model is, for figure titles and claims
MODEL_LABELS: dict[str, str] = {
    "cnf": "2-D CNF on eight Gaussians",
    "latent": "latent ODE on noisy spirals (30 of 100 points observed)",
}
#: the column of the per-iteration data term (the loss without penalties)
OBJECTIVE: dict[str, str] = {"cnf": "nll", "latent": "neg_elbo"}
#: the test losses of the re-solves; the first is the one the solver gap is read from
TEST_METRICS: dict[str, tuple[str, ...]] = {
    "cnf": ("test_nll",),
    "latent": ("test_rmse", "test_neg_elbo"),
}
METRIC_LABELS: dict[str, str] = {
    "nll": "training NLL",
    "neg_elbo": "training negative ELBO (per series)",
    "test_nll": "test NLL (exact trace)",
    "test_rmse": "test RMSE in the window (posterior mean)",
    "test_neg_elbo": "test negative ELBO (per series)",
}
#: RNODE's weights (Finlay et al. 2020) and STEER's half-width as a fraction of the last interval
LAMBDA_KINETIC = 0.01
LAMBDA_JACOBIAN = 0.01
STEER_HALF_WIDTH = 0.5
#: iterations at the start and at the end of training averaged for "first" and "final" figures
WINDOW = 20
#: each model's defaults for the settings that differ between them
DEFAULTS: dict[str, dict[str, Any]] = {
    "cnf": {"density": "8gaussians", "hidden": 64, "t1": 1.0},
    "latent": {"density": None, "hidden": 20, "t1": None},
}
#: the largest batch per model: the latent ODE's training set is 800 spirals (1000, 20 % held
#: out for testing; :mod:`.latent_task`)
MAX_BATCH: dict[str, int | None] = {"cnf": None, "latent": 800}


def training_solver_name(arm: str) -> str:
    """The test-time solver (``evaluate.EVAL_SOLVERS``) that matches an arm's training solver."""
    return "rk4 4 steps" if arm == "fixed_rk4" else "dopri5 1e-5"


class DynamicsError(ValueError):
    """A training-dynamics setting that cannot run; the message names the fix."""


@dataclass(frozen=True)
class ArmSpec:
    """One training run: the arm, the seed, the model and the optimisation settings.

    ``density``, ``hidden`` and ``t1`` left ``None`` take the model's :data:`DEFAULTS`. The
    latent model trains on spirals over their fixed observation window: it takes no density
    and no ``t1`` (STEER perturbs its last observation time instead).
    """

    arm: str
    seed: int = 0
    density: str | None = None
    iterations: int = 200
    batch: int = 256
    lr: float = 1e-3
    hidden: int | None = None
    rtol: float = 1e-5
    t1: float | None = None
    model: str = "cnf"

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise DynamicsError(
                f"unknown model {self.model!r}; choose from: {', '.join(MODEL_NAMES)}."
            )
        if self.arm not in ARMS:
            raise DynamicsError(f"unknown arm {self.arm!r}; choose from: {', '.join(ARMS)}.")
        defaults = DEFAULTS[self.model]
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
            elif value is None:
                raise DynamicsError(
                    f"{name}={getattr(self, name)!r} does not apply to the {self.model} model "
                    "(it trains on spirals over their observation window); drop it."
                )
        if self.density is not None and self.density not in TOY_DENSITIES:
            raise DynamicsError(
                f"unknown density {self.density!r}; choose from: {', '.join(TOY_DENSITIES)}."
            )
        for name in ("iterations", "batch", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DynamicsError(f"{name}={value!r} must be an integer >= 1.")
        cap = MAX_BATCH[self.model]
        if cap is not None and self.batch > cap:
            raise DynamicsError(
                f"batch={self.batch}: the {self.model} model has {cap} training series; pass at "
                f"most {cap}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DynamicsError(f"seed={self.seed!r} must be an integer >= 0.")

    def solver(self) -> SolverConfig:
        """The training solver: dopri5 + adjoint at ``rtol`` (FFJORD's), or rk4 with 4 steps."""
        if self.arm == "fixed_rk4":
            return SolverConfig(method="rk4", steps=4, gradient="adjoint")
        return SolverConfig(method="dopri5", rtol=self.rtol, atol=self.rtol, gradient="adjoint")

    def with_(self, **changes: Any) -> ArmSpec:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def same_specs(saved: list[dict[str, Any]], specs: list[ArmSpec]) -> list[str]:
    """How the specs recorded in a folder's provenance differ from ``specs`` (empty: none).

    A record written before the latent model existed has no ``model``: it was a CNF run.
    """
    old = [{"model": "cnf", **s} for s in saved]
    new = [s.as_dict() for s in specs]
    if old == new:
        return []
    diffs = []
    if len(old) != len(new):
        diffs.append(f"{len(old)} arm/seed runs recorded, {len(new)} asked for")
    for a, b in zip(old, new, strict=False):
        keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if keys:
            what = ", ".join(f"{k}={a.get(k)!r} (now {b.get(k)!r})" for k in keys)
            diffs.append(f"{a.get('arm')} seed {a.get('seed')}: {what}")
            break
    return diffs or ["the arm/seed runs are in another order"]
