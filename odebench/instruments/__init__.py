"""Instruments: NFE counter, memory meters, timers, errors against a reference."""

from odebench.instruments.errors import grad_error, relative_l2, state_error
from odebench.instruments.memory import (
    RSS_ENV,
    SavedTensors,
    peak_allocated,
    peak_rss,
    rss_method,
)
from odebench.instruments.nfe import CountedField, counted_fields, nfe, phase, reset_nfe
from odebench.instruments.probe import FieldUse, probe_field
from odebench.instruments.timing import Stopwatch, Timing, synchronize, time_call

__all__ = [
    "RSS_ENV",
    "CountedField",
    "FieldUse",
    "SavedTensors",
    "Stopwatch",
    "Timing",
    "counted_fields",
    "grad_error",
    "nfe",
    "peak_allocated",
    "peak_rss",
    "phase",
    "probe_field",
    "relative_l2",
    "reset_nfe",
    "rss_method",
    "state_error",
    "synchronize",
    "time_call",
]
