"""Containers going away mid-run: a worker killed (`docker kill`), the master stopped (`docker stop`)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.waits import wait_until

from .compose import run, run_env

pytestmark = pytest.mark.slow

WORKERS, USERS = 2, 8
REPORT_INTERVAL_S = 3.0  # Locust workers report to the master every 3 s


def _wait_for_reports(project, count: int, timeout_s: float = 90) -> None:
    """Until the master has printed ``count`` stats tables with traffic in them (reports have arrived)."""

    def tables_with_traffic() -> int:
        log = project.logs("master")
        if "Sending spawn jobs" not in log:
            return 0
        tables = [line for line in log.split("Sending spawn jobs", 1)[1].splitlines() if "Aggregated" in line]
        return len([t for t in tables if int(t.split()[1]) > 0]) >= count

    wait_until(tables_with_traffic, timeout_s, f"{count} master stats tables with traffic", interval_s=0.2)


def _summary(project, tmp_path, run_id: str) -> dict:
    folder = project.copy_out("master", f"/results/{run_id}", tmp_path / "results")
    return json.loads((folder / "summary.json").read_text())


def test_killed_worker_container_is_reported_its_last_report_kept_and_the_run_exits_3(compose_project, tmp_path):
    run_id = "kill-1of2"
    project = compose_project(run_env(run_id, workers=WORKERS, users=USERS, run_time="20s", require_workers=WORKERS))
    project.up(WORKERS)
    _wait_for_reports(project, 3)
    victim = project.containers("worker")[0]
    run(["docker", "kill", victim])
    killed_at = time.time()
    code = project.wait_exit("master", 120)
    summary = _summary(project, tmp_path, run_id)
    served = project.http_json("simulator", "http://127.0.0.1:8000/_sim/stats")["chat_requests_total"]

    assert code == 3, project.logs("master")[-3000:]  # --require-workers 2, one finished
    assert summary["exit_code"] == 3 and summary["degraded"] is True and summary["trusted"] is False
    workers = summary["workers"]
    assert workers["finished"] == 1 and workers["required"] == WORKERS
    # the container's hostname is its short id: that is the worker's name
    [victim_id] = [cid for cid, n in workers["nodes"].items() if n["worker"].startswith(victim[:12])]
    assert workers["lost"] == [victim_id]
    dead = workers["nodes"][victim_id]
    assert dead["state"] == "lost" and not dead["final"] and dead["requests"] > 0  # its last report is kept
    assert 0 <= dead["lost_at"] - killed_at <= 8.0  # ~3 missed 1 s heartbeats
    assert 0 <= killed_at - dead["last_report_at"] <= REPORT_INTERVAL_S * 1.5
    alive = next(n for cid, n in workers["nodes"].items() if cid != victim_id)
    assert alive["state"] == "finished" and alive["final"]
    assert summary["totals"]["requests"] == alive["requests"] + dead["requests"]
    # what the simulator served and nobody recorded: the dead worker's traffic after its last report
    attempts = sum(m["attempts"] for m in summary["models"].values())
    missing = served - attempts - sum(summary["preflight"]["requests_by_model"].values())
    # Bound: one in-flight attempt per user, plus what it sent since its last report at its own
    # attempt rate over at least 1 s, doubled (a count of 1-3 events jitters by more than 1.5x).
    gap_s = killed_at - dead["last_report_at"]
    attempt_rate = dead["rps"] * attempts / summary["totals"]["requests"]
    bound = USERS // WORKERS + 2 * attempt_rate * max(gap_s, 1.0)
    assert 0 <= missing <= bound, (missing, bound, gap_s)
    assert any("lost" in w for w in summary["warnings"])


def test_stopped_master_container_writes_a_readable_summary_that_says_interrupted(compose_project, tmp_path):
    run_id = "stop-master"
    project = compose_project(run_env(run_id, workers=WORKERS, users=USERS, run_time="120s"))
    project.up(WORKERS)
    _wait_for_reports(project, 3)
    stopped_at = time.monotonic()
    # SIGTERM, as Compose and Kubernetes send; 30 s before SIGKILL leaves time for the workers' final reports
    run(["docker", "stop", "-t", "30", project.container("master")], timeout_s=60)
    stop_s = time.monotonic() - stopped_at
    summary = _summary(project, tmp_path, run_id)

    assert summary["interrupted"] is True and summary["stop_signal"] == "SIGTERM", summary["warnings"]
    assert summary["exit_code"] == 143  # drained like the end of --run-time, then 128 + SIGTERM
    assert any("interrupted by SIGTERM" in w for w in summary["warnings"]), summary["warnings"]
    assert summary["duration_s"] < 60  # it did not run its 120 s
    assert summary["totals"]["requests"] > 0
    # the workers were still there: their final reports are in
    assert summary["workers"]["finished"] == WORKERS and not summary["degraded"]
    assert stop_s < 30, "the master needed SIGKILL"
