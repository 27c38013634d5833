"""The simulator as a process: startup line, port file, flags, signals, plain routes."""

import json
import os
import subprocess
import sys

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


def test_public_surface():
    import loadkit.simulator as simulator

    assert sorted(simulator.__all__) == [
        "Simulator", "SimulatorConfig", "SimulatorConfigError", "build_parser", "main", "parse_args", "serve",
    ]
    assert all(hasattr(simulator, name) for name in simulator.__all__)


def test_simulator_imports_nothing_from_the_rest_of_loadkit():
    import ast

    package = REPO_ROOT / "loadkit" / "simulator"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from a parent package"
                if node.level == 0 and node.module:
                    assert not node.module.startswith("loadkit") or node.module.startswith("loadkit.simulator"), path
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("loadkit") or alias.name.startswith("loadkit.simulator"), path


def test_parse_args_defaults_and_per_model_values():
    from loadkit.simulator import parse_args

    config = parse_args(["--rpm", "600", "--rpm", "gpt-4o-mini=60", "--max-concurrency", "claude-4-haiku=2"], environ={})
    assert config.rpm_for("gpt-4o-mini") == 60 and config.rpm_for("gpt-4o") == 600
    assert config.max_concurrency_for("claude-4-haiku") == 2 and config.max_concurrency_for("gpt-4o") is None
    assert config.cold_start_ms_for("claude-4-haiku") == 1813 and config.cold_start_ms_for("gpt-4o-mini") == 1197
    assert config.cold_start_ms_for("gpt-4o") == 600 and config.error_rate == 0.003
    assert parse_args(["--profile", "zero"], environ={}).cold_start_ms_for("gpt-4o") == 0
    assert parse_args(["--cold-start-ms", "0", "--profile", "fixed"], environ={}).cold_start_ms_for("claude-4-haiku") == 0
    assert parse_args([], environ={"LOADKIT_SIM_API_KEY": "k"}).api_key == "k"
    assert "sk-secret-xyz" not in repr(parse_args([], environ={"LOADKIT_SIM_API_KEY": "sk-secret-xyz"}))
