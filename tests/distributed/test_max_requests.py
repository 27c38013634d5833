"""--max-requests with a master and 2 workers: exactly N requests in all, split over the workers, and the run
ends at N (within one report interval), long before --run-time."""

from __future__ import annotations

import pytest

from tests.support.simproc import start_simulator

from .harness import DistributedRun

pytestmark = pytest.mark.slow

MAX_REQUESTS = 101  # odd: one worker starts 51, the other 50


def test_two_workers_start_exactly_max_requests_and_the_run_ends_there(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=4", "--cold-start-ms", "0") as sim:
        run = DistributedRun(tmp_path, "budget-2w", sim.base_url)
        try:
            run.start_master(expect_workers=2, users=6, run_time="120s", LOADKIT_MAX_REQUESTS=str(MAX_REQUESTS))
            run.start_worker()
            run.start_worker()
            code = run.wait_master(90)
        finally:
            run.stop_all()
        served = sim.stats()["chat_requests_total"]
    summary = run.summary()
    assert code == 0, run.master.log()[-3000:]
    assert summary["totals"]["requests"] == MAX_REQUESTS
    assert sorted(len(run.records(n)) for n in ("worker0", "worker1")) == [50, 51]
    assert served == MAX_REQUESTS + sum(summary["preflight"]["requests_by_model"].values())
    assert summary["duration_s"] < 30  # ended by the budget (about 1 s of requests + a report interval)
