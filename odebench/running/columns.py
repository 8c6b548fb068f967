"""What each column of ``results.csv`` means, keyed by the schema's own names.

The docs' results-columns page is generated from this and :data:`~odebench.running.results.COLUMNS`
(``columns_markdown``); a column added to the schema (a new :class:`~odebench.benchmark.cases.Case`
field, a new figure) without a meaning here fails ``tests/test_docs.py``, so the page cannot
drift from the code again.
"""

from __future__ import annotations

from odebench.benchmark.cases import METERS
from odebench.running.results import EXTRA, FIGURES, IDENTITY, RENAMED, STATUSES

#: column -> its meaning (one line, Markdown).
MEANINGS: dict[str, str] = {
    "suite": "the suite's name (a built-in name or the `[suite] name` of a TOML file)",
    "case_id": "stable id of the case: what varies, then a hash of every field",
    "problem": "the ODE problem (`odebench list`); empty for an MNIST model case",
    "model": "the MNIST model (`mlp`, `resnet`, `rknet`, `odenet`); empty for a problem case",
    "backend": "the solver library (`torchdiffeq`, `torchode`, `scipy_odeint`); empty without "
    "an ODE solve",
    "method": "the solver method (`dopri5`, `rk4`, ...); empty without an ODE solve",
    "gradient": "how the gradient is obtained: `backprop`, `adjoint`, `checkpoint`, `aca` or "
    "`adjoint_joint` (see Which gradient method); empty without an ODE solve",
    "rtol": "relative tolerance of an adaptive method",
    "atol": "absolute tolerance of an adaptive method",
    "step_size": "step of a fixed-grid method (or `steps` over the span)",
    "steps": "number of steps of a fixed-grid method over the span",
    "depth": "the ResNet's number of blocks",
    "batch": "batch size (rows of y0, or images)",
    "dtype": "`float32` or `float64`",
    "device": "`cpu`, `cuda` or `cuda:N`",
    "seed": "seed of the case's random draws (y0, weights of a random field)",
    "seminorm": "the adjoint's step control ignores the parameters' adjoint (`True`/`False`)",
    "reduction": "how the loss reduces the state: `sum` or `mean` (the adjoint's NFE-B depends "
    "on it; was `loss_reduction`)",
    "weights": "a checkpoint the model case loads (empty: freshly initialised)",
    "inputs": "what a model case is fed: `random` or `mnist` images",
    "meters": "the meters that ran, comma-separated: " + ", ".join(f"`{m}`" for m in METERS),
    "timed_passes": "timed passes after a warm-up; the time columns are their median and IQR",
    "output_times": "output times of the solve, equally spaced from t0 to t1 (2: the loss on "
    "y(t1) alone)",
    "repeat": "index of the repeat (`odebench run --repeats`)",
    "status": "how the case ended: " + ", ".join(f"`{s}`" for s in STATUSES),
    "error": "the message of a case that did not end `ok`",
    "params": "trainable parameters of the field or model",
    "nfe_forward": "calls of the field in the forward pass (NFE-F)",
    "nfe_backward": "calls of the field in the backward pass (NFE-B)",
    "saved_bytes": "bytes of activations saved for backward (parameters excluded)",
    "peak_alloc_bytes": "peak bytes allocated by torch during forward + backward, above the start",
    "peak_rss_bytes": "peak resident set size above the start (bytes); see `peak_rss_method`",
    "time_forward_s": "median seconds of a forward pass",
    "time_backward_s": "median seconds of a backward pass",
    "state_error": "relative L2 error of the solution against the float64 reference",
    "grad_error": "relative L2 error of the gradient against the float64 reference",
    "loss": "the loss value of the measured pass",
    "accuracy": "accuracy where a model is evaluated on images",
    "steps_accepted": "accepted steps of the forward solve (counted in the solver)",
    "steps_rejected": "rejected steps of the forward solve",
    "time_forward_iqr_s": "interquartile range of the forward times (spread: above 25% of the "
    "median the report marks the timing unstable)",
    "time_backward_iqr_s": "interquartile range of the backward times",
    "wall_s": "seconds the whole case took, set-up included",
    "saved_other_bytes": "bytes kept for backward outside the saved-tensor hooks (checkpoint's "
    "RNG states, Python numbers)",
    "peak_rss_method": "how `peak_rss_bytes` was measured (`kernel_vmhwm`, `sampled_5ms`) or why "
    "not (`refused_...`)",
    "max_steps": "step budget per solve (attempted steps); a case that reaches it ends with "
    "status `max_steps` and the figures it reached (empty: the libraries' own limits)",
    "rejected_step_ratio": "rejected / attempted steps of the forward solve",
    "steps_accepted_mean": "accepted steps per sample (torchode steps each sample apart; "
    "torchdiffeq: the batch's count)",
    "steps_rejected_mean": "rejected steps per sample, as `steps_accepted_mean`",
    "library_nfe": "the solver library's own count of evaluations (cross-check of `nfe_forward`)",
    "library_nfe_mean": "the library's own evaluations per sample",
    "field_eval_s": "seconds the field's own evaluations took in the timed forward solve",
    "loop_time_per_step_s": "the library's own cost per step: forward time minus the field's "
    "evaluation time, over the steps (torchode's paper's loop time)",
    "alone_steps_mean": "a batched problem's samples each solved alone: mean steps per sample",
    "alone_nfe_total": "a batched problem's samples each solved alone: evaluations summed",
    "alone_time_forward_s": "a batched problem's samples each solved alone: total forward seconds",
    "batch_dependence": "largest difference between a sample's result solved in the batch and "
    "alone (relative; a shared step size makes it non-zero)",
    "batch_dependence_median": "median over samples of that difference",
}


def columns_markdown() -> str:
    """The results columns as Markdown tables, in the schema's order and groups."""
    groups = (
        ("Identity", "what was measured: rows that differ in any of these are never merged",
         IDENTITY),
        ("Figures", "what was measured about it", FIGURES),
        ("Detail", "what the reports use beside the figures", EXTRA),
    )  # fmt: skip
    lines = []
    for title, what, columns in groups:
        lines += [f"## {title}", "", f"{what.capitalize()}.", "", "| column | meaning |",
                  "|---|---|"]  # fmt: skip
        lines += [f"| `{c}` | {MEANINGS[c]} |" for c in columns]
        lines.append("")
    if RENAMED:
        renamed = ", ".join(f"`{old}` is now `{new}`" for old, new in RENAMED.items())
        lines.append(f"Renamed columns (older files are read under the new name): {renamed}.")
    return "\n".join(lines) + "\n"
