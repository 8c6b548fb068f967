"""The report: ``report.md`` and ``report.html`` rendered from ``odebench/reading/templates/``
with the tables of :mod:`odebench.reading.tables`, the verdicts of
:mod:`odebench.reading.headline` and the figures of :mod:`odebench.reading.plots` beside their
tables. It formats and renders; it computes nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.reading.analysis import (
    backends,
    ok_rows,
    prepare,
)
from odebench.reading.formatting import HEADERS, fmt_general, format_table
from odebench.reading.headline import headline
from odebench.reading.render import template
from odebench.reading.stiff import batched_table, stiff_work_precision, survival_grid
from odebench.reading.tables import (
    UNSTABLE_SPREAD,
    backend_table,
    memory_fits,
    nfe_table,
    status_table,
    time_table,
    work_precision,
)
from odebench.running.provenance import read_provenance
from odebench.running.results import read_results

# --- sections and rendering -----------------------------------------------------------------


@dataclass
class Section:
    """One part of the report: a title, what it shows and how, a table, its figures."""

    title: str
    text: str
    table: pd.DataFrame
    figures: tuple[str, ...] = ()
    note: str = ""


def _constant_note(table: pd.DataFrame) -> str:
    """The identity columns with one value in every row a table was computed from."""
    same = {k: v for k, v in table.attrs.get("same", {}).items() if k not in table.columns}
    return ", ".join(f"{HEADERS.get(k, k)} {fmt_general(v)}" for k, v in same.items())


def stiff_sections(df: pd.DataFrame) -> list[Section]:
    """The stiff suite's survival and work-precision tables, the batched suite's table."""
    out = []
    grid = survival_grid(df)
    if not grid.empty:
        out.append(Section(
            "Survival under stiffness",
            "Status of every solver / gradient mode on each stiff problem at rtol 1e-5 "
            "(ok, max_steps: the step budget reached, timeout, diverged): no case is "
            "dropped. Figures of each, failures included (the NFE and steps they reached), "
            "in the work-precision table and in results.csv.",
            grid.reset_index(), ("stiff_survival", "stiff_cost_vs_stiffness")))  # fmt: skip
        out.append(Section(
            "Stiff work-precision",
            "Relative error of y(t1) and of the gradient against NFE and time; a failed "
            "solve is drawn on the top band at the NFE (or wall time) it reached.",
            stiff_work_precision(df), ("stiff_work_precision",)))  # fmt: skip
    batched = batched_table(df)
    if not batched.empty:
        out.append(Section(
            "Batches of independent problems",
            "Stacked Van der Pol oscillators (per-sample mu and y0). steps_ratio: accepted "
            "steps per sample in the batch over the mean of each sample solved alone "
            "(torchdiffeq: one step size for the whole batch; torchode: per sample). "
            "batch_dependence: the largest difference of a sample's y(t1) in the batch and "
            "alone. Loop time: forward seconds per attempted step minus NFE x one field "
            "evaluation's seconds, per step.",
            batched, ("batched_steps",)))  # fmt: skip
    return out


def sections(df: pd.DataFrame) -> list[Section]:
    """Every report section, in order; tables are numeric (see :func:`format_table`)."""
    data = prepare(df)
    failed = data[data["status"] != "ok"][["case_id", "status", "error"]]
    out = [
        Section("Memory scaling",
                "Least-squares fit of each memory meter on the number of solver steps (or "
                "ResNet depth, or NFE across tolerances): bytes per unit, intercept, R² and "
                "the largest distance of a fitted point from the line. O(1) memory shows as "
                "'constant' or a slope near zero next to backprop's. Where the smallest "
                "size lies off an otherwise straight line it is fitted apart and listed: "
                "the adjoint's peak allocated is lower at 1 step than from 2 steps on. On "
                "the MLP field the gap is exactly three augmented states of the reverse "
                "solve (y, a(t), the parameter adjoint and t's: 98,820 B each at batch 128, "
                "296,460 B), consistent with the reverse solve holding the state carried "
                "from a previous step beside the step it computes, which a single step never "
                "does; from 2 steps on the peak grows only by the time grid (4 B per step).",
                memory_fits(df), ("memory_vs_steps", "memory_vs_depth")),
        Section("NFE forward and backward",
                "Median over a case's rows. With backprop through the solver NFE-B is 0 "
                "(the backward pass replays the graph); with the adjoint it is the reverse "
                "solve's NFE, which depends on the loss's scale (atol applies to the "
                "adjoint state too).",
                nfe_table(df), ("nfe_forward_vs_backward",)),
        Section("Work-precision",
                "Relative L2 error at t1 of the state and of the loss gradient, against NFE "
                "(forward, and forward + backward for the gradient) and forward + backward "
                "seconds; median over a case's rows.",
                work_precision(df),
                ("error_vs_tolerance", "work_precision_nfe", "work_precision_time")),
        Section("Wall time",
                "Seconds per forward and backward pass: median, and the interquartile range "
                "over the timed passes (after a warm-up pass; no meter on). 'unstable': a "
                f"spread (IQR/median) above {UNSTABLE_SPREAD:.0%} in a row of the case, a "
                "timing not to be trusted (see the load average under Provenance).",
                time_table(df), ("time_per_model", "time_vs_batch")),
    ]  # fmt: skip
    if len(backends(ok_rows(df))) >= 2:
        out.append(Section(
            "Solver libraries compared",
            "Ratio of each figure between backends on identical cases (every other identity "
            "column equal): below 1 the other library needs less. Times are ratios of "
            "medians measured in the same run.",
            backend_table(df)))  # fmt: skip
    out += stiff_sections(df)  # the stiff and batched suites (issue 33), where they ran
    out += [
        Section("Status", "Cases per status.", status_table(df)),
        Section("Failures", "Cases that did not finish, and why.", failed),
    ]
    for s in out:
        s.note = _constant_note(s.table)
    return out


def provenance_lines(prov: Mapping[str, Any]) -> tuple[list[tuple[str, str]], str]:
    """(key, value) pairs to show, and a warning when the run (or a resumption of it) was
    made from uncommitted code or from more than one commit."""

    def text(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{k} {v}" for k, v in value.items() if v not in (None, ""))
        if isinstance(value, list):
            return "; ".join(text(v) for v in value)
        return str(value)

    items = [(str(k), text(v)) for k, v in prov.items()]
    runs = [prov, *[r for r in prov.get("resumed", []) if isinstance(r, Mapping)]]
    commits = [str(r.get("commit") or "") for r in runs]
    warnings = []
    dirty = [c for c in commits if c.endswith("-dirty")]
    if dirty:
        base = dirty[0].removesuffix("-dirty")[:12]
        warnings.append(f"This run was made from uncommitted changes on top of commit {base}: "
                        "its figures may not be reproducible from that commit alone.")  # fmt: skip
    if not commits[0]:
        warnings.append("No commit recorded: the code that made this run is unknown.")
    if len({c.removesuffix("-dirty") for c in commits if c}) > 1:
        warnings.append("The run was resumed at another commit: its rows come from more than "
                        "one version of the code.")  # fmt: skip
    return items, " ".join(warnings)


def figure_assets(df: pd.DataFrame, out_dir: Path) -> dict[str, dict[str, str]]:
    """Draw every figure (files under ``out_dir/plots``); {name: {png, svg, base64, title}}."""
    from odebench.reading.plots import PLOTS, draw_all

    assets = {}
    for name, paths in draw_all(df, out_dir / "plots").items():
        png = next(p for p in paths if p.suffix == ".png")
        data = png.read_bytes()
        width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR width
        assets[name] = {
            "png": f"plots/{png.name}",
            "wide": width > 1100,
            "base64": base64.b64encode(data).decode("ascii"),
            "title": _figure_title(name, PLOTS),
        }
    return assets


def _figure_title(name: str, plots: Mapping[str, Any]) -> str:
    """The first line of the drawing function's docstring; a figure drawn under a name of
    its own (``gradient_frontier_<problem>``, one per problem) gets its name in words."""
    plot = plots.get(name)
    doc = (plot.__doc__ or "") if plot is not None else ""
    return doc.strip().splitlines()[0] if doc.strip() else name.replace("_", " ")


def _html_table(table: pd.DataFrame) -> str:
    shown = format_table(table)
    uid = hashlib.sha1(shown.to_csv().encode()).hexdigest()[:8]  # not random: same table, same page
    styler = shown.style.set_uuid(uid).hide(axis="index").set_table_attributes('class="data"')
    numeric = [c for c in shown.columns if c not in _TEXT_HEADERS]
    styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    return styler.to_html()


_TEXT_HEADERS = {"subject", "method", "gradient", "meter", "per", "status", "error", "case_id",
                 "dtype", "device", "backend", "backends", "loss", "fitted apart",
                 "fitted over", "adjoint fitted over", "suite", "unstable", "use", "runner-up",
                 "why"}  # fmt: skip


def _md_table(table: pd.DataFrame) -> str:
    shown = format_table(table)
    align = ["left" if c in _TEXT_HEADERS else "right" for c in shown.columns]
    return shown.to_markdown(index=False, colalign=align, disable_numparse=True)


def render(df: pd.DataFrame, provenance: Mapping[str, Any], *, fmt: str,
           figures: Mapping[str, Mapping[str, str]] | None = None) -> str:  # fmt: skip
    """The report as ``fmt`` ("md" or "html") from its template."""
    table = _html_table if fmt == "html" else _md_table
    head = headline(df)
    prov, warning = provenance_lines(provenance)
    return template(f"report.{fmt}.j2").render(
        headline=head.sentences,
        headline_tables=[(title, table(t)) for title, t in head.tables],
        sections=[
            {
                "title": s.title,
                "text": s.text,
                "note": s.note,
                "table": table(s.table) if not s.table.empty else "",
                "figures": [figures[n] | {"name": n} for n in s.figures if n in (figures or {})],
            }
            for s in sections(df)
        ],  # fmt: skip
        provenance=prov,
        warning=warning,
    )


def render_markdown(df: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    return render(df, provenance, fmt="md")


def render_html(df: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    return render(df, provenance, fmt="html")


def write_report(results: str | Path, out: str | Path | None = None, *,
                 figures: bool = True) -> list[Path]:  # fmt: skip
    """Write ``report.md`` and ``report.html`` beside the results (or into ``out``).

    With ``figures`` (the default) the figures of :mod:`odebench.reading.plots` are drawn into
    ``<out>/plots/``, linked from the Markdown and embedded in the HTML (base64, so the
    page stands alone). Returns every file written.
    """
    results = Path(results)
    folder = results if results.is_dir() else results.parent
    df = read_results(results)  # validated before anything is written
    prov = read_provenance(folder)
    out_dir = Path(out) if out else folder
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = figure_assets(df, out_dir) if figures else {}
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(render(df, prov, fmt="md", figures=assets))
    page.write_text(render(df, prov, fmt="html", figures=assets))
    written = [md, page]
    for name in assets:
        written += [out_dir / "plots" / f"{name}.png", out_dir / "plots" / f"{name}.svg"]
    return written
