"""Fixed-profile timing, cold starts, the capacity queue and gateway overhead.

Times are measured at the client with time.perf_counter on loopback; the
simulator's clock starts when the request is fully received, so the client
sees the configured values plus a fraction of a millisecond.

This VM's scheduler alone delays a plain ``time.sleep`` by > 2 ms at p99
(and up to ~20 ms now and then), in the client as much as in the server, so
an exact-timing check is measured up to ``ATTEMPTS`` times and passes when
one attempt is entirely within tolerance: a systematic error (drift, a
constant offset) fails every attempt, a scheduling hiccup does not.
"""

import asyncio
import gc
import json
import statistics
import time

import httpx
import pytest

from tests.support.simproc import start_simulator, timed_sse_events
from tests.support.waits import hold_for, wait_until

TOL_MS = 2.0
ATTEMPTS = 6


def first_within(measure, check):
    """Run ``measure()`` until ``check(result)`` holds (at most ATTEMPTS times); return
    (passed, all results) for the assertion message."""
    results = []
    for attempt in range(ATTEMPTS):
        if attempt:
            hold_for(0.05 * attempt, "a busy neighbour's burst passes before the next attempt")
        results.append(measure())
        if check(results[-1]):
            return True, results
    return False, results
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def no_client_gc_pauses():
    """A collection in the test process would add milliseconds to a measurement."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def token_times(events):
    """Return arrival times of the content-token events (not role/finish/usage)."""
    out = []
    for at, data in events:
        if data == "[DONE]":
            continue
        choices = json.loads(data)["choices"]
        if choices and choices[0]["delta"].get("content"):
            out.append(at)
    return out


def post_timed(client, url, body):
    """``(milliseconds, response)`` of one non-stream POST, timed around the whole exchange."""
    started = time.perf_counter()
    response = client.post(url, json=body)
    return (time.perf_counter() - started) * 1000, response


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def test_fixed_ttft_and_every_itl_within_2ms():
    args = ("--profile", "fixed", "--fixed", "ttft_ms=100,itl_ms=20,tokens=10", "--cold-start-ms", "0")
    with start_simulator(*args) as sim:
        url = sim.base_url + "/chat/completions"
        client = httpx.Client()
        timed_sse_events(url, dict(BODY, stream=True), client=client)  # warm process and connection
        def measure():
            status, headers, sent_at, events = timed_sse_events(url, dict(BODY, stream=True), client=client)
            assert status == 200 and headers["x-sim-cold"] == "0"
            times = token_times(events)
            assert len(times) == 10
            role_ms = (events[0][0] - sent_at) * 1000
            ttft_ms = (times[0] - sent_at) * 1000
            # each token's offset from its place on the schedule (token i is due TTFT + i * ITL after the send)
            offsets = [(t - sent_at) * 1000 - (100 + 20 * i) for i, t in enumerate(times)]
            return role_ms, ttft_ms, [(b - a) * 1000 for a, b in zip(times, times[1:])], offsets

        def check(result):
            role_ms, ttft_ms, itls, offsets = result
            # The role chunk is written at headers time, the tokens on an absolute schedule: none is early by more
            # than 2 ms and the median gap is 20 ms within 2 ms. Lateness is what a busy or noisy box (CPU steal on
            # a VM: 2-5 ms here) adds to the simulator's own timers; it is bounded loosely here (median <= 10 ms)
            # and measured in bench/fidelity.py ("simulator raw-socket p99"), not failed here.
            return (role_ms < 10 and min(offsets) >= -TOL_MS and statistics.median(offsets) <= 5 * TOL_MS
                    and abs(statistics.median(itls) - 20) <= TOL_MS)

        passed, results = first_within(measure, check)
        assert passed, results


def test_fixed_non_stream_waits_ttft_plus_itls_and_per_model_override():
    args = (
        "--profile", "fixed", "--fixed", "ttft_ms=50,itl_ms=10,tokens=6",
        "--fixed", "claude-4-haiku:ttft_ms=30,tokens=3", "--cold-start-ms", "0",
    )
    with start_simulator(*args) as sim:
        url = sim.base_url + "/chat/completions"
        with httpx.Client() as client:
            client.post(url, json=BODY)
            for model, expected_ms, tokens in (("gpt-4o-mini", 50 + 5 * 10, 6), ("claude-4-haiku", 30 + 2 * 10, 3)):

                def measure():
                    elapsed_ms, response = post_timed(client, url, dict(BODY, model=model))
                    assert response.json()["usage"]["completion_tokens"] == tokens
                    return elapsed_ms

                # never early; late by at most 10 ms (six timer sleeps, each of which CPU steal on a VM delays by
                # 0.5-1.5 ms: measured in bench/fidelity.py's simulator column, not failed here)
                passed, results = first_within(measure, lambda ms: expected_ms - TOL_MS <= ms <= expected_ms + 10)
                assert passed, (model, expected_ms, results)


def test_cold_start_adds_configured_ms_after_idle():
    args = (
        "--profile", "fixed", "--fixed", "ttft_ms=20,itl_ms=0,tokens=1",
        "--cold-start-ms", "gpt-4o-mini=150", "--idle-s", "0.5",
    )
    with start_simulator(*args) as sim:
        url = sim.base_url + "/chat/completions"
        with httpx.Client() as client:
            client.get(sim.url + "/health")

            def timed():
                elapsed_ms, response = post_timed(client, url, BODY)
                return elapsed_ms, response.headers["x-sim-cold"]

            def cold_then_warm():
                hold_for(0.6, "idle longer than --idle-s 0.5: the next request is cold")
                return timed(), timed()

            def check(result):
                (cold_ms, cold_flag), (warm_ms, warm_flag) = result
                return (
                    cold_flag == "1" and abs(cold_ms - 170) <= TOL_MS + 1
                    and warm_flag == "0" and abs(warm_ms - 20) <= TOL_MS + 1
                )

            first = timed()
            assert first[1] == "1"  # the first request since start is cold
            timed()
            passed, results = first_within(cold_then_warm, check)
            assert passed, results
        assert sim.stats()["cold_starts"]["gpt-4o-mini"] == 1 + len(results)


def test_default_cold_start_applies_in_fixed_profile():
    # The default +1197 ms for gpt-4o-mini (DESIGN's 1400 ms cold start minus its median TTFT); idle 0.3 s makes every probe cold again, so a scheduler hiccup
    # on a busy machine can be retried (best of 3) while a wrong delay fails every time.
    args = ("--profile", "fixed", "--fixed", "ttft_ms=0,itl_ms=0,tokens=1", "--models", "gpt-4o-mini", "--idle-s", "0.3")
    with start_simulator(*args) as sim, httpx.Client() as client:
        client.get(sim.url + "/health")
        errors = []
        for _ in range(3):
            elapsed_ms, response = post_timed(client, sim.base_url + "/chat/completions", BODY)
            assert response.headers["x-sim-cold"] == "1"
            errors.append(abs(elapsed_ms - 1197))
            if errors[-1] <= 10:
                break
            hold_for(0.4, "idle longer than --idle-s 0.3: the next probe is cold again")
        assert min(errors) <= 10, errors


def test_capacity_queue_makes_last_two_of_four_wait():
    args = (
        "--profile", "fixed", "--fixed", "ttft_ms=200,itl_ms=0,tokens=1",
        "--cold-start-ms", "0", "--max-concurrency", "gpt-4o-mini=2",
    )
    with start_simulator(*args) as sim:
        url = sim.base_url + "/chat/completions"

        async def run():
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=10)) as client:
                # open four keep-alive connections first, so no request pays a connect
                await asyncio.gather(*(client.get(sim.url + "/health") for _ in range(4)))

                async def one():
                    started = time.perf_counter()
                    await client.post(url, json=BODY)
                    return (time.perf_counter() - started) * 1000

                return sorted(await asyncio.gather(*(one() for _ in range(4))))

        def check(durations):
            return all(abs(d - 200) <= 15 for d in durations[:2]) and all(abs(d - 400) <= 15 for d in durations[2:])

        passed, results = first_within(lambda: asyncio.run(run()), check)
        assert passed, results
        assert sim.stats()["max_in_flight"] == 4


def test_queue_timeout_returns_503():
    args = (
        "--profile", "fixed", "--fixed", "ttft_ms=300,tokens=1", "--cold-start-ms", "0",
        "--max-concurrency", "1", "--queue-timeout-s", "0.1",
    )
    with start_simulator(*args) as sim:
        url = sim.base_url + "/chat/completions"

        async def run():
            async with httpx.AsyncClient() as client:
                return await asyncio.gather(*(client.post(url, json=BODY) for _ in range(2)))

        statuses = sorted(r.status_code for r in asyncio.run(run()))
        assert statuses == [200, 503]


def test_gateway_mode_adds_overhead_and_relays_stream():
    direct_args = ("--profile", "fixed", "--fixed", "ttft_ms=50,itl_ms=10,tokens=5", "--cold-start-ms", "0")
    with start_simulator(*direct_args, "--api-key", "up-key") as upstream:
        gateway_args = (
            "--upstream", upstream.url, "--overhead-ms", "30", "--overhead-jitter-ms", "0",
            "--upstream-api-key-env", "UPSTREAM_KEY", "--model-map", "mini=gpt-4o-mini",
        )
        with start_simulator(*gateway_args, env={"UPSTREAM_KEY": "up-key"}) as gateway:
            client = httpx.Client()

            def ttft(base_url, model, headers):
                status, _, sent_at, events = timed_sse_events(
                    base_url + "/chat/completions", dict(BODY, model=model, stream=True), headers, client=client
                )
                assert status == 200 and events[-1][1] == "[DONE]"
                times = token_times(events)
                assert len(times) == 5
                return (times[0] - sent_at) * 1000

            auth = {"Authorization": "Bearer up-key"}
            ttft(gateway.base_url, "mini", {})
            ttft(upstream.base_url, "gpt-4o-mini", auth)
            direct = [ttft(upstream.base_url, "gpt-4o-mini", auth) for _ in range(5)]
            via_gateway = [ttft(gateway.base_url, "mini", {}) for _ in range(5)]
            overhead_ms = median(via_gateway) - median(direct)
            # never less than the configured 30 ms (± 3); more by at most 8 ms: the hop's own sleep is what CPU
            # steal on a VM delays (3-5 ms here); the exact figure is `loadkit overhead`'s, measured in bench/
            assert 30 - 3 <= overhead_ms <= 30 + 8, (direct, via_gateway)
            non_stream = httpx.post(gateway.base_url + "/chat/completions", json=dict(BODY, model="mini"))
            assert non_stream.status_code == 200 and non_stream.json()["model"] == "gpt-4o-mini"
            assert gateway.stats()["chat_requests"] == {"mini": 7}


def test_send_log_has_one_line_per_stream_with_the_first_token_write_on_this_hosts_clock(tmp_path):
    """--send-log: "read first_written" per stream, CLOCK_MONOTONIC (time.perf_counter here is the same clock)."""
    log = tmp_path / "sends.log"
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with start_simulator("--profile", "fixed", "--fixed", "ttft_ms=30,itl_ms=1,tokens=3", "--cold-start-ms", "0",
                         "--send-log", str(log)) as sim, httpx.Client(timeout=30) as client:
        firsts = []
        for _ in range(5):
            _status, _headers, sent_at, events = timed_sse_events(sim.base_url + "/chat/completions", body, client=client)
            firsts.append((sent_at, next(at for at, data in events if '"content":"' in data
                                         and '"content":""' not in data)))
        # a stream's line is written once its last byte is: the client can get there first
        wait_until(lambda: len(log.read_text().splitlines()) >= 5, 10, what="five lines in the send log")
    lines = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    assert len(lines) == 5
    for (sent_at, first_read), (received, written) in zip(firsts, lines):
        assert sent_at < received < first_read  # one clock across the two processes
        assert 30.0 <= (written - received) * 1000  # the configured TTFT, never early
        assert written <= first_read  # written before this client read it
