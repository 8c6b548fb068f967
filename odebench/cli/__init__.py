"""The command line: parses and prints; the layers below decide. ``main`` is the entry point."""

from odebench.cli.app import main

__all__ = ["main"]
