"""The real cold start (#17.5): the preflight's request meets each model's cold start, so it is the cold
sample, and the run's first request after it is warm; on one process and on a master with two workers.

Simulator: fixed timings TTFT 20 ms, ITL 2 ms, 4 tokens, cold start 150 ms after IDLE_S idle. The
preflight's TTFT is then TTFT + cold = 170 ms (a new connection on loopback adds < 2 ms). Tolerance:
COLD_TOLERANCE_MS either side, for a shared 2-core test machine; bench/fidelity.py measures the tight figure.
IDLE_S is long enough that Locust's start-up (and the workers' connect) after the preflight stays inside it.
"""

from __future__ import annotations

import gzip
import json

import pytest

from tests.e2e.test_headless_run import only_summary, run_loadkit
from tests.support.simproc import fixed_args, start_simulator
from tests.distributed.harness import DistributedRun

TTFT_MS, ITL_MS, TOKENS, COLD_MS, IDLE_S = 20.0, 2.0, 4, 150.0, 20
COLD_TOLERANCE_MS = 20.0
MODELS = ("claude-4-haiku", "gpt-4o-mini")
SIM_ARGS = (*fixed_args(TTFT_MS, ITL_MS, TOKENS, cold_start_ms=COLD_MS), "--idle-s", str(IDLE_S), "--error-rate", "0")


def _assert_preflight_is_the_cold_sample(summary: dict) -> None:
    for model in MODELS:
        cold = summary["models"][model]["cold_start"]
        assert cold["source"] == "preflight", cold
        assert cold["count"] == 1, cold  # the preflight's request, and no run request
        assert cold["count_all_workers"] == 1, cold
        assert abs(cold["ttft_ms"]["p50"] - (TTFT_MS + COLD_MS)) <= COLD_TOLERANCE_MS, cold
        assert "preflight-sized" in cold["e2e_note"]
        warm = summary["models"][model]["ttft_ms"]["p50"]
        assert abs(warm - TTFT_MS) <= COLD_TOLERANCE_MS, warm  # no cold start leaked into the warm TTFT
    assert summary["totals"]["cold_start"]["count"] == len(MODELS)
    assert summary["totals"]["cold_start"]["source"] == "preflight"


def test_preflight_meets_the_cold_start_and_the_first_run_request_is_warm(tmp_path):
    with start_simulator(*SIM_ARGS) as sim:
        proc = run_loadkit(["--host", sim.base_url, "--users", "2", "--spawn-rate", "2", "--run-time", "3s",
                            "--idle-s", str(IDLE_S)], tmp_path)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]  # 3: untrusted on a busy box; the cold numbers still hold
    summary, run_dir = only_summary(tmp_path)
    _assert_preflight_is_the_cold_sample(summary)
    assert summary["preflight"]["cold_samples"]["gpt-4o-mini"]["ok"] is True
    with gzip.open(run_dir / "records.jsonl.gz", "rt") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    for model in MODELS:
        first = min((r for r in records if r["model"] == model), key=lambda r: r["sent_at"])
        assert first["cold"] is False, first
        assert (first["first_token_at"] - first["sent_at"]) * 1000.0 < TTFT_MS + COLD_MS / 2, first


@pytest.mark.slow
def test_on_a_master_with_workers_the_workers_first_requests_are_warm(tmp_path):
    with start_simulator(*SIM_ARGS) as sim:
        run = DistributedRun(tmp_path, "cold-2w", sim.base_url)
        try:
            run.start_master(expect_workers=2, users=4, run_time="3s", LOADKIT_IDLE_S=str(IDLE_S))
            run.start_worker(LOADKIT_IDLE_S=str(IDLE_S))
            run.start_worker(LOADKIT_IDLE_S=str(IDLE_S))
            code = run.wait_master(90)
            for w in run.workers:
                w.proc.wait(20)
        finally:
            run.stop_all()
    assert code in (0, 3), run.master.log()[-3000:]
    summary = run.summary()
    _assert_preflight_is_the_cold_sample(summary)
    records = run.records("worker0") + run.records("worker1")
    assert records and not [r for r in records if r["cold"]]


def test_the_preflight_sample_adds_a_cold_start_not_a_request_and_only_for_the_runs_models():
    from loadkit.core.cold import ColdTracker, cold_source, seed_from_preflight, with_preflight_cold
    from loadkit.core.records import RequestRecord
    from loadkit.core.stats import RunStats

    stats = RunStats()
    stats.add(RequestRecord(model="a", sent_at=1.0, first_token_at=1.02, token_times=[1.02], done_at=1.03, status=200,
                            output_tokens=1))
    preflight = {"cold_samples": {
        "a": {"ok": True, "ttft_ms": 170.0, "e2e_ms": 171.0, "ended_unix_s": 1000.0},
        "b": {"ok": True, "ttft_ms": 99.0, "e2e_ms": 99.0, "ended_unix_s": 1000.0},  # preflighted, never loaded
        "c": {"ok": False, "ttft_ms": None, "e2e_ms": 5.0, "ended_unix_s": 1000.0}}}
    out = with_preflight_cold(stats, preflight)
    assert set(out.models) == {"a"} and out.models["a"].requests == 1 and out.models["a"].cold_count == 1
    assert out.models["a"].h["cold_ttft_ms"].summary()["p50"] == pytest.approx(170.0, rel=0.002)
    assert stats.models["a"].cold_count == 0  # the live stats are left alone
    assert cold_source(preflight, "a") == "preflight" and cold_source(preflight, "c") == "run"
    tracker = ColdTracker(idle_s=5.0)
    # the preflight ended 2 s before "now" (Unix 1002 = perf 50): a send at perf 51 is 3 s after it, warm
    assert seed_from_preflight(tracker, None, preflight, now_s=50.0, now_unix_s=1002.0) == ["a", "b"]
    assert tracker.mark_send("a", 51.0) is False
    assert tracker.mark_send("c", 51.0) is True  # its preflight failed: the run's first request is the cold one
