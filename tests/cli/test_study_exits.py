"""coldstart, overhead and capacity run the same preflight as `run`: exit 2 when it fails, 1 when every probe failed."""

from __future__ import annotations

import json
import socket

from tests.cli.test_cli_inputs import FIXED, loadkit
from tests.support.simproc import start_simulator

KEY = "sk-study-key-7777"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_coldstart_against_nothing_exits_2_not_warm(tmp_path):
    proc = loadkit("coldstart", "--host", f"http://127.0.0.1:{_closed_port()}/v1", "--json", str(tmp_path / "c.json"))
    assert proc.returncode == 2, proc.stdout
    assert "cannot reach http://127.0.0.1" in proc.stderr and "warm" not in proc.stdout
    assert not (tmp_path / "c.json").exists()


def test_coldstart_where_every_probe_fails_exits_1(tmp_path):
    # Preflight passes (a 500 is the gateway's problem, not a bad key or host); every probe then fails.
    with start_simulator(*FIXED, "--error-rate", "1") as sim:
        proc = loadkit("coldstart", "--host", sim.base_url, "--models", "gpt-4o-mini", "--gaps", "0",
                       "--repeats", "1", "--followups", "0", "--connection-pairs", "1", "--json", str(tmp_path / "c.json"))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "every probe failed" in proc.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["models"]["gpt-4o-mini"]["gaps"][0]["failures"] == 1


def test_overhead_without_the_key_exits_2_naming_the_key(tmp_path):
    with start_simulator(*FIXED, "--api-key", KEY) as sim:
        proc = loadkit("overhead", "--gateway", sim.base_url, "--direct", sim.base_url, "--pairs", "2",
                       "--json", str(tmp_path / "o.json"))
        served = sim.stats()["chat_requests_total"]
    assert proc.returncode == 2, proc.stdout
    assert "the API key was rejected; set LOADKIT_API_KEY" in proc.stderr
    assert served == 0 and not (tmp_path / "o.json").exists()


def test_overhead_takes_the_run_settings_names_and_the_old_key_spelling(tmp_path):
    with start_simulator(*FIXED, "--api-key", KEY) as sim:
        proc = loadkit("overhead", "--host", sim.base_url, "--direct", sim.base_url, "--pairs", "3",
                       "--models", "gpt-4o-mini", "--api-key-env", "STUDY_KEY", "--timeout-s", "30s",
                       "--json", str(tmp_path / "o.json"), env_extra={"STUDY_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["models"]["gpt-4o-mini"]["pairs"] == 3
    assert KEY not in proc.stdout + proc.stderr + (tmp_path / "o.json").read_text()


def test_capacity_with_a_failing_preflight_exits_2(tmp_path):
    proc = loadkit("capacity", "--host", f"http://127.0.0.1:{_closed_port()}/v1", "--out", str(tmp_path / "cap"))
    assert proc.returncode == 2 and "cannot reach" in proc.stderr
