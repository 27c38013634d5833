"""compare(): a known +30 % e2e regression is found; two runs of one distribution are not."""

from __future__ import annotations

import json

import pytest

from loadkit.report.compare import compare, render_compare_table


@pytest.fixture(scope="module")
def baseline(sample_run):
    return sample_run  # seed 7


@pytest.fixture(scope="module")
def same_distribution(make_run):
    return make_run("run-b", seed=8)


@pytest.fixture(scope="module")
def slower(make_run):
    return make_run("run-c", seed=9, e2e_factor=1.3)


def test_injected_30_percent_e2e_regression_is_significant(baseline, slower):
    result = compare(baseline, slower, threshold_pct=10)
    for model in ("gpt-4o-mini", "claude-4-haiku"):
        row = result["models"][model]["e2e_ms.p50"]
        assert row["significant"] is True and row["regression"] is True
        assert 15 < row["diff_pct"] < 45, row  # +30 % injected, with sampling noise
        assert row["ci_low"] > 0
    flagged = {(r["model"], r["metric"]) for r in result["regressions"]}
    assert ("gpt-4o-mini", "e2e_ms.p50") in flagged and ("claude-4-haiku", "e2e_ms.p50") in flagged


def test_same_distribution_is_not_a_regression(baseline, same_distribution):
    result = compare(baseline, same_distribution, threshold_pct=10)
    assert result["regressions"] == []
    for model in ("gpt-4o-mini", "claude-4-haiku"):
        assert result["models"][model]["e2e_ms.p50"]["significant"] is False


def test_threshold_above_the_change_is_not_a_regression(baseline, slower):
    result = compare(baseline, slower, threshold_pct=80)
    assert result["regressions"] == []
    assert result["models"]["gpt-4o-mini"]["e2e_ms.p50"]["significant"] is True


def test_compare_is_deterministic(baseline, slower):
    assert compare(baseline, slower, 10) == compare(baseline, slower, 10)


def test_swapped_runs_show_an_improvement_not_a_regression(baseline, slower):
    result = compare(slower, baseline, threshold_pct=10)
    assert result["regressions"] == []
    assert result["models"]["gpt-4o-mini"]["e2e_ms.p50"]["diff"] < 0


def test_tokens_per_s_is_compared_but_not_tested(baseline, slower):
    row = compare(baseline, slower, 10)["models"]["gpt-4o-mini"]["output_tokens_per_s"]
    assert row["a"] > 0 and row["b"] > 0 and row["significant"] is None and row["regression"] is False


def test_render_compare_table_names_the_regression(baseline, slower):
    text = render_compare_table(compare(baseline, slower, 10))
    assert "REGRESSION" in text and "e2e_ms.p50" in text and "gpt-4o-mini" in text
    assert "significant regressions beyond 10 %" in text or "significant regression beyond 10 %" in text


def test_compare_columns_are_the_numbers_each_summary_shows(baseline, slower):
    """compare's A and B columns equal each run's summary.json (one source), the records give only the CI."""
    a_dir, b_dir = baseline, slower
    result = compare(a_dir, b_dir, resamples=200)
    summaries = [json.loads((d / "summary.json").read_text()) for d in (a_dir, b_dir)]
    checked = 0
    for model, rows in result["models"].items():
        for metric in ("e2e_ms.p50", "e2e_ms.p95", "ttft_ms.p95", "success_rate"):
            for side, summary in zip(("a", "b"), summaries):
                shown = summary["models"][model]
                for part in metric.split("."):
                    shown = shown[part]
                assert rows[metric][side] == shown, (model, metric, side)
                checked += 1
    assert checked >= 8
