"""Shared test setup: the repository root on sys.path (for tests.support), and trust as information.

Every loadkit process a test starts inherits ``LOADKIT_UNTRUSTED_EXIT_CODE=0``: a test of counts, files
or outputs must not fail because a busy CI box made the generator fall behind (exit 3). The tests of the
trust verdict itself pass ``--untrusted-exit-code 3`` (or assert ``summary["trusted"]``). Fewer workers than
``--require-workers`` still exits 3 (core.slo.exit_code). And SIGINT is not ignored in the processes tests start.
"""

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("LOADKIT_UNTRUSTED_EXIT_CODE", "0")

# A shell that starts the suite in the background (`cmd &`, some CI runners) ignores SIGINT for it, and every
# child would inherit SIG_IGN: Python then installs no KeyboardInterrupt handler, and the tests of Ctrl-C would
# test nothing. A Python-level handler here is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
