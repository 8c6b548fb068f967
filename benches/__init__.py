"""asv benchmarks for odebench: thin classes over the ``bench`` suite
of :mod:`odebench.benchmark.cases`."""
