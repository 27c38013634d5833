"""429 accounting and the rate-limit ramp against the real simulator process."""

import random
import time

import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.studies.ramp import ChatStepRunner, find_rate_limit
from loadkit.client.retry import RetryPolicy
from loadkit.core.stats import RunStats
from loadkit.transport import TransportOptions, make_transport
from tests.support.simproc import start_simulator

EVERY = 3
RETRY_AFTER_S = 0.2
MODELS = ("gpt-4o-mini", "claude-4-haiku")


@pytest.fixture
def every_third():
    """A fresh simulator per test: its every-Nth counters start at zero."""
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=5,itl_ms=1,tokens=5",
                         "--rate-limit-every", str(EVERY), "--retry-after-s", str(RETRY_AFTER_S),
                         # a sub-second hint: retry-after-ms (Retry-After takes whole seconds only, RFC 9110)
                         "--retry-after-format", "ms-header",
                         "--cold-start-ms", "0") as sim:
        yield sim


def expected_counts(n_requests_per_model, policy: RetryPolicy, seed):
    """What every-3rd 429s must produce, replayed without a server: per model the attempt counter."""
    rng = random.Random(seed)
    counter = {m: 0 for m in MODELS}
    out = {m: {"responses_429": 0, "retried_ok": 0, "gave_up": 0, "waits": []} for m in MODELS}
    for _ in range(n_requests_per_model):
        for model in MODELS:
            attempt = 0
            while True:
                attempt += 1
                counter[model] += 1
                if counter[model] % EVERY:
                    if attempt > 1:
                        out[model]["retried_ok"] += 1
                    break
                out[model]["responses_429"] += 1
                wait = policy.wait_s(attempt, RETRY_AFTER_S, rng)
                if wait is None:
                    out[model]["gave_up"] += 1
                    break
                out[model]["waits"].append(wait)
    return out


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy("none"),
        RetryPolicy("respect", max_retries=3),
        RetryPolicy("backoff", max_retries=3, base_s=0.05, max_backoff_s=1.0),
        RetryPolicy("backoff", max_retries=0),
    ],
    ids=["none", "respect", "backoff", "backoff-no-retries"],
)
def test_every_nth_429_accounting_is_exact(every_third, policy):
    n = 7  # requests per model
    seed = 1234
    expected = expected_counts(n, policy, seed)
    client = ChatClient(make_transport("httpx", TransportOptions(every_third.base_url)))
    stats = RunStats()
    rng = random.Random(seed)
    slept = []

    def sleep(s):
        slept.append(s)
        time.sleep(s)

    try:
        # Models alternate, as a mixed run would send them; the simulator counts per model.
        for _ in range(n):
            for model in MODELS:
                req = ChatRequest(model, [{"role": "user", "content": "hi"}], max_tokens=5)
                attempts = client.chat_with_retries(req, policy, sleep=sleep, rng=rng)
                assert attempts[-1].final and not any(a.final for a in attempts[:-1])
                for rec in attempts:
                    stats.add(rec)
    finally:
        client.close()
    served = every_third.stats()["by_model_status"]
    for model in MODELS:
        want, got = expected[model], stats.models[model]
        assert got.requests == n
        assert got.responses_429 == want["responses_429"] == served[model].get("429", 0)
        assert got.retried_ok == want["retried_ok"]
        assert got.gave_up == want["gave_up"] == got.outcomes["rate_limited"]
        assert got.attempts == n + want["responses_429"] - want["gave_up"]
        assert got.h["retry_after_s"].count == want["responses_429"]
        total_wait_ms = sum(want["waits"]) * 1000.0
        if total_wait_ms == 0:
            assert got.throttled_total_ms == 0
        else:
            assert got.throttled_total_ms == pytest.approx(total_wait_ms, rel=0.05)
            assert got.h["throttled_ms"].count == want["retried_ok"]
    assert sorted(slept) == pytest.approx(sorted(w for m in MODELS for w in expected[m]["waits"]))


def test_respect_policy_throttled_time_is_the_retry_after_sum(every_third):
    """Real sleeping: throttled time equals n429 x Retry-After within 5 %."""
    client = ChatClient(make_transport("httpx", TransportOptions(every_third.base_url)))
    stats = RunStats()
    try:
        for _ in range(6):
            req = ChatRequest("gpt-4o-mini", [{"role": "user", "content": "hi"}], max_tokens=5)
            for rec in client.chat_with_retries(req, RetryPolicy("respect"), rng=random.Random(0)):
                stats.add(rec)
    finally:
        client.close()
    s = stats.models["gpt-4o-mini"]
    assert s.responses_429 >= 2 and s.gave_up == 0 and s.retried_ok == s.responses_429
    assert s.throttled_total_ms == pytest.approx(s.responses_429 * RETRY_AFTER_S * 1000.0, rel=0.05)


def test_ramp_finds_a_requests_per_minute_limit_within_10_percent():
    rpm = 600
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=5,itl_ms=1,tokens=5", "--rpm", str(rpm),
                         "--cold-start-ms", "0") as sim:
        def make_client():
            return ChatClient(make_transport("httpx", TransportOptions(sim.base_url)))

        def make_request():
            return ChatRequest("gpt-4o-mini", [{"role": "user", "content": "hi"}], max_tokens=5, stream=True)

        started = time.perf_counter()
        with ChatStepRunner(make_client, make_request, max_in_flight=16) as runner:
            # ~25 requests a step at the limit; a 150/s drain spends the 600-request burst in ~4 s.
            result = find_rate_limit(runner.run_step, start_rate_per_s=5.0, max_rate_per_s=150.0,
                                     step_duration_s=2.5, step_factor=2.0, refine_factor=0.95, refine_start=1.05)
        took = time.perf_counter() - started
    steps = [(s.phase, round(s.rate_per_s, 1), s.result.sent, s.result.n429) for s in result.steps]
    assert result.sustained_ok_per_min == pytest.approx(rpm, rel=0.10), steps
    assert result.onset_per_min == pytest.approx(rpm, rel=0.10), steps
    assert took < 40, (took, steps)
