"""loadkit's table is the last thing `loadkit run` prints: after Locust's own tables, ending with the results line."""

import os
import subprocess
import sys

from tests.support.cli import ROOT


def test_loadkit_table_comes_after_locusts_tables_and_the_results_line_is_last(tmp_path):
    env = dict(os.environ)
    env.pop("LOADKIT_API_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--results-dir", str(tmp_path), "--users", "2",
                           "--spawn-rate", "2", "--run-time", "2s", "--sim-profile", "smoke",
                           "--untrusted-exit-code", "0"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    out = proc.stdout
    locust_tables = out.rindex("Response time percentiles")
    loadkit_table = out.rindex("all models")
    assert locust_tables < loadkit_table, out[-3000:]
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert last.startswith("results: ") and last.endswith("(exit code 0)"), last
