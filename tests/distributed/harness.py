"""Master + workers as real subprocesses, started with loadkit.locust.commands."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadkit.locust.commands import master_command, worker_command
from tests.support import loadkit_free_env
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = "loadkit/locustfiles/chat.py"


def base_env(**extra: str) -> dict[str, str]:
    env = loadkit_free_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return env


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class DistributedRun:
    """One master and its workers; ``results(name)`` is that node's results/<run_id> folder."""

    tmp: Path
    run_id: str
    host: str
    locustfile: str = LOCUSTFILE
    master_port: int = 0
    master: Node | None = None
    workers: list[Node] = field(default_factory=list)

    def env(self, node: str, **extra: str) -> dict[str, str]:
        # Each node its own results dir, as on separate machines.
        return base_env(LOADKIT_RESULTS_DIR=str(self.tmp / node), LOADKIT_RUN_ID=self.run_id,
                        LOADKIT_HOST=self.host, LOADKIT_MODELS="claude-4-haiku,gpt-4o-mini", **extra)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], prefix: list[str] = ()) -> Node:
        log_path = self.tmp / f"{name}.log"
        fh = open(log_path, "w")
        proc = subprocess.Popen([*prefix, *argv], cwd=REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        fh.close()
        return Node(name, proc, log_path)

    def start_master(self, *, expect_workers: int, users: int, run_time: str, bind: str = "127.0.0.1",
                     **env_extra: str) -> Node:
        self.master_port = self.master_port or free_port(bind)
        argv = master_command(self.locustfile, expect_workers=expect_workers, users=users, spawn_rate=users,
                              run_time=run_time, host=self.host, bind_port=self.master_port, python=sys.executable)
        argv += ["--master-bind-host", bind, "--expect-workers-max-wait", "60"]
        self.master = self._spawn("master", argv, self.env("master", **env_extra))
        return self.master

    def start_web_master(self, *, web_port: int, bind: str = "127.0.0.1", **env_extra: str) -> Node:
        """A master with Locust's web UI on ``web_port`` (no --headless): runs are started from the UI."""
        self.master_port = self.master_port or free_port(bind)
        argv = [sys.executable, "-m", "locust", "-f", self.locustfile, "--master", "--master-bind-host", bind,
                "--master-bind-port", str(self.master_port), "--web-host", "127.0.0.1", "--web-port", str(web_port),
                "--host", self.host]
        self.master = self._spawn("master", argv, self.env("master", **env_extra))
        return self.master

    def start_worker(self, *, master_host: str = "127.0.0.1", prefix: list[str] = (), host: str | None = None,
                     **env_extra: str) -> Node:
        name = f"worker{len(self.workers)}"
        argv = worker_command(self.locustfile, master_host=master_host, master_port=self.master_port,
                              python=sys.executable)
        env = self.env(name, **env_extra)
        if host:
            env["LOADKIT_HOST"] = host
        node = self._spawn(name, argv, env, prefix=list(prefix))
        self.workers.append(node)
        return node

    def wait_master(self, timeout_s: float) -> int:
        try:
            return self.master.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"master still running after {timeout_s} s; log:\n{self.master.log()[-4000:]}")

    def run_with_workers(self, workers: int, *, users: int, run_time: str, timeout_s: float = 90,
                         **env_extra: str) -> int:
        """Start a master and ``workers`` workers on loopback, wait for the run to end (the workers too), stop
        everything whatever happens; the master's exit code."""
        try:
            self.start_master(expect_workers=workers, users=users, run_time=run_time, **env_extra)
            for _ in range(workers):
                self.start_worker()
            code = self.wait_master(timeout_s)
            for w in self.workers:
                w.proc.wait(20)
            return code
        finally:
            self.stop_all()

    def assert_served_exactly(self, served: dict, min_attempts: int) -> dict:
        """The summary's attempts plus the preflight's requests equal what the simulator served, in all and per
        model; the summary."""
        summary = self.summary()
        attempts = sum(m["attempts"] for m in summary["models"].values())
        preflight = summary["preflight"]["requests_by_model"]
        assert attempts > min_attempts  # the run really sent load
        assert attempts + sum(preflight.values()) == served["chat_requests_total"]
        for model, block in summary["models"].items():
            assert block["attempts"] + preflight.get(model, 0) == served["chat_requests"].get(model, 0), model
        return summary

    def summary(self) -> dict:
        path = self.tmp / "master" / self.run_id / "summary.json"
        assert path.exists(), f"no summary.json; master log:\n{self.master.log()[-4000:]}"
        return json.loads(path.read_text())

    def records(self, node: str) -> list[dict]:
        """Raw records one worker wrote (``records.jsonl.gz`` in its own results folder)."""
        out: list[dict] = []
        for path in sorted((self.tmp / node / self.run_id / "workers").glob("*/records.jsonl.gz")):
            with gzip.open(path, "rt") as fh:
                out += [json.loads(line) for line in fh if line.strip()]
        return out

    def stop_all(self) -> None:
        for node in [*self.workers, *([self.master] if self.master else [])]:
            if node.proc.poll() is None:
                try:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                node.proc.wait(10)

    def wait_for_log(self, node: Node, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in node.log():
                return
            if node.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{node.name} never logged {text!r}; log:\n{node.log()[-3000:]}")
