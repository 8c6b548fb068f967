"""mkdocs hooks: the pages generated from the code and the committed results at build time.

- ``results-columns.md``: its ``<!-- odebench:columns -->`` marker becomes the columns tables
  of :mod:`odebench.running.columns` (the results schema's own names), so it cannot drift;
- ``results/<folder>.md``: one page per reference results folder, from its tables and
  ``provenance.json`` (never hand-copied figures);
- ``cli.md``: every subcommand's ``--help``, as the parser prints it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
if str(ROOT) not in sys.path:  # document this tree's odebench, whatever is installed
    sys.path.insert(0, str(ROOT))
#: The reference results folders with a page, and what each answers.
FOLDERS: dict[str, str] = {
    "quick": "the quick suite: memory, NFE and error of every gradient mode in minutes",
    "gradients": "the five gradient modes side by side (memory, NFE-B, gradient error, time)",
    "backends": "torchdiffeq against torchode on the same cases, both gradient modes",
    "table1": "the paper's Table 1 on MNIST at the default budget",
    "table1_short": "the trained ODE-Net's Figure 3 measurements on a short budget",
    "table2": "the paper's Table 2: latent ODE against RNNs on spirals",
    "table2_long": "Table 2 at the full budget (4,000 iterations)",
}
#: Figures of the committed results shown in the docs: results path -> docs path.
FIGURES: dict[str, str] = {"quick/plots/memory_vs_steps.png": "assets/memory_vs_steps.png"}
PROVENANCE_KEYS = ("command", "commit", "date", "torch", "torchdiffeq", "python", "platform",
                   "cpu", "cpu_count", "threads", "device", "gpu", "load_average")  # fmt: skip


def _demote(markdown: str) -> str:
    """Headings one level down, so the generated page keeps a single title."""
    return re.sub(r"^(#{1,5}) ", r"#\1 ", markdown, flags=re.MULTILINE)


def _provenance(folder: Path) -> str:
    path = folder / "provenance.json"
    if not path.exists():
        return "No `provenance.json`: this folder's origin is not recorded.\n"
    info = json.loads(path.read_text())
    rows = ["| field | value |", "|---|---|"]
    for key in PROVENANCE_KEYS:
        value = info.get(key)
        if value in (None, "", []):
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        text = str(value).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {key} | `{text}` |" if key in ("command", "commit") else
                    f"| {key} | {text} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def results_page(name: str) -> str:
    """The page of ``results/<name>/``: what it answers, its provenance, then its tables."""
    folder = RESULTS / name
    parts = [f"# results/{name}", "", f"{FOLDERS[name][0].upper()}{FOLDERS[name][1:]}.", "",
             "Generated when the site is built from the folder's committed tables and "
             "provenance; regenerate the folder with the command below, from a clean commit.", "",
             "## Provenance", "", _provenance(folder)]  # fmt: skip
    tables = sorted(folder.glob("table*.md"))
    if tables:
        for table in tables:
            parts += [_demote(table.read_text()), ""]
    elif (folder / "results.csv").exists():
        from odebench.reading.report import render
        from odebench.running.provenance import read_provenance
        from odebench.running.results import read_results

        report = render(read_results(folder / "results.csv"), read_provenance(folder),
                        fmt="md", figures={})  # fmt: skip
        parts += [re.sub(r"^# .*\n", "", report, count=1)]  # its sections beside Provenance
    return "\n".join(parts)


def cli_page() -> str:
    """Every subcommand's ``--help`` as the parser prints it."""
    from odebench.cli.app import build_parser

    os.environ["COLUMNS"] = "80"  # fits the page's code block without scrolling
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = ["# Command line", "",
             "Generated from the parser when the site is built: what `odebench <command> "
             "--help` prints. Lists are comma-separated everywhere (`--models a,b`); budgets "
             "are `quick` (minutes), `default` (the reference run) and `full` (the paper's "
             "ranges); every command that prints a table takes `--format table|json|csv`.",
             "", "```text", parser.format_help().rstrip(), "```", ""]  # fmt: skip
    for name, command in sub.choices.items():
        parts += [f"## odebench {name}", "", "```text", command.format_help().rstrip(), "```",
                  ""]  # fmt: skip
    return "\n".join(parts)


def on_files(files: Files, config) -> Files:  # noqa: ANN001 (mkdocs' config object)
    for name in FOLDERS:
        files.append(File.generated(config, f"results/{name}.md", content=results_page(name)))
    files.append(File.generated(config, "cli.md", content=cli_page()))
    for src, dest in FIGURES.items():  # the results' own figures, not copies in docs/
        files.append(File.generated(config, dest, abs_src_path=str(RESULTS / src)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    if "<!-- odebench:columns -->" in markdown:
        from odebench.running.columns import columns_markdown

        markdown = markdown.replace("<!-- odebench:columns -->", columns_markdown())
    return markdown


def on_page_content(html: str, page, config, files) -> str:  # noqa: ANN001
    """Docstrings are written for Sphinx: drop the role before an inline name
    (``:class:`X``` renders as ``:class:<code>X</code>``), keeping the name."""
    return re.sub(r":(?:class|mod|func|data|meth|attr|exc|obj):(?=<code)", "", html)
