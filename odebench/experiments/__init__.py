"""Paper reproductions, each a CLI subcommand: ``table1`` (MNIST), ``spirals`` (latent ODE).

Each module here defines ``register(subparsers)``, which adds its subcommand and sets
``func`` on the parser to a callable taking the parsed ``argparse.Namespace``.
"""

#: Modules under ``odebench.experiments`` that the CLI loads as subcommands.
EXPERIMENTS: tuple[str, ...] = ("table1", "spirals", "claims")
