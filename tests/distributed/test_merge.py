"""Master + 2 workers as real subprocesses: the merged summary is exact, the master's report has its over-time
plots, and recompute gives the live summary back (one 2-worker run for all three)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.support.simproc import start_simulator
from tests.support.summaries import chart_specs_of, differences, read

from .harness import REPO_ROOT, DistributedRun

pytestmark = pytest.mark.slow

# HdrHistogram with 3 significant digits: a reported value is within 0.1 % of
# some value in its bucket; the bucket-midpoint report halves that.
HDR_RELATIVE_ERROR = 0.001


def _percentile_of_union(values: list[float], p: float) -> float:
    """The raw value of rank round(p/100 * n) (HdrHistogram's own rank rule), ms."""
    ordered = np.sort(np.asarray(values))
    rank = max(1, int(p / 100.0 * len(ordered) + 0.5))
    return float(ordered[rank - 1])


def _e2e_ms(record: dict) -> float:
    return (record["done_at"] - record["sent_at"]) * 1000.0


def _ttft_ms(record: dict) -> float:
    return (record["first_token_at"] - record["sent_at"]) * 1000.0


@pytest.fixture
def fixed_sim():
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=40,itl_ms=5,tokens=8", "--seed", "7") as sim:
        yield sim


@dataclass
class TwoWorkerRun:
    run: DistributedRun
    code: int
    served: dict
    root: Path


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory) -> TwoWorkerRun:
    """One 11 s run of 8 users on 2 workers (long enough for two 5 s windows), shared by the tests below."""
    root = tmp_path_factory.mktemp("merge-2w")
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=40,itl_ms=5,tokens=8", "--seed", "7") as sim:
        run = DistributedRun(root, "merge-2w", sim.base_url)
        code = run.run_with_workers(2, users=8, run_time="11s", timeout_s=120)
        return TwoWorkerRun(run, code, sim.stats(), root)


def test_two_workers_merge_equals_what_the_simulator_served(two_worker_run):
    run, code, served = two_worker_run.run, two_worker_run.code, two_worker_run.served
    assert code == 0, run.master.log()[-3000:]
    # in all and per model, the merge equals what the simulator served
    summary = run.assert_served_exactly(served, min_attempts=100)
    assert summary["totals"]["requests"] == sum(m["requests"] for m in summary["models"].values())

    # both workers reported, finally, and their counts add up to the merge
    nodes = summary["workers"]["nodes"]
    assert summary["workers"]["count"] == 2 and len(nodes) == 2
    assert all(n["final"] for n in nodes.values())
    assert sum(n["requests"] for n in nodes.values()) == summary["totals"]["requests"]
    # The gateway saw one cold start per model: the master's preflight request (#17.5); the workers were
    # told of it, so neither worker's first request is cold.
    for model, stats in summary["models"].items():
        assert stats["cold_start"]["count"] == 1, model
        assert stats["cold_start"]["count_all_workers"] == 1, model
        assert stats["cold_start"]["source"] == "preflight", model
    assert all(n["requests"] > 0 for n in nodes.values())
    assert all(n["schedule_lag_ms"]["p99"] is not None for n in nodes.values())

    # merged percentiles == percentiles of the union of the workers' raw records
    records = run.records("worker0") + run.records("worker1")
    assert len(records) == summary["totals"]["attempts"], "every attempt is in some worker's records.jsonl.gz"
    for model in summary["models"]:
        # summary e2e_ms: successful, warm attempts (cold ones are reported apart)
        warm_ok = [r for r in records if r["model"] == model and r["outcome"] == "ok" and not r["cold"]]
        _assert_percentiles(summary["models"][model]["e2e_ms"], [_e2e_ms(r) for r in warm_ok], model)
        _assert_percentiles(summary["models"][model]["ttft_ms"], [_ttft_ms(r) for r in warm_ok], model)
    all_warm_ok = [r for r in records if r["outcome"] == "ok" and not r["cold"]]
    _assert_percentiles(summary["totals"]["e2e_ms"], [_e2e_ms(r) for r in all_warm_ok], "totals")


def _assert_percentiles(reported: dict, values: list[float], where: str) -> None:
    assert reported["count"] == len(values), where
    for p in (50, 95, 99):
        expected = _percentile_of_union(values, p)
        assert reported[f"p{p}"] == pytest.approx(expected, rel=HDR_RELATIVE_ERROR, abs=0.002), (where, p)


def test_processes_workers_on_one_machine_keep_separate_uncorrupted_records(fixed_sim, tmp_path):
    """`loadkit run --processes 2`: both workers share results_dir, so each writes its own records file."""
    import gzip
    import json
    import subprocess
    import sys

    from .harness import REPO_ROOT, base_env

    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit.cli", "run", "--processes", "2", "--users", "8", "--run-time", "5s",
         "--run-id", "procs-2", "--results-dir", str(results), "--host", fixed_sim.base_url],
        cwd=REPO_ROOT, env=base_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = results / "procs-2"
    summary = json.loads((run_dir / "summary.json").read_text())
    files = sorted((run_dir / "workers").glob("*/records.jsonl.gz"))
    assert len(files) == 2
    records = []
    for path in files:
        with gzip.open(path, "rt") as fh:  # a corrupt gzip stream raises here
            records += [json.loads(line) for line in fh if line.strip()]
    attempts = sum(m["attempts"] for m in summary["models"].values())
    assert len(records) == attempts > 0
    preflight = sum(summary["preflight"]["requests_by_model"].values())
    assert attempts + preflight == fixed_sim.stats()["chat_requests_total"]


def test_two_worker_run_report_has_plots_and_recompute_equals_live(two_worker_run):
    run, code, tmp_path = two_worker_run.run, two_worker_run.code, two_worker_run.root
    assert code == 0, run.master.log()[-3000:]
    live = run.summary()
    master_dir = tmp_path / "master" / run.run_id
    assert live["workers"]["finished"] == 2 and live["totals"]["requests"] > 100

    # The master has no records of its own: its over-time plots come from the windows the workers sent.
    windows = live["windows"]["windows"]
    assert len(windows) >= 2
    for model, block in live["models"].items():
        assert sum(w["models"].get(model, {}).get("requests", 0) for w in windows) == block["requests"], model
    assert windows[-1]["length_s"] <= live["windows"]["bin_s"]
    html = (master_dir / "report.html").read_text(encoding="utf-8")
    assert "No records.jsonl.gz" not in html
    specs = {s["id"]: s for s in chart_specs_of(html)}
    for chart in ("e2e_ms", "ttft_ms", "requests", "output_tokens"):
        values = [v for s in specs[chart]["series"] for v in s["values"] if v]
        assert values, f"{chart} plot is empty"
    # requests/s over time, summed over the windows' real lengths, gives back every request
    served = sum(v * w for s in specs["requests"]["series"] for v, w in zip(s["values"], specs["requests"]["window_s"])
                 if v)
    assert served == pytest.approx(live["totals"]["requests"], abs=live["totals"]["requests"] * 0.05)

    # Recompute on the master: each worker's records collected under results/<run>/workers/<id>/
    copy = tmp_path / "copy" / run.run_id
    shutil.copytree(master_dir, copy)
    for node in ("worker0", "worker1"):
        for worker_dir in (tmp_path / node / run.run_id / "workers").iterdir():
            shutil.copytree(worker_dir, copy / "workers" / worker_dir.name)
    out = subprocess.run([sys.executable, "-m", "loadkit.cli", "report", "recompute", str(copy)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    recomputed = read(copy / "summary.json")
    assert differences(live, recomputed) == []
    for model, block in recomputed["models"].items():
        # rebuilt from the records' activity, not copied: the gateway saw no more cold starts than the workers marked
        assert 1 <= block["cold_start"]["count_all_workers"] <= block["cold_start"]["count"], model
