"""``odebench compare A B``: what changed between two results folders.

Cases are matched by identity (``case_id``: every field of the case, hashed). Then:

* **Exact figures** (status, parameters, NFE, steps, saved bytes, peak allocated, errors,
  loss) must be equal: each difference is listed, case by case, with both values.
* **Timings** (forward and backward seconds) are compared as the ratio B/A of medians, with
  each run's spread (IQR over the timed passes, as a fraction of the median). A change is
  flagged only when it exceeds the spread of both runs (``|B - A|`` above each run's IQR)
  *and* the threshold (``|B/A - 1| > threshold``): a timing never fails on noise alone.
* A row whose spread exceeds :data:`UNSTABLE` (IQR/median 25 %) in either run is marked
  unstable: its timing is not to be trusted however the comparison comes out.
* Cases only in A or only in B are listed.

The exit status (see :func:`exit_status`): 1 when an exact figure changed or a timing
regressed beyond the threshold (timings can be ignored), else 0. The comparison renders
as Markdown or HTML from ``odebench/reading/templates/``, in the report's style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and the results module load only when a comparison runs, so
    import pandas as pd  # that registering the subcommand keeps ``odebench --help`` fast

#: Figures that are equal in any two runs of the same case on the same software.
EXACT_FIGURES: tuple[str, ...] = (
    "status", "params", "nfe_forward", "nfe_backward", "steps_accepted", "steps_rejected",
    "saved_bytes", "saved_other_bytes", "peak_alloc_bytes", "state_error", "grad_error",
    "loss", "accuracy",
)  # fmt: skip
DEFAULT_THRESHOLD = 0.10


def _input_error(message: str) -> Exception:
    """A :class:`~odebench.running.results.ResultsError` (the CLI prints it as one line, exit 2)."""
    from odebench.running.results import ResultsError

    return ResultsError(message)


def load(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The results table and provenance of a run folder (or of the folder of a CSV)."""
    from odebench.running.provenance import read_provenance
    from odebench.running.results import PROVENANCE_FILE, RESULTS_FILE, read_results

    path = Path(path)
    if not path.exists():
        raise _input_error(f"{str(path)!r} does not exist; pass two results folders written by "
                           "`odebench run` (each holds results.csv).")  # fmt: skip
    folder = path if path.is_dir() else path.parent
    if path.is_dir() and not (path / RESULTS_FILE).is_file():
        raise _input_error(f"{str(path)!r} is not a results folder (no {RESULTS_FILE}); pass a "
                           "folder written by `odebench run`.")  # fmt: skip
    df = read_results(path)
    return df, read_provenance(folder) if (folder / PROVENANCE_FILE).is_file() else {}


def _same(a: Any, b: Any) -> bool:
    import pandas as pd

    if pd.isna(a) and pd.isna(b):
        return True
    if pd.isna(a) or pd.isna(b):
        return False
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _value(rows: pd.DataFrame, col: str) -> Any:
    """A case's figure: its value if every repeat agrees, else the distinct values."""
    values = rows[col].dropna().unique().tolist()
    if not values:
        return math.nan
    return values[0] if len(values) == 1 else tuple(sorted(values, key=str))


@dataclass
class Comparison:
    """The differences between run A and run B."""

    a: str
    b: str
    threshold: float
    exact: pd.DataFrame
    timings: pd.DataFrame
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    matched: int = 0
    provenance: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.timings[self.timings["flag"] == "slower"]

    def exit_status(self, *, ignore_timings: bool = False) -> int:
        """1 when an exact figure changed or (unless ignored) a timing regressed; else 0."""
        if not self.exact.empty:
            return 1
        return 0 if ignore_timings or self.regressions.empty else 1


def _by_case(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(cid): rows for cid, rows in df.groupby("case_id", sort=False)}


def _timing_rows(cid: str, ra: pd.DataFrame, rb: pd.DataFrame, threshold: float) -> list[dict]:
    import pandas as pd

    from odebench.reading.analysis import TIMINGS, UNSTABLE, relative_spread

    out = []
    for col, iqr_col in TIMINGS.items():
        oka, okb = ra[ra["status"] == "ok"], rb[rb["status"] == "ok"]
        ta, tb = pd.to_numeric(oka[col]).median(), pd.to_numeric(okb[col]).median()
        if pd.isna(ta) or pd.isna(tb) or ta <= 0:
            continue
        qa, qb = pd.to_numeric(oka[iqr_col]).median(), pd.to_numeric(okb[iqr_col]).median()
        qa, qb = (0.0 if pd.isna(qa) else float(qa)), (0.0 if pd.isna(qb) else float(qb))
        ratio = float(tb) / float(ta)
        beyond = abs(tb - ta) > max(qa, qb) and abs(ratio - 1) > threshold
        flag = ("slower" if ratio > 1 else "faster") if beyond else ""
        spread_a, spread_b = relative_spread(ta, qa), relative_spread(tb, qb)
        out.append({
            "case_id": cid, "timing": col.removesuffix("_s").replace("time_", ""),
            "a_s": float(ta), "b_s": float(tb), "ratio": ratio,
            "a_spread": spread_a, "b_spread": spread_b, "flag": flag,
            "unstable": bool(spread_a > UNSTABLE or spread_b > UNSTABLE),
        })  # fmt: skip
    return out


def compare(a: str | Path, b: str | Path, *, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    """Compare run ``a`` (before) with run ``b`` (after); see the module's docstring."""
    import pandas as pd

    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold={threshold!r} must be a fraction >= 0 (0.1 for 10 %).")
    dfa, pa = load(a)
    dfb, pb = load(b)
    cases_a, cases_b = _by_case(dfa), _by_case(dfb)
    exact: list[dict] = []
    timings: list[dict] = []
    common = [cid for cid in cases_a if cid in cases_b]
    for cid in common:
        ra, rb = cases_a[cid], cases_b[cid]
        sa, sb = _value(ra, "status"), _value(rb, "status")
        figures = ("status",) if sa != "ok" or sb != "ok" else EXACT_FIGURES
        for col in figures:
            va, vb = _value(ra, col), _value(rb, col)
            if not _same(va, vb):
                exact.append({"case_id": cid, "figure": col, "a": va, "b": vb})
        if sa == "ok" and sb == "ok":
            timings += _timing_rows(cid, ra, rb, threshold)
    keys = ("commit", "date", "torch", "threads", "cpu", "load_average")
    prov = [(k, _text(pa.get(k)), _text(pb.get(k))) for k in keys if k in pa or k in pb]
    return Comparison(
        a=str(a), b=str(b), threshold=float(threshold),
        exact=pd.DataFrame(exact, columns=["case_id", "figure", "a", "b"]),
        timings=pd.DataFrame(timings, columns=["case_id", "timing", "a_s", "b_s", "ratio",
                                               "a_spread", "b_spread", "flag", "unstable"]),
        only_a=[c for c in cases_a if c not in cases_b],
        only_b=[c for c in cases_b if c not in cases_a],
        matched=len(common), provenance=prov,
    )  # fmt: skip


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " / ".join(_text(v) for v in value)
    return str(value)


# --- rendering ------------------------------------------------------------------------------


def _fmt_exact(v: Any) -> str:
    import pandas as pd

    if isinstance(v, tuple):
        return " | ".join(_fmt_exact(x) for x in v)
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "(none)"
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() and abs(v) < 2**53 else repr(v)
    return str(v)


def _pct(v: float) -> str:
    return "" if math.isnan(v) else f"{100 * v:.0f} %"


def tables(result: Comparison) -> dict[str, pd.DataFrame]:
    """The comparison's tables as strings for display."""
    import pandas as pd

    from odebench.reading.analysis import fmt_seconds

    exact = pd.DataFrame({
        "case": result.exact["case_id"], "figure": result.exact["figure"],
        "A": [_fmt_exact(v) for v in result.exact["a"]],
        "B": [_fmt_exact(v) for v in result.exact["b"]],
    })  # fmt: skip
    t = result.timings
    shown = t[(t["flag"] != "") | t["unstable"]] if not t.empty else t
    timing = pd.DataFrame({
        "case": shown["case_id"], "timing": shown["timing"],
        "A": [fmt_seconds(v) for v in shown["a_s"]], "B": [fmt_seconds(v) for v in shown["b_s"]],
        "B / A": [f"{v:.3g}" for v in shown["ratio"]],
        "spread A": [_pct(v) for v in shown["a_spread"]],
        "spread B": [_pct(v) for v in shown["b_spread"]],
        "flag": shown["flag"], "unstable": ["yes" if u else "" for u in shown["unstable"]],
    })  # fmt: skip
    only = pd.DataFrame(
        {
            "case": result.only_a + result.only_b,
            "only in": ["A"] * len(result.only_a) + ["B"] * len(result.only_b),
        }
    )
    return {"exact": exact, "timing": timing, "only": only}


def summary(result: Comparison, *, ignore_timings: bool = False) -> list[str]:
    """The verdict in sentences."""
    from odebench.reading.analysis import UNSTABLE

    t = result.timings
    slower, faster = int((t["flag"] == "slower").sum()), int((t["flag"] == "faster").sum())
    unstable = int(t["unstable"].sum())
    lines = [
        f"{result.matched} cases in both runs; {len(result.only_a)} only in A, "
        f"{len(result.only_b)} only in B.",
        f"Exact figures: {len(result.exact)} differences in "
        f"{result.exact['case_id'].nunique()} cases." if len(result.exact)
        else "Exact figures: all equal.",
        f"Timings ({len(t)} compared, threshold {100 * result.threshold:g} % beyond both "
        f"runs' spread): {slower} slower, {faster} faster"
        + (" (ignored for the exit status)" if ignore_timings else "") + ".",
    ]  # fmt: skip
    if unstable:
        lines.append(f"{unstable} timings have a spread (IQR/median) above "
                     f"{100 * UNSTABLE:g} % in A or B: marked unstable, not to be "
                     "trusted.")  # fmt: skip
    return lines


def render(result: Comparison, *, fmt: str = "md", ignore_timings: bool = False) -> str:
    """The comparison as ``fmt`` ("md" or "html") from its template."""
    from odebench.reading.analysis import UNSTABLE
    from odebench.reading.render import template

    def md(table: pd.DataFrame) -> str:
        return table.to_markdown(index=False, disable_numparse=True) if len(table) else ""

    def html(table: pd.DataFrame) -> str:
        if not len(table):
            return ""
        styler = table.style.hide(axis="index").set_table_attributes('class="data"')
        return styler.to_html()

    show = html if fmt == "html" else md
    return template(f"compare.{fmt}.j2").render(
        a=result.a,
        b=result.b,
        summary=summary(result, ignore_timings=ignore_timings),
        tables={k: show(v) for k, v in tables(result).items()},
        provenance=result.provenance,
        status=result.exit_status(ignore_timings=ignore_timings),
        unstable=f"{100 * UNSTABLE:g}",
    )


# --- the command ----------------------------------------------------------------------------
