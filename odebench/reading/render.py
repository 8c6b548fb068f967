"""The Markdown and HTML templates (``templates/``) that the report and compare render."""

from __future__ import annotations

from typing import Any


def template(name: str) -> Any:
    """The jinja2 template ``name`` (HTML autoescaped; blocks trimmed)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("odebench.reading", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)
