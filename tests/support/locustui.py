"""A real Locust web UI process (locustfiles/chat.py by default) against a simulator, for the web UI tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["start_locust_ui", "start_run", "stop_run"]


def start_locust_ui(sim, tmp_path: Path, *extra: str, locustfile: str = "locustfiles/chat.py",
                    run_id: str | None = None, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``(process, base URL)`` of a Locust web UI on a free port; results under ``tmp_path/results``."""
    import pytest

    port = free_port()
    full_env = dict(os.environ, LOADKIT_RESULTS_DIR=str(tmp_path / "results"), **(env or {}))
    full_env["LOADKIT_RUN_ID"] = run_id or f"webui-{port}"
    log_path = tmp_path / f"locust-{port}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", locustfile, "--web-host", "127.0.0.1",
                             "--web-port", str(port), "--host", sim.base_url, *extra],
                            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"locust web UI did not start: {log_path.read_text()[-2000:]}")


def start_run(url: str, users: int, spawn_rate: float | None = None) -> None:
    """Press Start with ``users`` (the form's POST /swarm)."""
    r = httpx.post(url + "/swarm", data={"user_count": users, "spawn_rate": spawn_rate or users}, timeout=10)
    r.raise_for_status()
    assert r.json().get("success"), r.text


def stop_run(url: str) -> None:
    """Press Stop (POST /stop)."""
    httpx.post(url + "/stop", timeout=30).raise_for_status()
