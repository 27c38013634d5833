"""Arrival schedules driven by a fake clock: rates, shapes, sharing, lag and trust."""

import random

import numpy as np
import pytest
from scipy import stats as sstats

from loadkit.workload.arrivals import ArrivalSchedule, ThinkTime, assess_schedule, share


class FakeClock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, s):
        assert s >= 0
        self.now += s


def run_users(rate_total, n_workers, users_per_worker, seconds, seed=7, kind="poisson"):
    """Every user of every worker follows its own schedule; returns all send times (fake clock)."""
    sends = []
    for worker in range(n_workers):
        per_user = share(rate_total, n_workers, worker, users_per_worker)
        for user in range(users_per_worker):
            clock = FakeClock(1000.0)
            rng = random.Random(seed * 1_000_003 + worker * 1000 + user)
            sched = getattr(ArrivalSchedule, kind)(per_user, 1000.0, rng)
            while True:
                at = sched.wait(clock, clock.sleep)
                if at >= 1000.0 + seconds:
                    break
                assert clock() == at  # sent exactly on time: nothing else runs
                sends.append(at)
    return sorted(sends)


def test_poisson_achieves_rate_within_3_percent_and_gaps_are_exponential():
    rate, seconds = 200.0, 60.0
    sends = run_users(rate, n_workers=2, users_per_worker=10, seconds=seconds)
    achieved = len(sends) / seconds
    assert abs(achieved - rate) / rate < 0.03, achieved
    gaps = np.diff(sends)
    ks = sstats.kstest(gaps, "expon", args=(0, 1 / rate))
    assert ks.pvalue > 0.01, ks


def test_poisson_single_user_gaps_are_exponential_with_the_right_mean():
    sched = ArrivalSchedule.poisson(5.0, 0.0, random.Random(3))
    times = [sched.next_intended_at() for _ in range(5000)]
    gaps = np.diff([0.0] + times)
    assert gaps.mean() == pytest.approx(0.2, rel=0.03)
    assert sstats.kstest(gaps, "expon", args=(0, 0.2)).pvalue > 0.01


def test_constant_rate_is_exact():
    sched = ArrivalSchedule.constant(4.0, 100.0, random.Random(0), stagger=False)
    times = [sched.next_intended_at() for _ in range(1001)]
    assert times[0] == 100.0 and times[1] == 100.25 and times[1000] == 350.0
    assert np.allclose(np.diff(times), 0.25, rtol=0, atol=1e-12)


def test_constant_rate_shared_across_workers_and_users_is_exact_in_total():
    sends = run_users(120.0, n_workers=3, users_per_worker=4, seconds=60.0, kind="constant")
    assert len(sends) == 120 * 60


def test_staggered_constant_users_do_not_fire_together():
    starts = {ArrivalSchedule.constant(1.0, 0.0, random.Random(i)).next_intended_at() for i in range(10)}
    assert len(starts) == 10 and all(0 <= s < 1.0 for s in starts)


def test_share_splits_the_total_across_workers_then_users():
    assert share(100.0, 4, 0, 5) == 5.0
    # Uneven users: each worker still carries rate_total / n_workers.
    assert share(90.0, 3, 2, 2) * 2 == pytest.approx(30.0)
    assert share(90.0, 3, 0, 10) * 10 == pytest.approx(30.0)
    for bad in [(10, 0, 0, 1), (10, 2, 2, 1), (10, 2, -1, 1), (10, 2, 0, 0), (-1, 1, 0, 1)]:
        with pytest.raises(ValueError):
            share(*bad)


def test_late_sends_do_not_shift_the_schedule_and_overload_is_flagged():
    """A generator that needs 30 ms per send at 50 req/s (20 ms apart) falls behind; the schedule stays put."""
    clock = FakeClock()
    sched = ArrivalSchedule.constant(50.0, 0.0, random.Random(0), stagger=False)
    lags_ms = []
    intended = []
    for _ in range(200):
        at = sched.wait(clock, clock.sleep)
        intended.append(at)
        lags_ms.append((clock() - at) * 1000.0)
        clock.now += 0.030  # the send itself blocks this generator
    assert intended[-1] == pytest.approx(199 * 0.02)  # by absolute time, not shifted by lateness
    assert lags_ms[0] == 0 and lags_ms[-1] > 1000
    lag_p99 = float(np.percentile(lags_ms, 99))
    warnings = assess_schedule(lag_p99, 40.0)
    assert len(warnings) == 1 and "schedule lag p99" in warnings[0]


def test_a_generator_that_keeps_up_is_trusted():
    assert assess_schedule(2.5, 60.0) == []
    assert assess_schedule(None, None) == []
    assert assess_schedule(10.0, 90.0) == []  # the limits themselves are still trusted
    assert "CPU" in assess_schedule(1.0, 97.0)[0]
    assert len(assess_schedule(11.0, 95.0)) == 2


def test_think_time_fixed_and_exponential():
    assert ThinkTime(1.5, random.Random(0)).next_s() == 1.5
    t = ThinkTime(2.0, random.Random(1), "exponential")
    xs = [t.next_s() for _ in range(20000)]
    assert np.mean(xs) == pytest.approx(2.0, rel=0.03)


def test_bad_rates_are_refused():
    for rate in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError):
            ArrivalSchedule.poisson(rate, 0.0, random.Random(0))
