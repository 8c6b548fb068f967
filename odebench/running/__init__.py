"""Running cases: ``runner`` (a suite into a results folder, resumable), ``execute`` (one case
in this process, failures as statuses), ``workers`` and ``parallel`` (clean processes from a
fork server; exact cases side by side), ``results`` (the results store and its provenance).

Imports only the benchmark definition and the layers below it.
"""
