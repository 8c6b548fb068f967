"""The models training dynamics can train, by name: each an adaptor the shared loop drives.

An adaptor is built from an :class:`~.spec.ArmSpec` and offers ``parameters()``, ``counted``
(the field under the solver, counting evaluations), ``prepare(it, gen)`` (the iteration's batch
and noise), ``loss(batch, scale, config)`` (a :class:`~.step.Step`; ``scale`` is STEER's factor
on the last interval, 1 elsewhere), ``state_dict()``, ``resolve_rows()`` (the test-time
re-solves) and ``noise_rows()`` (the Hutchinson diagnostic, or none).
"""

from __future__ import annotations

from typing import Any

from odebench.experiments.dynamics.cnf_task import CNFTask
from odebench.experiments.dynamics.latent_task import LatentTask
from odebench.experiments.dynamics.spec import ArmSpec

MODELS: dict[str, Any] = {"cnf": CNFTask, "latent": LatentTask}


def build_task(spec: ArmSpec) -> Any:
    """The adaptor of ``spec.model``, initialised from ``spec.seed``."""
    return MODELS[spec.model](spec)
