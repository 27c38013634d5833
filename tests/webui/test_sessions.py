"""Web UI sessions, live charts: a real Locust web UI process, a real simulator, real Chromium.

Every Start from the UI is its own run (new run id, fresh stats, its own summary/JUnit/report at Stop);
Reset clears the LLM tab; the tab lists the session's runs with download links; its live per-model
charts come from the windows and, after Stop, add up to the run's summary.json.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium, poll, start_from_form
from tests.support.locustui import start_locust_ui, start_run, stop_run
from tests.support.simproc import start_simulator

FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=30,itl_ms=4,tokens=12", "--cold-start-ms", "0")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _get(url: str, route: str):
    return httpx.get(url + route, timeout=10).json()


def _total_requests(url: str) -> int:
    return _get(url, "/loadkit/summary.json")["totals"]["requests"]


def _runs(url: str) -> list[dict]:
    return _get(url, "/loadkit/runs.json")["runs"]


def _run_and_stop(url: str, users: int, min_requests: int, finished_before: int) -> dict:
    start_run(url, users)
    poll(lambda: _total_requests(url) >= min_requests, 30, f"{min_requests} requests")
    stop_run(url)
    return poll(lambda: len(_runs(url)) > finished_before and _runs(url)[-1], 40, "the run written at Stop")


def test_each_web_ui_start_is_its_own_run_with_its_own_files(tmp_path):
    with start_simulator(*FIXED) as sim:
        proc, url = start_locust_ui(sim, tmp_path, run_id="first")
        try:
            first = _run_and_stop(url, 5, 40, 0)
            second = _run_and_stop(url, 2, 10, 1)
            listed = _runs(url)
            served = httpx.get(url + f"/loadkit/runs/{second['run_id']}/summary.json", timeout=10)
            report = httpx.get(url + f"/loadkit/runs/{first['run_id']}/report.html", timeout=10)
            unknown = httpx.get(url + "/loadkit/runs/not-a-run/summary.json", timeout=10).status_code
            other_file = httpx.get(url + f"/loadkit/runs/{first['run_id']}/records.jsonl.gz", timeout=10).status_code
            # the simulator counts a request when its response ends: one cut off by Stop ends when the
            # simulator next writes to the closed connection
            poll(lambda: sim.stats()["in_flight"] == 0, 20, "the simulator's in-flight requests to end")
            gateway_served = sim.stats()["chat_requests_total"]
        finally:
            proc.terminate()
            proc.wait(30)
    results = tmp_path / "results"
    assert first["run_id"] == "first" and second["run_id"] != "first"
    assert [r["run_id"] for r in listed] == [first["run_id"], second["run_id"]]
    summaries = []
    for run in (first, second):
        folder = results / run["run_id"]
        assert sorted(run["files"]) == ["junit.xml", "report.html", "summary.json"]
        assert all((folder / name).stat().st_size > 0 for name in run["files"])
        summary = json.loads((folder / "summary.json").read_text())
        with gzip.open(folder / "records.jsonl.gz", "rt") as fh:
            finals = sum(1 for line in fh if json.loads(line).get("final", True))
        assert summary["totals"]["requests"] == finals == run["requests"]  # this run's requests only
        summaries.append(summary)
    assert [s["users"] for s in summaries] == [5, 2]
    assert summaries[1]["totals"]["requests"] < summaries[0]["totals"]["requests"]
    preflight = sum(summaries[0]["preflight"]["requests_by_model"].values())
    assert sum(summaries[1]["preflight"]["requests_by_model"].values()) == 0
    # what the gateway served = both runs' attempts + the one preflight: nothing counted twice, nothing lost
    # between runs. The attempts include those cut off by Stop (outcome "interrupted"); one cut before its
    # bytes left (while connecting) never reached the gateway, so those are the only uncertainty.
    attempts = sum(s["totals"]["attempts"] for s in summaries)
    cut = sum(s["generator"]["interrupted_requests"] for s in summaries)
    assert attempts + preflight - cut <= gateway_served <= attempts + preflight, (gateway_served, attempts, cut)
    assert served.status_code == 200 and served.json() == summaries[1]
    assert report.status_code == 200 and f"loadkit run {first['run_id']}" in report.text
    assert unknown == 404 and other_file == 404
    assert sorted(p.name for p in results.iterdir()) == sorted([first["run_id"], second["run_id"]])


def test_opening_and_closing_the_web_ui_without_a_run_leaves_no_results_folder(tmp_path):
    with start_simulator(*FIXED) as sim:
        proc, url = start_locust_ui(sim, tmp_path)
        try:
            assert _runs(url) == []
        finally:
            proc.terminate()
            proc.wait(30)
    assert not (tmp_path / "results").exists() or list((tmp_path / "results").iterdir()) == []


def _panel_state(page) -> dict:
    return page.evaluate("""() => {
        const panel = document.getElementById('loadkit-llm-panel');
        const charts = window.LoadkitCharts ? LoadkitCharts.state.charts : {};
        const specs = Object.fromEntries(Object.entries(charts).map(([id, c]) => [id, c.spec]));
        const rows = Array.from(document.querySelectorAll('main table.MuiTable-root tbody tr')).map(
            tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()));
        return {run: panel && panel.getAttribute('data-run-id'), specs: specs,
                canvases: panel ? panel.querySelectorAll('canvas').length : 0,
                empty: panel ? Array.from(panel.querySelectorAll('.lk-chart-empty')).map(e => e.innerText) : [],
                runs: panel ? Array.from(panel.querySelectorAll('table.lk-runs tbody tr')).map(
                    tr => [tr.cells[0].innerText, Array.from(tr.querySelectorAll('a')).map(a => a.getAttribute('href'))]) : [],
                rows: rows};
    }""")


def _when(value, condition):
    """``value`` when ``condition(value)`` holds, else None (for poll)."""
    return value if condition(value) else None


def _windows_drawn(state: dict) -> int:
    return len((state["specs"].get("requests") or {}).get("x", []))


def _drawn_total(spec: dict) -> float:
    """A rate chart multiplied back by its windows' lengths: the count it draws."""
    return sum(v * w for line in spec["series"] for v, w in zip(line["values"], spec["window_s"]) if v)


def test_live_charts_per_model_add_up_to_the_summary_after_stop(tmp_path):
    with start_simulator(*FIXED) as sim, chromium() as browser:
        proc, url = start_locust_ui(sim, tmp_path, run_id="charted")
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            start_from_form(page, url, 4)
            page.get_by_role("tab", name="LLM").click()
            # two closed 5 s windows and the current one drawn: the charts are live, not drawn at the end
            live = poll(lambda: _when(_panel_state(page), lambda s: s["canvases"] >= 5 and _windows_drawn(s) >= 3),
                        30, "live charts with three windows")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "llm-tab-charts.png"), full_page=True)
            stop_run(url)
            poll(lambda: _runs(url), 40, "the run written at Stop")
            summary = json.loads((tmp_path / "results" / "charted" / "summary.json").read_text())
            # the tab refreshes every 2 s: wait until its charts show the final windows
            final = poll(lambda: _when(_panel_state(page), lambda s: s["runs"] and s["specs"].get("requests") and round(
                _drawn_total(s["specs"]["requests"])) == summary["totals"]["requests"]),
                20, "the charts to show the final windows")
            windows = _get(url, "/loadkit/charts.json")["windows"]["windows"]
        finally:
            proc.terminate()
            proc.wait(30)
    assert {line["model"] for line in live["specs"]["ttft_ms"]["series"]} == {"claude-4-haiku", "gpt-4o-mini"}
    for model, block in summary["models"].items():
        for spec_id, expected in (("requests", block["requests"]), ("output_tokens", block["tokens"]["output"])):
            spec = final["specs"][spec_id]
            line = next(s for s in spec["series"] if s["model"] == model)
            drawn = sum(v * w for v, w in zip(line["values"], spec["window_s"]) if v)
            # rates are rounded to 0.001/s in the JSON: at most 0.0025 per window after multiplying back
            assert drawn == pytest.approx(expected, abs=0.003 * len(spec["window_s"])), (model, spec_id)
        assert sum(w["models"].get(model, {}).get("requests", 0) for w in windows) == block["requests"]
        p50s = [v for v in next(s for s in final["specs"]["ttft_ms"]["series"]
                                if s["model"] == model and s["stat"] == "p50")["values"] if v is not None]
        # the run's median lies between the smallest and largest window median (a mixture's median does)
        assert min(p50s) - 0.5 <= block["ttft_ms"]["p50"] <= max(p50s) + 0.5
        assert min(p50s) >= 30 - 3  # never below the fixed server's 30 ms TTFT
    # wall-clock windows (they line up across workers): the first and the last are cut by the run's start and end
    assert windows[-1]["partial"] and 0 < windows[-1]["length_s"] < 5 and 0 < windows[0]["length_s"] <= 5
    assert all(w["length_s"] == 5 for w in windows[1:-1])
    assert sum(w["length_s"] for w in windows) == pytest.approx(summary["duration_s"], abs=0.6)
    assert "no 429s" in final["empty"] and "no errors" in final["empty"]
    assert final["runs"] == [["charted", ["./loadkit/runs/charted/summary.json", "./loadkit/runs/charted/junit.xml",
                                          "./loadkit/runs/charted/report.html"]]]


def test_reset_clears_the_llm_tab(tmp_path):
    with start_simulator(*FIXED) as sim, chromium() as browser:
        proc, url = start_locust_ui(sim, tmp_path)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            start_from_form(page, url, 3)
            page.get_by_role("tab", name="LLM").click()
            before = poll(lambda: _when(_panel_state(page)["rows"], lambda rows: rows and int(rows[-1][1]) >= 100),
                          30, "100 requests in the LLM table")
            page.get_by_role("button", name="Reset").click()
            after = poll(lambda: _when(_panel_state(page), lambda s: s["rows"] and int(s["rows"][-1][1]) < 60
                                       and _windows_drawn(s) <= 1), 15, "the LLM table and charts to start again")
            summary_after = _get(url, "/loadkit/summary.json")
            stop_run(url)
        finally:
            proc.terminate()
            proc.wait(30)
    assert before[-1][0] == "all models" and after["rows"][-1][0] == "all models"
    assert int(after["rows"][-1][1]) < int(before[-1][1])
    assert summary_after["totals"]["requests"] < int(before[-1][1])


def _worker_finals(tmp: Path, run_id: str) -> int:
    """Final records the workers wrote for ``run_id`` (each worker in its own results folder)."""
    count = 0
    for path in tmp.glob(f"worker*/{run_id}/workers/*/records.jsonl.gz"):
        with gzip.open(path, "rt") as fh:
            count += sum(1 for line in fh if line.strip() and json.loads(line).get("final", True))
    return count


def test_a_master_web_ui_session_resets_its_workers_between_runs(tmp_path):
    from tests.distributed.harness import DistributedRun
    from tests.support.servers import free_port, wait_http

    with start_simulator(*FIXED) as sim:
        run = DistributedRun(tmp_path, "dist-first", sim.base_url)
        web_port = free_port()
        url = f"http://127.0.0.1:{web_port}"
        try:
            run.start_web_master(web_port=web_port)
            wait_http(url + "/", 30)
            run.start_worker()
            run.start_worker()
            poll(lambda: len(_get(url, "/stats/requests").get("workers", [])) == 2, 30, "two workers connected")
            first = _run_and_stop(url, 4, 40, 0)
            second = _run_and_stop(url, 2, 20, 1)
            windows = _get(url, "/loadkit/charts.json")["windows"]["windows"]
        finally:
            run.stop_all()
    summaries = [json.loads((tmp_path / "master" / r["run_id"] / "summary.json").read_text()) for r in (first, second)]
    assert [s["workers"]["count"] for s in summaries] == [2, 2]
    assert [s["users"] for s in summaries] == [4, 2]
    for run_entry, summary in zip((first, second), summaries):
        # the master's summary holds exactly what the workers recorded under this run id: run 2 starts from 0
        assert summary["totals"]["requests"] == _worker_finals(tmp_path, run_entry["run_id"]) == run_entry["requests"]
    # the LLM tab's windows (merged across both workers) add up to the second run's summary
    assert sum(m["requests"] for w in windows for m in w["models"].values()) == summaries[1]["totals"]["requests"]
