"""Retry hints and 429 policies.

Documented behaviour of :func:`loadkit.client.retry.retry_after_s` (headers with
lower-case names), one row each below:

- ``Retry-After: <seconds>`` (integer or decimal, surrounding spaces allowed) -> those seconds.
- ``Retry-After: 0`` -> 0 (retry at once).
- ``Retry-After: <HTTP-date>`` -> seconds from now to that date; a date in the past -> 0.
- ``Retry-After`` negative, NaN, infinite or garbage -> None (the policy's own backoff decides).
- missing -> None.
- ``retry-after-ms: <ms>`` -> ms / 1000, preferred over ``Retry-After``; garbage there falls
  through to ``Retry-After``.
- ``x-ratelimit-reset-requests`` / ``-tokens`` / ``x-ratelimit-reset`` as Go durations
  (``"1s"``, ``"6m0s"``, ``"120ms"``, ``"1h2m3.5s"``) or bare seconds, used only when
  there is no usable ``Retry-After``; garbage -> None.
"""

import random
from email.utils import formatdate

import pytest

from loadkit.client.retry import RetryPolicy, parse_go_duration_s, retry_after_s

NOW = 1_700_000_000.0

TABLE = [
    ("seconds", {"retry-after": "5"}, 5.0),
    ("decimal seconds are not RFC delay-seconds", {"retry-after": "1.5"}, None),
    ("exponent is not RFC delay-seconds", {"retry-after": "1e9"}, None),
    ("plus sign is not RFC delay-seconds", {"retry-after": "+5"}, None),
    ("padded seconds", {"retry-after": " 7 "}, 7.0),
    ("zero", {"retry-after": "0"}, 0.0),
    ("http-date in the future", {"retry-after": formatdate(NOW + 30, usegmt=True)}, 30.0),
    ("http-date in the past", {"retry-after": formatdate(NOW - 300, usegmt=True)}, 0.0),
    ("missing", {}, None),
    ("negative", {"retry-after": "-3"}, None),
    ("garbage", {"retry-after": "soon"}, None),
    ("nan", {"retry-after": "nan"}, None),
    ("infinite", {"retry-after": "inf"}, None),
    ("empty", {"retry-after": ""}, None),
    ("retry-after-ms", {"retry-after-ms": "1500"}, 1.5),
    ("retry-after-ms wins over retry-after", {"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ("garbage retry-after-ms falls through", {"retry-after-ms": "x", "retry-after": "2"}, 2.0),
    ("negative retry-after-ms falls through", {"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
    ("reset-requests go duration", {"x-ratelimit-reset-requests": "6m0s"}, 360.0),
    ("reset-tokens milliseconds", {"x-ratelimit-reset-tokens": "120ms"}, 0.12),
    ("reset compound", {"x-ratelimit-reset-requests": "1h2m3.5s"}, 3723.5),
    ("reset bare seconds", {"x-ratelimit-reset": "2"}, 2.0),
    ("reset garbage", {"x-ratelimit-reset-requests": "later"}, None),
    ("reset half-garbage", {"x-ratelimit-reset-requests": "1sx"}, None),
    ("retry-after beats reset", {"retry-after": "4", "x-ratelimit-reset-requests": "1s"}, 4.0),
    ("garbage retry-after uses reset", {"retry-after": "soon", "x-ratelimit-reset-requests": "1s"}, 1.0),
]


@pytest.mark.parametrize("name, headers, expected", TABLE, ids=[row[0] for row in TABLE])
def test_retry_after_table(name, headers, expected):
    got = retry_after_s(headers, now_epoch_s=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1.0 if "date" in name else 1e-9)


def test_go_durations():
    assert parse_go_duration_s("1.5s") == 1.5
    assert parse_go_duration_s("250us") == pytest.approx(250e-6)
    assert parse_go_duration_s("") is None and parse_go_duration_s("s") is None


def test_none_policy_never_retries():
    assert RetryPolicy("none").wait_s(1, 2.0, random.Random(0)) is None


def test_backoff_waits_stay_within_full_jitter_bounds():
    policy = RetryPolicy("backoff", max_retries=5, max_backoff_s=3.0, base_s=0.5)
    rng = random.Random(42)
    for retry in range(1, 6):
        ceiling = min(3.0, 0.5 * 2 ** (retry - 1))
        waits = [policy.wait_s(retry, None, rng) for _ in range(2000)]
        assert all(0 <= w <= ceiling for w in waits)
        # Full jitter: spread over the whole range, mean near the middle.
        assert min(waits) < 0.05 * ceiling and max(waits) > 0.95 * ceiling
        assert sum(waits) / len(waits) == pytest.approx(ceiling / 2, rel=0.08)
    assert policy.wait_s(6, None, rng) is None


def test_backoff_never_waits_less_than_the_hint_nor_more_than_the_cap():
    policy = RetryPolicy("backoff", max_retries=3, max_backoff_s=2.0, base_s=0.5)
    rng = random.Random(1)
    assert all(policy.wait_s(1, 0.4, rng) >= 0.4 for _ in range(500))
    assert policy.wait_s(1, 10.0, rng) == 2.0


def test_backoff_with_a_seeded_rng_is_reproducible():
    policy = RetryPolicy("backoff")
    a = [policy.wait_s(n, None, random.Random(7)) for n in (1, 2, 3)]
    b = [policy.wait_s(n, None, random.Random(7)) for n in (1, 2, 3)]
    assert a == b


def test_respect_waits_exactly_the_hint_capped_and_backs_off_without_one():
    policy = RetryPolicy("respect", max_retries=2, max_backoff_s=5.0, base_s=0.5)
    rng = random.Random(0)
    assert policy.wait_s(1, 0.2, rng) == 0.2
    assert policy.wait_s(2, 0.0, rng) == 0.0
    assert policy.wait_s(1, 60.0, rng) == 5.0
    assert 0 <= policy.wait_s(1, None, rng) <= 0.5
    assert policy.wait_s(3, 0.2, rng) is None
