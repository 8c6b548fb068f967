"""pytest-benchmark tests over the ``bench`` suite, gated on a committed baseline of figures."""
