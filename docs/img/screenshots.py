"""Regenerate the README's screenshots of the LLM tab and report.html (headless Chromium, no network).

    PYTHONPATH=. python docs/img/screenshots.py [--seconds 40] [--users 8]

A real simulator (reference profile: DESIGN.md's two models), a real Locust web UI
(locustfiles/chat.py), a run started and stopped from the UI; the report is the one
that run wrote at Stop. Writes llm-tab.png, llm-tab-charts.png, report.png and
report-comparison.png next to this file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import chromium, poll  # noqa: E402
from tests.support.locustui import start_locust_ui  # noqa: E402
from tests.support.simproc import start_simulator  # noqa: E402

OUT = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--users", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_simulator() as sim, chromium() as browser:
        proc, url = start_locust_ui(sim, Path(tmp), run_id="readme-demo")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.fill("input[name=userCount]", str(args.users))
            page.fill("input[name=spawnRate]", str(args.users))
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="LLM").click()
            time.sleep(args.seconds)
            page.screenshot(path=str(OUT / "llm-tab.png"))
            charts = page.locator("#loadkit-llm-panel .lk-charts")
            charts.scroll_into_view_if_needed()
            # hover the TTFT chart so its legend shows the values at one window
            plot = page.locator('#loadkit-llm-panel [data-chart-id="ttft_ms"] .u-over')
            box = plot.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
            page.wait_for_timeout(300)
            charts.screenshot(path=str(OUT / "llm-tab-charts.png"))
            httpx.post(url + "/stop", timeout=30)
            poll(lambda: httpx.get(url + "/loadkit/runs.json", timeout=10).json()["runs"], 60, "the run at Stop")
            report = Path(tmp) / "results" / "readme-demo" / "report.html"
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(report.as_uri())
            page.locator("#comparison").screenshot(path=str(OUT / "report-comparison.png"))
            page.locator("#latency-over-time").scroll_into_view_if_needed()
            plot = page.locator('[data-chart-id="ttft_ms"] .u-over')
            box = plot.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.5)
            page.screenshot(path=str(OUT / "report.png"))
        finally:
            proc.terminate()
            proc.wait(30)
    for name in ("llm-tab.png", "llm-tab-charts.png", "report.png", "report-comparison.png"):
        print(OUT / name)


if __name__ == "__main__":
    main()
