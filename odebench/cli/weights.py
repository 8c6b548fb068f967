"""``odebench weights``: the shipped reference weights of the trained fields, their checksums,
and a refit that says whether it differs from what ships."""

from __future__ import annotations

import argparse

from odebench.cli.options import UsageError


def cmd_weights(args: argparse.Namespace) -> int:
    """Exit 0 when every shipped file matches its checksum (and, with --refit, the refit is
    bit for bit the shipped weights), 1 when a refit differs."""
    if args.write and not args.refit:
        raise UsageError("--write replaces the shipped weights by a refit; add --refit.")
    from odebench.workloads.problems.neural import (
        REFERENCE_FITS,
        WEIGHTS_DIR,
        load_shipped,
        refit_reference,
        shipped_checksums,
        write_reference,
    )

    sums = shipped_checksums()
    for key in REFERENCE_FITS:
        ok = load_shipped(key) is not None  # raises WeightsError on a bad checksum
        digest = sums.get(f"{key}.pt", "")
        print(f"{key}.pt  sha256 {digest[:16] or '-'}  {'ok' if ok else 'does not ship'}")
    if not args.refit:
        print(f"folder: {WEIGHTS_DIR}")
        return 0
    states, differs = {}, 0
    for key in REFERENCE_FITS:
        state, diff = refit_reference(key)
        states[key] = state
        if diff is None:
            print(f"{key}: refit (nothing ships to compare with)")
        elif diff == 0.0:
            print(f"{key}: the refit is bit for bit the shipped weights")
        else:
            differs += 1
            print(f"{key}: the refit DIFFERS from the shipped weights (largest |difference| "
                  f"{diff:.3g}); results measured with the two are not comparable")  # fmt: skip
    if args.write:
        for path in write_reference(states):
            print(f"wrote {path}")
        return 0
    return 1 if differs else 0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "weights",
        help="check the shipped reference weights (spiral_trained, mlp_trained); --refit: "
        "refit them and say whether the refit differs",
    )
    cmd.add_argument("--refit", action="store_true",
                     help="refit every reference field (seconds to minutes) and compare it "
                     "with the shipped file; exit 1 if one differs")  # fmt: skip
    cmd.add_argument("--write", action="store_true",
                     help="with --refit: replace the shipped files and their checksums by the "
                     "refit (for maintainers, in a source checkout)")  # fmt: skip
    cmd.set_defaults(func=cmd_weights)
