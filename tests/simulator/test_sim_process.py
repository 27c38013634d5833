"""The simulator as a process: startup line, port file, flags, signals, plain routes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.simproc import REPO_ROOT, start_simulator


def run_cli(*args, timeout=10):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "loadkit.simulator", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT
    )


def test_listening_line_and_port_file(tmp_path):
    port_file = tmp_path / "port"
    with start_simulator("--port-file", str(port_file), "--profile", "zero") as sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}"
        assert port_file.read_text().strip() == str(sim.port)
        assert httpx.get(sim.url + "/health").text == "ok"
        assert sim.stop() == 0


def test_sigint_also_exits_cleanly():
    import signal

    with start_simulator("--profile", "zero") as sim:
        sim.proc.send_signal(signal.SIGINT)
        assert sim.proc.wait(timeout=5) == 0


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--auth-error-status", "999"], "--auth-error-status"),
        (["--fixed", "ttft=5"], "--fixed"),
        (["--rpm", "gpt-4o-mini=lots"], "--rpm"),
        (["--error-rate", "2"], "--error-rate"),
        (["--task-success", "gpt-4o:poetry=0.5"], "--task-success"),
        (["--upstream", "localhost:1"], "--upstream"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_flag_exits_2_with_one_clear_line(args, flag):
    result = run_cli("--port", "0", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert flag in lines[0]
    assert result.stdout == ""


def test_models_list_shape_and_custom_models():
    with start_simulator("--profile", "zero") as sim:
        data = httpx.get(sim.base_url + "/models").json()
        assert data["object"] == "list"
        ids = [m["id"] for m in data["data"]]
        assert ids[:2] == ["claude-4-haiku", "gpt-4o-mini"] and len(ids) == 8
        assert all(m["object"] == "model" and m["owned_by"] and isinstance(m["created"], int) for m in data["data"])
    with start_simulator("--profile", "zero", "--models", "a,b") as sim:
        assert [m["id"] for m in httpx.get(sim.base_url + "/models").json()["data"]] == ["a", "b"]


def test_config_route_never_shows_the_key():
    secret = "sk-very-secret-123"
    with start_simulator("--profile", "zero", "--api-key", secret) as sim:
        text = httpx.get(sim.url + "/_sim/config").text
        assert secret not in text
        assert json.loads(text)["api_key_required"] is True
        assert httpx.get(sim.base_url + "/models").status_code == 401
        assert httpx.get(sim.base_url + "/models", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        sim.stop()
        assert secret not in sim.stderr_text()
