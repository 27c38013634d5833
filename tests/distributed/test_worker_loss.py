"""A worker SIGKILLed mid-run: the run finishes, the loss is reported, every count is accounted for."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from tests.support.simproc import start_simulator
from tests.support.waits import wait_until

from .harness import DistributedRun

pytestmark = pytest.mark.slow

FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=40,itl_ms=5,tokens=8")
USERS = 8  # 4 per worker


def test_killed_worker_is_reported_and_its_last_report_is_kept(tmp_path):
    # Each worker loads its own simulator, so what each one was served is known exactly.
    with start_simulator(*FIXED) as sim_survivor, start_simulator(*FIXED) as sim_victim:
        run = DistributedRun(tmp_path, "loss-2w", sim_survivor.base_url)
        try:
            run.start_master(expect_workers=2, users=USERS, run_time="14s", LOADKIT_REQUIRE_WORKERS="2")
            run.start_worker()
            victim = run.start_worker(host=sim_victim.base_url)
            run.wait_for_log(run.master, "Sending spawn jobs", 60)
            # 4 users x one 75 ms stream each: ~53 served/s, so 250 is ~4.7 s of the victim's load (slower on a
            # busy box, so later, never earlier): at least one 3 s worker report has reached the master
            wait_until(lambda: sim_victim.stats()["chat_requests_total"] >= 250, 60,
                       what="the victim served ~5 s of load before it dies")
            victim.proc.send_signal(signal.SIGKILL)
            killed_at = time.time()
            code = run.wait_master(90)
        finally:
            run.stop_all()
        summary = run.summary()
        served_survivor = sim_survivor.stats()["chat_requests_total"]
        served_victim = sim_victim.stats()["chat_requests_total"]

    assert code == 3, run.master.log()[-3000:]  # --require-workers 2, one finished
    assert summary["degraded"] is True and summary["trusted"] is False
    workers = summary["workers"]
    assert workers["finished"] == 1 and workers["required"] == 2
    victim_name = f"{socket.gethostname()}-{victim.proc.pid}"
    [victim_id] = [cid for cid, n in workers["nodes"].items() if n["worker"] == victim_name]
    [survivor_id] = [cid for cid in workers["nodes"] if cid != victim_id]
    assert workers["lost"] == [victim_id]
    dead, alive = workers["nodes"][victim_id], workers["nodes"][survivor_id]
    assert dead["state"] == "lost" and dead["reason"] == "heartbeats stopped" and not dead["final"]
    # Locust marks a worker missing after ~3 missed 1 s heartbeats
    assert 0 <= dead["lost_at"] - killed_at <= 8.0
    assert alive["state"] == "finished" and alive["final"]

    # the survivor: exact (its final report holds everything it was served)
    preflight = sum(summary["preflight"]["requests_by_model"].values())
    assert alive["requests"] + preflight == served_survivor
    # the dead worker: its last report is in the merge ...
    assert summary["totals"]["requests"] == alive["requests"] + dead["requests"]
    assert sum(m["attempts"] for m in summary["models"].values()) == alive["requests"] + dead["requests"]
    assert dead["requests"] > 0
    # ... and what is missing is at most what it could send between that report and
    # its death: its own rate over that gap (x1.5 for jitter) plus one in-flight
    # request per user (served, never recorded).
    gap_s = killed_at - dead["last_report_at"]
    assert 0 <= gap_s <= 4.5  # Locust workers report every 3 s
    missing = served_victim - dead["requests"]
    bound = dead["rps"] * gap_s * 1.5 + USERS // 2
    assert 0 <= missing <= bound, (missing, bound, gap_s)
    assert any("lost" in w for w in summary["warnings"])
