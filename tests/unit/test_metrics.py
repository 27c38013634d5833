"""Metrics are pure functions of records; histograms are within 1 % and merge exactly."""

import numpy as np
import pytest

from loadkit.core import metrics as m
from loadkit.core.metrics import LatencyHistogram
from loadkit.core.records import RequestRecord


def rec(**kw):
    base = dict(model="x", intended_at=9.9, sent_at=10.0, headers_at=10.05, first_event_at=10.06,
                first_token_at=10.1, done_at=10.5, token_times=[10.1, 10.2, 10.25, 10.5], output_tokens=4)
    base.update(kw)
    return RequestRecord(**base)


def test_timing_metrics_from_raw_timestamps():
    r = rec()
    assert m.ttft_ms(r) == pytest.approx(100.0)
    assert m.ttfb_ms(r) == pytest.approx(50.0)
    assert m.ttfe_ms(r) == pytest.approx(60.0)
    assert m.e2e_ms(r) == pytest.approx(500.0)
    assert m.e2e_from_intended_ms(r) == pytest.approx(600.0)
    assert m.schedule_lag_ms(r) == pytest.approx(100.0)
    assert m.itl_ms(r) == pytest.approx([100.0, 50.0, 250.0])
    assert m.itl_mean_ms(r) == pytest.approx(400.0 / 3)
    assert m.itl_max_ms(r) == pytest.approx(250.0)
    assert m.tpot_ms(r) == pytest.approx(400.0 / 3)


def test_metrics_without_tokens_are_none():
    r = rec(first_token_at=None, token_times=[], output_tokens=0)
    assert m.ttft_ms(r) is None and m.tpot_ms(r) is None and m.itl_mean_ms(r) is None and m.itl_ms(r) == []


def test_schedule_lag_of_a_retried_request_uses_its_first_send():
    r = rec(intended_at=10.0, first_sent_at=10.002, sent_at=12.0, done_at=12.5)
    assert m.schedule_lag_ms(r) == pytest.approx(2.0)


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "bimodal"])
def test_histogram_percentiles_within_one_percent_of_exact(dist):
    rng = np.random.default_rng(42)
    if dist == "lognormal":
        values = rng.lognormal(np.log(820), 0.35, 20000)
    elif dist == "uniform":
        values = rng.uniform(0.05, 5000, 20000)
    else:
        values = np.concatenate([rng.normal(20, 2, 10000).clip(0.1), rng.normal(2000, 100, 10000)])
    h = LatencyHistogram()
    h.record_many(values.tolist())
    for p in (50, 90, 95, 99, 99.9):
        exact = np.percentile(values, p, method="inverted_cdf")
        assert h.percentile(p) == pytest.approx(exact, rel=0.01), p
    assert h.count == len(values)
    assert h.mean() == pytest.approx(values.mean(), rel=1e-9)
    assert h.max() == pytest.approx(values.max())


def test_merge_of_two_equals_histogram_of_union():
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(6, 0.4, 5000), rng.lognormal(7, 0.2, 3000)
    ha, hb, hu = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    ha.record_many(a.tolist())
    hb.record_many(b.tolist())
    hu.record_many(np.concatenate([a, b]).tolist())
    ha.merge(hb)
    for p in (1, 50, 95, 99, 100):
        assert ha.percentile(p) == hu.percentile(p)
    assert ha.count == hu.count == 8000


def test_serialised_histogram_round_trips_exactly():
    h = LatencyHistogram()
    h.record_many([0.0, 0.4, 3.3, 820.0, 1450.0, 59_000.0])
    h2 = LatencyHistogram.from_dict(h.to_dict())
    assert h2.summary() == h.summary()
    assert LatencyHistogram.from_dict(LatencyHistogram().to_dict()).count == 0


def test_empty_histogram_summary_is_all_none():
    s = LatencyHistogram().summary()
    assert s["p95"] is None and s["count"] == 0
