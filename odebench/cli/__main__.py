"""``python -m odebench.cli``: the same as the ``odebench`` command."""

import sys

from odebench.cli.app import main

sys.exit(main())
