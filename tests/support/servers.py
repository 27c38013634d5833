"""Real InfluxDB 1.x and VictoriaMetrics processes for tests.

Each server gets free ports and a temporary data directory, and can be killed
and restarted on the same port and data (the outage tests). A missing binary
fails the test with the install command: these servers are part of the test
environment, never optional.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.waits import wait_until

__all__ = ["free_port", "InfluxServer", "VictoriaMetricsServer", "wait_http", "http_handler_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bound and released: also the "closed port" of error tests)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 20.0, ok=(200, 204, 401)) -> None:
    """Until ``url`` answers with a status in ``ok``; RuntimeError after ``timeout_s``."""
    try:
        wait_until(lambda: httpx.get(url, timeout=1.0).status_code in ok, timeout_s, f"{url} to answer",
                   ignoring=(httpx.HTTPError,))
    except AssertionError as exc:
        raise RuntimeError(str(exc)) from None


@contextlib.contextmanager
def http_handler_server(handler: type, protocol_version: str | None = None) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a real ThreadingHTTPServer running ``handler`` in a thread, shut down on exit."""
    from http.server import ThreadingHTTPServer

    if protocol_version:
        handler.protocol_version = protocol_version
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Process:
    binary = ""
    install = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        path = shutil.which(self.binary)
        if path is None:
            pytest.fail(f"{self.binary} not found: {self.install}")
        self.path = path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        raise NotImplementedError

    def health_url(self) -> str:
        raise NotImplementedError

    def start(self) -> "_Process":
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        try:
            wait_http(self.health_url())
        except RuntimeError:
            self.stop()
            tail = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.binary} did not start:\n{tail}") from None
        return self

    def kill(self) -> None:
        """Hard stop (SIGKILL): the outage a crashed database gives."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class InfluxServer(_Process):
    """``influxd`` 1.x (Debian ``influxdb``); ``auth=True`` enables HTTP auth."""

    binary = "influxd"
    install = "apt-get install -y influxdb"

    def __init__(self, workdir: Path, auth: bool = False) -> None:
        super().__init__(workdir)
        self.auth = auth
        self.rpc_port = free_port()
        self.config = self.workdir / "influxdb.conf"
        d = self.workdir
        self.config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10m0s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"""
        )

    def args(self) -> list[str]:
        return [self.path, "-config", str(self.config)]

    def health_url(self) -> str:
        return self.url + "/ping"

    def query(self, q: str, db: str | None = None, auth: tuple[str, str] | None = None) -> dict:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        r = httpx.post(self.url + "/query", data=params, auth=auth, timeout=30)
        r.raise_for_status()
        return r.json()

    def create_db(self, db: str, auth: tuple[str, str] | None = None) -> None:
        self.query(f'CREATE DATABASE "{db}"', auth=auth)

    def count(self, db: str, measurement: str = "llm_request", field: str = "attempt") -> int:
        res = self.query(f'SELECT COUNT("{field}") FROM "{measurement}"', db=db)
        series = res["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0


class VictoriaMetricsServer(_Process):
    """``victoria-metrics``: accepts InfluxDB ``/api/v2/write`` (the v2 write path)."""

    binary = "victoria-metrics"
    install = "apt-get install -y victoria-metrics"

    def __init__(self, workdir: Path, basic_auth: tuple[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.basic_auth = basic_auth

    def args(self) -> list[str]:
        args = [
            self.path,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
            "-memory.allowedPercent=20",
        ]
        if self.basic_auth:
            args += [f"-httpAuth.username={self.basic_auth[0]}", f"-httpAuth.password={self.basic_auth[1]}"]
        return args

    def health_url(self) -> str:
        return self.url + "/health"

    def samples(self, metric: str) -> list[tuple[dict, list[int]]]:
        """Every series of ``metric`` with its timestamps (ms, as VictoriaMetrics stores them)."""
        import json

        httpx.get(self.url + "/internal/force_flush", auth=self.basic_auth, timeout=30)
        r = httpx.post(
            self.url + "/api/v1/export",
            data={"match[]": "{__name__=%r}" % metric, "start": "0"},
            auth=self.basic_auth,
            timeout=60,
        )
        r.raise_for_status()
        out = []
        for line in r.text.splitlines():
            if line.strip():
                obj = json.loads(line)
                out.append((obj["metric"], obj["timestamps"]))
        return out


def env_without_proxy() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        env.pop(k, None)
    return env


def synthetic_records(n: int, models=("claude-4-haiku", "gpt-4o-mini"), seed: int = 7, start_wall_ns: int | None = None,
                      same_timestamp_every: int = 4):
    """``n`` RequestRecords with log-normal latencies per model; every
    ``same_timestamp_every`` records share one ``started_wall_ns`` (what a
    coarse clock or a burst gives), so timestamp uniqueness is exercised."""
    import random

    from loadkit.core.records import RequestRecord

    rng = random.Random(seed)
    wall = start_wall_ns if start_wall_ns is not None else time.time_ns() - n * 1000
    categories = ("code", "math", "creative")
    medians = {m: 200.0 + 150.0 * i for i, m in enumerate(models)}
    out = []
    t = 1000.0
    for i in range(n):
        model = models[i % len(models)]
        e2e_s = rng.lognormvariate(0, 0.5) * medians[model] / 1000.0
        ttft_s = e2e_s * rng.uniform(0.1, 0.4)
        tokens = rng.randint(2, 20)
        first = t + ttft_s
        step = (e2e_s - ttft_s) / (tokens - 1)
        outcome = "ok" if i % 50 else "rate_limited"
        out.append(RequestRecord(
            model=model, category=categories[i % 3], stream=True, attempt=1 + (i % 7 == 0),
            intended_at=t - 0.001, sent_at=t, headers_at=t + ttft_s / 2, first_event_at=first, first_token_at=first,
            done_at=t + e2e_s, token_times=[first + k * step for k in range(tokens)],
            started_wall_ns=wall + (i // same_timestamp_every) * 1000,
            status=200 if outcome == "ok" else 429, outcome=outcome, input_tokens=30, output_tokens=tokens,
            throttled_s=0.0, cold=(i % 100 == 0),
        ))
        t += 0.001
    return out


@pytest.fixture(scope="module")
def influx(tmp_path_factory):
    """A running influxd 1.x (no auth) for the module."""
    server = InfluxServer(tmp_path_factory.mktemp("influxd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def victoria(tmp_path_factory):
    """A running victoria-metrics (the v2 write path) for the module."""
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("victoria")).start()
    yield server
    server.stop()
