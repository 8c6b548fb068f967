"""``odebench claims``: each checkable claim of the paper with its measured figure and a verdict.

The subcommand lives in :mod:`odebench.claims` (it reads results tables, it trains nothing);
this module registers it beside the reproductions.
"""

from odebench.claims import main, register

__all__ = ["main", "register"]
