"""``python -m semgen``: the same entry point as the ``semgen`` console script."""

import sys

from semgen.cli import main

sys.exit(main())
