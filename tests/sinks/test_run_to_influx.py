"""A real `loadkit run` against the zero-latency simulator streams every attempt to InfluxDB.

Each run is exactly 20,000 requests (--max-requests) at the highest rate this machine
sustains (the zero-latency simulator, 64 users, answers of --max-tokens 16: what is checked is
one point per attempt, not the parse of long streams): about 30 s per API here, where 256-token
answers took 52-68 s; --run-time is only the upper bound. The generator
is saturated on purpose, so the run may be flagged untrusted (exit 3, CPU > 90 %);
the point here is that every attempt arrives, and exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from loadkit.settings import Settings
from loadkit.sinks import influx_report
from tests.support.servers import influx, victoria  # noqa: F401  (fixtures)
from tests.support.waits import wait_until

RUN_TIME = "150s"  # the bound; the run ends at MIN_REQUESTS
MIN_REQUESTS = 20_000


def _run(tmp_path: Path, env_extra: dict, run_id: str) -> dict:
    env = dict(os.environ, **env_extra)
    loadkit = Path(sys.executable).with_name("loadkit")
    proc = subprocess.run(
        [str(loadkit), "run", "--run-id", run_id, "--users", "64", "--spawn-rate", "1000", "--run-time", RUN_TIME,
         "--max-requests", str(MIN_REQUESTS), "--max-tokens", "16", "--results-dir", str(tmp_path), "--sim-args", "--profile zero"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode in (0, 3), proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((tmp_path / run_id / "summary.json").read_text())
    if proc.returncode == 3:  # untrusted only because the generator was saturated, as intended
        assert summary["trusted"] is False
        assert any("CPU" in w or "lag" in w for w in summary["warnings"]), summary["warnings"]
    assert summary["totals"]["requests"] == MIN_REQUESTS, (
        f"{summary['totals']['requests']} requests in {summary['duration_s']} s, not the {MIN_REQUESTS} of "
        f"--max-requests (a machine too slow for {MIN_REQUESTS} in {RUN_TIME} ends at the run time)")
    return summary


@pytest.mark.slow
def test_run_over_v1_api_counts_and_percentiles_match_summary(influx, tmp_path):
    db = "runs_" + uuid.uuid4().hex[:8]  # its own database: a rerun never counts an earlier attempt's points
    influx.create_db(db)
    summary = _run(tmp_path, {"LOADKIT_INFLUX_URL": influx.url, "LOADKIT_INFLUX_DB": db}, "e2e-v1")
    assert summary["sink"]["dropped"] == 0
    assert influx.count(db) == summary["totals"]["attempts"]  # one point per attempt, none lost, none doubled
    report = influx_report(Settings(influx_url=influx.url, influx_db=db), "e2e-v1")
    for model, ours in summary["models"].items():
        theirs = report["models"][model]
        assert theirs["requests"] == ours["attempts"]
        for metric in ("e2e_ms", "ttft_ms"):
            for p in ("p95", "p99"):
                assert theirs[metric][p] == pytest.approx(ours[metric][p], rel=0.02, abs=0.2), (model, metric, p)


@pytest.mark.slow
def test_run_over_v2_api_counts_match_summary(victoria, tmp_path):
    run_id = "e2e-v2-" + uuid.uuid4().hex[:8]  # its own run id: a rerun never counts an earlier attempt's samples
    summary = _run(tmp_path, {"LOADKIT_INFLUX_URL": victoria.url, "LOADKIT_INFLUX_BUCKET": "runs",
                              "LOADKIT_INFLUX_ORG": "lk", "LOADKIT_INFLUX_TOKEN": "tok"}, run_id)

    def stored() -> int:
        return sum(len(ts) for labels, ts in victoria.samples("llm_request_attempt") if labels["run_id"] == run_id)

    # VictoriaMetrics makes what it accepted searchable in the background (force_flush made 16,483 of 20,000
    # searchable once, the rest a moment later): poll for every attempt, then check none came twice
    attempts = summary["totals"]["attempts"]
    wait_until(lambda: stored() >= attempts, 60, what=f"{attempts} samples in VictoriaMetrics", interval_s=1.0)
    assert stored() == attempts  # none lost, none doubled
    assert summary["sink"]["dropped"] == 0
