"""``python -m loadkit.simulator``."""

import sys

from loadkit.simulator import main

sys.exit(main(sys.argv[1:]))
