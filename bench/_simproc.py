"""Start the gateway simulator for a benchmark: one helper for every bench/ script.

The simulator writes its bound port to a file (``--port-file``): nothing reads its stdout, so no pipe can fill
and block it; stderr goes to a file that is shown if it does not start.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 15.0


def start_simulator(args: list[str], cpus: str | None = None,
                    timeout_s: float = START_TIMEOUT_S) -> tuple[subprocess.Popen, str]:
    """``(process, "http://127.0.0.1:PORT")`` of ``python -m loadkit.simulator`` with ``args`` on a free port.

    ``cpus`` (taskset's list, e.g. ``"1"`` or ``"0,1"``) pins it where taskset exists. SystemExit with the
    simulator's stderr when it does not announce a port within ``timeout_s``."""
    workdir = Path(tempfile.mkdtemp(prefix="loadkit-bench-sim-"))
    atexit.register(shutil.rmtree, workdir, True)
    port_file = workdir / "sim.port"
    cmd = [sys.executable, "-m", "loadkit.simulator", "--host", "127.0.0.1", "--port", "0",
           "--port-file", str(port_file), *args]
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus, *cmd]
    with open(workdir / "stderr", "w") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        port = port_file.read_text().strip() if port_file.exists() else ""
        if port:
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    raise SystemExit(f"simulator did not start ({' '.join(cmd)}): {(workdir / 'stderr').read_text()[-2000:]}")
