"""`python -m loadkit.cli` = the `loadkit` command."""

import sys

from loadkit.cli.main import main

sys.exit(main())
