"""What every subcommand shares: typed option values, the parser and its help layout, the
run options (``run`` and ``profile``), and the checks made before anything is written."""

from __future__ import annotations

import argparse
import errno
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_RESULTS = Path("results")
#: Errors of writing that the user fixes outside odebench (disk, quota, size limit, rights).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES})


class UsageError(ValueError):
    """A command-line option that cannot work; the message names the fix."""


# --- option types: each rejects a bad value with the fix, before anything runs --------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1; give a whole number >= 1")
    return value


def nonnegative_int(text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number of seconds > 0")
    return value


def device(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda or cuda:N")
    return text


def shape(text: str) -> tuple[int, ...]:
    from odebench.experiments.profile import parse_shape

    return parse_shape(text)


def span(text: str) -> tuple[float, float]:
    try:
        t0, t1 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not T0,T1 (e.g. 0,1)") from None
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise argparse.ArgumentTypeError(f"{text}: need finite times with T1 > T0")
    return t0, t1


def positive_float(text: str) -> float:
    """A finite number > 0 (a tolerance, a learning rate, a standard deviation)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give one > 0") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


def choice(*names: str) -> Callable[[str], str]:
    """One of ``names`` (for items of a comma list, where argparse's choices cannot look)."""

    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(names)}")
        return text

    parse.__name__ = "choice"
    return parse


#: The budget names of every subcommand that has a budget, with one meaning everywhere.
BUDGET_NAMES: tuple[str, ...] = ("quick", "default", "full")


def budget(renamed: dict[str, str] | None = None) -> Callable[[str], str]:
    """``--budget quick|default|full``; an old name (``renamed``: old -> new) is refused with
    a one-line hint naming the new one."""
    renamed = renamed or {}

    def parse(text: str) -> str:
        if text in renamed:
            raise argparse.ArgumentTypeError(
                f"budget {text!r} is now called {renamed[text]!r}; pass --budget {renamed[text]}"
            )
        if text not in BUDGET_NAMES:
            raise argparse.ArgumentTypeError(f"{text!r} is not a budget; choose one of "
                                             f"{', '.join(BUDGET_NAMES)}")  # fmt: skip
        return text

    parse.__name__ = "budget"
    return parse


def add_renamed_option(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Refuse an option's old name with a one-line hint naming the new one (hidden in --help)."""

    class Renamed(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
            parser.error(f"{old} is now {new}; pass {new} instead")

    parser.add_argument(old, nargs="?", action=Renamed, help=argparse.SUPPRESS)


def plain(doc: str | None) -> str:
    """A docstring as plain text for ``--help``: no reST double backticks or roles."""
    text = re.sub(r":(?:mod|class|func|meth|attr):`~?([^`]+)`", r"\1", doc or "")
    return text.replace("``", "")


def check_new_outputs(paths: list[Path], *, force: bool) -> None:
    """The overwrite rule of every command that writes: refuse to replace an existing output
    unless ``--force`` (validated before anything is written)."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} already exist(s); pass --force to replace, or "
                         "--out a new folder.")  # fmt: skip


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value; give some text")
    return text


def comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    """The one list syntax of every subcommand: comma-separated (``--models a,b``), each item
    checked by ``item``; an empty item (``a,,b``) is refused."""

    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list; e.g. a,b,c (no spaces, no empty item)"
            )
        return tuple(item(p) for p in parts)

    parse.__name__ = f"list of {getattr(item, '__name__', 'values')}"
    return parse


#: What a command that prints a table can print it as (``--format``).
FORMATS: tuple[str, ...] = ("table", "json", "csv")


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """``--format table|json|csv``: the same option wherever a command prints a table."""
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table: for reading; json or csv: for scripts (stdout holds "
                        "only the data)")  # fmt: skip


def emit_table(table: Any, fmt: str, *, text: str | None = None) -> None:
    """Print a pandas table as ``fmt``: ``table`` prints ``text`` (the command's own words)
    or the table itself; ``json`` one record per row; ``csv`` with a header."""
    import sys

    if fmt == "json":
        sys.stdout.write(table.to_json(orient="records", indent=2) + "\n")
    elif fmt == "csv":
        table.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write((text if text is not None else table.to_string(index=False)) + "\n")


class Formatter(argparse.HelpFormatter):
    """Shows each option's default (when it has one worth showing) after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and not any(default is v for v in (None, False, argparse.SUPPRESS))
            and default != []
            and action.option_strings
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            text += " (default: %(default)s)"
        return text


class DocFormatter(argparse.RawDescriptionHelpFormatter, Formatter):
    """Keeps a description's paragraphs (a module docstring made :func:`plain`), and defaults."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line naming the fix, exit status 2
        if message.startswith("unrecognized arguments"):  # most often a space-separated list
            message += "; lists are comma-separated (e.g. --seeds 0,1,2)"
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# --- run ------------------------------------------------------------------------------------


def check_device(device: str) -> None:
    from odebench.benchmark.measure import DeviceUnavailableError, check_device

    try:
        check_device(device)
    except DeviceUnavailableError as exc:
        raise UsageError(str(exc)) from None


def check_out_folder(out: str | None) -> None:
    from odebench.running.folders import check_folder_path

    if out is not None:
        check_folder_path(out)


def run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run into a results folder (``run`` and ``profile``)."""
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in the folder: run only the missing cases",
    )
    again.add_argument("--force", action="store_true",
                       help="start over in a folder that holds a run (moved to "
                       "<folder>.backup-<time> first)")  # fmt: skip
    parser.add_argument("--retry-failed", action="store_true",
                     help="with resume: run again the cases recorded as failed, timeout or "
                     "crashed (the new row is appended; the latest counts)")  # fmt: skip
    parser.add_argument("--repeats", type=positive_int, default=1,
                     help="rows per case: independent repeats of each case (each with the "
                     "case's own timed passes)")  # fmt: skip
    parser.add_argument("--timeout", type=seconds, default=600.0,
                     help="seconds per case (inline: SIGALRM in this process; slurm: rounded "
                     "up to whole minutes, plus one)")  # fmt: skip
    parser.add_argument("--executor", choices=("local", "inline", "slurm"), default="local",
                     help="local: child processes; slurm: submitit; inline: this process, "
                     "no isolation (for debugging)")  # fmt: skip
    parser.add_argument("--device", type=device, default="cpu",
                        help="cpu, cuda or cuda:N (slurm: on the job's node)")
    parser.add_argument("--threads", type=positive_int,
                     help="torch threads in every worker (default: torch's own)")  # fmt: skip
    parser.add_argument("--jobs", type=positive_int, default=1,
                     help="workers measuring exact meters (NFE, saved bytes, errors) side by "
                     "side; timed and RSS meters still run alone (local executor)")  # fmt: skip
    parser.add_argument("--no-report", action="store_true", help="skip the report and plots")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


