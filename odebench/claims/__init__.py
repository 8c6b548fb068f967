"""The claims ledger: every checkable claim of the paper as a measured row with a verdict.

One direction inside: ``rules`` (conditions, the verdict rule ``judge``, sources, the helpers
every row shares) -> the rows (``table1``, ``table2``, ``findings``, ``trained``, ``beyond``)
-> ``ledger`` (the list, evaluation, Markdown). No row passes a verdict: each gives the rule's
outcome and its conditions, and ``judge`` compares them with the claim's. It reads committed
results only; ``measure`` holds the small measurements no suite makes (``odebench claims
--measure``). The subcommand is :mod:`odebench.cli.claims`.
"""
