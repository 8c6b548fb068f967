"""The claims ledger: every checkable claim of the paper as a measured row with a verdict.

One direction inside: ``rules`` (verdicts, sources, the helpers every row shares) -> the
rows (``table1``, ``table2``, ``findings``) -> ``ledger`` (the list, evaluation, Markdown).
It reads committed results only; ``measure`` is the one small measurement no suite makes
(``odebench claims --measure``). The subcommand is :mod:`odebench.cli.claims`.
"""
