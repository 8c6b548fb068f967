"""Workloads: what a case solves. ``problems`` (the zoo of fields with exact or float64
references), ``models`` (MNIST classifiers, the latent ODE) and ``data`` (MNIST, spirals).

Imports only the solvers and instruments below it.
"""
