"""The Locust web UI's LLM tab, in a real headless Chromium, against a real simulator.

A run is started from the UI's own form; the LLM tab must show non-zero per-model
TTFT p95 values that match loadkit's live summary within the histogram's error
(0.1 %; the tab rounds to 0.1 ms, and the two reads are a refresh apart, so the
test compares after stopping the run).
"""

from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium, start_from_form
from tests.support.locustui import start_locust_ui
from tests.support.simproc import start_simulator
from tests.support.waits import wait_stable, wait_until

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _start_locust(sim, tmp_path, *extra, locustfile="locustfiles/chat.py"):
    return start_locust_ui(sim, tmp_path, *extra, locustfile=locustfile)


def _summary(url):
    return httpx.get(url + "/loadkit/summary.json", timeout=10).json()


def _requests_per_model(url, models):
    """The fewest requests any of ``models`` has in the live summary so far (0 before it appears)."""
    counts = _summary(url)["models"]
    return min(counts.get(m, {}).get("requests", 0) for m in models)


@pytest.fixture()
def browser():
    with chromium() as b:
        yield b


def test_llm_tab_shows_live_per_model_ttft_matching_the_summary(tmp_path, browser):
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=40,itl_ms=5,tokens=10", "--cold-start-ms", "0") as sim:
        proc, url = _start_locust(sim, tmp_path)
        try:
            page = browser.new_page()
            start_from_form(page, url, 4)
            page.get_by_role("tab", name="LLM").wait_for(timeout=15000)
            # let traffic accumulate: enough requests per model for a steady p95
            wait_until(lambda: _requests_per_model(url, ("claude-4-haiku", "gpt-4o-mini")) >= 50, 30,
                       "50 requests per model in the live summary")
            page.get_by_role("tab", name="LLM").click()
            page.get_by_role("cell", name="gpt-4o-mini").first.wait_for(timeout=10000)
            page.wait_for_timeout(2500)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "llm-tab.png"), full_page=True)
            httpx.post(url + "/stop", timeout=10)
            # After the stop the numbers are final: wait until two reads agree, then make the page fetch them.
            wait_stable(lambda: httpx.get(url + "/loadkit/rows.json", timeout=10).json(), 20, "the LLM tab's rows")
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
            start_from_form(page, url, 2, custom={"models": "gpt-4o-mini"})
            page.get_by_role("tab", name="LLM").wait_for(timeout=15000)
            wait_until(lambda: _summary(url)["totals"]["requests"] > 10, 30, "more than 10 requests in the live summary")
            httpx.post(url + "/stop", timeout=10)
            summary = wait_stable(lambda: _summary(url), 20, "the summary after Stop")
        finally:
            proc.terminate()
            proc.wait(20)
    assert list(summary["models"]) == ["gpt-4o-mini"] and summary["models"]["gpt-4o-mini"]["requests"] > 10
