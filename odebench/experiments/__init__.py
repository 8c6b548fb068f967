"""Experiments: clients of every layer below, each answering one question.

``table1`` (the paper's MNIST table), ``spirals`` (Table 2, latent ODE vs RNNs), ``profile``
(the standard battery on a user's field), ``training`` (the resumable training loop the
reproductions share), ``overhead`` (solve() against bare torchdiffeq) and
``step_size_derivative``.
"""
