"""The step search, the knee and the projection arithmetic, without a server."""

from __future__ import annotations

import math

import pytest

from loadkit.studies.capacity import kneedle, project, search_capacity
from loadkit.core.pricing import Price


def test_linear_sweep_stops_at_the_first_failing_step():
    tried = []
    result = search_capacity(lambda level: tried.append(level) or level < 37, start=10, stop=200, step=10,
                             mode="linear")
    assert tried == [10, 20, 30, 40]  # early stop: nothing above the first failure is sent
    assert (result.last_pass, result.first_fail, result.steps_taken) == (30, 40, 4)


def test_bisection_brackets_the_limit_to_the_resolution_in_fewer_steps_than_a_linear_sweep():
    result = search_capacity(lambda level: level < 37, start=10, stop=200, step=10, mode="bisect")
    assert [s.level for s in result.steps] == [10, 20, 30, 40, 35, 37.5, 36.25]
    assert [s.phase for s in result.steps] == ["sweep"] * 4 + ["bisect"] * 3
    assert (result.last_pass, result.first_fail, result.resolution) == (36.25, 37.5, 1.25)
    # a linear sweep by 1.25 from 10 needs 10, 11.25, ..., 37.5: 23 steps
    assert result.linear_equivalent_steps == 23 and result.steps_taken == 7


def test_concurrency_search_uses_whole_users():
    result = search_capacity(lambda users: users <= 13, start=1, stop=64, step=8, mode="bisect", integer=True)
    assert all(s.level == int(s.level) for s in result.steps)
    assert (result.last_pass, result.first_fail) == (13, 14)


def test_a_target_that_never_fails_reports_no_breaking_level():
    result = search_capacity(lambda level: True, start=5, stop=20, step=10, mode="bisect")
    assert [s.level for s in result.steps] == [5, 15, 20]  # the maximum asked for is always tried
    assert (result.last_pass, result.first_fail) == (20, None)


def test_kneedle_finds_the_last_level_before_latency_takes_off():
    levels = [10, 20, 30, 40, 50, 45, 42.5]
    p95 = [101, 102, 101, 103, 700, 400, 250]
    assert levels[kneedle(levels, p95)] == 40
    assert kneedle([1, 2, 3], [5, 10, 15]) is None  # linear: no knee
    assert kneedle([1, 2], [1, 9]) is None  # too few points


def test_projection_matches_hand_computed_values():
    p = project(calls_per_day=10_000, peak_ratio=3, mean_latency_s=0.82, p95_latency_s=1.45,
                max_sustainable_rps=4.0, mean_input_tokens=500, mean_output_tokens=200, price=Price(0.80, 4.00),
                generator_rps_per_core=0.25, worker_margin=0.5)
    average = 10_000 / 86_400  # 0.115740... req/s
    assert p.average_rps == pytest.approx(average)
    assert p.peak_rps == pytest.approx(0.347222, rel=1e-5)  # 3 x average
    assert p.concurrency_mean == pytest.approx(0.347222 * 0.82, rel=1e-5)  # Little's law: L = lambda x W = 0.2847
    assert p.concurrency_p95 == pytest.approx(0.503472, rel=1e-5)
    assert p.headroom == pytest.approx(4.0 / 0.347222, rel=1e-5)  # 11.52x
    # 500 x 0.80 / 1e6 + 200 x 4.00 / 1e6 = 0.0004 + 0.0008 = $0.0012 per call
    assert p.cost_per_call_usd == pytest.approx(0.0012)
    assert p.monthly_cost_usd == pytest.approx(0.0012 * 10_000 * 30)  # $360.00
    assert p.rpm_needed == pytest.approx(20.8333, rel=1e-4)
    assert p.tpm_needed == pytest.approx(20.8333 * 700, rel=1e-4)
    # 0.347 x 1.5 / 0.25 = 2.08 -> 3 load workers
    assert p.workers_needed == 3
    assert math.ceil(p.peak_rps * 1.5 / 0.25) == 3


def test_projection_without_a_price_or_generator_measure_says_so():
    p = project(calls_per_day=86_400, peak_ratio=2, mean_latency_s=0.5, max_sustainable_rps=None,
                mean_input_tokens=None, mean_output_tokens=None, price=None, generator_rps_per_core=None)
    assert p.peak_rps == 2.0 and p.concurrency_mean == 1.0
    assert p.headroom is None and p.monthly_cost_usd is None and p.workers_needed is None
