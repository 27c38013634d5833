"""The command lines of a distributed run: one source for tests, Compose and Kubernetes.

``tests/distributed`` start master, workers and simulator with exactly these
argv lists (``python=sys.executable``); ``docker/docker-compose.yml`` and the
``k8s/`` manifests write the same lists out (``python="python"``), and
``tests/distributed/test_manifests.py`` parses those files and checks that
each container command is what these functions return for its values.

Settings that are not Locust's own (host, models, InfluxDB, API key,
``require_workers``) travel as ``LOADKIT_*`` environment variables, never as
arguments: they must reach workers too, and the key must not show in ``ps``.
"""

from __future__ import annotations

__all__ = ["MASTER_PORT", "WEB_PORT", "SIMULATOR_PORT", "COMPOSE_LOCUSTFILE", "K8S_LOCUSTFILE", "master_command",
           "worker_command", "simulator_command"]

MASTER_PORT = 5557
WEB_PORT = 8089
SIMULATOR_PORT = 8000
# Where the default locustfile is inside the image (docker/Dockerfile copies
# the package to /app) and where k8s mounts the locustfiles ConfigMap.
COMPOSE_LOCUSTFILE = "/app/loadkit/locustfiles/chat.py"
K8S_LOCUSTFILE = "/mnt/locustfiles/chat.py"


def master_command(
    locustfile: str,
    *,
    expect_workers: int,
    users: int,
    spawn_rate: float,
    run_time: str,
    host: str | None = None,
    headless: bool = True,
    stop_timeout_s: int = 10,
    bind_port: int = MASTER_PORT,
    python: str = "python",
) -> list[str]:
    """argv of a Locust master that waits for ``expect_workers`` workers, then runs.

    ``headless=False`` gives the web UI variant (port 8089; users, rate and run
    time become the form's defaults). ``host`` is the gateway base URL (or
    None to take ``LOADKIT_HOST`` from the environment)."""
    argv = [python, "-m", "locust", "-f", locustfile, "--master", "--master-bind-port", str(bind_port),
            "--expect-workers", str(expect_workers)]
    if headless:
        argv += ["--headless"]
    argv += ["-u", str(users), "-r", _number(spawn_rate), "-t", run_time, "--stop-timeout", str(stop_timeout_s)]
    if host:
        argv += ["--host", host]
    return argv


def worker_command(locustfile: str, *, master_host: str, master_port: int = MASTER_PORT,
                   python: str = "python") -> list[str]:
    """argv of a Locust worker that connects to the master at ``master_host:master_port``."""
    return [python, "-m", "locust", "-f", locustfile, "--worker", "--master-host", master_host,
            "--master-port", str(master_port)]


def simulator_command(*, bind: str = "0.0.0.0", port: int = SIMULATOR_PORT, profile: str = "reference",
                      extra: tuple[str, ...] = (), python: str = "python") -> list[str]:
    """argv of the gateway simulator listening on ``bind:port`` (``port=0``: a free port)."""
    return [python, "-m", "loadkit.simulator", "--host", bind, "--port", str(port), "--profile", profile, *extra]


def _number(value: float) -> str:
    """``8`` for 8.0, ``0.5`` for 0.5: the way a person writes it on a command line."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
