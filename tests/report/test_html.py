"""report.html: self-contained, every section present, interactive plots in real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from loadkit.report import series
from loadkit.report.html import SECTIONS, write_html_report
from loadkit.report.recompute import iter_record_dicts, summary_from_records
from loadkit.core.slo import evaluate, load_slos
from loadkit.report.vendor import UPLOT_VERSION
from tests.support.browser import chromium
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
    assert "<script src" not in html and "@import" not in html and "<img" not in html
    assert html.count(f"uPlot (v{UPLOT_VERSION})") == 1  # the vendored library, inlined once


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
    url = (report_run / "report.html").as_uri()
    requested: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url, wait_until="load")
        headings = page.locator("section h2").all_inner_texts()
        section_ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
        canvases = page.eval_on_selector_all("canvas", "els => els.map(e => e.width)")
        verdict = page.locator("#slo .verdict").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert errors == []
    assert requested and requested[0] == url
    outside = [u for u in requested if not u.startswith(("file:", "data:"))]
    assert outside == [], f"the report fetched {outside}"
    assert section_ids == [sid for sid, _ in SECTIONS]
    assert headings == [label for _, label in SECTIONS]
    # e2e/TTFT/ITL over time, 2 by percentile, tokens/s, requests/s, 429s, errors: one uPlot canvas each
    assert len(canvases) == 9 and all(width > 300 for width in canvases), canvases
    assert "SLOs failed" in verdict
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_hover_shows_values_and_a_model_toggle_hides_it_in_every_plot(report_run):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((report_run / "report.html").as_uri(), wait_until="load")
        plot = page.locator('[data-chart-id="output_tokens"] .u-over')
        plot.scroll_into_view_if_needed()
        box = plot.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        legend = page.locator('[data-chart-id="output_tokens"] .u-legend .u-value').all_inner_texts()
        page.locator('[data-model-toggles] input[value="gpt-4o-mini"]').uncheck()
        shown = page.evaluate("""() => Object.values(LoadkitCharts.state.charts).flatMap(c =>
            c.spec.series.map((s, i) => [c.spec.id, s.model, c.plot.series[i + 1].show]))""")
    # the hovered window's x (seconds) and each model's tokens/s at it
    assert legend[0].endswith(" s") and all(v.endswith("tokens/s") for v in legend[1:]), legend
    assert all(float(v.split()[0]) > 0 for v in legend[1:]), legend
    assert shown and all(show == (model != "gpt-4o-mini") for _, model, show in shown), shown


def test_the_last_partial_window_is_rated_by_its_length_not_shown_as_a_drop(sample_run, sample_summary):
    records = list(iter_record_dicts(sample_run))
    table = series.windows_from_records(records, duration_s=62.0)
    last = table["windows"][-1]
    assert last["partial"] and 1.0 < last["length_s"] < 5.0
    tokens = next(s for s in series.chart_specs(table) if s["id"] == "output_tokens")
    for line in tokens["series"]:
        values = [v for v in line["values"] if v is not None]
        middle = sorted(values)[len(values) // 2]
        assert values[-1] > 0.3 * middle, (line["model"], values)
    # every finished request is in exactly one window
    assert sum(m["requests"] for w in table["windows"] for m in w["models"].values()) == \
        sample_summary["totals"]["requests"]
    assert sum(m["output_tokens"] for w in table["windows"] for m in w["models"].values()) == \
        sample_summary["totals"]["tokens"]["output"]


def test_a_run_without_429s_says_so_instead_of_an_empty_axis(make_run, tmp_path):
    run = make_run("no-429", seed=3, rate_limit_p=0.0, error_p=0.0)
    html = write_html_report(run).read_text()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto((run / "report.html").as_uri(), wait_until="load")
        note = page.locator('[data-chart-id="responses_429"]').inner_text()
        has_plot = page.locator('[data-chart-id="responses_429"] canvas').count()
        errors_note = page.locator('[data-chart-id="errors"]').inner_text()
    assert "no 429s" in note and has_plot == 0
    assert "no errors" in errors_note
    assert '"id":"responses_429"' in html


def test_tables_fit_their_cards_on_a_narrow_window(report_run):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 760, "height": 900})
        page.goto((report_run / "report.html").as_uri(), wait_until="load")
        overflowing = page.evaluate("""() => Array.from(document.querySelectorAll('section')).filter(
            s => s.scrollWidth > s.clientWidth + 1).map(s => s.id)""")
        scrollers = page.evaluate("""() => Array.from(document.querySelectorAll('.table-wrap')).filter(
            w => w.scrollWidth > w.clientWidth).length""")
    assert overflowing == []
    assert scrollers >= 1  # the wide percentile/cost tables scroll inside their card instead


def test_comparison_marks_the_better_value_per_row(report_run):
    summary = json.loads((report_run / "summary.json").read_text())
    html = (report_run / "report.html").read_text()
    section = html.split('<section id="comparison">')[1].split("</section>")[0]
    models = sorted(summary["models"])
    assert models == ["claude-4-haiku", "gpt-4o-mini"]

    def row(label):
        cells = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", section).group(1)
        return re.findall(r'<td(?: class="(\w+)")?>(.*?)</td>', cells)

    median = row("median latency (e2e p50)")
    fast = min(models, key=lambda m: summary["models"][m]["e2e_ms"]["p50"])
    assert [cls for cls, _ in median] == ["best" if m == fast else "" for m in models]
    assert median[models.index(fast)][1] == f"{summary['models'][fast]['e2e_ms']['p50']:,.1f} ms"
    price = row("output price")
    assert price == [("", "$4.00 / 1M"), ("best", "$0.60 / 1M")]
    monthly = row("monthly budget at 10,000 calls/day")
    for (cls, text), m in zip(monthly, models):
        expected = summary["models"][m]["cost_per_1k_requests_usd"] / 1000 * 10_000 * 30
        assert float(text.lstrip("$").replace(",", "")) == pytest.approx(expected, abs=0.006)
    success = row("success rate")
    best = max(models, key=lambda m: summary["models"][m]["success_rate"])
    assert success[models.index(best)][0] == "best"
    categories = set(summary["models"]["gpt-4o-mini"]["task_success"])
    assert categories == {"code", "summarization", "factual", "creative", "math"}
    for category in categories:
        assert row(category)


def test_attached_overhead_run_and_settings_show_with_secrets_redacted(report_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(report_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["command_line"] = ["loadkit", "run", "--users", "6", "--host", "http://gw/v1"]
    summary["settings"] = {"users": 6, "api_key": "sk-live-DO-NOT-SHOW", "models": ["gpt-4o-mini", "claude-4-haiku"]}
    summary["versions"] = {"loadkit": "0.9.0", "locust": "2.37.0", "python": "3.12.3"}
    (run / "summary.json").write_text(json.dumps(summary))
    est = lambda v: {"value_ms": v, "ci_low_ms": v - 3, "ci_high_ms": v + 4, "confidence": 0.95, "n": 50}  # noqa
    (run / "overhead.json").write_text(json.dumps({"gateway_url": "http://gw/v1", "models": {
        "gpt-4o-mini": {"ttft": {"median_diff": est(12.5)}, "e2e": {"median_diff": est(21.0)}},
        "claude-4-haiku": {"ttft": {"median_diff": est(30.0)}, "e2e": {"median_diff": est(18.0)}}}}))
    summary["interrupted"] = True
    (run / "summary.json").write_text(json.dumps(summary))
    html = write_html_report(run).read_text()
    assert '<span class="badge warn">interrupted</span>' in html.split('<section id="slo">')[1].split("</section>")[0]
    assert "sk-live-DO-NOT-SHOW" not in html and "<i>redacted</i>" in html
    assert "loadkit run --users 6 --host http://gw/v1" in html and "2.37.0" in html
    section = html.split('<section id="comparison">')[1].split("</section>")[0]
    ttft = re.search(r"<tr><td>gateway overhead, TTFT \(median, CI\)</td>(.*?)</tr>", section).group(1)
    assert ttft == '<td>+30.0 ms [+27.0, +34.0]</td><td class="best">+12.5 ms [+9.5, +16.5]</td>'
    e2e = re.search(r"<tr><td>gateway overhead, e2e \(median, CI\)</td>(.*?)</tr>", section).group(1)
    assert e2e.startswith('<td class="best">+18.0 ms')


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
        warnings.simplefilter("error")  # no numpy complaints about empty series
        html = write_html_report(tmp_path).read_text()
    assert all(f'<section id="{sid}">' in html for sid, _ in SECTIONS)
    assert "upstream_error" in html and "http_502" in html and "0.00 %" in html
    (tmp_path / "records.jsonl.gz").unlink()
    html = write_html_report(tmp_path).read_text()
    assert "No records.jsonl.gz and no windows in the run folder" in html


def test_windows_in_the_summary_are_drawn_without_records(sample_run, tmp_path):
    """A distributed master may have windows but no records: the over-time plots come from summary.json."""
    records = list(iter_record_dicts(sample_run))
    summary = json.loads((sample_run / "summary.json").read_text())
    summary["windows"] = series.windows_from_records(records, summary["duration_s"])
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = write_html_report(tmp_path).read_text()
    specs = json.loads(html.split('<script id="loadkit-chart-data" type="application/json">')[1].split("</script>")[0])
    by_id = {s["id"]: s for s in specs}
    drawn = sum(v * w for line in by_id["requests"]["series"] for v, w in
                zip(line["values"], by_id["requests"]["window_s"]) if v)
    assert drawn == pytest.approx(summary["totals"]["requests"], abs=0.003 * len(by_id["requests"]["window_s"]))
    # by percentile: the summary's own histograms, so the curve at 95 is the table's p95
    curve = by_id["e2e_ms_by_percentile"]
    assert curve["empty"] is None and {line["model"] for line in curve["series"]} == set(summary["models"])
    at95 = curve["x"].index(95.0)
    for line in curve["series"]:
        assert line["values"][at95] == pytest.approx(summary["models"][line["model"]]["e2e_ms"]["p95"], abs=0.01)
    assert "No records.jsonl.gz and no windows" not in html
    summary.pop("distributions")  # an older summary: without records there is nothing to draw
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = write_html_report(tmp_path).read_text()
    specs = json.loads(html.split('<script id="loadkit-chart-data" type="application/json">')[1].split("</script>")[0])
    assert "needs the run's records.jsonl.gz" in {s["id"]: s for s in specs}["e2e_ms_by_percentile"]["empty"]


def test_finish_reasons_per_model_are_in_the_report(sample_run, tmp_path):
    summary = json.loads((sample_run / "summary.json").read_text())
    models = sorted(summary["models"])
    summary["models"][models[0]]["finish_reasons"] = {"stop": 40, "length": 3, "content_filter": 2}
    summary["models"][models[1]]["finish_reasons"] = {"stop": 51}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    html = write_html_report(tmp_path).read_text()
    section = html.split("<h3>Finish reasons</h3>")[1].split("</table>")[0]
    assert section.index("stop") < section.index("content_filter") and "length" in section
    assert f"<td>{models[0]}</td><td>40</td><td>2</td><td>3</td>" in section.replace(' class="num"', "")
