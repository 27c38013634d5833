"""SIGTERM and Ctrl-C stop `loadkit run` like the end of --run-time, marked interrupted, exit 143/130.

A real `loadkit run` in its own session (as a shell runs it: a terminal's Ctrl-C goes to its
process group), the real embedded simulator, real Locust."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.browser import poll
from tests.support import loadkit_free_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum, expected_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_writes_an_interrupted_summary_and_stops_the_simulator(tmp_path, signum, expected_code):
    env = loadkit_free_env()
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr, open(tmp_path / "stdout.txt", "w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "loadkit.cli", "run", "--users", "3", "--spawn-rate", "3",
                                 "--run-time", "120s", "--sim-profile", "smoke", "--stop-timeout", "20s",
                                 "--results-dir", str(tmp_path / "results"), "--run-id", "sig"],
                                cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        poll(lambda: "All users spawned" in stderr_path.read_text(), 60, "Locust to spawn its users")
        simulators = [p for p in psutil.Process(proc.pid).children(recursive=True)
                      if "loadkit.simulator" in " ".join(p.cmdline())]
        assert len(simulators) == 1
        # Some load first, so in-flight requests exist when the signal comes.
        poll(lambda: (tmp_path / "results" / "sig").is_dir(), 30, "the results folder")
        os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C / `timeout` / CI cancellation do
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    err = stderr_path.read_text()
    assert code == expected_code, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    summary = json.loads((tmp_path / "results" / "sig" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["stop_signal"] == signal.Signals(signum).name
    assert summary["exit_code"] == expected_code
    assert summary["totals"]["requests"] > 0
    # loadkit's own stop is not a gateway error: the smoke profile injects none, and users drained
    assert summary["totals"]["error_rate"] == 0.0, summary["totals"]["outcomes"]
    cases = list(ET.parse(tmp_path / "results" / "sig" / "junit.xml").getroot().iter("testcase"))
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["run not interrupted"]
    assert (tmp_path / "results" / "sig" / "report.html").is_file()
    for sim in simulators:
        assert not sim.is_running() or sim.status() == psutil.STATUS_ZOMBIE


# Plain `locust` (Compose, Kubernetes, a person at a terminal) with loadkit's hooks: the same stop on the master
# or single process. The simulator's fixed timing makes every request last REQUEST_S, so a signal sent while
# USERS requests are in flight finds exactly that many to drain (or, on a second signal, to cut).
USERS = 3
TTFT_MS = 1500  # one request: 1.5 s to the first token, then 5 tokens 10 ms apart
LOCUSTFILE = "loadkit/locustfiles/chat.py"
FIXED_SIM = ("--profile", "fixed", "--fixed", f"ttft_ms={TTFT_MS},itl_ms=10,tokens=5", "--cold-start-ms", "0")


def _locust_env(tmp_path: Path, run_id: str) -> dict[str, str]:
    env = loadkit_free_env(LOADKIT_RESULTS_DIR=str(tmp_path / "results"), LOADKIT_RUN_ID=run_id,
                           LOADKIT_MODELS="claude-4-haiku,gpt-4o-mini", LOADKIT_PREFLIGHT="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _start_locust(tmp_path: Path, sim, run_id: str, stop_timeout_s: int,
                  *extra: str) -> tuple[subprocess.Popen, Path]:
    log_path = tmp_path / "locust.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", str(USERS),
                                 "-r", str(USERS), "-t", "300s", "--host", sim.base_url,
                                 "--stop-timeout", str(stop_timeout_s), *extra],
                                cwd=ROOT, env=_locust_env(tmp_path, run_id), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log_path


def _signal_when_in_flight(proc: subprocess.Popen, log_path: Path, sim, send) -> int:
    """Once USERS requests are in flight, ``send()`` the signal; the exit code (the process group killed if not)."""
    try:
        poll(lambda: sim.stats()["in_flight"] == USERS, 60, f"{USERS} requests in flight")
        send()
        return _wait_exit(proc, 60, log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_exit(proc: subprocess.Popen, timeout_s: float, log_path: Path) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise AssertionError(f"still running {timeout_s:g} s after the signal; log:\n{log_path.read_text()[-3000:]}")


def _check_interrupted_results(out_dir: Path, signame: str, code: int) -> dict:
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["stop_signal"] == signame
    assert summary["exit_code"] == code
    cases = list(ET.parse(out_dir / "junit.xml").getroot().iter("testcase"))
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["run not interrupted"]
    assert (out_dir / "report.html").is_file()
    return summary


def _check_log(log_path: Path, code: int) -> None:
    log = log_path.read_text()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log[-3000:]
    assert log.rindex("Response time percentiles") < log.rindex("all models"), log[-3000:]  # loadkit's table last
    last = [line for line in log.splitlines() if line.strip()][-1]
    assert last.startswith("results: ") and last.endswith(f"(exit code {code})"), last


@pytest.mark.parametrize("signum, expected_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_plain_locust_drains_in_flight_requests_on_a_signal_and_exits_143_or_130(tmp_path, signum, expected_code):
    from tests.support.simproc import start_simulator

    with start_simulator(*FIXED_SIM) as sim:
        proc, log_path = _start_locust(tmp_path, sim, "plain", stop_timeout_s=30)
        # `docker stop` / Kubernetes (SIGTERM), a terminal's Ctrl-C (SIGINT)
        code = _signal_when_in_flight(proc, log_path, sim, lambda: proc.send_signal(signum))
        served = sim.stats()
    assert code == expected_code, log_path.read_text()[-3000:]
    _check_log(log_path, expected_code)
    summary = _check_interrupted_results(tmp_path / "results" / "plain", signal.Signals(signum).name, expected_code)
    outcomes = summary["totals"]["outcomes"]
    # The requests in flight at the signal finished within --stop-timeout: none cut, every one counted, and the
    # simulator served exactly what loadkit counted (no preflight in this run).
    assert outcomes["interrupted"] == 0, outcomes
    assert summary["totals"]["requests"] == outcomes["ok"] == served["chat_requests_total"] >= USERS
    assert summary["duration_s"] >= TTFT_MS / 1000  # the run lasted until its in-flight requests ended
    assert served["in_flight"] == 0


def test_ctrl_c_to_locust_processes_drains_the_forked_workers_and_keeps_their_final_reports(tmp_path):
    """`locust --processes 2` at a terminal: Ctrl-C reaches the whole process group, the forked workers too. They
    leave the stop to their master (which has them stop their users and send final reports), so nothing is lost."""
    from tests.support.simproc import start_simulator

    with start_simulator(*FIXED_SIM) as sim:
        proc, log_path = _start_locust(tmp_path, sim, "procs", 30, "--processes", "2")
        # a terminal's Ctrl-C: master and both workers get it
        code = _signal_when_in_flight(proc, log_path, sim, lambda: os.killpg(proc.pid, signal.SIGINT))
        served = sim.stats()
    assert code == 130, log_path.read_text()[-3000:]
    summary = _check_interrupted_results(tmp_path / "results" / "procs", "SIGINT", 130)
    assert summary["workers"]["finished"] == 2 and not summary["workers"].get("lost"), summary["workers"]
    outcomes = summary["totals"]["outcomes"]
    assert outcomes["interrupted"] == 0, outcomes
    assert summary["totals"]["requests"] == outcomes["ok"] == served["chat_requests_total"] >= USERS
    assert served["in_flight"] == 0


def test_a_second_signal_finishes_a_plain_locust_run_at_once_with_in_flight_requests_interrupted(tmp_path):
    from tests.support.simproc import start_simulator

    # Requests of 40 s and --stop-timeout 50 s: the drain after the first SIGTERM would take 40 s.
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=40000,itl_ms=10,tokens=2") as sim:
        proc, log_path = _start_locust(tmp_path, sim, "twice", stop_timeout_s=50)
        try:
            poll(lambda: sim.stats()["in_flight"] == USERS, 60, f"{USERS} requests in flight")
            proc.send_signal(signal.SIGTERM)
            poll(lambda: "stopping users" in log_path.read_text(), 20, "loadkit to start draining")
            proc.send_signal(signal.SIGTERM)
            code = _wait_exit(proc, 20, log_path)  # well before the 40 s the in-flight requests need
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    assert code == 143, log_path.read_text()[-3000:]
    _check_log(log_path, 143)
    summary = _check_interrupted_results(tmp_path / "results" / "twice", "SIGTERM", 143)
    outcomes = summary["totals"]["outcomes"]
    assert summary["totals"]["requests"] == outcomes["interrupted"] == USERS, outcomes
    # loadkit's cut is no gateway error: no request ended by itself, so there is no error rate to judge
    assert outcomes["ok"] == 0 and summary["totals"]["error_rate"] is None


def test_sigterm_to_a_plain_locust_master_drains_its_worker_and_exits_143(tmp_path):
    from tests.distributed.harness import DistributedRun
    from tests.support.simproc import start_simulator

    with start_simulator(*FIXED_SIM) as sim:
        run = DistributedRun(tmp_path, "dist", sim.base_url)
        try:
            run.start_master(expect_workers=1, users=USERS, run_time="300s", LOADKIT_PREFLIGHT="false")
            run.start_worker(LOADKIT_PREFLIGHT="false")
            poll(lambda: sim.stats()["in_flight"] == USERS, 60, f"{USERS} requests in flight")
            run.master.proc.send_signal(signal.SIGTERM)  # `docker stop` of the master's container
            code = _wait_exit(run.master.proc, 60, run.master.log_path)
            worker_code = _wait_exit(run.workers[0].proc, 30, run.workers[0].log_path)
        finally:
            run.stop_all()
        served = sim.stats()
    assert code == 143, run.master.log()[-3000:]
    assert worker_code == 0, run.workers[0].log()[-3000:]
    _check_log(run.master.log_path, 143)
    summary = _check_interrupted_results(tmp_path / "master" / "dist", "SIGTERM", 143)
    assert summary["workers"]["finished"] == 1 and "lost" not in summary["workers"], summary["workers"]
    outcomes = summary["totals"]["outcomes"]
    assert outcomes["interrupted"] == 0, outcomes
    assert summary["totals"]["requests"] == outcomes["ok"] == served["chat_requests_total"] >= USERS
    assert summary["duration_s"] >= TTFT_MS / 1000  # the run lasted until its in-flight requests ended


def test_a_second_signal_finishes_loadkit_run_at_once_with_in_flight_requests_interrupted(tmp_path):
    """`loadkit run` asks Locust to drain at the first signal and forwards the second as SIGTERM."""
    out_path = tmp_path / "out.txt"
    with open(out_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "loadkit.cli", "run", "--users", str(USERS), "--spawn-rate",
                                 str(USERS), "--run-time", "120s", "--preflight", "false", "--stop-timeout", "50s",
                                 "--sim-args", "--profile fixed --fixed ttft_ms=40000,itl_ms=10,tokens=2",
                                 "--results-dir", str(tmp_path / "results"), "--run-id", "twice"],
                                cwd=ROOT, env=loadkit_free_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        sim_url = poll(lambda: re.search(r"embedded gateway simulator at (http://\S+)/v1", out_path.read_text()), 60,
                       "the embedded simulator's address").group(1)
        poll(lambda: httpx.get(sim_url + "/_sim/stats", timeout=5).json()["in_flight"] == USERS, 60,
             f"{USERS} requests in flight (each lasts 40 s)")
        os.killpg(proc.pid, signal.SIGTERM)
        poll(lambda: "stopping users" in out_path.read_text(), 20, "Locust to start draining")
        os.killpg(proc.pid, signal.SIGTERM)
        code = _wait_exit(proc, 20, out_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert code == 143, out_path.read_text()[-3000:]
    summary = _check_interrupted_results(tmp_path / "results" / "twice", "SIGTERM", 143)
    outcomes = summary["totals"]["outcomes"]
    assert summary["totals"]["requests"] == outcomes["interrupted"] == USERS, outcomes


def test_sigterm_to_a_plain_locust_web_ui_drains_its_run_and_writes_it_like_a_stop(tmp_path):
    """The Kubernetes web UI overlay's master gets SIGTERM at a rollout: the run going on is drained and
    written (as at a Stop, marked interrupted), and the process exits 143."""
    from tests.support.locustui import start_locust_ui, start_run
    from tests.support.simproc import start_simulator

    with start_simulator(*FIXED_SIM) as sim:
        proc, url = start_locust_ui(sim, tmp_path, "--stop-timeout", "30", run_id="ui",
                                    env={"LOADKIT_PREFLIGHT": "false", "LOADKIT_MODELS": "claude-4-haiku,gpt-4o-mini"})
        log_path = next(tmp_path.glob("locust-*.log"))
        try:
            start_run(url, USERS)
            poll(lambda: sim.stats()["in_flight"] == USERS, 60, f"{USERS} requests in flight")
            proc.send_signal(signal.SIGTERM)
            code = _wait_exit(proc, 60, log_path)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        served = sim.stats()
    assert code == 143, log_path.read_text()[-3000:]
    _check_log(log_path, 143)
    summary = _check_interrupted_results(tmp_path / "results" / "ui", "SIGTERM", 143)
    outcomes = summary["totals"]["outcomes"]
    assert outcomes["interrupted"] == 0, outcomes
    assert summary["totals"]["requests"] == outcomes["ok"] == served["chat_requests_total"] >= USERS
    assert summary["duration_s"] >= TTFT_MS / 1000  # the run lasted until its in-flight requests ended
