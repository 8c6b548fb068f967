"""Table 2's markdown and figures, from the result files alone (nothing trains or scores).

The paper's number is "predictive RMSE on 100 time points extending beyond those that
were used for training". :func:`reading_distances` computes which of our readings lies
closest to the paper's six numbers; :func:`ranking` judges the latent ODE against each
RNN under every reading; :func:`plateau_note` says which models' losses still moved.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odebench.experiments.spirals.settings import (
    BASELINES,
    COST_FILE,
    CURVES_FILE,
    EXAMPLES_FILE,
    LABELS,
    LR_FLOOR,
    MD_FILE,
    PAPER_RMSE,
    PLATEAU,
    PROVENANCE_FILE,
    ROW_FILE,
    SHORT_EXTRAP,
    Settings,
    SpiralsError,
)

if TYPE_CHECKING:
    import pandas as pd

#: The readings of the paper's metric: column -> what it scores.
READINGS: dict[str, str] = {
    "rmse_window": "observed window, after the first observation",
    "rmse_extrap10": f"first {SHORT_EXTRAP} extrapolated points",
    "rmse_extrap": "100 extrapolated points, within training radii",
    "rmse_extrap_all": "100 extrapolated points, every test spiral",
}
RNNS: tuple[str, ...] = ("rnn", "rnn_gap", "gru_gap")


def _read(out: Path, name: str) -> pd.DataFrame:
    import pandas as pd

    path = out / name
    if not path.exists():
        raise SpiralsError(f"{path} is missing; run `odebench spirals --out {out}` first.")
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as exc:
        raise SpiralsError(
            f"{path} is not a readable table ({type(exc).__name__}); rerun `odebench spirals "
            f"--out {out} --resume` to rewrite it from the saved models."
        ) from None


def mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) < 2:
        return f"{values.mean():.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def verdict(ode: pd.Series, rnn: pd.Series, other: str = "the other") -> str:
    """Latent ODE vs another row on one reading: is the gap larger than the spread?

    Lower RMSE wins "beyond the spread" when the ranges mean ± sd (sample sd over seeds)
    do not overlap; otherwise "within the spread". Paired wins are counted too.
    """
    n = len(ode)
    wins = int((ode.to_numpy() < rnn.to_numpy()).sum())
    if n < 2:
        return f"{'latent ODE' if wins else other} lower (1 seed: no spread)"
    m_o, s_o, m_r, s_r = ode.mean(), ode.std(ddof=1), rnn.mean(), rnn.std(ddof=1)
    if m_o + s_o < m_r - s_r:
        head = "latent ODE better, beyond the spread"
    elif m_r + s_r < m_o - s_o:
        head = "latent ODE worse, beyond the spread"
    else:
        head = "within the spread"
    return f"{head} (latent ODE lower in {wins}/{n} seeds)"


def reading_distances(df: pd.DataFrame) -> pd.DataFrame:
    """Per reading and RNN variant: our six means against the paper's six numbers.

    Distance: the mean of |ours / paper - 1| over the latent ODE and the RNN at each count
    the paper reports (30, 50, 100), the RNN row of the paper taken as that variant.
    """
    import pandas as pd

    ok = df[df["status"] == "ok"]
    means = ok.groupby(["model", "n_obs"])[list(READINGS)].mean()
    rows = []
    for variant in [m for m in RNNS if m in set(ok["model"])]:
        for col, what in READINGS.items():
            pairs = []
            for paper_model, ours in (("latent_ode", "latent_ode"), ("rnn", variant)):
                for n_obs, paper in PAPER_RMSE[paper_model].items():
                    if (ours, n_obs) in means.index and not math.isnan(
                        means.loc[(ours, n_obs), col]
                    ):
                        pairs.append((ours, n_obs, float(means.loc[(ours, n_obs), col]), paper))
            if not pairs:
                continue
            rows.append(
                {
                    "reading": what,
                    "column": col,
                    "rnn": variant,
                    "n": len(pairs),
                    "distance": sum(abs(o / p - 1) for *_, o, p in pairs) / len(pairs),
                    "ours": " / ".join(f"{o:.3f}" for *_, o, _ in pairs),
                    "paper": " / ".join(f"{p:.3f}" for *_, p in pairs),
                }
            )
    return pd.DataFrame(rows)


def matching_reading(distances: pd.DataFrame) -> dict[str, Any]:
    """The reading closest to the paper under each RNN variant, and whether they agree."""
    best = distances.loc[distances.groupby("rnn")["distance"].idxmin()]
    columns = sorted(set(best["column"]))
    return {"columns": columns, "agree": len(columns) == 1, "best": best}


def ranking(df: pd.DataFrame) -> pd.DataFrame:
    """Per count and reading: the latent ODE against every other row (RNNs and baselines)."""
    import pandas as pd

    ok = df[df["status"] == "ok"]
    rows = []
    others = [m for m in LABELS if m != "latent_ode" and m in set(ok["model"])]
    for n_obs, g in ok.groupby("n_obs"):
        ode = g[g.model == "latent_ode"].sort_values("seed")
        if ode.empty:
            continue
        for other in others:
            o = g[g.model == other].sort_values("seed")
            if list(o["seed"]) != list(ode["seed"]):
                continue
            rows.append(
                {
                    "observed": n_obs,
                    "latent ODE vs": LABELS[other],
                    **{
                        what: verdict(ode[col], o[col], LABELS[other])
                        for col, what in READINGS.items()
                    },
                }
            )
    return pd.DataFrame(rows)


def plateau_note(df: pd.DataFrame) -> str:
    """Which trained models reached a plateau by the rule, naming in bold those that did not."""
    trained = df[(df["status"] == "ok") & (df["iters"] > 0)]
    if "loss_change_last_quarter" not in trained or trained.empty:
        return "No training losses recorded."
    change = trained["loss_change_last_quarter"].astype(float)
    unmeasured = trained[change.isna()]
    moved = trained[change.abs() >= PLATEAU]
    parts = [
        f"Plateau rule: a model's training loss (mean of the last twentieth of its iterations "
        f"against the twentieth ending at 3/4) moves by less than {PLATEAU:.0%} over the last "
        f"quarter. Reached in {int((change.abs() < PLATEAU).sum())} of {len(trained)} runs"
    ]
    if not moved.empty:
        names = sorted(
            {f"{LABELS[m]} at {k} obs" for m, k in zip(moved.model, moved.n_obs, strict=True)}
        )
        worst = moved.loc[moved["loss_change_last_quarter"].abs().idxmax()]
        parts.append(
            f"; **not at a plateau: {', '.join(names)}** (largest change "
            f"{worst['loss_change_last_quarter']:+.1%}, {LABELS[worst['model']]} at "
            f"{worst['n_obs']} obs, seed {worst['seed']}): read those rows as this budget's "
            "outcome, not the model's limit"
        )
    if not unmeasured.empty:
        parts.append(f"; not measurable in {len(unmeasured)} runs (under 8 iterations)")
    return "".join(parts) + "."


def _paper_cell(model: str, n_obs: int) -> str:
    if model in BASELINES:
        return ""
    value = PAPER_RMSE["latent_ode" if model == "latent_ode" else "rnn"].get(int(n_obs))
    return "" if value is None else f"{value:.4f}"


def main_table(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    order = {m: k for k, m in enumerate(LABELS)}
    rows = []
    for (n_obs, model), g in sorted(
        df.groupby(["n_obs", "model"]), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))
    ):
        ok = g[g["status"] == "ok"]
        failed = len(g) - len(ok)
        change = (
            ok["loss_change_last_quarter"].abs().max()
            if "loss_change_last_quarter" in ok
            else float("nan")
        )
        trained = model not in BASELINES
        moved = "" if not trained or pd.isna(change) else f"{change:.1%}"
        if trained and not pd.isna(change) and change >= PLATEAU:
            moved = f"**{moved}**"
        rows.append(
            {
                "obs": int(n_obs),
                "model": LABELS.get(model, model),
                "window (after 1st obs)": mean_sd(ok["rmse_window"]),
                f"extrap {SHORT_EXTRAP}": mean_sd(ok["rmse_extrap10"]),
                "extrap 100, small radii": mean_sd(ok["rmse_extrap"]),
                "extrap 100, large radii": mean_sd(ok["rmse_extrap_beyond"]),
                "paper": _paper_cell(model, n_obs),
                "one-step, window": mean_sd(ok["rmse_one_step_window"]),
                "one-step, extrap 100": mean_sd(ok["rmse_one_step_extrap"]),
                "loss moved, last ¼": moved,
                "NFE-F/iter": f"{ok['nfe_forward'].mean():.1f}"
                if model == "latent_ode" and not ok.empty
                else "",
                "s/iter": f"{ok['time_iter_s'].median():.3f}" if trained and not ok.empty else "",
                "seeds": f"{len(ok)}" + (f" (+{failed} failed)" if failed else ""),
            }
        )
    return pd.DataFrame(rows)


def _training_text(r: dict[str, Any]) -> str:
    """One training run of the provenance, finished or taken while unfinished."""
    how = f"{r.get('workers')} worker(s) x {r.get('threads')} thread(s)"
    where = f"at commit {r.get('commit')} ({r.get('date')}; `{r.get('command')}`)"
    if r.get("wall_s") is None:
        so_far = r.get("unfinished_s")
        took = f"{so_far / 60:.0f} min" if isinstance(so_far, int | float) else "an unknown time"
        return (f"**unfinished** (status {r.get('status')}) when its saved models were taken, "
                f"after {took}, with {how} {where}")  # fmt: skip
    return f"{r['jobs']} models in {r['wall_s'] / 60:.1f} min with {how} {where}"


def _schedule_text(settings: dict[str, Any]) -> str:
    """E.g. "0.01, cosine to 0.0001 at the last iteration"; a run older than the schedules
    recorded none and trained at a constant rate."""
    lr, schedule = settings.get("lr"), settings.get("lr_schedule", "constant")
    if schedule == "cosine" and isinstance(lr, int | float):
        return f"{lr:g}, cosine to {lr * LR_FLOOR:g} at the last iteration"
    return f"{lr} ({schedule})"


def _provenance_line(info: dict[str, Any]) -> str:
    if not info:
        return "Provenance: none recorded."
    s = info.get("settings", {})
    try:
        config = Settings(**s).solver()
        solver = f"{config.method} ({config.gradient}, " + (
            f"{config.steps} steps)"
            if config.steps
            else f"rtol {config.rtol:g}, atol {config.atol:g})"
        )
    except (TypeError, ValueError):
        solver = str(s.get("method"))
    runs = info.get("training", [])
    wall = sum(r.get("wall_s") or 0.0 for r in runs)
    training = "; ".join(_training_text(r) for r in runs) if runs else "not recorded"
    schedule = _schedule_text(s)
    return (
        f"Settings: {s.get('n_spirals')} spirals ({s.get('test_fraction')} of them test), "
        f"{s.get('n_points')} points + {s.get('n_extrap')} extrapolated, noise sd "
        f"{s.get('noise_std')}, models {', '.join(s.get('models', []))}, latent ODE solver "
        f"{solver}, dynamics hidden layers {s.get('dynamics_layers')}, "
        f"lr {schedule}. "
        f"Training: {training}"
        + (f"; total {wall / 60:.1f} min" if runs and all(r.get("wall_s") for r in runs) else "")
        + ". Scored and rendered by "
        f"`{info.get('command')}` at commit {info.get('commit')} ({info.get('date')}; "
        f"scoring {info.get('score_wall_s', '?')} s). torch {info.get('torch')}, torchdiffeq "
        f"{info.get('torchdiffeq')}, Python {info.get('python')}, {info.get('cpu')} "
        f"({info.get('cpu_count')} cores), device {info.get('device')}, float32."
    )


def render(out: Path) -> Path:
    """Write ``table2.md`` and both figures from the result files in ``out``."""
    import pandas as pd

    from odebench.experiments.spirals.figures import plot_curves, plot_examples

    out = Path(out)
    df = _read(out, ROW_FILE)
    curves = _read(out, CURVES_FILE)
    examples = _read(out, EXAMPLES_FILE)
    cost = _read(out, COST_FILE) if (out / COST_FILE).exists() else pd.DataFrame()
    prov = out / PROVENANCE_FILE
    info = json.loads(prov.read_text()) if prov.exists() else {}
    settings = info.get("settings", {})
    ok = df[df["status"] == "ok"]
    seeds = sorted(ok["seed"].unique())
    iters = int(ok.loc[ok["iters"] > 0, "iters"].max()) if (ok["iters"] > 0).any() else 0
    distances = reading_distances(df)
    lines = ["# Table 2: latent ODE vs RNN on irregularly sampled spirals", ""]
    if not distances.empty:
        match = matching_reading(distances)
        best = match["best"]
        said = "; ".join(
            f"with {LABELS[r.rnn]} as the paper's RNN: **{r.reading}** (mean relative "
            f"distance {r.distance:.1%}; ours {r.ours} against the paper's {r.paper})"
            for r in best.itertuples()
        )
        lines += [
            "**Which reading reproduces the paper.** The reading whose means lie closest to "
            f"the paper's six numbers (latent ODE and RNN at 30/50/100 observations): {said}."
            + (" Both RNN variants agree." if match["agree"] and len(best) > 1 else ""),
            "",
        ]
    few = (
        f"**{len(seeds)} seed(s) only ({', '.join(str(s) for s in seeds)}), fewer than the "
        "3 asked for: read the spread and the rankings below with that in mind.** "
        if len(seeds) < 3
        else ""
    )
    trained = ok[ok["iters"] > 0]
    per_model = "; ".join(
        f"{LABELS[m]} {g['train_time_s'].min() / 60:.0f}-{g['train_time_s'].max() / 60:.0f} min"
        for m, g in trained.groupby("model", sort=False)
    )
    lines += [
        few + f"Mean ± sample sd over seeds {', '.join(str(s) for s in seeds)}; {iters} full-batch "
        f"Adam iterations per model, count and seed (budget {settings.get('budget', '?')}; "
        f"learning rate {_schedule_text(settings)}). "
        + plateau_note(df)
        + (
            f" Training time per model (sum of its iterations' wall time on this shared "
            f"machine): {per_model}."
            if per_model
            else ""
        ),
        "",
        main_table(df).to_markdown(index=False, disable_numparse=True),
        "",
        "RMSE per coordinate against the noiseless spirals on the test set. "
        "*window*: every time of the observed window after a spiral's first observation "
        "(before it an RNN has nothing to forecast from). *extrap 10 / 100*: the first "
        f"{SHORT_EXTRAP} / all 100 times after the window.",
        "",
        "**The extrapolation rule.** Training windows start at random on the spiral and show "
        "it only between the radii their points reach; a test spiral's extrapolation is scored "
        "in the *small radii* columns when all its extrapolated points lie within the radii "
        "of the training windows of its direction (between their smallest and largest; about "
        f"{ok['n_test_in_range'].dropna().mean():.0f} of {ok['n_test'].dropna().mean():.0f} "
        "test spirals per seed), and in "
        "*large radii* otherwise: those extrapolate into parts of the spiral no training "
        "window contains, which tests the data range rather than the model. Both columns are "
        "kept so the effect stays visible.",
        "",
        "Baselines (no training, forecasts from the observations strictly before each time): "
        "*hold last observation*; *linear extrapolation*, the least-squares line in time "
        "through the last 5 observations. *one-step*: the RNNs one step ahead (teacher "
        "forcing), a diagnostic beside their rollout: at the observed window points each "
        "predicted from the observation before it, and over the 100 extrapolated points fed "
        "the truth plus noise of the training sd (small radii). *paper*: its Table 2 (one RNN "
        "row, shown beside each RNN). *loss moved*: the largest |relative change| over seeds "
        "(bold: not at a plateau). NFE-F/iter: mean calls of the latent ODE's field per "
        "training iteration (backprop: NFE-B 0). s/iter: median seconds per training "
        "iteration on this shared machine.",
        "",
    ]
    if not distances.empty:
        show = distances.assign(
            distance=distances["distance"].map("{:.1%}".format), rnn=distances["rnn"].map(LABELS)
        )
        lines += [
            "## The readings against the paper",
            "",
            "Distance: mean of |ours / paper − 1| over the six numbers (latent ODE, then RNN, "
            "at 30 / 50 / 100 observations); the paper's RNN row compared with each variant.",
            "",
            show[["reading", "rnn", "distance", "ours", "paper"]].to_markdown(
                index=False, disable_numparse=True
            ),
            "",
        ]
    ranks = ranking(df)
    if not ranks.empty:
        lines += [
            "## Ranking under each reading",
            "",
            ranks.to_markdown(index=False, disable_numparse=True),
            "",
            "Rule: one row is better *beyond the spread* when the ranges mean ± sd over seeds "
            "do not overlap; *within the spread* otherwise.",
            "",
        ]
    if not cost.empty:
        base = cost["time_iter_s"].iloc[0]
        show = pd.DataFrame(
            {
                "solver": cost["method"],
                "gradient": cost["gradient"],
                "rtol / atol": [
                    "fixed grid" if pd.isna(r) else f"{r:g} / {a:g}"
                    for r, a in zip(cost["rtol"], cost["atol"], strict=True)
                ],
                "NFE-F/iter": cost["nfe_forward"].map("{:.0f}".format),
                "NFE-B/iter": cost["nfe_backward"].map("{:.0f}".format),
                "s/iter": cost["time_iter_s"].map("{:.3f}".format),
                "time vs training solver": (cost["time_iter_s"] / base).map("{:.1f}x".format),
            }
        )
        lines += [
            "## What the paper's solver setting costs",
            "",
            f"One training iteration (loss + backward, weights fixed) of the latent ODE trained "
            f"at {settings.get('figure_obs', '')} observations, seed {seeds[0] if seeds else ''}, "
            f"under each solver; median of {int(cost['repeat'].iloc[0])} after a warm-up, in "
            "one run on the CPU. The first row is the solver it was trained with.",
            "",
            show.to_markdown(index=False, disable_numparse=True),
            "",
        ]
    lines += [_provenance_line(info), ""]
    md = out / MD_FILE
    md.write_text("\n".join(lines))
    plot_examples(examples, out / "plots", n_obs=int(settings.get("figure_obs", 30)))
    if not curves.empty:
        plot_curves(curves, out / "plots")
    return md
