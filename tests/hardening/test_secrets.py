"""The API key and the InfluxDB token never show up anywhere a run leaves traces.

A `loadkit run` at Locust's DEBUG log level against the embedded simulator
(which requires the key) writing to a real influxd with auth (the 1.x token
is `user:password`). Then every artefact is searched for the key, the token
and the password alone: stdout, stderr, every file under results/, all of
InfluxDB's data, `loadkit run --help`, and every process's command line
(what `ps` shows) sampled while the run was going.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.servers import InfluxServer, env_without_proxy
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-live-7f3a9c1e5b2d4f60"
PASSWORD = "influx-pw-Q8r2m5x9"
TOKEN = f"writer:{PASSWORD}"
SIM_ARGS = "--profile fixed --fixed ttft_ms=20,itl_ms=5,tokens=5 --cold-start-ms 0"


def all_text(path: Path) -> str:
    out = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix == ".gz":
                data = gzip.decompress(data)
            out.append(f"== {p}\n" + data.decode("utf-8", "replace"))
    return "\n".join(out)


@pytest.fixture(scope="module")
def influx_auth(tmp_path_factory):
    server = InfluxServer(tmp_path_factory.mktemp("influxd-auth"), auth=True).start()
    try:
        # the first user may be created without credentials; from then on auth is required
        server.query(f"CREATE USER writer WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES")
        server.create_db("lk", auth=("writer", PASSWORD))
        yield server
    finally:
        server.stop()


def _cmdlines(root: psutil.Process) -> list[str]:
    out = []
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in procs:
        try:
            out.append(" ".join(p.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def test_key_and_token_appear_in_no_artefact_of_a_debug_run(influx_auth, tmp_path):
    env = env_without_proxy()
    # the simulator takes its key from LOADKIT_SIM_API_KEY: no process needs a secret on its command line
    env.update({"LOADKIT_API_KEY": KEY, "LOADKIT_SIM_API_KEY": KEY, "LOADKIT_INFLUX_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"})
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "loadkit.cli", "run", "--sim-args", "--profile fixed --fixed "
           "ttft_ms=20,itl_ms=5,tokens=5 --cold-start-ms 0", "--users", "2", "--run-time", "4s", "--results-dir", str(results),
           "--run-id", "secrets", "--influx-url", influx_auth.url, "--influx-db", "lk", "--", "--loglevel", "DEBUG"]
    out_file, err_file = tmp_path / "stdout", tmp_path / "stderr"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        titles: set[str] = set()
        parent = psutil.Process(proc.pid)
        # sample the process titles every 0.3 s until the 4 s run has exited
        try:
            wait_until(lambda: titles.update(_cmdlines(parent)) or proc.poll() is not None, 120,
                       "the debug run to exit", interval_s=0.3)
        except AssertionError:
            proc.kill()
            raise
    stdout, stderr = out_file.read_text(), err_file.read_text()
    assert proc.returncode == 0, stderr[-3000:]
    assert "DEBUG" in stderr  # the passthrough worked: the most talkative level was on
    assert any("locust" in t for t in titles) and any("loadkit.simulator" in t for t in titles), titles
    summary = json.loads((results / "secrets" / "summary.json").read_text())
    assert summary["totals"]["attempts"] > 10 and summary["totals"]["outcomes"].get("ok") == summary["totals"]["attempts"]
    stored = {}
    for q in ("SHOW MEASUREMENTS", "SHOW TAG KEYS", "SHOW FIELD KEYS", "SELECT * FROM /.*/"):
        stored[q] = influx_auth.query(q, db="lk", auth=("writer", PASSWORD))
    influx_text = json.dumps(stored)
    assert "llm_request" in influx_text  # points were written
    help_text = subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--help"], cwd=ROOT, env=env,
                               capture_output=True, text=True).stdout
    artefacts = {"stdout": stdout, "stderr": stderr, "results": all_text(results), "influxdb": influx_text,
                 "help": help_text, "process titles": "\n".join(titles)}
    for name, text in artefacts.items():
        for secret in (KEY, TOKEN, PASSWORD):
            assert secret not in text, f"{secret[:6]}... found in {name}"


def test_the_key_is_read_from_a_kubernetes_style_secret_file(tmp_path):
    key_file = tmp_path / "secret" / "api-key"
    key_file.parent.mkdir()
    key_file.write_text(KEY + "\n")  # a mounted Secret usually ends with a newline
    env = dict(os.environ, LOADKIT_SIM_API_KEY=KEY)
    env.pop("LOADKIT_API_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--sim-args", SIM_ARGS,
                           "--api-key-file", str(key_file), "--users", "1", "--run-time", "2s",
                           "--results-dir", str(tmp_path / "results"), "--run-id", "keyfile"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "results" / "keyfile" / "summary.json").read_text())
    assert summary["totals"]["attempts"] > 0 and summary["totals"]["outcomes"].get("ok") == summary["totals"]["attempts"]
    assert KEY not in proc.stdout + proc.stderr + all_text(tmp_path / "results")


def test_a_wrong_key_file_is_rejected_by_the_gateway_without_echoing_the_key(tmp_path):
    key_file = tmp_path / "api-key"
    key_file.write_text("sk-wrong-but-well-formed-0000\n")
    env = dict(os.environ, LOADKIT_SIM_API_KEY=KEY)
    env.pop("LOADKIT_API_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--sim-args", SIM_ARGS,
                           "--api-key-file", str(key_file), "--users", "1", "--run-time", "2s",
                           "--results-dir", str(tmp_path / "results")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2
    assert "401" in proc.stderr and "sk-wrong-but-well-formed-0000" not in proc.stdout + proc.stderr


def test_influx_url_with_credentials_is_not_echoed(tmp_path):
    """A token pasted into the URL (http://user:pw@host) is a secret too: the unreachable-InfluxDB line hides it."""
    env = dict(os.environ)
    env.pop("LOADKIT_API_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "loadkit.cli", "run", "--sim-args", "--profile zero", "--users", "1",
                           "--run-time", "2s", "--results-dir", str(tmp_path / "results"),
                           "--influx-url", f"http://writer:{PASSWORD}@127.0.0.1:1", "--influx-db", "lk"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2
    assert PASSWORD not in proc.stdout + proc.stderr, proc.stderr
