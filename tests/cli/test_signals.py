"""SIGTERM and Ctrl-C stop `loadkit run` like the end of --run-time, marked interrupted, exit 143/130.

A real `loadkit run` in its own session (as a shell runs it: a terminal's Ctrl-C goes to its
process group), the real embedded simulator, real Locust."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from tests.support.browser import poll
from tests.support import loadkit_free_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum, expected_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_writes_an_interrupted_summary_and_stops_the_simulator(tmp_path, signum, expected_code):
    env = loadkit_free_env()
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr, open(tmp_path / "stdout.txt", "w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "loadkit.cli", "run", "--users", "3", "--spawn-rate", "3",
                                 "--run-time", "120s", "--sim-profile", "smoke", "--stop-timeout", "20s",
                                 "--results-dir", str(tmp_path / "results"), "--run-id", "sig"],
                                cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        poll(lambda: "All users spawned" in stderr_path.read_text(), 60, "Locust to spawn its users")
        simulators = [p for p in psutil.Process(proc.pid).children(recursive=True)
                      if "loadkit.simulator" in " ".join(p.cmdline())]
        assert len(simulators) == 1
        # Some load first, so in-flight requests exist when the signal comes.
        poll(lambda: (tmp_path / "results" / "sig").is_dir(), 30, "the results folder")
        os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C / `timeout` / CI cancellation do
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    err = stderr_path.read_text()
    assert code == expected_code, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    summary = json.loads((tmp_path / "results" / "sig" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["stop_signal"] == signal.Signals(signum).name
    assert summary["exit_code"] == expected_code
    assert summary["totals"]["requests"] > 0
    # loadkit's own stop is not a gateway error: the smoke profile injects none, and users drained
    assert summary["totals"]["error_rate"] == 0.0, summary["totals"]["outcomes"]
    cases = list(ET.parse(tmp_path / "results" / "sig" / "junit.xml").getroot().iter("testcase"))
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["run not interrupted"]
    assert (tmp_path / "results" / "sig" / "report.html").is_file()
    for sim in simulators:
        assert not sim.is_running() or sim.status() == psutil.STATUS_ZOMBIE
