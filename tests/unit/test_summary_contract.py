"""summary.json carries every field of DESIGN.md's contract (CI jobs and reports read them by name)."""

from loadkit.core.records import RequestRecord
from loadkit.core.summary import build_summary
from loadkit.core.stats import RunStats

TOP = {"run_id", "started_at", "duration_s", "host", "workers", "users", "shape", "trusted", "warnings", "models",
       "totals", "preflight", "sink", "slo"}
MODEL = {"requests", "successes", "outcomes", "success_rate", "rps", "output_tokens_per_s", "e2e_ms", "ttft_ms", "itl_ms",
         "tpot_ms", "e2e_from_intended_ms", "schedule_lag_ms", "tokens", "cost_usd", "cost_per_success_usd",
         "cost_per_1k_requests_usd", "rate_limit", "cold_start", "task_success"}
LATENCY = {"p50", "p90", "p95", "p99", "max", "mean"}
OUTCOMES = {"ok", "rate_limited", "client_error", "upstream_error", "in_stream_error", "truncated", "timeout", "connect_error",
            "content_filter", "interrupted"}


def _records():
    ok = RequestRecord("gpt-4o-mini", category="math", sent_at=1.0, intended_at=1.0, headers_at=1.01, first_event_at=1.01,
                       first_token_at=1.2, token_times=[1.2, 1.25, 1.3], done_at=1.3, status=200, input_tokens=100,
                       output_tokens=3, usage_reported=True, task_ok=True)
    throttled = RequestRecord("gpt-4o-mini", sent_at=2.0, intended_at=2.0, done_at=2.01, status=429, outcome="rate_limited",
                              retry_after_s=1.0, final=False)
    retried = RequestRecord("gpt-4o-mini", sent_at=3.0, intended_at=2.0, first_sent_at=2.0, done_at=3.4, status=200,
                            first_token_at=3.1, token_times=[3.1], attempt=2, throttled_s=0.99, output_tokens=1,
                            usage_reported=True, input_tokens=50)
    cold = RequestRecord("claude-4-haiku", sent_at=0.0, intended_at=0.0, first_token_at=2.1, token_times=[2.1], done_at=2.5,
                         status=200, output_tokens=1, cold=True)
    return [ok, throttled, retried, cold]


def test_summary_has_every_contract_field():
    stats = RunStats()
    for r in _records():
        stats.add(r)
    s = build_summary(stats, run_id="r", started_at="t", duration_s=10, host="h", users=1)
    assert TOP <= set(s)
    assert {"requests_by_model", "models_offered"} <= set(s["preflight"])
    assert {"written", "dropped", "buffered_peak", "flush_ms"} <= set(s["sink"])
    assert {"passed", "checks"} <= set(s["slo"])
    for block in [*s["models"].values(), s["totals"]]:
        assert MODEL <= set(block)
        assert OUTCOMES == set(block["outcomes"])
        for name in ("e2e_ms", "ttft_ms", "itl_ms", "tpot_ms", "e2e_from_intended_ms", "schedule_lag_ms"):
            assert LATENCY <= set(block[name])
        assert {"input", "output", "usage_missing"} <= set(block["tokens"])
        assert {"responses_429", "retried_ok", "gave_up", "retries", "throttled_ms", "retry_after_s"} <= set(block["rate_limit"])
        assert {"count", "ttft_ms", "warm_ttft_ms"} <= set(block["cold_start"])


def test_summary_values_follow_from_the_records():
    stats = RunStats()
    for r in _records():
        stats.add(r)
    s = build_summary(stats, run_id="r", started_at="t", duration_s=10, host="h", users=1)
    mini = s["models"]["gpt-4o-mini"]
    assert (mini["requests"], mini["attempts"], mini["successes"]) == (2, 3, 2)
    assert mini["rate_limit"]["responses_429"] == 1 and mini["rate_limit"]["retried_ok"] == 1
    assert mini["rate_limit"]["retries"] == 1 and mini["rate_limit"]["retry_after_s"]["p50"] == 1.0
    assert abs(mini["rate_limit"]["throttled_ms"]["total"] - 990) < 1
    assert abs(mini["e2e_with_throttle_ms"]["max"] - 1400) < 2  # retried: from the first attempt's send
    assert mini["task_success"] == {"math": 1.0}
    haiku = s["models"]["claude-4-haiku"]
    assert haiku["cold_start"]["count"] == 1 and haiku["ttft_ms"]["count"] == 0  # cold never mixed into warm
    assert abs(haiku["cold_start"]["ttft_ms"]["p50"] - 2100) < 3
    assert s["totals"]["requests"] == 3 and s["totals"]["tokens"]["output"] == 5


def test_a_request_cut_off_at_stop_is_no_verdict_on_the_gateway():
    from loadkit.core.records import INTERRUPTED_IN_FLIGHT
    from loadkit.core.windows import WindowStats

    stats, windows = RunStats(), WindowStats()
    ok, _, _, _ = _records()
    failed = RequestRecord("gpt-4o-mini", sent_at=4.0, intended_at=4.0, done_at=4.1, status=500, outcome="upstream_error",
                           error_key="http_500")
    cut = RequestRecord("gpt-4o-mini", sent_at=5.0, intended_at=5.0, done_at=5.2, outcome="interrupted",
                        error_key=INTERRUPTED_IN_FLIGHT)
    for r in (ok, failed, cut):
        stats.add(r)
        windows.add(r)
    mini = build_summary(stats, run_id="r", started_at="t", duration_s=10, host="h", users=1)["models"]["gpt-4o-mini"]
    assert (mini["requests"], mini["successes"], mini["failures"], mini["outcomes"]["interrupted"]) == (3, 1, 1, 1)
    assert mini["success_rate"] == 0.5 and mini["error_rate"] == 0.5  # over the 2 that ended by themselves
    cells = [m["gpt-4o-mini"] for m in windows.cells.values()]
    assert sum(c.counts["errors"] for c in cells) == 1 and sum(c.counts["requests"] for c in cells) == 3  # the 500 only
