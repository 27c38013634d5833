"""Start the gateway simulator as a real process on a free port, for tests.

    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=50") as sim:
        httpx.get(sim.base_url + "/models")
        sim.stats()["chat_requests_total"]
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 10.0
_LISTENING = re.compile(r"^loadkit-simulator listening on (http://\S+)$")


class SimulatorStartError(RuntimeError):
    """The simulator process exited or did not announce its port in time."""


class SimProcess:
    """A running ``python -m loadkit.simulator`` process; a context manager."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str] | None = None):
        self.args = args
        self._env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``url + "/v1"``)."""
        return self.url + "/v1"

    def start(self) -> "SimProcess":
        """Start the process and wait for its listening line; raise `SimulatorStartError`."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        if self._env:
            env.update(self._env)
        cmd = [sys.executable, "-m", "loadkit.simulator", "--host", "127.0.0.1", "--port", "0", *self.args]
        # stderr goes to a file, not a pipe nobody drains (a full pipe would block the server)
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1
        )
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        try:
            while time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    line = self.proc.stdout.readline()
                    match = _LISTENING.match(line.strip())
                    if match:
                        self.url = match.group(1)
                        self.port = int(self.url.rsplit(":", 1)[1])
                        return self
                    if line == "":  # EOF: the process exited
                        break
        finally:
            selector.close()
        self._kill()
        stderr = self.stderr_text()
        raise SimulatorStartError(
            f"simulator did not start (args {list(self.args)}, exit {self.proc.returncode}): "
            f"stdout {line!r}, stderr: {stderr.strip()}"
        )

    def stderr_text(self) -> str:
        """Return what the process wrote to stderr so far."""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def _get_json(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        """Return ``GET /_sim/stats``."""
        return self._get_json("/_sim/stats")

    def reset_stats(self) -> dict:
        """``POST /_sim/reset``."""
        return self._get_json("/_sim/reset", "POST")

    def config(self) -> dict:
        """Return ``GET /_sim/config``."""
        return self._get_json("/_sim/config")

    def stop(self, timeout_s: float = 5.0) -> int:
        """Send SIGTERM, wait, and return the exit code (kills after ``timeout_s``)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> "SimProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def fixed_args(ttft_ms: float, itl_ms: float, tokens: int, cold_start_ms: float = 0) -> tuple[str, ...]:
    """The flags of a fixed-timing simulator (``--profile fixed``), no cold start unless asked."""
    return ("--profile", "fixed", "--fixed", f"ttft_ms={ttft_ms:g},itl_ms={itl_ms:g},tokens={tokens}",
            "--cold-start-ms", f"{cold_start_ms:g}")


def start_simulator(*args: str, env: dict[str, str] | None = None) -> SimProcess:
    """Start the simulator with extra flags on a free port; use as a context manager."""
    return SimProcess(tuple(args), env).start()


def timed_sse_events(url: str, body: dict, headers: dict | None = None, timeout_s: float = 30.0, client=None):
    """POST a streaming chat request; return (status, response headers, sent_at_s,
    [(received_at_s, data string)]) with ``time.perf_counter`` times, one entry per
    SSE ``data:`` event in arrival order.  Uses a plain ``httpx.Client`` (pass a
    warm keep-alive one for timing: a new client pays a TCP connect first)."""
    import contextlib

    import httpx

    events: list[tuple[float, str]] = []
    pending = b""
    owned = client is None
    with httpx.Client(timeout=timeout_s) if owned else contextlib.nullcontext(client) as client:
        sent_at = time.perf_counter()
        with client.stream("POST", url, json=body, headers=headers or {}) as response:
            for piece in response.iter_raw():
                now = time.perf_counter()
                pending += piece
                while b"\n\n" in pending:
                    raw, pending = pending.split(b"\n\n", 1)
                    for line in raw.decode().splitlines():
                        if line.startswith("data: "):
                            events.append((now, line[6:]))
            return response.status_code, dict(response.headers), sent_at, events
