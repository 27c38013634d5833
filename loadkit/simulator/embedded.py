"""Start the simulator as a child process for a command that was given no --host.

``loadkit run`` and ``loadkit capacity`` use it; the child gets its own process
group so a Ctrl-C in the terminal reaches loadkit first, which then stops it
after the load has drained (not while requests are still in flight).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["EmbeddedSimulator", "EmbeddedSimulatorError", "start_embedded_simulator", "stop_process"]

START_TIMEOUT_S = 15.0


class EmbeddedSimulatorError(RuntimeError):
    """The simulator child exited or did not listen in time (the message has the end of its log)."""


class EmbeddedSimulator:
    """A running ``python -m loadkit.simulator`` child: ``base_url`` (…/v1), ``stop()``."""

    def __init__(self, proc: subprocess.Popen, base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    @property
    def root_url(self) -> str:
        """The URL without ``/v1`` (for ``/_sim/stats``)."""
        return self.base_url.rsplit("/v1", 1)[0]

    def stop(self) -> None:
        stop_process(self.proc)


def start_embedded_simulator(sim_args: str, work_dir: Path, profile: str = "") -> EmbeddedSimulator:
    """Start the simulator on a free port and wait until it listens; raises EmbeddedSimulatorError with its log."""
    port_file = work_dir / "sim.port"
    log_path = work_dir / "simulator.log"
    cmd = [sys.executable, "-m", "loadkit.simulator", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    if profile:
        cmd += ["--profile", profile]
    cmd += shlex.split(sim_args) if sim_args else []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return EmbeddedSimulator(proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1")
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(proc)
    raise EmbeddedSimulatorError(f"the embedded simulator did not start: {log_path.read_text()[-500:].strip()}")


def stop_process(proc: subprocess.Popen | None, timeout_s: float = 5.0) -> None:
    """Terminate a child and reap it; kill it if it does not stop within ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)
