"""``odebench compare A B``: what changed between two results folders.

Cases are paired by identity (``case_id``: every field of the case, hashed), or, with
``ignore_identity``, by every identity column but those named (CPU against GPU, torchdiffeq
against torchode): a pairing that would merge two cases of one run is refused. Then:

* **Exact figures** (status, parameters, NFE, steps, saved bytes, peak allocated, errors,
  loss) must be equal: each difference is listed, case by case, with both values.
* **Timings** (forward and backward seconds) are judged by a statistical test over all
  timed passes, as asv does (a significance test plus a minimum factor): B/A of the
  medians is flagged only where the test says the runs differ (p < :data:`ALPHA`) *and*
  ``|B/A - 1|`` exceeds the threshold. The table stores each repeat's median and IQR over
  its passes, not every pass, so the test is Mann-Whitney U over the repeats' medians
  where each run has :data:`MANN_WHITNEY_REPEATS` repeats, else a test of the difference
  of medians whose standard error comes from each run's IQR and number of passes (and the
  spread between repeats). Fewer than :data:`MIN_PASSES` passes in a run: "not
  comparable" (a spread from one pass is no spread), never flagged.
* Timings of a run measured under load (its provenance records a 1-minute load average
  above its CPU count, before or after it) are not judged unless asked (``despite_load``):
  on the project's shared machine, unchanged code compared with itself under load had
  39 % of its timings flagged (run-to-run ratios of 0.15-4.9 at the 5-95 % quantiles),
  far beyond what any test over one run's passes can allow for.
* A row whose spread exceeds :data:`UNSTABLE` (IQR/median 25 %) in either run is marked
  unstable: its timing is not to be trusted however the comparison comes out.
* Cases only in A (lost rows in B), a torn last row, or torn rows kept aside make the
  verdict "incomplete"; cases only in B are listed.

The exit status (see :meth:`Comparison.exit_status`): 1 when an exact figure changed or
the comparison is incomplete, or (only with ``fail_on_slower``) a timing is flagged
slower; else 0. No case in common raises (exit 2) with the identity columns that differ.
The comparison renders as Markdown or HTML from ``odebench/reading/templates/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odebench.reading.significance import ALPHA, timing_test

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


@dataclass
class Run:
    """One side of a comparison: its table, provenance and what could not be read."""

    table: pd.DataFrame
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    torn: bool = False


def load(path: str | Path, label: str = "") -> Run:
    """The results table and provenance of a run folder (or of the folder of a CSV), with
    a note for each torn row and an unreadable provenance (never silently dropped)."""
    from odebench.running.provenance import provenance_problem, read_provenance
    from odebench.running.results import PROVENANCE_FILE, RESULTS_FILE, TORN_FILE, read_results

    path = Path(path)
    if not path.exists():
        raise _input_error(f"{str(path)!r} does not exist; pass two results folders written by "
                           "`odebench run` (each holds results.csv).")  # fmt: skip
    folder = path if path.is_dir() else path.parent
    if path.is_dir() and not (path / RESULTS_FILE).is_file():
        raise _input_error(f"{str(path)!r} is not a results folder (no {RESULTS_FILE}); pass a "
                           "folder written by `odebench run`.")  # fmt: skip
    df = read_results(path)
    csv_path = path if path.is_file() else path / RESULTS_FILE
    run = Run(table=df, provenance=read_provenance(folder))
    data = csv_path.read_bytes()
    if data and not data.endswith(b"\n"):
        tail = data[data.rfind(b"\n") + 1 :].decode(errors="replace")
        run.torn = True
        run.notes.append(f"{label}: a torn last row (an unfinished write) is not compared: "
                         f"{tail[:60]!r}")  # fmt: skip
    torn_file = folder / TORN_FILE
    if torn_file.is_file():
        lines = [x for x in torn_file.read_text(errors="replace").splitlines() if x.strip()]
        if lines:  # dropped on resume; their cases ran again (a missing one is only in A)
            run.notes.append(f"{label}: {len(lines)} torn row(s) kept aside in {torn_file}")
    problem = provenance_problem(folder) if (folder / PROVENANCE_FILE).exists() else None
    if problem:
        run.notes.append(f"{label}: {problem}")
    loaded = load_note(run.provenance)
    if loaded:
        run.notes.append(f"{label}: {loaded}")
    return run


def load_level(info: Mapping[str, Any]) -> tuple[float, float, int] | None:
    """(load per CPU, 1-minute load average, CPUs) at the worst moment a run's provenance
    records (before or after it, resumes included); None where it records none."""
    entries = [info.get("load_average")]
    entries += [r.get("load_average") for r in info.get("resumed", []) if isinstance(r, dict)]
    worst: tuple[float, float, int] | None = None
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        cpus = int(entry.get("cpus") or info.get("cpu_count") or 1)
        for when in ("before", "after"):
            value = entry.get(when)
            if isinstance(value, list) and value and isinstance(value[0], (int, float)):
                level = float(value[0]) / cpus
                if worst is None or level > worst[0]:
                    worst = (level, float(value[0]), cpus)
    return worst


def load_note(info: Mapping[str, Any]) -> str | None:
    """A sentence naming a run's timings as measured under load (a 1-minute load average
    above its CPU count, before or after the run), or saying the load is unknown."""
    worst = load_level(info)
    if worst is None:
        return "no load average recorded: whether its timings were measured under load is unknown"
    if worst[0] > 1:
        return (f"timings measured under load (1-minute load average up to {worst[1]:g} on "
                f"{worst[2]} CPUs): compare them with care")  # fmt: skip
    return None


def under_load(info: Mapping[str, Any]) -> bool:
    """Whether a run's timings were measured with more runnable processes than CPUs."""
    worst = load_level(info)
    return worst is not None and worst[0] > 1


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


TIMING_COLUMNS: list[str] = [
    "case_id", "timing", "a_s", "b_s", "ratio", "passes_a", "passes_b", "a_spread",
    "b_spread", "p_value", "test", "flag", "unstable",
]  # fmt: skip


@dataclass
class Comparison:
    """The differences between run A and run B."""

    a: str
    b: str
    threshold: float
    exact: pd.DataFrame
    timings: pd.DataFrame
    only_a: list[str] = field(default_factory=list)
    #: cases of both runs with fewer repeats in B than in A: "case (B has n of m repeats)"
    short_b: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    matched: int = 0
    provenance: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    torn: bool = False
    paired_ignoring: tuple[str, ...] = ()
    #: why no timing was judged (a run measured under load), or None
    unjudged: str | None = None

    @property
    def regressions(self) -> pd.DataFrame:
        return self.timings[self.timings["flag"] == "slower"]

    @property
    def incomplete(self) -> bool:
        """Cases of A missing from B (lost or torn rows), repeats of A's cases missing from B,
        or a torn row in either run."""
        return bool(self.only_a) or bool(self.short_b) or self.torn

    @property
    def verdict(self) -> str:
        """One word: incomplete, changed (an exact figure), slower, or equal."""
        if self.incomplete:
            return "incomplete"
        if not self.exact.empty:
            return "changed"
        return "slower" if not self.regressions.empty else "equal"

    def exit_status(self, *, fail_on_slower: bool = False) -> int:
        """1 when an exact figure changed or the comparison is incomplete, or (only if
        ``fail_on_slower``) a timing was flagged slower; else 0."""
        if not self.exact.empty or self.incomplete:
            return 1
        return 1 if fail_on_slower and not self.regressions.empty else 0


def _cell_text(value: Any) -> str:
    """An identity cell as text that reads the same from any run (NaN as '', 2.0 as '2')."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pair_keys(df: pd.DataFrame, ignored: tuple[str, ...], label: str) -> pd.Series:
    """Each row's pairing key: its case id, or its identity columns but ``ignored``; a key
    shared by two cases of one run is refused (pairing would merge them)."""
    from odebench.running.results import CASE_FIELDS

    if not ignored:
        return df["case_id"].astype(str)
    cols = [c for c in CASE_FIELDS if c not in ignored and c in df.columns]
    keys = df[cols].apply(lambda row: "|".join(_cell_text(v) for v in row), axis=1)
    ids = df.groupby(keys)["case_id"].nunique()
    if (ids > 1).any():
        merged = df[keys == ids[ids > 1].index[0]]["case_id"].unique()[:2]
        raise _input_error(
            f"ignoring {', '.join(ignored)} leaves cases of run {label} that differ only there "
            f"({', '.join(map(str, merged))}), which would be merged: ignore fewer identity "
            "columns, or compare one part of the run at a time."
        )
    return keys


def _differing_identity(dfa: pd.DataFrame, dfb: pd.DataFrame, ignored: tuple[str, ...]) -> str:
    """The identity columns whose values differ between the runs, with the values."""
    from odebench.running.results import CASE_FIELDS

    parts = []
    for col in CASE_FIELDS:
        if col in ignored or col not in dfa.columns or col not in dfb.columns:
            continue
        va = sorted({_cell_text(v) for v in dfa[col]})
        vb = sorted({_cell_text(v) for v in dfb[col]})
        if va != vb:
            parts.append(f"{col} (A: {', '.join(v or '-' for v in va[:3])}; "
                         f"B: {', '.join(v or '-' for v in vb[:3])})")  # fmt: skip
    return "; ".join(parts)


def _passes(rows: pd.DataFrame) -> int:
    """Timed passes over a case's repeats (each row's median is over ``timed_passes``)."""
    import pandas as pd

    per = pd.to_numeric(rows["timed_passes"], errors="coerce").fillna(1)
    return int(per.clip(lower=1).sum())


def _timing_rows(
    cid: str, ra: pd.DataFrame, rb: pd.DataFrame, threshold: float, unjudged: str | None = None
) -> list[dict]:
    import pandas as pd

    from odebench.reading.analysis import TIMINGS, UNSTABLE, relative_spread

    out = []
    for col, iqr_col in TIMINGS.items():
        oka = ra[(ra["status"] == "ok") & pd.to_numeric(ra[col]).notna()]
        okb = rb[(rb["status"] == "ok") & pd.to_numeric(rb[col]).notna()]
        if oka.empty or okb.empty:
            continue
        ma = [float(v) for v in pd.to_numeric(oka[col])]
        mb = [float(v) for v in pd.to_numeric(okb[col])]
        ta, tb = float(pd.Series(ma).median()), float(pd.Series(mb).median())
        if ta <= 0:
            continue
        qa = [0.0 if pd.isna(v) else float(v) for v in pd.to_numeric(oka[iqr_col])]
        qb = [0.0 if pd.isna(v) else float(v) for v in pd.to_numeric(okb[iqr_col])]
        na, nb = _passes(oka), _passes(okb)
        p, test = (math.nan, unjudged) if unjudged else timing_test(ma, qa, na, mb, qb, nb)
        ratio = tb / ta
        beyond = not math.isnan(p) and p < ALPHA and abs(ratio - 1) > threshold
        flag = ("slower" if ratio > 1 else "faster") if beyond else ""
        spread_a = relative_spread(ta, pd.Series(qa).median())
        spread_b = relative_spread(tb, pd.Series(qb).median())
        out.append({
            "case_id": cid, "timing": col.removesuffix("_s").replace("time_", ""),
            "a_s": ta, "b_s": tb, "ratio": ratio, "passes_a": na, "passes_b": nb,
            "a_spread": spread_a, "b_spread": spread_b, "p_value": p, "test": test,
            "flag": flag, "unstable": bool(spread_a > UNSTABLE or spread_b > UNSTABLE),
        })  # fmt: skip
    return out


def compare(
    a: str | Path,
    b: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ignore_identity: tuple[str, ...] = (),
    despite_load: bool = False,
) -> Comparison:
    """Compare run ``a`` (before) with run ``b`` (after); see the module's docstring.

    ``ignore_identity``: identity columns (``device``, ``backend``, ...) the runs differ in
    on purpose; cases are then paired by all the others. Raises ``ResultsError`` when no
    case is in both runs, naming the identity columns that differ. Timings of a run measured
    under load (:func:`under_load`) are not judged unless ``despite_load``: on this
    project's shared machine, unchanged code compared with itself under load had 39 % of
    its timings flagged by the test (docs/timing.md).
    """
    import pandas as pd

    from odebench.running.results import CASE_FIELDS

    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold={threshold!r} must be a fraction >= 0 (0.1 for 10 %).")
    unknown = [c for c in ignore_identity if c not in CASE_FIELDS]
    if unknown:
        raise _input_error(f"cannot ignore {', '.join(unknown)}: not an identity column; choose "
                           f"from {', '.join(CASE_FIELDS)}.")  # fmt: skip
    run_a, run_b = load(a, "A"), load(b, "B")
    dfa, dfb = run_a.table, run_b.table
    ka = _pair_keys(dfa, tuple(ignore_identity), "A")
    kb = _pair_keys(dfb, tuple(ignore_identity), "B")
    cases_a = {str(k): rows for k, rows in dfa.groupby(ka, sort=False)}
    cases_b = {str(k): rows for k, rows in dfb.groupby(kb, sort=False)}
    common = [k for k in cases_a if k in cases_b]
    if not common:
        differ = _differing_identity(dfa, dfb, tuple(ignore_identity))
        raise _input_error(
            f"no case in common between A ({len(cases_a)} cases) and B ({len(cases_b)}): "
            + (f"they differ in identity columns {differ}; to pair cases that differ there "
               "on purpose, pass --ignore-identity with those columns (e.g. device)."
               if differ else "their case ids differ although no identity column does "
               "(runs of different odebench versions?): rerun A with this version.")
        )  # fmt: skip

    def label(rows: pd.DataFrame) -> str:
        return str(rows["case_id"].iloc[0])

    loaded = [label for label, run in (("A", run_a), ("B", run_b)) if under_load(run.provenance)]
    unjudged = None if despite_load or not loaded else (
        f"not judged: {' and '.join(loaded)} measured under load")  # fmt: skip
    exact: list[dict] = []
    timings: list[dict] = []
    for key in common:
        ra, rb = cases_a[key], cases_b[key]
        cid = label(ra)
        sa, sb = _value(ra, "status"), _value(rb, "status")
        figures = ("status",) if sa != "ok" or sb != "ok" else EXACT_FIGURES
        for col in figures:
            va, vb = _value(ra, col), _value(rb, col)
            if not _same(va, vb):
                exact.append({"case_id": cid, "figure": col, "a": va, "b": vb})
        if sa == "ok" and sb == "ok":
            timings += _timing_rows(cid, ra, rb, threshold, unjudged)
    keys = ("commit", "date", "torch", "threads", "cpu", "device", "load_average")
    pa, pb = run_a.provenance, run_b.provenance
    prov = [(k, _text(pa.get(k)), _text(pb.get(k))) for k in keys if k in pa or k in pb]
    return Comparison(
        a=str(a), b=str(b), threshold=float(threshold),
        exact=pd.DataFrame(exact, columns=["case_id", "figure", "a", "b"]),
        timings=pd.DataFrame(timings, columns=TIMING_COLUMNS),
        only_a=[label(cases_a[k]) for k in cases_a if k not in cases_b],
        short_b=[f"{label(cases_a[k])} (B has {len(cases_b[k])} of {len(cases_a[k])} repeats)"
                 for k in common if len(cases_b[k]) < len(cases_a[k])],
        only_b=[label(cases_b[k]) for k in cases_b if k not in cases_a],
        matched=len(common), provenance=prov, notes=run_a.notes + run_b.notes,
        torn=run_a.torn or run_b.torn, paired_ignoring=tuple(ignore_identity),
        unjudged=unjudged,
    )  # fmt: skip


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " / ".join(_text(v) for v in value)
    return str(value)
