"""The rate-limit ramp against a model of a token bucket (no server, no sleeping)."""

import pytest

from loadkit.studies.ramp import StepResult, find_rate_limit


class BucketModel:
    """A requests-per-minute token bucket that starts full, fed constant-rate steps back to back."""

    def __init__(self, per_minute, gap_s=0.01):
        self.capacity = per_minute
        self.refill_per_s = per_minute / 60.0
        self.level = float(per_minute)
        self.now = 0.0
        self.gap_s = gap_s
        self.calls = []

    def _advance(self, t):
        self.level = min(self.capacity, self.level + (t - self.now) * self.refill_per_s)
        self.now = t

    def sleep(self, seconds):
        self._advance(self.now + seconds)

    def run_step(self, rate, duration):
        self.calls.append(rate)
        start = self.now
        ok = n429 = 0
        k = 0
        while k / rate < duration:
            self._advance(start + k / rate)
            if self.level >= 1:
                self.level -= 1
                ok += 1
            else:
                n429 += 1
            k += 1
        self._advance(start + duration + self.gap_s)
        return StepResult(ok + n429, ok, n429)


@pytest.mark.parametrize("per_minute", [60, 120, 600, 3000])
def test_ramp_finds_a_token_bucket_limit_within_10_percent(per_minute):
    bucket = BucketModel(per_minute)
    limit_per_s = per_minute / 60
    # A step resolves a rate excess of about one request per step: ~30 requests a step at the limit.
    result = find_rate_limit(bucket.run_step, start_rate_per_s=limit_per_s / 4, max_rate_per_s=limit_per_s * 20,
                             step_duration_s=30 / limit_per_s, sleep=bucket.sleep)
    assert result.onset_per_min == pytest.approx(per_minute, rel=0.10)
    assert result.sustained_ok_per_min == pytest.approx(per_minute, rel=0.10)
    assert result.last_clean_rate_per_s < result.onset_rate_per_s
    phases = [s.phase for s in result.steps]
    assert phases.count("saturated") == 1  # no transient 429s after the drain
    assert phases[0] == "drain" and "up" in phases and "saturated" in phases and phases[-1] == "down"


def test_without_a_limit_the_ramp_reports_none():
    def never_limited(rate, duration):
        n = int(rate * duration)
        return StepResult(n, n, 0)

    result = find_rate_limit(never_limited, start_rate_per_s=1, max_rate_per_s=10, step_duration_s=1, max_drain_steps=3,
                             sleep=lambda s: None)
    assert result.onset_rate_per_s is None and result.sustained_ok_per_s is None
    assert [s.phase for s in result.steps] == ["drain"] * 3


def test_a_few_stray_429s_below_the_threshold_do_not_count_as_onset():
    def stray(rate, duration):
        n = int(rate * duration)
        if rate < 50:
            return StepResult(n, n - 1, 1) if n >= 100 else StepResult(n, n, 0)
        return StepResult(n, int(50 * duration), n - int(50 * duration))

    result = find_rate_limit(stray, start_rate_per_s=10, max_rate_per_s=100, step_duration_s=10, drain=False, sleep=lambda s: None,
                             onset_fraction=0.02)
    assert result.onset_rate_per_s >= 50
    assert result.sustained_ok_per_s == pytest.approx(50)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        find_rate_limit(lambda r, d: StepResult(0, 0, 0), start_rate_per_s=5, max_rate_per_s=1, step_duration_s=1)
    with pytest.raises(ValueError):
        find_rate_limit(lambda r, d: StepResult(0, 0, 0), start_rate_per_s=1, max_rate_per_s=5, step_duration_s=1,
                        step_factor=1.0)
