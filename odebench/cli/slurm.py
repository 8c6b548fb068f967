"""The ``--slurm-*`` options of ``run`` and ``profile``, and their checks before anything is
written.

Every check raises :class:`~odebench.running.slurm.SlurmError` (one line, exit 2). ``run`` and
``profile`` add these options after :func:`odebench.cli.options.run_options`; their value
types are the shared ones of :mod:`odebench.cli.options`.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from odebench.cli.options import nonempty, nonnegative_int, positive_int

if TYPE_CHECKING:  # odebench.running imports torch: not for `--help`
    from odebench.running.slurm import SlurmOptions

SLURM_FLAGS = ("slurm_partition", "slurm_gpus", "slurm_cpus", "slurm_exclusive", "slurm_extra")


def extra_parameters(text: str) -> dict[str, str]:
    """``key=value,key=value`` (the list syntax of every option) -> ``{key: value}``."""
    from odebench.running.slurm import OWN_PARAMETERS

    out: dict[str, str] = {}
    for item in (t.strip() for t in text.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not eq or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key) or not value.strip():
            raise argparse.ArgumentTypeError(f"{item!r} is not key=value (e.g. mem=4G,qos=high)")
        if key in OWN_PARAMETERS:
            raise argparse.ArgumentTypeError(f"{key} is set by odebench; use "
                                             f"{OWN_PARAMETERS[key]} instead")  # fmt: skip
        out[key] = value.strip()
    return out


def add_slurm_options(parser: argparse.ArgumentParser) -> None:
    """``--slurm-partition``, ``--slurm-gpus``, ``--slurm-cpus``, ``--slurm-exclusive``,
    ``--slurm-extra`` (each only with ``--executor slurm``)."""
    parser.add_argument("--slurm-partition", type=nonempty, metavar="NAME",
                        help="Slurm partition for --executor slurm")  # fmt: skip
    parser.add_argument("--slurm-gpus", type=nonnegative_int, metavar="N",
                        help="GPUs per job (default: 1 for a cuda device, else 0)")  # fmt: skip
    parser.add_argument("--slurm-cpus", type=positive_int, metavar="N",
                        help="CPUs per job (default: Slurm's, 1)")  # fmt: skip
    parser.add_argument("--slurm-exclusive", choices=("auto", "yes", "no"), default="auto",
                        help="a node alone per job: auto gives one to cases with a time or "
                        "peak_rss meter, so no other job shares it while they are "
                        "measured")  # fmt: skip
    parser.add_argument("--slurm-extra", type=extra_parameters, metavar="KEY=VALUE,...",
                        help="more sbatch parameters, e.g. mem=4G,qos=high")


def slurm_options(args: argparse.Namespace) -> SlurmOptions | None:
    """The :class:`SlurmOptions` of the command line (None unless ``--executor slurm``)."""
    from odebench.running.slurm import SlurmOptions

    if args.executor != "slurm":
        return None
    exclusive = {"auto": None, "yes": True, "no": False}[args.slurm_exclusive]
    return SlurmOptions(partition=args.slurm_partition, gpus=args.slurm_gpus,
                        cpus=args.slurm_cpus, exclusive=exclusive,
                        extra=args.slurm_extra or {})  # fmt: skip


def check_slurm(args: argparse.Namespace) -> None:
    """Before anything is written: the ``--slurm-*`` options go with ``--executor slurm``,
    Slurm is here (else submitit would run local processes), its accounting answers (the run
    follows its jobs with ``sacct``) and the partition exists."""
    from odebench.running.slurm import (
        SlurmError,
        check_accounting,
        check_partition,
        slurm_available,
    )

    given = [f"--{f.replace('_', '-')}" for f in SLURM_FLAGS
             if getattr(args, f, None) not in (None, "auto")]  # fmt: skip
    if args.executor != "slurm":
        if given:
            raise SlurmError(f"{', '.join(given)} applies only with --executor slurm; add it.")
        return
    if not slurm_available():
        raise SlurmError(
            "--executor slurm: no Slurm on this machine (no srun on PATH), so the cases would "
            "run as local processes; pass --executor local to run them here, or run on a "
            "Slurm login node."
        )
    check_accounting()
    if args.slurm_partition:
        check_partition(args.slurm_partition)


def check_slurm_request(args: argparse.Namespace, cases: list) -> None:  # type: ignore[type-arg]
    """With ``--executor slurm``: Slurm would take the jobs of ``cases`` as asked (a GPU the
    cluster has not, a partition's limits), checked with ``sbatch --test-only``."""
    from odebench.running.slurm import check_request

    options = slurm_options(args)
    if options is not None:
        check_request(cases, options, args.timeout)
