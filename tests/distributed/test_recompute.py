"""A 2-worker run: the master's report has its over-time plots, and recompute gives the live summary back."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.simproc import start_simulator
from tests.support.summaries import chart_specs_of, differences, read

from .harness import REPO_ROOT, DistributedRun

pytestmark = pytest.mark.slow


def test_two_worker_run_report_has_plots_and_recompute_equals_live(tmp_path):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=30,itl_ms=5,tokens=8", "--seed", "5") as sim:
        run = DistributedRun(tmp_path, "recompute-2w", sim.base_url)
        code = run.run_with_workers(2, users=8, run_time="11s", timeout_s=120)
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
