"""A real Compose run: simulator, master, 2 workers and InfluxDB 1.x in containers on the project's own network.

Checked against what the other side saw: the simulator's own counters
(/_sim/stats), the points InfluxDB holds, per-worker time series, and the
LLM tab reached from Chromium through the published (loopback) web port.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from loadkit.locust.commands import COMPOSE_LOCUSTFILE, WEB_PORT, master_command

from tests.support.summaries import chart_specs_of

from .compose import run_env

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WORKERS, USERS, RUN_S = 2, 8, 16
SERIES_BUCKET_S = 2


def _web_ui_override(tmp: Path) -> Path:
    """The master as the web UI variant (commands.py, headless=False) that starts and quits by itself."""
    argv = master_command(COMPOSE_LOCUSTFILE, expect_workers=WORKERS, users=USERS, spawn_rate=USERS,
                          run_time=f"{RUN_S}s", headless=False)
    argv += ["--autostart", "--autoquit", "2"]
    path = tmp / "compose.webui.yml"
    path.write_text(json.dumps({"services": {"master": {"command": argv}}}))
    return path


def _influx_query(project, query: str) -> list[dict]:
    url = "http://127.0.0.1:8086/query?" + urllib.parse.urlencode({"db": "llmload", "q": query})
    return project.http_json("influxdb", url)["results"][0].get("series", [])


def _check_report_is_whole(report_path: Path, summary: dict) -> None:
    """The master's report.html, without the workers' records (they stay in the workers' containers): its
    over-time plots come from summary.json's windows merged across workers, its by-percentile plots from
    the merged histograms (summary.json ``distributions``)."""
    html = report_path.read_text()
    assert "time series are empty" not in html  # the "No records.jsonl.gz and no windows" note
    specs = {spec["id"]: spec for spec in chart_specs_of(html)}
    nodes = summary["workers"]["nodes"].values()
    assert len(nodes) == WORKERS and all(n["requests"] > 0 for n in nodes), nodes
    requests = specs["requests"]
    assert requests["empty"] is None and len(requests["x"]) >= RUN_S // 5, requests["x"]  # 5 s windows
    for series in requests["series"]:
        model = series["model"]
        # req/s x window length, summed over the run: every request both workers finished, none twice
        total = sum(v * w for v, w in zip(series["values"], requests["window_s"]) if v)
        assert abs(total - summary["models"][model]["requests"]) < 0.01 * len(requests["x"]), (model, total)
        assert all(series["values"][1:-1]), (model, series["values"])  # traffic in every full window
    assert sum(summary["models"][m]["requests"] for m in summary["models"]) == sum(n["requests"] for n in nodes)
    for spec_id in ("e2e_ms", "ttft_ms"):
        assert any(v is not None for s in specs[spec_id]["series"] for v in s["values"]), spec_id
    for spec_id in ("e2e_ms_by_percentile", "ttft_ms_by_percentile"):
        spec = specs[spec_id]
        assert spec["empty"] is None and {s["model"] for s in spec["series"]} == set(summary["models"]), spec_id
        for series in spec["series"]:
            assert len(series["values"]) == len(spec["x"]) > 100 and series["values"] == sorted(series["values"])


def test_compose_run_counts_are_exact_and_the_llm_tab_is_reachable(compose_project, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    run_id = "compose-2w"
    project = compose_project(run_env(run_id, workers=WORKERS, users=USERS, run_time=f"{RUN_S}s"),
                              [_web_ui_override(tmp_path)])
    started = time.monotonic()
    project.up(WORKERS)
    port = project.published_port("master", WEB_PORT)
    project.wait_log("master", "Sending spawn jobs", 90)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=30000)
            page.get_by_role("tab", name="LLM").click(timeout=30000)
            # a model row appears once the workers' first reports have reached the master
            page.get_by_role("cell", name="gpt-4o-mini").first.wait_for(timeout=30000)
            tab_text = page.inner_text("body")
        finally:
            browser.close()
    code = project.wait_exit("master", 120)
    elapsed_s = time.monotonic() - started

    served = project.http_json("simulator", "http://127.0.0.1:8000/_sim/stats")
    results = project.copy_out("master", f"/results/{run_id}", tmp_path / "results")
    summary = json.loads((results / "summary.json").read_text())
    master_log = project.logs("master")

    assert "claude-4-haiku" in tab_text
    assert code == summary["exit_code"] and code in (0, 1), master_log[-3000:]  # 1: the profile's injected errors
    workers = summary["workers"]
    assert workers["count"] == WORKERS and workers["finished"] == WORKERS and not summary["degraded"]
    # every request the simulator served was recorded (retries included), plus the master's preflight
    attempts = sum(m["attempts"] for m in summary["models"].values())
    preflight = sum(summary["preflight"]["requests_by_model"].values())
    assert attempts > 20
    assert attempts + preflight == served["chat_requests_total"], (attempts, preflight, served)
    for model, block in summary["models"].items():
        assert block["attempts"] + summary["preflight"]["requests_by_model"].get(model, 0) == \
            served["chat_requests"][model], model

    # one point per attempt in InfluxDB, each from the worker that sent it
    per_worker = {s["tags"]["worker"]: s["values"][0][1] for s in _influx_query(
        project, f"SELECT count(attempt) FROM llm_request WHERE run_id = '{run_id}' GROUP BY worker")}
    assert sum(per_worker.values()) == attempts
    node_names = {n["worker"] for n in workers["nodes"].values()}
    assert set(per_worker) == node_names and len(node_names) == WORKERS
    # the time series is whole: every worker has points across the run, not just at its end
    for worker in node_names:
        [series] = _influx_query(project, (
            f"SELECT count(attempt) FROM llm_request WHERE run_id = '{run_id}' AND worker = '{worker}' "
            f"AND time > now() - 10m GROUP BY time({SERIES_BUCKET_S}s) fill(none)"))
        buckets = [v for v in series["values"] if v[1]]
        assert len(buckets) >= RUN_S // SERIES_BUCKET_S - 2, (worker, buckets)
    # loadkit's table is the last thing the master prints: after Locust's tables (whose totals predate the
    # workers' final flush), ending with the results line
    assert master_log.rindex("Response time percentiles") < master_log.rindex("all models"), master_log[-3000:]
    last = [line for line in master_log.splitlines() if line.strip()][-1]
    assert last == f"results: /results/{run_id}/summary.json (exit code {code})", master_log[-3000:]
    _check_report_is_whole(results / "report.html", summary)
    print(f"\ncompose run: {attempts} attempts from {WORKERS} workers, {len(per_worker)} series, "
          f"exit {code}, {elapsed_s:.1f} s wall")
