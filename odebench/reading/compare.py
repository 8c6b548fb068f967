"""Rendering a comparison of two runs (:mod:`odebench.reading.comparison` computes it): the
verdict in sentences, its tables as Markdown or HTML from ``templates/``, and records for
``--format json|csv``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from odebench.reading.comparison import Comparison
from odebench.reading.significance import ALPHA, MIN_PASSES, MIN_REPEATS

if TYPE_CHECKING:  # pandas and the results module load only when a comparison runs, so
    import pandas as pd  # that registering the subcommand keeps ``odebench --help`` fast


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
    shown = t[(t["flag"] != "") | t["unstable"] | t["p_value"].isna()] if not t.empty else t
    timing = pd.DataFrame({
        "case": shown["case_id"], "timing": shown["timing"],
        "A": [fmt_seconds(v) for v in shown["a_s"]], "B": [fmt_seconds(v) for v in shown["b_s"]],
        "B / A": [f"{v:.3g}" for v in shown["ratio"]],
        "passes A": shown["passes_a"].astype(str), "passes B": shown["passes_b"].astype(str),
        "spread A": [_pct(v) for v in shown["a_spread"]],
        "spread B": [_pct(v) for v in shown["b_spread"]],
        "p": ["" if math.isnan(v) else f"{v:.2g}" for v in shown["p_value"]],
        "test": shown["test"],
        "flag": shown["flag"], "unstable": ["yes" if u else "" for u in shown["unstable"]],
    })  # fmt: skip
    only = pd.DataFrame(
        {
            "case": result.only_a + result.only_b,
            "only in": ["A"] * len(result.only_a) + ["B"] * len(result.only_b),
        }
    )
    return {"exact": exact, "timing": timing, "only": only}


def summary(result: Comparison, *, fail_on_slower: bool = False) -> list[str]:
    """The verdict in sentences."""
    from odebench.reading.analysis import UNSTABLE

    t = result.timings
    slower, faster = int((t["flag"] == "slower").sum()), int((t["flag"] == "faster").sum())
    unstable = int(t["unstable"].sum())
    single = int(t["p_value"].isna().sum())
    lines = [f"Verdict: {result.verdict}."]
    if result.incomplete:
        lines.append(f"Incomplete: {len(result.only_a)} case(s) of A missing from B"
                     + (f", repeats missing: {'; '.join(result.short_b)}" if result.short_b
                        else "")
                     + (", a torn row" if result.torn else "") + ": rerun B with "
                     "`odebench run --resume`.")  # fmt: skip
    if result.paired_ignoring:
        lines.append(f"Cases paired by every identity column but "
                     f"{', '.join(result.paired_ignoring)}.")  # fmt: skip
    lines += [
        f"{result.matched} cases in both runs; {len(result.only_a)} only in A, "
        f"{len(result.only_b)} only in B.",
        f"Exact figures: {len(result.exact)} differences in "
        f"{result.exact['case_id'].nunique()} cases." if len(result.exact)
        else "Exact figures: all equal.",
        f"Timings ({len(t) - single} judged: p < {ALPHA:g} over the timed passes and "
        f"|B/A - 1| > {100 * result.threshold:g} %): {slower} slower, {faster} faster"
        + ("" if fail_on_slower else " (the exit status gates on timings only with "
           "--fail-on-slower)") + ".",
    ]  # fmt: skip
    if result.unjudged:
        lines.append(
            f"Timings {result.unjudged}: none is judged (pass --despite-load to "
            "judge them anyway; under such load unchanged code is often flagged)."
        )
    elif single:
        lines.append(f"{single} timings not comparable: fewer than {MIN_REPEATS} repeats "
                     f"or {MIN_PASSES} timed passes in a run (the passes of one repeat miss "
                     "how a time moves between runs: rerun both with --repeats 5).")  # fmt: skip
    if unstable:
        lines.append(f"{unstable} timings have a spread (IQR/median) above "
                     f"{100 * UNSTABLE:g} % in A or B: marked unstable, not to be "
                     "trusted.")  # fmt: skip
    lines += result.notes
    return lines


def records(result: Comparison, *, fail_on_slower: bool = False) -> dict[str, Any]:
    """The comparison as plain data (``--format json``): verdict, exit status, every row."""
    return {
        "a": result.a, "b": result.b, "verdict": result.verdict,
        "exit_status": result.exit_status(fail_on_slower=fail_on_slower),
        "matched": result.matched, "only_a": result.only_a, "only_b": result.only_b,
        "short_b": result.short_b,
        "paired_ignoring": list(result.paired_ignoring), "notes": result.notes,
        "exact": [{k: _plain(v) for k, v in row.items()}
                  for row in result.exact.to_dict(orient="records")],
        "timings": [{k: _plain(v) for k, v in row.items()}
                    for row in result.timings.to_dict(orient="records")],
    }  # fmt: skip


def long_table(result: Comparison) -> pd.DataFrame:
    """Every row of the comparison in one table (``--format csv``): kind exact, timing,
    only_a or only_b."""
    import pandas as pd

    exact = result.exact.rename(columns={"figure": "what"}).assign(kind="exact")
    timing = result.timings.rename(columns={"timing": "what", "a_s": "a", "b_s": "b"})
    only = pd.DataFrame({"case_id": result.only_a + result.only_b,
                         "kind": ["only_a"] * len(result.only_a)
                         + ["only_b"] * len(result.only_b)})  # fmt: skip
    frames = [f for f in (exact, timing.assign(kind="timing"), only) if not f.empty]
    cols = ["kind", "case_id", "what", "a", "b", "ratio", "passes_a", "passes_b", "a_spread",
            "b_spread", "p_value", "test", "flag", "unstable"]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True).reindex(columns=cols)


def _plain(value: Any) -> Any:
    """A value JSON can hold (nan as None, numpy numbers as Python's, tuples as lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def render(result: Comparison, *, fmt: str = "md", fail_on_slower: bool = False) -> str:
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
        summary=summary(result, fail_on_slower=fail_on_slower),
        tables={k: show(v) for k, v in tables(result).items()},
        provenance=result.provenance,
        status=result.exit_status(fail_on_slower=fail_on_slower),
        unstable=f"{100 * UNSTABLE:g}",
        alpha=f"{ALPHA:g}",
        min_passes=MIN_PASSES,
    )
