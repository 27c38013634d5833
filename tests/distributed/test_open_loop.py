"""Open loop with 2 workers: the achieved total rate is the target total rate R, not R per worker."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from tests.support.simproc import start_simulator
from tests.support.waits import wait_until

from .harness import DistributedRun

pytestmark = pytest.mark.slow

RATE_TOTAL = 60.0
LOCUSTFILE = "tests/distributed/openloop_locustfile.py"
# Constant (staggered) schedules: a Poisson stream at 60/s over 10 s has a
# relative standard deviation of 4 %, more than the tolerance being tested.
TOLERANCE = 0.03


def _send_times_s(run: DistributedRun, *nodes: str) -> np.ndarray:
    return np.sort(np.array([r["started_wall_ns"] / 1e9 for n in nodes for r in run.records(n)]))


def _rate_in(times: np.ndarray, start: float, end: float) -> float:
    return float(((times >= start) & (times < end)).sum() / (end - start))


@pytest.fixture
def fast_sim():
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=0,tokens=4", "--cold-start-ms", "0") as sim:
        yield sim


def test_two_workers_share_the_total_rate(fast_sim, tmp_path):
    run = DistributedRun(tmp_path, "open-2w", fast_sim.base_url, locustfile=LOCUSTFILE)
    try:
        run.start_master(expect_workers=2, users=8, run_time="14s", OPENLOOP_RATE_TOTAL=str(RATE_TOTAL))
        run.start_worker(OPENLOOP_RATE_TOTAL=str(RATE_TOTAL))
        run.start_worker(OPENLOOP_RATE_TOTAL=str(RATE_TOTAL))
        code = run.wait_master(90)
    finally:
        run.stop_all()
    summary = run.summary()
    assert code == 0, run.master.log()[-3000:]
    times = _send_times_s(run, "worker0", "worker1")
    # steady state: after the 1 s ramp, before the stop
    start, end = times[0] + 2.0, times[-1] - 1.0
    assert end - start > 9.0
    achieved = _rate_in(times, start, end)
    assert achieved == pytest.approx(RATE_TOTAL, rel=TOLERANCE)
    # and each worker carried half of it
    for node in ("worker0", "worker1"):
        assert _rate_in(_send_times_s(run, node), start, end) == pytest.approx(RATE_TOTAL / 2, rel=2 * TOLERANCE)
    assert sum(m["attempts"] for m in summary["models"].values()) == len(times)


def test_survivor_takes_over_the_rate_of_a_lost_worker(fast_sim, tmp_path):
    run = DistributedRun(tmp_path, "open-loss", fast_sim.base_url, locustfile=LOCUSTFILE)
    try:
        run.start_master(expect_workers=2, users=8, run_time="18s", OPENLOOP_RATE_TOTAL=str(RATE_TOTAL),
                         LOADKIT_REQUIRE_WORKERS="1")
        run.start_worker(OPENLOOP_RATE_TOTAL=str(RATE_TOTAL))
        victim = run.start_worker(OPENLOOP_RATE_TOTAL=str(RATE_TOTAL))
        run.wait_for_log(run.master, "Sending spawn jobs", 60)
        # both workers carry the open-loop rate for a while (4 s of the total rate served) before one is lost
        wait_until(lambda: fast_sim.stats()["chat_requests_total"] >= 4 * RATE_TOTAL, 30,
                   "4 s of the total open-loop rate served")
        victim.proc.send_signal(signal.SIGKILL)
        code = run.wait_master(90)
    finally:
        run.stop_all()
    summary = run.summary()
    # one worker finished, as required (require_workers 1): degraded, and no worker shortfall (the generator's
    # own trust on a busy box is another test's business)
    assert summary["degraded"] is True, run.master.log()[-3000:]
    assert not any("required (--require-workers" in w for w in summary["warnings"]), summary["warnings"]
    assert code == 0, run.master.log()[-3000:]
    [lost] = [n for n in summary["workers"]["nodes"].values() if n["state"] == "lost"]
    survivor = run.records("worker0")
    times = np.sort(np.array([r["started_wall_ns"] / 1e9 for r in survivor]))
    # from a second after the master noticed the loss (and re-broadcast count=1) to the stop
    start, end = lost["lost_at"] + 1.0, times[-1] - 1.0
    assert end - start > 5.0
    assert _rate_in(times, start, end) == pytest.approx(RATE_TOTAL, rel=TOLERANCE)
