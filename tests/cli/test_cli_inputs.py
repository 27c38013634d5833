"""The command line as people type it: repeated --slo-check, inline --slo, typo'd LOADKIT_* variables,
--version, `loadkit simulate --port 0`, real boolean flags, --spawn-rate 0 and the /v1 hint.

Real `loadkit` subprocesses against the real simulator on port 0."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path


from tests.support.simproc import start_simulator
from tests.support import loadkit_free_env

ROOT = Path(__file__).resolve().parents[2]
FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=10,itl_ms=2,tokens=5", "--cold-start-ms", "0")


def loadkit(*args: str, env_extra: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = loadkit_free_env()
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "loadkit.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_every_slo_check_counts_and_the_impossible_one_fails_the_run(tmp_path):
    with start_simulator(*FIXED) as sim:
        proc = loadkit("run", "--host", sim.base_url, "--users", "2", "--run-time", "3s",
                       "--results-dir", str(tmp_path), "--run-id", "slo",
                       "--slo", "e2e_ms.p99 < 100000",            # inline: not a file
                       "--slo-check", "ttft_ms.p95 < 1",           # impossible: 10 ms TTFT
                       "--slo-check", "e2e_ms.p99 < 100000")
    assert proc.returncode == 1, proc.stderr[-2000:]
    cases = list(ET.parse(tmp_path / "slo" / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == 3, [c.get("name") for c in cases]  # one testcase per check, none dropped
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert len(failed) == 1 and "ttft_ms.p95" in failed[0], failed


def test_inline_slo_is_checked_and_a_missing_file_says_what_to_give():
    ok = loadkit("check", "--slo", "ttft_ms.p95 < 1000; gpt-4o-mini:success_rate >= 0.99")
    assert ok.returncode == 0 and "2 SLO check(s) OK" in ok.stdout, ok.stderr
    missing = loadkit("check", "--slo", "no-such-slo.toml")
    assert missing.returncode == 2
    assert "no such SLO file" in missing.stderr and "inline check" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0


def test_a_misspelled_loadkit_variable_is_refused_naming_the_real_one(tmp_path):
    proc = loadkit("run", "--results-dir", str(tmp_path / "results"), env_extra={"LOADKIT_USRES": "3"})
    assert proc.returncode == 2
    assert "LOADKIT_USRES" in proc.stderr and "did you mean LOADKIT_USERS?" in proc.stderr
    assert not (tmp_path / "results").exists()
    # the variables loadkit itself sets for its children are not typos
    known = loadkit("check", env_extra={"LOADKIT_RUN_ID": "x", "LOADKIT_PREFLIGHT_FILE": "/nonexistent",
                                        "LOADKIT_REQUIRE_WORKERS": "2", "LOADKIT_COLDSTART_GAPS": "0,1h30m"})
    assert known.returncode == 0, known.stderr


def test_version_names_loadkit_python_and_locust():
    proc = loadkit("--version")
    assert proc.returncode == 0
    assert re.match(r"loadkit \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+, Locust \d", proc.stdout), proc.stdout


def test_simulate_passes_its_arguments_through():
    env = loadkit_free_env()
    proc = subprocess.Popen([sys.executable, "-m", "loadkit.cli", "simulate", "--port", "0", "--host", "127.0.0.1",
                             "--profile", "zero"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()  # blocks until the listening line or EOF (the process exited)
        match = re.match(r"loadkit-simulator listening on (http://\S+)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        with urllib.request.urlopen(match.group(1) + "/_sim/config", timeout=10) as resp:
            assert b'"zero"' in resp.read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_booleans_are_flags_and_still_take_a_value():
    from loadkit.cli.main import build_parser
    from loadkit.cli.options import settings_from_args

    parse = build_parser().parse_args
    s = settings_from_args(parse(["check", "--insecure", "--no-stream"]), env={})
    assert (s.insecure, s.stream) == (True, False)
    s = settings_from_args(parse(["check", "--insecure", "true", "--stream", "false"]), env={})
    assert (s.insecure, s.stream) == (True, False)
    s = settings_from_args(parse(["check", "--stream"]), env={"LOADKIT_STREAM": "false"})
    assert s.stream is True  # the flag beats the environment
    s = settings_from_args(parse(["coldstart", "--host", "http://x/v1", "--gaps", "0,1h30m", "--timeout-s", "1m"]), env={})
    assert s.coldstart_gaps == (0.0, 5400.0) and s.timeout_s == 60.0


def test_spawn_rate_0_is_refused_before_load_and_leaves_no_folder(tmp_path):
    proc = loadkit("run", "--spawn-rate", "0", "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 2 and "spawn_rate = '0' is invalid" in proc.stderr
    assert not (tmp_path / "results").exists()
    assert loadkit("check", "--spawn-rate", "0").returncode == 2


def test_a_host_without_v1_gets_the_hint_to_add_it():
    with start_simulator(*FIXED) as sim:
        proc = loadkit("check", "--gateway", "--host", sim.url)
    assert proc.returncode == 2
    assert f"add /v1 to --host (e.g. --host {sim.url}/v1)" in proc.stderr, proc.stderr
