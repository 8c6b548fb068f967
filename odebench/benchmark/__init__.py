"""The benchmark's definition: ``cases`` (a Case and the named suites), ``suitefile`` (suites
from TOML), ``usermodules`` (a user's fields imported by path) and ``measure`` (one case,
measured in this process into one record).

Imports only the workloads, solvers and instruments below it.
"""
