"""``odebench spirals``: the paper's Table 2, latent ODE vs RNNs on irregularly sampled spirals.

The paper's terms (section 5.1): 1,000 noisy 2-D spirals of 100 equally spaced points,
half clockwise; each model sees 30, 50 or 100 of the 100 points at random; Table 2 is a
"predictive RMSE on 100 time points extending beyond those that were used for training".
That sentence has more than one reading, so every reading is scored and the one that
reproduces the paper's figures is computed: the observed window (after the first
observation), the first 10 and all 100 extrapolated points (over test spirals whose
extrapolation stays within the training windows' radii, with the others apart).
Hold-last-observation and linear extrapolation are baselines; the RNNs are also scored one
step ahead (teacher forcing) beside their rollout.

Every (model, count, seed) trains full-batch Adam for a fixed number of iterations in
one of ``--jobs`` processes and is saved under ``table2_models/``; the tables are
scored from those files (``--resume`` rescores without retraining). Writes, into its own
folder (default ``results/table2``): ``table2.csv`` (one row per model, count and seed,
baselines included), ``table2.md``, ``table2_curves.csv``, ``table2_cost.csv``,
``table2_examples.csv``, ``provenance.json`` and ``plots/spirals.{png,svg}`` (predictions
with each reading's window) and ``plots/table2_curves.{png,svg}``.
"""
