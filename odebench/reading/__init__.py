"""Reading results: ``analysis`` computes every table, fit and verdict from a results table;
``frontier`` the cheapest mode per accuracy target; ``report``, ``plots`` and ``compare`` render
what it returns (``templates/`` holds the Markdown and HTML).

Imports only the running layer (the results store) and the layers below it.
"""
