"""The Locust web UI's LLM tab, in a real headless Chromium, against a real simulator.

A run is started from the UI's own form; the LLM tab must show non-zero per-model
TTFT p95 values that match loadkit's live summary within the histogram's error
(0.1 %; the tab rounds to 0.1 ms, and the two reads are a refresh apart, so the
test compares after stopping the run).
"""

import time
from pathlib import Path

import httpx
import pytest

from tests.support.locustui import start_locust_ui
from tests.support.simproc import start_simulator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def _start_locust(sim, tmp_path, *extra, locustfile="locustfiles/chat.py"):
    return start_locust_ui(sim, tmp_path, *extra, locustfile=locustfile)


@pytest.fixture()
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found at /usr/bin/chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_llm_tab_shows_live_per_model_ttft_matching_the_summary(tmp_path, browser):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=40,itl_ms=5,tokens=10", "--cold-start-ms", "0") as sim:
        proc, url = _start_locust(sim, tmp_path)
        try:
            page = browser.new_page()
            page.goto(url)
            page.fill("input[name=userCount]", "4")
            page.fill("input[name=spawnRate]", "4")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="LLM").wait_for(timeout=15000)
            time.sleep(5)  # let traffic accumulate and the UI refresh (every 2 s)
            page.get_by_role("tab", name="LLM").click()
            page.get_by_role("cell", name="gpt-4o-mini").first.wait_for(timeout=10000)
            page.wait_for_timeout(2500)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "llm-tab.png"), full_page=True)
            httpx.post(url + "/stop", timeout=10)
            # After the stop the numbers are final: wait until two reads agree, then make the page fetch them.
            previous = None
            for _ in range(40):
                time.sleep(0.5)
                current = httpx.get(url + "/loadkit/rows.json", timeout=10).json()
                if current == previous:
                    break
                previous = current
            with page.expect_response(lambda r: r.url.endswith("/stats/requests"), timeout=15000) as resp_info:
                page.reload()
            served_rows = {r["model"]: r for r in resp_info.value.json()["extended_stats"][0]["data"]}
            page.get_by_role("tab", name="LLM").click()
            page.get_by_role("cell", name="gpt-4o-mini").first.wait_for(timeout=10000)
            headers = [h.inner_text().strip() for h in page.query_selector_all("main table.MuiTable-root thead th")]
            col = headers.index("TTFT p95 ms")
            tab = {}
            for row in page.query_selector_all("main table.MuiTable-root tbody tr"):
                cells = [c.inner_text().strip() for c in row.query_selector_all("td")]
                tab[cells[0]] = float(cells[col])
            summary = httpx.get(url + "/loadkit/summary.json", timeout=10).json()
        finally:
            proc.terminate()
            proc.wait(20)
    for model in ("claude-4-haiku", "gpt-4o-mini"):
        live = summary["models"][model]["ttft_ms"]["p95"]
        assert tab[model] > 0
        assert served_rows[model]["ttft_p95"] == tab[model]
        assert tab[model] == pytest.approx(live, abs=0.05 + live * 0.001)
        assert live >= 40 - 3  # never below the fixed server's TTFT (above it under load is possible)


def test_loadkit_routes_refuse_unauthenticated_requests_with_web_login(tmp_path):
    with start_simulator("--profile", "zero") as sim:
        proc, url = _start_locust(sim, tmp_path, "--web-login", locustfile="tests/webui/auth_locustfile.py")
        try:
            for route in ("/loadkit/summary.json", "/loadkit/rows.json", "/loadkit/report.html"):
                r = httpx.get(url + route, timeout=10, follow_redirects=False)
                assert r.status_code == 401, (route, r.status_code)
                assert "run_id" not in r.text
        finally:
            proc.terminate()
            proc.wait(20)


def test_loadkit_summary_route_serves_live_data_without_login(tmp_path):
    with start_simulator("--profile", "zero") as sim:
        proc, url = _start_locust(sim, tmp_path)
        try:
            r = httpx.get(url + "/loadkit/summary.json", timeout=10)
            assert r.status_code == 200 and r.json()["totals"]["requests"] == 0
        finally:
            proc.terminate()
            proc.wait(20)


def test_model_mix_from_the_start_form_is_used(tmp_path, browser):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=2,tokens=5", "--cold-start-ms", "0") as sim:
        proc, url = _start_locust(sim, tmp_path)
        try:
            page = browser.new_page()
            page.goto(url)
            page.fill("input[name=userCount]", "2")
            page.fill("input[name=spawnRate]", "2")
            page.get_by_text("Custom parameters").click()
            page.fill("input[name=models]", "gpt-4o-mini")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="LLM").wait_for(timeout=15000)
            time.sleep(3)
            httpx.post(url + "/stop", timeout=10)
            time.sleep(1)
            summary = httpx.get(url + "/loadkit/summary.json", timeout=10).json()
        finally:
            proc.terminate()
            proc.wait(20)
    assert list(summary["models"]) == ["gpt-4o-mini"] and summary["models"]["gpt-4o-mini"]["requests"] > 10
