"""report.html: self-contained, every section present, opens offline in headless Chromium."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from loadkit.report.html import SECTIONS, write_html_report
from loadkit.report.recompute import summary_from_records
from loadkit.core.slo import evaluate, load_slos

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EXAMPLE_SLOS = Path(__file__).resolve().parents[2] / "examples" / "slo.toml"


@pytest.fixture(scope="module")
def report_run(sample_run, tmp_path_factory) -> Path:
    """A copy of the sample run with SLOs evaluated into its summary, and its report written."""
    import json

    run = tmp_path_factory.mktemp("report") / sample_run.name
    shutil.copytree(sample_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["slo"] = evaluate(load_slos(EXAMPLE_SLOS), summary)
    (run / "summary.json").write_text(json.dumps(summary))
    write_html_report(run, calls_per_day=10_000)
    return run


def test_report_has_no_external_references(report_run):
    html = (report_run / "report.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html)
    assert "<script" not in html and "@import" not in html and "url(" not in html
    assert html.count('src="data:image/png;base64,') == 6


def test_report_shows_every_section_and_the_numbers(report_run):
    html = (report_run / "report.html").read_text()
    for section_id, _ in SECTIONS:
        assert f'<section id="{section_id}">' in html
    assert "SLOs failed" in html  # the sample run misses the 0.3 % error-rate objective
    assert "per month at 10,000 calls/day" in html
    assert "gpt-4o-mini" in html and "claude-4-haiku" in html


def test_monthly_projection_uses_calls_per_day(report_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(report_run, run)
    html_10k = write_html_report(run, calls_per_day=10_000).read_text()
    html_20k = write_html_report(run, calls_per_day=20_000).read_text()
    months = [re.findall(r'<tr class="total">(?:<td>[^<]*</td>){8}<td>\$([\d,.]+)</td>', h)[-1] for h in
              (html_10k, html_20k)]
    a, b = (float(m.replace(",", "")) for m in months)
    assert b == pytest.approx(2 * a, rel=1e-3) and a > 0


def test_summary_from_records_recomputes_the_same_percentiles(sample_run, sample_summary):
    recomputed = summary_from_records(sample_run)
    for model, block in sample_summary["models"].items():
        for metric in ("e2e_ms", "ttft_ms", "itl_ms", "tpot_ms"):
            assert recomputed["models"][model][metric] == block[metric]
        assert recomputed["models"][model]["outcomes"] == block["outcomes"]
    assert recomputed["totals"]["cost_usd"] == pytest.approx(sample_summary["totals"]["cost_usd"])


def test_report_opens_offline_in_headless_chromium(report_run):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install it with `apt-get install -y chromium` "
                    "(the report's browser test never skips)")
    from playwright.sync_api import sync_playwright

    url = (report_run / "report.html").as_uri()
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url, wait_until="load")
            headings = page.locator("section h2").all_inner_texts()
            section_ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.complete])")
            verdict = page.locator("#slo .verdict").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert requested and requested[0] == url
    outside = [u for u in requested if not u.startswith(("file:", "data:"))]
    assert outside == [], f"the report fetched {outside}"
    assert section_ids == [sid for sid, _ in SECTIONS]
    assert headings == [label for _, label in SECTIONS]
    assert len(images) == 6 and all(width > 300 and complete for width, complete in images), images
    assert "SLOs failed" in verdict
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_report_of_a_run_without_successes_or_records_still_renders(tmp_path):
    import gzip
    import json
    import warnings

    from loadkit.core.records import RequestRecord, record_to_dict
    from loadkit.core.summary import build_summary, write_summary
    from loadkit.core.stats import RunStats

    stats = RunStats()
    failed = RequestRecord(model="gpt-4o-mini", sent_at=1.0, done_at=1.2, status=502, outcome="upstream_error",
                           error_key="http_502", started_wall_ns=1_764_000_000_000_000_000)
    with gzip.open(tmp_path / "records.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({**record_to_dict(failed), "cost_usd": stats.add(failed)}) + "\n")
    write_summary(build_summary(stats, run_id="all-failed", started_at="", duration_s=1.0, host="h", users=1),
                  tmp_path / "summary.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no matplotlib complaints about empty plots
        html = write_html_report(tmp_path).read_text()
    assert all(f'<section id="{sid}">' in html for sid, _ in SECTIONS)
    assert "upstream_error" in html and "http_502" in html and "0.00 %" in html
    (tmp_path / "records.jsonl.gz").unlink()
    html = write_html_report(tmp_path).read_text()
    assert "No records.jsonl.gz in the run folder" in html
