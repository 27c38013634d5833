"""Real containers for tests: the Docker engine, the images (built once per session) and Compose projects.

Nothing here is mocked: the images are built from docker/Dockerfile (on the
Debian-built base where no registry answers, docker/build-image.sh decides),
and each test runs its own Compose project (its own network and volumes) from
docker/docker-compose.yml plus the CI override docker/compose.ci.yml.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.waits import wait_until

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
IMAGE = "loadkit:local"
INFLUX_IMAGE = "loadkit-influxdb1:local"
BASE_IMAGE = "loadkit-base:bookworm"
ENGINE_INSTALL = "apt-get install -y docker.io docker-compose debootstrap && (dockerd >/var/log/dockerd.log 2>&1 &)"


def run(argv: list[str], timeout_s: float = 120.0, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command; a failure shows its output."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def require_engine() -> None:
    """Fail (never skip) with the install command when no Docker engine answers."""
    if shutil.which("docker") is None:
        pytest.fail(f"docker is not installed: {ENGINE_INSTALL}")
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.fail(f"no Docker engine answers ({info.stderr.strip()[:200]}); start one: {ENGINE_INSTALL}")


def compose_tool() -> list[str]:
    """`docker compose` (v2) where installed, else Debian's `docker-compose` 1.29 (as the Makefile)."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed: apt-get install -y docker-compose")


def build_images() -> dict[str, float]:
    """Build loadkit:local and the CI InfluxDB image (Docker's layer cache makes a rebuild cheap); seconds each."""
    times = {}
    start = time.monotonic()
    run([str(DOCKER / "build-image.sh"), IMAGE], timeout_s=1200, cwd=REPO)
    times[IMAGE] = time.monotonic() - start
    start = time.monotonic()
    run([str(DOCKER / "build-base.sh"), BASE_IMAGE], timeout_s=1200, cwd=REPO)
    run(["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-f",
         str(DOCKER / "influxdb1.Dockerfile"), "-t", INFLUX_IMAGE, str(DOCKER)], timeout_s=1200)
    times[INFLUX_IMAGE] = time.monotonic() - start
    return times


class ComposeProject:
    """One Compose project: its own name, network and volumes; ``down()`` removes all of them."""

    def __init__(self, tmp: Path, env: dict[str, str], extra_files: list[Path] = ()) -> None:
        self.name = f"lkt{uuid.uuid4().hex[:10]}"
        self.tmp = tmp
        self.env_file = tmp / "compose.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        files = [DOCKER / "docker-compose.yml", DOCKER / "compose.ci.yml", *extra_files]
        self.base = [*compose_tool(), "-p", self.name, *sum((["-f", str(f)] for f in files), []),
                     "--env-file", str(self.env_file)]

    def compose(self, *args: str, timeout_s: float = 180.0, check: bool = True) -> subprocess.CompletedProcess:
        return run([*self.base, *args], timeout_s=timeout_s, check=check, cwd=DOCKER)

    def up(self, workers: int) -> None:
        # --no-build: the session built the images; Compose must not rebuild or pull
        self.compose("up", "-d", "--no-build", "--scale", f"worker={workers}", "simulator", "influxdb", "master",
                     "worker", timeout_s=300)

    def containers(self, service: str) -> list[str]:
        """Container ids of a service, running or exited."""
        out = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}",
                   "--filter", f"label=com.docker.compose.service={service}"])
        return out.stdout.split()

    def container(self, service: str) -> str:
        [cid] = self.containers(service)
        return cid

    def logs(self, service: str) -> str:
        """The service's output, stdout and stderr in the order written (one pipe for both)."""
        outs = [subprocess.run(["docker", "logs", cid], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60) for cid in self.containers(service)]
        return "".join(o.stdout for o in outs)

    def wait_exit(self, service: str, timeout_s: float) -> int:
        """The exit code of a service's (only) container, waiting up to ``timeout_s``."""
        cid = self.container(service)
        try:
            out = run(["docker", "wait", cid], timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{service} still running after {timeout_s} s; log:\n{self.logs(service)[-4000:]}")
        return int(out.stdout.strip())

    def wait_log(self, service: str, text: str, timeout_s: float) -> str:
        """The service's log once it contains ``text``."""
        def logged() -> str | None:
            log = self.logs(service)
            return log if text in log else None

        return wait_until(logged, timeout_s, f"{service} to log {text!r}", interval_s=0.2)

    def exec_python(self, service: str, code: str) -> str:
        """Run Python inside a running container of ``service``; its stdout."""
        return run(["docker", "exec", self.containers(service)[0], "python3", "-c", code], timeout_s=60).stdout

    def http_json(self, service: str, url: str) -> dict:
        """GET ``url`` from inside the project's network (the only place the simulator and InfluxDB listen)."""
        code = f"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
        return json.loads(self.exec_python(service, code))

    def published_port(self, service: str, port: int) -> int:
        out = run(["docker", "port", self.container(service), str(port)]).stdout.split()[0]
        return int(out.rsplit(":", 1)[1])

    def copy_out(self, service: str, path: str, dest: Path) -> Path:
        run(["docker", "cp", f"{self.container(service)}:{path}", str(dest)])
        return dest

    def down(self) -> None:
        # Containers, the project network and its named volumes, even after a failed test.
        self.compose("down", "-v", "--remove-orphans", "-t", "5", timeout_s=180, check=False)
        leftover = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}"]).stdout.split()
        if leftover:
            run(["docker", "rm", "-f", "-v", *leftover], check=False)


def run_env(run_id: str, *, workers: int, users: int, run_time: str, require_workers: int = 0) -> dict[str, str]:
    """The Compose variables of a CI run: loopback-only published web port, the project's own simulator."""
    return {
        "WORKERS": str(workers),
        "USERS": str(users),
        "SPAWN_RATE": str(users),
        "RUN_TIME": run_time,
        "WEB_PUBLISH": "127.0.0.1:",
        "INFLUXDB_PUBLISH": "127.0.0.1:",
        "GRAFANA_PUBLISH": "127.0.0.1:",
        "LOADKIT_RUN_ID": run_id,
        "LOADKIT_REQUIRE_WORKERS": str(require_workers),
        "SIM_PROFILE": "reference",
        "BASE_IMAGE": "loadkit-base:bookworm",
    }
