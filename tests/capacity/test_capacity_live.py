"""Capacity against a real simulator process: a known concurrency limit, a rate limit, and the HTML in Chromium.

Known limit: ``--max-concurrency 4`` with a fixed 100 ms service time (one
token, non-streamed) serves at most c / S = 4 / 0.1 s = 40 requests/s. Under
open-loop constant arrivals (D/D/c) latency stays at S up to 40 req/s; above
it the queue grows for the whole step, the wait at time t being
(lambda / 40 - 1) * t. The measured window is [warmup_s, warmup_s + step_s],
so its p95 sits near t95 = warmup_s + 0.95 step_s, and the SLO ``e2e_ms.p95
< L`` breaks once S + (lambda / 40 - 1) * t95 > L, i.e. above
lambda_break = 40 * (1 + (L - S) / t95) = 40 * (1 + 0.2 / 2.4) = 43.3 req/s.
So the found maximum lies in [40 - resolution, 43.3]: within 10 % of 40.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadkit.cli.capacity import main as capacity_main
from tests.support.browser import chromium
from tests.support.capacity_known_limit import SERVICE_S, SLO_MS, SLOTS, STEP_S, WARMUP_S

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ANALYTIC_MAX_RPS = SLOTS / SERVICE_S  # 40 req/s
BREAK_UPPER_RPS = ANALYTIC_MAX_RPS * (1 + (SLO_MS / 1000 - SERVICE_S) / (WARMUP_S + 0.95 * STEP_S))  # 43.3


@pytest.fixture(scope="module")
def known_limit_doc(tmp_path_factory) -> dict:
    """The run in its own process (tests/support/capacity_known_limit.py): CI once failed its first step at
    10 req/s, a quarter of the limit, inside the pytest process after ~300 tests; its own process carries
    only the generator's timings."""
    out = tmp_path_factory.mktemp("known-limit") / "capacity.json"
    proc = subprocess.run([sys.executable, "-m", "tests.support.capacity_known_limit", str(out)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _steps(out: dict) -> list:
    """The steps in brief, for a failure's message."""
    return [(r["level"], r["requests"], (r["e2e_ms"] or {}).get("p95"), r["error_share"], r["schedule_lag_p99_ms"],
             r["failed"]) for r in out["steps"]]


def test_found_maximum_is_within_10_percent_of_the_queueing_limit(known_limit_doc):
    out = known_limit_doc["models"]["gpt-4o-mini"]
    assert out["max_sustainable"], _steps(out)
    found = out["max_sustainable"]["rps"]
    assert abs(found - ANALYTIC_MAX_RPS) / ANALYTIC_MAX_RPS <= 0.10, (found, out["steps"])
    assert found <= BREAK_UPPER_RPS * 1.02
    assert out["binding_constraint"] == "latency"
    # the step below saturation is served at the bare service time
    below = [r for r in out["steps"] if r["level"] <= 30]
    assert below and all(r["e2e_ms"]["p50"] < 100 * SERVICE_S * 1000 for r in below)


def test_breaking_step_is_named_with_the_metric_that_broke(known_limit_doc):
    out = known_limit_doc["models"]["gpt-4o-mini"]
    breaking = out["breaking_step"]
    assert ANALYTIC_MAX_RPS * 0.95 <= breaking["level"] <= ANALYTIC_MAX_RPS * 1.3, _steps(out)
    metrics = [f["metric"] for f in breaking["failed"]]
    assert "e2e_ms.p95" in metrics
    failed = next(f for f in breaking["failed"] if f["metric"] == "e2e_ms.p95")
    assert failed["value"] > SLO_MS and failed["limit"] == SLO_MS
    assert out["steps"][breaking["step"]]["level"] == breaking["level"]


def test_knee_is_at_the_saturation_step(known_limit_doc):
    out = known_limit_doc["models"]["gpt-4o-mini"]
    knee = out["knee"]
    assert knee["method"] == "kneedle" and knee["metric"] == "e2e_ms.p95"
    assert knee["level"] is not None and ANALYTIC_MAX_RPS * 0.9 <= knee["level"] <= ANALYTIC_MAX_RPS * 1.1, _steps(out)


def test_bisection_takes_fewer_steps_than_a_linear_sweep_and_measures_the_generator(known_limit_doc):
    out = known_limit_doc["models"]["gpt-4o-mini"]
    search = out["search"]
    assert search["steps_taken"] == len(out["steps"])
    assert search["steps_taken"] < search["linear_equivalent_steps"], _steps(out)
    assert search["first_fail"] - search["last_pass"] <= search["resolution"] + 1e-9
    generator = known_limit_doc["generator"]
    assert generator["answered"] >= sum(r["requests"] for r in out["steps"])
    assert generator["requests_per_cpu_s"] > 20  # requests answered per CPU-second of the run's process


@pytest.fixture(scope="module")
def rate_limited_run(tmp_path_factory) -> Path:
    """Two models through `loadkit capacity` with the embedded simulator, each limited to 6 requests/min."""
    out = tmp_path_factory.mktemp("capacity") / "rate-limited"
    code = capacity_main([
        "--models", "claude-4-haiku,gpt-4o-mini", "--slo-check", "e2e_ms.p95 < 2000", "--start", "2", "--max", "10",
        "--step", "2", "--step-s", "2", "--warmup-s", "0.5", "--search", "linear", "--max-in-flight", "16", "--untrusted-steps", "mark",
        "--calls-per-day", "10000", "--peak-ratio", "3", "--out", str(out), "--sim-args",
        "--profile fixed --fixed ttft_ms=20,itl_ms=2,tokens=4 --cold-start-ms 0 --error-rate 0 --rpm 6",
    ])
    # 6 requests/min is below the first step (2 req/s): no step passes, so the run exits 1 (#16: never
    # "max sustainable -" with exit 0), and the rate limit is still named as the constraint
    assert code == 1
    return out


def test_rate_limit_is_reported_as_the_binding_constraint(rate_limited_run):
    doc = json.loads((rate_limited_run / "capacity.json").read_text())
    for model in ("claude-4-haiku", "gpt-4o-mini"):
        out = doc["models"][model]
        assert out["binding_constraint"] == "rate_limit", out["steps"]
        breaking = out["steps"][out["breaking_step"]["step"]]
        assert [f["metric"] for f in breaking["failed"]] == ["rate_limit.responses_429 / requests"]
        assert breaking["share_429"] > 0.01
        assert breaking["e2e_ms"]["p95"] is None or breaking["e2e_ms"]["p95"] < 2000  # latency was not the limit
    projection = doc["projection"]["models"]["gpt-4o-mini"]
    assert projection["peak_rps"] == pytest.approx(10_000 / 86_400 * 3)
    assert projection["monthly_cost_usd"] > 0 and projection["workers_needed"] >= 1


def test_capacity_html_opens_offline_in_headless_chromium_with_a_curve_per_model(rate_limited_run):
    html = (rate_limited_run / "capacity.html").read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", html) and "<script" not in html
    url = (rate_limited_run / "capacity.html").as_uri()
    requested: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url, wait_until="load")
        sections = page.eval_on_selector_all("section.model", "els => els.map(e => e.id)")
        curves = page.eval_on_selector_all("section.model img.curve",
                                           "els => els.map(e => [e.naturalWidth, e.complete])")
        headings = page.locator("section h2").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "capacity.png"), full_page=True)
    outside = [u for u in requested if not u.startswith(("file:", "data:"))]
    assert outside == [], f"capacity.html fetched {outside}"
    assert sections == ["model-claude-4-haiku", "model-gpt-4o-mini"]
    assert len(curves) == 2 and all(width > 300 and complete for width, complete in curves), curves
    assert "Projection" in headings
    assert (ARTIFACTS / "capacity.png").stat().st_size > 30_000
