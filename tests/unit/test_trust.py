"""The one trust judgement: each limit turns a run untrusted on its own, with one warning naming it."""

from __future__ import annotations

import pytest

from loadkit.core.trust import TrustFacts, judge, judged_clock, kernel_timing_error_estimate_ms, timing_error_limit_ms


def test_a_quiet_run_is_trusted_with_no_warning():
    verdict = judge(TrustFacts(schedule_lag_p99_ms=1.0, loop_lag_p95_ms=0.5, timing_error_p99_ms=0.4, ttft_p50_ms=20.0))
    assert verdict.trusted and not verdict.warnings and not verdict.degraded


@pytest.mark.parametrize("facts, words", [
    (TrustFacts(schedule_lag_p99_ms=10.5), "schedule lag p99 10.5 ms"),
    (TrustFacts(loop_lag_p95_ms=12.0), "event-loop lag p95 12.0 ms"),
    (TrustFacts(cpu_busy_share=0.25), "CPU above 90 %"),
    (TrustFacts(timing_error_p99_ms=1.2, ttft_p50_ms=20.0), "timing error p99 1.2 ms > 1.0 ms"),
    (TrustFacts(timing_error_p99_ms=9.0, ttft_p50_ms=400.0), "timing error p99 9.0 ms > 8.0 ms"),
    (TrustFacts(workers_finished=1, workers_required=2), "1 worker(s) finished with a final report, 2 required"),
])
def test_each_limit_alone_makes_the_run_untrusted(facts, words):
    verdict = judge(facts)
    assert not verdict.trusted and len(verdict.warnings) == 1 and words in verdict.warnings[0], verdict.warnings


def test_the_timing_error_limit_is_1_ms_or_2_percent_of_the_ttft_it_measures():
    assert timing_error_limit_ms(None) == 1.0 and timing_error_limit_ms(20.0) == 1.0
    assert timing_error_limit_ms(400.0) == pytest.approx(8.0)
    assert judge(TrustFacts(timing_error_p99_ms=7.9, ttft_p50_ms=400.0)).trusted


def test_kernel_stamped_chunks_are_right_however_late_they_were_read():
    # the read lag is large, but the stamps are the kernel's receive times: no timing error in the records
    assert judge(TrustFacts(timing_error_p99_ms=30.0, timing_clock="kernel", ttft_p50_ms=20.0,
                            loop_lag_p99_ms=0.8)).trusted


def test_a_kernel_stamped_run_is_judged_by_its_loop_lag_p99_the_estimate_of_its_coalescing_error():
    late = judge(TrustFacts(timing_clock="kernel", ttft_p50_ms=20.0, loop_lag_p99_ms=5.7))
    assert not late.trusted and len(late.warnings) == 1, late.warnings
    assert "timing error p99 about 5.7 ms > 1.0 ms" in late.warnings[0] and "event-loop lag p99" in late.warnings[0]
    # the same lag on a 400 ms TTFT is 1.4 % of it: within the 2 % limit
    assert judge(TrustFacts(timing_clock="kernel", ttft_p50_ms=400.0, loop_lag_p99_ms=5.7)).trusted
    assert kernel_timing_error_estimate_ms(TrustFacts(timing_clock="kernel", loop_lag_p99_ms=5.7)) == 5.7
    # a loop-clock run's error is measured per chunk, so its loop lag p99 is no estimate of it
    assert kernel_timing_error_estimate_ms(TrustFacts(timing_clock="loop", loop_lag_p99_ms=5.7)) is None
    assert judge(TrustFacts(timing_clock="loop", timing_error_p99_ms=0.5, ttft_p50_ms=20.0, loop_lag_p99_ms=5.7)).trusted


def test_a_lost_worker_the_run_may_lose_is_degraded_not_untrusted():
    verdict = judge(TrustFacts(workers_finished=1, workers_required=1, workers_lost=("w2",)))
    assert verdict.trusted and verdict.degraded and "w2" in verdict.warnings[0]


def test_a_mixed_run_is_judged_as_kernel_stamped_while_few_attempts_came_unstamped():
    assert judged_clock({"clock": "mixed", "kernel_stamped": 1206, "loop_stamped": 5}) == "kernel"
    assert judged_clock({"clock": "mixed", "kernel_stamped": 900, "loop_stamped": 100}) == "loop"
    assert judged_clock({"clock": "kernel"}) == "kernel" and judged_clock({}) == "loop"
