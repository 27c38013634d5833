"""``python -m loadkit.simulator``."""

import sys

from . import main

sys.exit(main(sys.argv[1:]))
