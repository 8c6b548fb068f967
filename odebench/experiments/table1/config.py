"""What a Table 1 run is: the rows (models and the paper's figures), budgets, the config, paths.

Everything a run writes lives in one folder (``--out``, default ``results/table1``), so the
folder is claimed as a whole (:func:`odebench.running.results.claim_folder`): an earlier run there
is refused unless ``--resume`` or ``--force`` (which moves it, all of it, to a backup first).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from odebench.experiments.training import PAPER_LR_BOUNDARIES, TrainConfig
from odebench.solvers import SolverConfig
from odebench.workloads.models.mnist import DEFAULT_ODENET_SOLVER, DEFAULT_RKNET_SOLVER


@dataclass(frozen=True)
class RowSpec:
    """One table row: which model, how it integrates, what the paper reports, how to fit."""

    name: str
    label: str
    kind: str
    solver: SolverConfig | None
    paper_test_error: float
    paper_params: str
    paper_memory: str
    paper_time: str
    scaling: str  # "" | "blocks" | "rk4_steps" | "tolerance"
    #: Where the paper's test error comes from when the paper did not train the model itself.
    paper_error_source: str = ""


MLP_SOURCE = (
    "LeCun et al. 1998 (a 784-300-10 MLP with other preprocessing), quoted by the paper, "
    "not trained in it"
)
ROWS: dict[str, RowSpec] = {
    "mlp": RowSpec(
        "mlp", "1-Layer MLP", "mlp", None, 0.0160, "0.24M", "-", "-", "",
        paper_error_source=MLP_SOURCE,
    ),
    "resnet": RowSpec(
        "resnet", "ResNet", "resnet", None, 0.0041, "0.60M", "O(L)", "O(L)", "blocks"
    ),
    "rknet": RowSpec(
        "rknet", "RK-Net (rk4, backprop)", "rknet", DEFAULT_RKNET_SOLVER, 0.0047, "0.22M",
        "O(L~)", "O(L~)", "rk4_steps",
    ),
    "rknet-dopri5": RowSpec(
        "rknet-dopri5", "RK-Net (dopri5, backprop)", "rknet",
        replace(DEFAULT_ODENET_SOLVER, gradient="backprop"), 0.0047, "0.22M", "O(L~)", "O(L~)",
        "tolerance",
    ),
    "odenet": RowSpec(
        "odenet", "ODE-Net (dopri5, adjoint)", "odenet", DEFAULT_ODENET_SOLVER, 0.0042, "0.22M",
        "O(1)", "O(L~)", "tolerance",
    ),
}  # fmt: skip
DEFAULT_MODELS: tuple[str, ...] = ("mlp", "resnet", "rknet", "odenet")
#: The ResNet of the table: 6 blocks (the paper's).
RESNET_BLOCKS = 6
SCALING_UNITS = {"blocks": "block", "rk4_steps": "rk4 step", "tolerance": "NFE-F"}
TABLE1_METERS: tuple[str, ...] = ("nfe", "saved", "peak_alloc", "time")
#: The paper's MNIST solver (torchdiffeq issue #97): scipy's odeint, LSODA, banded Jacobian.
LSODA_SOLVER = SolverConfig(
    backend="scipy_odeint", method="lsoda", gradient="adjoint", rtol=1e-3, atol=1e-3
)
#: Solvers of Figure 3c (NFE-B against NFE-F), all with the adjoint (LSODA has no other).
#: ``dopri5-flat`` is the training solver under ODEPACK's norm (one RMS over the augmented
#: state) instead of torchdiffeq's per-tensor maximum: the effect of the norm alone.
FIG3C_SOLVERS: dict[str, SolverConfig] = {
    "dopri5": DEFAULT_ODENET_SOLVER,
    "dopri5-flat": replace(DEFAULT_ODENET_SOLVER, flat_norm=True),
    "lsoda": LSODA_SOLVER,
    "implicit_adams": SolverConfig(
        method="implicit_adams", gradient="adjoint", rtol=1e-3, atol=1e-3, step_size=0.1
    ),
}
#: Test-time tolerances of the trained ODE-Net (trained at 1e-3): the paper's Sec. 3 claim
#: that a model trained at high accuracy can be evaluated at lower accuracy.
TEST_TOLERANCES: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)

#: Decay points of a compressed run: the initial rate for half the run, x0.1 at 1/2 and 3/4.
#: The paper's fractions (0.375, 0.625, 0.875) left a 3-epoch run 527 of 1,404 iterations
#: at lr 0.1 and spent its last 175 at 1e-4, where the weights hardly move.
SHORT_LR_BOUNDARIES: tuple[float, ...] = (0.5, 0.75)


@dataclass(frozen=True)
class Budget:
    """A named training budget (``--budget``): epochs, images, and where the rate decays."""

    epochs: int
    train_subset: int | None
    test_subset: int | None
    text: str
    lr_boundaries: tuple[float, ...] = SHORT_LR_BOUNDARIES


BUDGETS: dict[str, Budget] = {
    "quick": Budget(1, 2048, 1000, "1 epoch on 2,048 images, tested on 1,000 (minutes)"),
    "default": Budget(
        3, None, None, "3 epochs on all 60,000 images (about 2 h on 2 idle cores: ODE-Net 70 min)"
    ),
    "paper": Budget(
        160, None, None, "the paper's 160 epochs on all 60,000 images", PAPER_LR_BOUNDARIES
    ),
}


@dataclass(frozen=True)
class Table1Config:
    """Everything a Table 1 run depends on (the CLI fills it from its options)."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, train_subset=2048))
    models: tuple[str, ...] = DEFAULT_MODELS
    out: Path = Path("results/table1")
    measure_batch: int = 128
    depths: tuple[int, ...] = (1, 2, 4, 6)
    rk_steps: tuple[int, ...] = (1, 2, 4, 8)
    tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    timed_passes: int = 3
    retrain: bool = False
    threads: int | None = 1
    inputs: str = "mnist"  # what the measured cases feed the models ("random" in tests)
    executor: str = "local"
    #: Figure 3a: tolerances of the ODE block's error against NFE, and the reference's.
    error_tolerances: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    reference_rtol: float = 1e-9
    #: Figure 3c: batches of training images measured per solver on the trained ODE-Net.
    fig3c_batches: int = 10
    fig3c_solvers: tuple[str, ...] = tuple(FIG3C_SOLVERS)
    #: The trained ODE-Net's test error at other tolerances, on the first N test images.
    test_tolerances: tuple[float, ...] = TEST_TOLERANCES
    tolerance_test_images: int = 2000
    #: NFE per example: the first N test images one at a time, against batches of them.
    single_images: int = 64
    #: A finished run's folder whose checkpoints (same budget) are copied in, not retrained.
    trained_from: Path | None = None
    command: str = ""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError(f"--models names no model; pass some of: {','.join(ROWS)}.")
        unknown = [m for m in self.models if m not in ROWS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from: {', '.join(ROWS)}.")
        if self.measure_batch < 1 or self.timed_passes < 1:
            raise ValueError("measure_batch and timed_passes must be >= 1.")
        if self.fig3c_batches < 0:
            raise ValueError("fig3c_batches must be >= 0 (0 skips Figure 3c's measurement).")
        if self.tolerance_test_images < 0 or self.single_images < 0:
            raise ValueError("tolerance_test_images and single_images must be >= 0 (0 skips).")
        bad = [s for s in self.fig3c_solvers if s not in FIG3C_SOLVERS]
        if bad:
            raise ValueError(
                f"unknown Figure 3c solver(s) {bad}; choose from: {', '.join(FIG3C_SOLVERS)}."
            )


# --- where a run's files go (all inside ``out``) ---------------------------------------------


def checkpoint_path(cfg: Table1Config, name: str) -> Path:
    """The trained model's weights and metadata, committed (1-2.4 MB a model)."""
    return cfg.out / "checkpoints" / f"{name}.pt"


def log_path(cfg: Table1Config, name: str) -> Path:
    """A model's per-iteration training log (loss, NFE-F, NFE-B, times)."""
    return cfg.out / "logs" / f"{name}_train_log.csv"


def epochs_path(cfg: Table1Config, name: str) -> Path:
    """A model's per-epoch curve (test error after every epoch)."""
    return cfg.out / "logs" / f"{name}_epochs.csv"


def plots_folder(cfg: Table1Config) -> Path:
    return cfg.out / "plots"
