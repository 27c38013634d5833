"""`loadkit report recompute` on a finished single-process run gives the live summary.json back (#13)."""

import shutil
import subprocess
import sys

import pytest

from tests.e2e.test_headless_run import ROOT, only_summary, run_loadkit
from tests.support.simproc import start_simulator
from tests.support.summaries import differences, read


def test_recompute_of_a_single_process_run_equals_the_live_summary(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=5,tokens=8", "--cold-start-ms", "0",
                         "--seed", "3") as sim:
        proc = run_loadkit(["--host", sim.base_url, "--users", "6", "--spawn-rate", "6", "--run-time", "6s"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    live, run_dir = only_summary(tmp_path)
    assert live["totals"]["requests"] > 100
    # what the live summary must carry for the comparison to mean something
    assert live["generator"]["cpu_percent_mean"] is not None and live["generator"]["loop_lag_ms"]["count"] > 0
    assert {"loadkit", "locust", "gevent", "python"} <= set(live["versions"])
    assert live["command_line"] and live["settings"]["users"] == 6
    assert sum(w["models"].get("gpt-4o-mini", {}).get("requests", 0) for w in live["windows"]["windows"]) == \
        live["models"]["gpt-4o-mini"]["requests"]
    for model, block in live["models"].items():
        assert block["cold_start"]["count_all_workers"] == block["cold_start"]["count"] == 1, model

    copy = tmp_path / "copy" / run_dir.name
    shutil.copytree(run_dir, copy)
    out = subprocess.run([sys.executable, "-m", "loadkit.cli", "report", "recompute", str(copy)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    recomputed = read(copy / "summary.json")
    assert differences(live, recomputed) == []
    assert recomputed["exit_code"] == live["exit_code"] == 0
