"""Reading results. Compute: ``analysis`` (schema-aware helpers), ``tables`` (fits, NFE,
work-precision, time), ``frontier`` and ``decision`` (which gradient method, at which
tolerance), ``headline``, ``comparison`` and ``significance`` (two runs). Render: ``report``,
``plots/`` and ``compare`` show what those return (``templates/`` holds the Markdown and HTML).

Imports only the running layer (the results store) and the layers below it.
"""
