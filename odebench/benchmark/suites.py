"""The named suites, each a list of Cases: quick, paper, smoke, bench, bench_slow, backends,
gradients. :data:`SUITES` is the registry the CLI, asv and the tests read."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from odebench.benchmark.cases import Case, CaseError

if TYPE_CHECKING:
    pass

MEMORY_METERS = ("nfe", "saved", "peak_alloc", "peak_rss")
TIME_METERS = ("nfe", "time")
ERROR_METERS = ("nfe", "error", "time")


def grid(base: dict[str, Any], **axes: Iterable[Any]) -> list[Case]:
    keys = list(axes)
    return [
        Case(**base, **dict(zip(keys, values, strict=True)))
        for values in itertools.product(*(list(axes[k]) for k in keys))
    ]


def atol_follows_rtol(cases: list[Case]) -> list[Case]:
    """The built-in suites sweep one tolerance: atol = rtol wherever rtol is set."""
    return [c.with_(atol=c.rtol) if c.rtol is not None else c for c in cases]


def quick_suite() -> list[Case]:
    """Every headline comparison, small enough for 2 CPU cores in a few minutes."""
    s = {"suite": "quick"}
    cases: list[Case] = []
    # memory against steps, backprop vs adjoint (MLP field 64->64->64, batch 128)
    cases += grid(
        {**s, "problem": "mlp", "method": "rk4", "meters": MEMORY_METERS, "timed_passes": 1},
        gradient=("backprop", "adjoint"),
        steps=(1, 2, 4, 8, 16),
    )
    # NFE forward/backward, error, time across tolerances (trained spiral field)
    spiral = {**s, "problem": "spiral_trained", "method": "dopri5", "meters": ERROR_METERS}
    cases += grid(spiral, gradient=("backprop", "adjoint"), rtol=(1e-3, 1e-5, 1e-7))
    # the paper's solver (scipy's LSODA, adjoint only): Figure 3c's NFE-B against NFE-F
    cases += grid(
        {**spiral, "method": "scipy_lsoda", "gradient": "adjoint"}, rtol=(1e-3, 1e-5, 1e-7)
    )
    # the adjoint with and without the seminorm (its error control skips the parameter
    # adjoint): on the trained 64-wide field with a sum loss, where it changes NFE-B (on the
    # 2-D spiral field it changes nothing at any tolerance)
    field = {**s, "problem": "mlp_trained", "method": "dopri5", "meters": ERROR_METERS}
    cases += grid(field, gradient=("backprop", "adjoint"), rtol=(1e-3, 1e-5, 1e-7))
    cases += grid({**field, "gradient": "adjoint", "seminorm": True}, rtol=(1e-3, 1e-5, 1e-7))
    # work-precision: solvers on an exact problem (adaptive_heun, 2nd order, stops at 1e-4:
    # at 1e-7 it takes ~20,000 steps)
    wp = {**s, "problem": "harmonic_oscillator", "meters": ERROR_METERS}
    cases += grid(wp, method=("dopri5", "bosh3"), rtol=(1e-2, 1e-4, 1e-6))
    cases += grid(wp, method=("adaptive_heun",), rtol=(1e-2, 1e-3, 1e-4))
    cases += grid(
        {**s, "problem": "harmonic_oscillator", "meters": ERROR_METERS},
        method=("euler", "midpoint", "rk4"),
        steps=(16, 64, 256),
    )
    # the MNIST architectures at a small batch, each against its own depth knob
    mnist = {**s, "batch": 8, "meters": ("nfe", "saved", "time"), "timed_passes": 2}
    cases += grid({**mnist, "model": "resnet"}, depth=(2, 6))
    cases += grid({**mnist, "model": "rknet", "method": "rk4"}, steps=(2, 4))
    cases += grid(
        {**mnist, "model": "odenet", "method": "dopri5", "gradient": "adjoint"}, rtol=(1e-1, 1e-3)
    )
    return atol_follows_rtol(cases)


def paper_suite(seeds: Iterable[int] = (0, 1, 2)) -> list[Case]:
    """The full grid: tolerances 1e-1..1e-8, steps 1..256, ResNet depth 1..24, batch 128."""
    s = {"suite": "paper"}
    tols = [10.0**-k for k in range(1, 9)]
    cases: list[Case] = []
    for seed in seeds:
        cases += grid(
            {
                **s,
                "problem": "mlp",
                "method": "rk4",
                "meters": MEMORY_METERS,
                "seed": seed,
                "timed_passes": 1,
            },
            gradient=("backprop", "adjoint"),
            steps=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        spiral = {**s, "problem": "spiral_trained", "meters": ERROR_METERS, "seed": seed}
        cases += grid(
            spiral, method=("dopri5", "bosh3", "dopri8"), gradient=("backprop", "adjoint"),
            rtol=tols,
        )  # fmt: skip
        # adaptive_heun is 2nd order: below 1e-5 it needs tens of thousands of steps
        cases += grid(
            {**spiral, "method": "adaptive_heun"}, gradient=("backprop", "adjoint"),
            rtol=[t for t in tols if t >= 1e-5],
        )  # fmt: skip
        cases += grid(
            {**s, "problem": "linear_mixed", "meters": ERROR_METERS, "seed": seed},
            method=("euler", "midpoint", "rk4"),
            steps=(4, 8, 16, 32, 64, 128, 256),
        )
        mnist = {**s, "batch": 128, "seed": seed, "meters": ("nfe", "saved", "peak_alloc", "time")}
        cases += grid({**mnist, "model": "resnet"}, depth=(1, 2, 4, 6, 8, 12, 16, 24))
        cases += grid({**mnist, "model": "rknet", "method": "rk4"}, steps=(1, 2, 4, 8, 16))
        cases += grid(
            {**mnist, "model": "odenet", "method": "dopri5", "gradient": "adjoint"},
            rtol=(1e-1, 1e-2, 1e-3, 1e-4),
        )
        cases.append(Case(**mnist, model="mlp"))
    return atol_follows_rtol(cases)


def smoke_suite() -> list[Case]:
    """A handful of tiny cases, one of each kind: for tests and a first look."""
    s = {"suite": "smoke", "timed_passes": 1}
    return [
        Case(**s, problem="mlp_small", method="rk4", steps=2, meters=("nfe", "saved", "error")),
        Case(
            **s,
            problem="mlp_small",
            method="rk4",
            steps=2,
            gradient="adjoint",
            meters=("nfe", "saved", "error"),
        ),
        Case(
            **s,
            problem="exponential_decay",
            method="dopri5",
            rtol=1e-5,
            atol=1e-5,
            meters=("nfe", "error", "time"),
        ),
    ]


def bench_suite() -> list[Case]:
    """Small cases for regression tracking (asv, pytest-benchmark): each variant and mode."""
    s = {"suite": "bench", "meters": ("nfe", "saved", "time", "error"), "timed_passes": 1}
    field = {**s, "problem": "mlp", "batch": 32}
    cases = grid({**field, "method": "rk4"}, gradient=("backprop", "adjoint"), steps=(2, 8))
    cases += grid(
        {**field, "method": "dopri5"},
        backend=("torchdiffeq", "torchode"),
        gradient=("backprop", "adjoint"),
        rtol=(1e-3, 1e-5),
    )
    # an exact solution: the state error is a true error and falls with the tolerance
    cases += grid(
        {**s, "problem": "harmonic_oscillator", "method": "dopri5"},
        gradient=("backprop", "adjoint"),
        rtol=(1e-3, 1e-5),
    )
    mnist = {**s, "batch": 4, "meters": ("nfe", "saved", "time")}
    cases += [
        Case(**mnist, model="mlp"),
        Case(**mnist, model="resnet", depth=2),
        Case(**mnist, model="rknet", method="rk4", steps=2),
        Case(**mnist, model="odenet", method="dopri5", gradient="adjoint", rtol=1e-3),
    ]
    return atol_follows_rtol(cases)


def bench_slow_suite() -> list[Case]:
    """The ``bench`` suite and its slower neighbours: more steps, tighter tolerances, depth.

    asv runs these with ``ODEBENCH_ASV_SLOW=1``; each differs from a ``bench`` case in one
    field, so the asv parameters stay a product over one family.
    """
    s = {"suite": "bench_slow", "meters": ("nfe", "saved", "time", "error"), "timed_passes": 1}
    field = {**s, "problem": "mlp", "batch": 32}
    cases = [c.with_(suite="bench_slow") for c in bench_suite()]
    cases += grid({**field, "method": "rk4"}, gradient=("backprop", "adjoint"), steps=(32,))
    cases += grid(
        {**field, "method": "dopri5"},
        backend=("torchdiffeq", "torchode"),
        gradient=("backprop", "adjoint"),
        rtol=(1e-7,),
    )
    cases += grid(
        {**s, "problem": "harmonic_oscillator", "method": "dopri5"},
        gradient=("backprop", "adjoint"),
        rtol=(1e-7,),
    )
    mnist = {**s, "batch": 4, "meters": ("nfe", "saved", "time")}
    cases += [
        Case(**mnist, model="resnet", depth=6),
        Case(**mnist, model="odenet", method="dopri5", gradient="backprop", rtol=1e-3),
    ]
    return atol_follows_rtol(cases)


def backends_suite() -> list[Case]:
    """torchdiffeq beside torchode: every case in both libraries and both gradient modes.

    Rows that differ only in ``backend`` make the comparison (ratios torchode/torchdiffeq).
    Shared methods only: dopri5 (adaptive) and euler/heun2 (fixed grid).
    """
    s = {"suite": "backends"}
    libs = ("torchdiffeq", "torchode")
    both = {"backend": libs, "gradient": ("backprop", "adjoint")}
    tols = (1e-3, 1e-5, 1e-7)
    cases: list[Case] = []
    # work-precision on exact solutions: one state, a batch of 16 (torchode steps each
    # sample apart), a time-dependent field (torchode passes t per sample)
    for problem in ("harmonic_oscillator", "linear_batched", "nonautonomous"):
        exact = {**s, "problem": problem, "method": "dopri5", "meters": ERROR_METERS}
        cases += grid(exact, **both, rtol=tols)
    # fixed steps: the same grid in both libraries
    fixed = {**s, "problem": "harmonic_oscillator", "meters": ERROR_METERS}
    cases += grid(fixed, backend=libs, method=("euler", "heun2"), steps=(64, 256))
    # NFE-B and gradient accuracy on the trained fields
    for problem in ("spiral_trained", "mlp_trained"):
        trained = {**s, "problem": problem, "method": "dopri5", "meters": ERROR_METERS}
        cases += grid(trained, **both, rtol=tols)
    # time against batch size (MLP field 64 -> 64 -> 64)
    batches = {**s, "problem": "mlp", "method": "dopri5", "rtol": 1e-5, "meters": TIME_METERS}
    cases += grid(batches, **both, batch=(8, 32, 128))
    # memory against steps
    memory = {**s, "problem": "mlp", "method": "euler", "timed_passes": 1}
    cases += grid({**memory, "meters": ("nfe", "saved", "peak_alloc")}, **both, steps=(2, 8, 32))
    # the MNIST ODE-Net block (random weights, batch 8)
    odenet = {**s, "model": "odenet", "batch": 8, "method": "dopri5", "rtol": 1e-3}
    cases += grid({**odenet, "meters": ("nfe", "saved", "time"), "timed_passes": 2}, **both)
    return atol_follows_rtol(cases)


#: the gradient modes of each backend that the ``gradients`` suite compares
GRADIENT_MODES: dict[str, tuple[str, ...]] = {
    "torchdiffeq": ("backprop", "checkpoint", "aca", "adjoint"),
    "torchode": ("adjoint", "adjoint_joint"),
}
FRONTIER_METERS = ("nfe", "saved", "peak_alloc", "time", "error")


def gradients_suite() -> list[Case]:
    """The memory / accuracy / time frontier of every gradient mode (issue 20).

    The trained 2-D CNF joins with the loss on y(t1) (:func:`cnf_gradient_cases`, issue 34).
    Each problem (two trained fields and an exact linear system, float64, dopri5) runs every
    mode at rtol = atol = 1e-3 / 1e-5 / 1e-7 with two losses: on y(t1) alone
    (``output_times=2``) and on a trajectory of 11 outputs. torchode adds its two backsolve
    adjoints (its backprop and checkpoint repeat torchdiffeq's computation in another
    library: the ``backends`` suite compares libraries); on ``mlp_trained`` only its
    adjoint at 1e-3. The MNIST ODE-Net (random weights,
    batch 4, float32) has no reference gradient: its rows give memory and time only, at
    1e-3 and 1e-5 (at 1e-7 the adjoint's reverse solve took 1,844 NFE and 220 s for the one
    case on 2 loaded cores: more than the rest of the suite's budget).
    """
    s = {"suite": "gradients", "dtype": "float64", "meters": FRONTIER_METERS, "timed_passes": 3}
    tols = (1e-3, 1e-5, 1e-7)
    cases: list[Case] = []
    for problem in ("spiral_trained", "mlp_trained", "linear_batched"):
        for backend, modes in GRADIENT_MODES.items():
            # torchode's adjoints on the 128-sample MLP field: its per-sample reverse solve
            # took 66 s and 190 s at 1e-3 alone (2 loaded cores): 1e-3 and the adjoint only
            heavy = backend == "torchode" and problem == "mlp_trained"
            cases += grid(
                {**s, "problem": problem, "method": "dopri5", "backend": backend},
                gradient=modes[:1] if heavy else modes,
                rtol=tols[:1] if heavy else tols,
                output_times=(2, 11),
            )
    cases += cnf_gradient_cases(s, tols)
    odenet = {**s, "model": "odenet", "batch": 4, "dtype": "float32", "method": "dopri5"}
    cases += grid(
        {**odenet, "meters": ("nfe", "saved", "peak_alloc", "time"), "timed_passes": 2},
        gradient=GRADIENT_MODES["torchdiffeq"],
        rtol=(1e-3, 1e-5),
    )
    return atol_follows_rtol(cases)


def cnf_gradient_cases(base: dict[str, Any], tols: Iterable[float]) -> list[Case]:
    """The trained 2-D CNF (issue 34) in every gradient mode, loss on y(t1) = [z, delta_logp].

    Exact trace and Hutchinson's (noise fixed, the reference solves the same noise). torchode's
    per-sample adjoint evaluates one sample at a time, which a batch's Hutchinson noise cannot
    follow: on the Hutchinson problem torchode runs its joint adjoint only.
    """
    cases: list[Case] = []
    for problem in ("cnf_8gaussians", "cnf_8gaussians_hutchinson"):
        for backend, modes in GRADIENT_MODES.items():
            if backend == "torchode" and problem.endswith("hutchinson"):
                modes = tuple(m for m in modes if m != "adjoint")
            cases += grid(
                {**base, "problem": problem, "method": "dopri5", "backend": backend},
                gradient=modes,
                rtol=tuple(tols),
                output_times=(2,),
            )
    return cases


#: attempted steps per solve before a stiff case stops with status max_steps
STIFF_BUDGET = 2000
#: no peak_alloc: on the CPU it is read from torch's profiler, which took 28 of a case's
#: 37 s on vdp_mu10 (load 15) and grows with the steps; ``saved`` (the bytes the gradient
#: keeps for backward: aca's stored steps, backprop's graph) is the memory figure here
STIFF_METERS = ("nfe", "saved", "time", "error")
#: the stiff suite's work-precision problems (every stiff problem runs the survival grid)
STIFF_WP_PROBLEMS = ("vdp_mu10", "linear_stiff_r1000")


def stiff_suite() -> list[Case]:
    """Which methods and gradient modes survive stiffness (issue 33).

    Survival, on every problem of :data:`~odebench.workloads.problems.stiff.STIFF_PROBLEMS`
    (Van der Pol mu = 1..1000, ROBER, linear systems of stiffness ratio 10..1e5) at rtol
    1e-5: torchdiffeq's dopri5 in its four gradient modes, torchode's dopri5 (backprop,
    adjoint), torchdiffeq's implicit_adams on a fixed grid of 200 steps, scipy's Radau
    (torchdiffeq's scipy_solver) and ODEPACK's LSODA (the scipy_odeint backend), the scipy
    ones with the adjoint (scipy is not differentiable). Work-precision on
    :data:`STIFF_WP_PROBLEMS`: dopri5 (backprop), Radau and LSODA at 1e-3 and 1e-7 too.
    float64, a step budget of :data:`STIFF_BUDGET` attempted steps per solve; atol = rtol,
    except ROBER's (its y2 is ~1e-5 and below): 1e-6 rtol. Sized for 2 loaded cores: the
    other scipy methods (BDF, solve_ivp's LSODA) run with ``--match`` or a suite file.
    """
    from odebench.workloads.problems.stiff import STIFF_PROBLEMS

    s = {"suite": "stiff", "dtype": "float64", "meters": STIFF_METERS, "timed_passes": 1,
         "max_steps": STIFF_BUDGET}  # fmt: skip
    scipy = [{"method": "scipy_radau"}, {"backend": "scipy_odeint", "method": "lsoda"}]
    cases: list[Case] = []
    for problem in STIFF_PROBLEMS:
        p = {**s, "problem": problem}
        cases += grid({**p, "method": "dopri5", "rtol": 1e-5},
                      gradient=GRADIENT_MODES["torchdiffeq"])  # fmt: skip
        cases += grid({**p, "backend": "torchode", "method": "dopri5", "rtol": 1e-5},
                      gradient=("backprop", "adjoint"))  # fmt: skip
        cases.append(Case(**p, method="implicit_adams", steps=200, rtol=1e-5))
        cases += [Case(**p, **m, gradient="adjoint", rtol=1e-5) for m in scipy]
        if problem in STIFF_WP_PROBLEMS:
            wp = {**p, "meters": ERROR_METERS}
            cases += grid({**wp, "method": "dopri5"}, rtol=(1e-3, 1e-7))
            for m in scipy:
                cases += grid({**wp, **m, "gradient": "adjoint"}, rtol=(1e-3, 1e-7))
    cases = atol_follows_rtol(cases)
    return [c.with_(atol=c.rtol * 1e-6) if c.problem == "rober" and c.rtol else c for c in cases]


BATCHES = (1, 16, 256)


def batched_suite() -> list[Case]:
    """Independent problems in one batch (issue 33): stacked Van der Pol oscillators (per
    sample mu and y0, ``vdp_batched``), N = 1, 16, 256, dopri5 at rtol 1e-5 (and 1e-7 up
    to N = 16: each case also solves every sample alone, minutes at N = 256 on 2 loaded
    cores), float64, backprop: torchdiffeq (one step size for the whole batch) and torchode
    (a step size per sample). Each row carries the ``alone_*`` and ``batch_dependence``
    columns (:mod:`odebench.benchmark.solo`)."""
    s = {"suite": "batched", "problem": "vdp_batched", "dtype": "float64", "method": "dopri5",
         "meters": ("nfe", "time"), "timed_passes": 1, "max_steps": 20 * STIFF_BUDGET}  # fmt: skip
    libs = ("torchdiffeq", "torchode")
    cases = grid(s, backend=libs, rtol=(1e-5, 1e-7), batch=BATCHES[:-1])
    cases += grid(s, backend=libs, rtol=(1e-5,), batch=BATCHES[-1:])
    return atol_follows_rtol(cases)


SUITES: dict[str, Callable[[], list[Case]]] = {
    "quick": quick_suite,
    "paper": paper_suite,
    "smoke": smoke_suite,
    "bench": bench_suite,
    "bench_slow": bench_slow_suite,
    "backends": backends_suite,
    "gradients": gradients_suite,
    "stiff": stiff_suite,
    "batched": batched_suite,
}


def get_suite(name: str) -> list[Case]:
    """A named suite (a suite file is read by
    :func:`odebench.benchmark.suitefile.load_suite_file`)."""
    if name.endswith(".toml"):
        raise CaseError(
            f"{name!r} is a suite file: read it with odebench.benchmark.suitefile.load_suite_file "
            "(the CLI does: odebench run --suite FILE.toml)."
        )
    if name not in SUITES:
        raise CaseError(
            f"unknown suite {name!r}; choose one of: {', '.join(SUITES)}, or pass a .toml file."
        )
    return SUITES[name]()
