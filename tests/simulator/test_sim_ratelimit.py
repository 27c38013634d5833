"""429s: every-Nth per model, token buckets, Retry-After formats, x-ratelimit-*."""

import email.utils
import time

import httpx
import pytest

from tests.support.simproc import start_simulator
from tests.support.waits import hold_for

ZERO = ("--profile", "zero")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 10}


def post(client, sim, model="gpt-4o-mini", key=None, **extra):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(sim.base_url + "/chat/completions", json=dict(BODY, model=model, **extra), headers=headers)


def test_every_nth_request_per_model_is_429_exactly():
    with start_simulator(*ZERO, "--rate-limit-every", "3") as sim, httpx.Client() as client:
        statuses = [post(client, sim).status_code for _ in range(9)]
        other = [post(client, sim, model="gpt-4o").status_code for _ in range(3)]
        assert statuses == [200, 200, 429] * 3
        assert other == [200, 200, 429]
        response = post(client, sim)
        response = post(client, sim)
        response = post(client, sim)
        assert response.status_code == 429
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
        assert response.headers["retry-after"] == "1"
        stats = sim.stats()
        assert stats["by_model_status"]["gpt-4o-mini"] == {"200": 8, "429": 4}
        assert stats["by_status"] == {"200": 10, "429": 5}


@pytest.mark.parametrize(
    "fmt, forced, check",
    [
        ("seconds", "2", lambda h: h["retry-after"] == "2" and "retry-after-ms" not in h),
        ("seconds", "0.25", lambda h: h["retry-after"] == "0.25"),
        ("ms-header", "1.5", lambda h: h["retry-after-ms"] == "1500" and "retry-after" not in h),
        ("none", "3", lambda h: "retry-after" not in h and "retry-after-ms" not in h),
    ],
)
def test_retry_after_formats(fmt, forced, check):
    args = (*ZERO, "--rate-limit-every", "1", "--retry-after-format", fmt, "--retry-after-s", forced)
    with start_simulator(*args) as sim, httpx.Client() as client:
        response = post(client, sim)
        assert response.status_code == 429
        assert check(response.headers), dict(response.headers)


def test_retry_after_http_date_is_about_now_plus_value():
    args = (*ZERO, "--rate-limit-every", "1", "--retry-after-format", "http-date", "--retry-after-s", "30")
    with start_simulator(*args) as sim, httpx.Client() as client:
        value = post(client, sim).headers["retry-after"]
        assert value.endswith(" GMT")
        when = email.utils.parsedate_to_datetime(value).timestamp()
        assert abs(when - (time.time() + 30)) <= 2


def test_rpm_bucket_burst_then_429_with_wait_and_headers():
    with start_simulator(*ZERO, "--rpm", "gpt-4o-mini=5") as sim, httpx.Client() as client:
        responses = [post(client, sim, key="a") for _ in range(6)]
        assert [r.status_code for r in responses] == [200] * 5 + [429]
        first, last_ok, limited = responses[0], responses[4], responses[5]
        assert first.headers["x-ratelimit-limit-requests"] == "5"
        assert first.headers["x-ratelimit-remaining-requests"] == "4"
        assert last_ok.headers["x-ratelimit-remaining-requests"] == "0"
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
        # 5 rpm refills one request every 12 s: the integer Retry-After is ceil'd
        assert 11 <= int(limited.headers["retry-after"]) <= 12
        assert limited.headers["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in first.headers
        # buckets are per key and per model
        assert post(client, sim, key="b").status_code == 200
        assert post(client, sim, key="a", model="gpt-4o").status_code == 200
        assert "x-ratelimit-limit-requests" not in post(client, sim, key="a", model="gpt-4o").headers


def test_rpm_bucket_refills_continuously():
    with start_simulator(*ZERO, "--rpm", "120", "--retry-after-format", "ms-header") as sim, httpx.Client() as client:
        ok = 0
        while (limited := post(client, sim)).status_code == 200 and ok < 200:
            ok += 1
        assert 120 <= ok <= 123  # the burst, plus what refilled meanwhile (2/s)
        assert limited.status_code == 429
        wait_ms = int(limited.headers["retry-after-ms"])
        assert 0 < wait_ms <= 500  # 2 requests/s
        hold_for(wait_ms / 1000 + 0.05, "the Retry-After the 429 gave: then the bucket has refilled one")
        assert post(client, sim).status_code == 200


def test_tpm_counts_prompt_plus_max_tokens():
    # each request costs ceil(40/4) + 10 = 20 tokens; 50 tpm allows two
    with start_simulator(*ZERO, "--tpm", "50") as sim, httpx.Client() as client:
        responses = [post(client, sim) for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert responses[0].headers["x-ratelimit-limit-tokens"] == "50"
        assert responses[0].headers["x-ratelimit-remaining-tokens"] == "30"
        assert responses[0].headers["x-ratelimit-reset-tokens"] in ("24s", "23.999s")
