"""One windowing (core.windows.WindowStats): per-worker windows merged equal the windows of all the records."""

from __future__ import annotations

import random

import pytest

from loadkit.core.metrics import LatencyHistogram, e2e_ms
from loadkit.core.windows import WindowStats, done_wall_s
from loadkit.report import series
from tests.report.conftest import generate_records


def test_histogram_minus_equals_a_histogram_of_only_the_later_values():
    rng = random.Random(3)
    cumulative, later_only = LatencyHistogram(), LatencyHistogram()
    for _ in range(400):
        cumulative.record(rng.uniform(1, 80))
    earlier = LatencyHistogram()
    earlier.merge(cumulative)
    later = [rng.uniform(150, 900) for _ in range(250)]
    cumulative.record_many(later)
    later_only.record_many(later)
    window = cumulative.minus(earlier)
    assert window.count == 250
    got, want = window.summary(), later_only.summary()
    for stat in ("p50", "p90", "p95", "p99", "mean"):
        assert got[stat] == pytest.approx(want[stat], rel=1e-9), stat


def test_windows_of_two_workers_merged_equal_the_windows_of_all_records():
    records = generate_records(seed=11, duration_s=20.0)
    whole, halves = WindowStats(), [WindowStats(), WindowStats()]
    for i, r in enumerate(records):
        whole.add(r)
        halves[i % 2].add(r)  # two workers, each with its own share of the requests
    merged = WindowStats.merged(halves)
    start = min(r.started_wall_ns for r in records) / 1e9
    assert merged.table(start) == whole.table(start)
    table = whole.table(start)
    final = [r for r in records if r.final]
    assert sum(m["requests"] for w in table["windows"] for m in w["models"].values()) == len(final)
    assert sum(m["output_tokens"] for w in table["windows"] for m in w["models"].values()) == \
        sum(r.output_tokens for r in records)
    # a window's percentiles are of its own requests only, not of everything so far
    key = sorted(whole.cells)[1]
    own = LatencyHistogram()
    for r in final:
        if r.model == "gpt-4o-mini" and r.outcome == "ok" and not r.cold and int(done_wall_s(r) // 5.0) == key:
            own.record(e2e_ms(r))
    second = table["windows"][1]["models"]["gpt-4o-mini"]
    assert second["e2e_ms"]["count"] == own.count and second["e2e_ms"]["p95"] == own.summary()["p95"]


def test_chart_specs_rate_a_short_last_window_by_its_length_and_join_a_sliver():
    window = lambda start, length, n: {"start_s": start, "length_s": length, "partial": length < 5,  # noqa: E731
                                       "models": {"m": {"requests": n, "successes": n, "errors": 0,
                                                        "responses_429": 0, "output_tokens": 10 * n}}}
    table = {"bin_s": 5.0, "windows": [window(0, 5, 50), window(5, 5, 50), window(10, 2, 20), window(12, 0.4, 4)]}
    spec = next(s for s in series.chart_specs(table) if s["id"] == "requests")
    assert spec["x"] == [2.5, 7.5, 11.2] and spec["window_s"] == [5, 5, 2.4]
    # 20 requests in 2 s and 4 in the 0.4 s after: 10/s, no fake drop and no spike, every request drawn
    assert spec["series"][0]["values"] == [10.0, 10.0, 10.0]
