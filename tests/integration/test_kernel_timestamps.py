"""Kernel receive timestamps on the gevent transport: a busy event loop does not bend TTFT.

The simulator runs as a real process with fixed timings (TTFT 60 ms, ITL 15 ms, 4 tokens). In this
process a greenlet busy-waits 20 ms every 50 ms (the stall), so a first token that arrives during a
stall is read up to 20 ms late. Kernel-stamped records keep the arrival time: their TTFT stays
within ±3 ms of the configured 60 ms (median; never early), their measured read lag shows the stall,
and the same requests stamped by the loop clock are late by it. Load on a shared box only delays
(the simulator's sleeps too), so the ±3 ms bound is on the median and no value may be early.
"""

import statistics
import time

import gevent
import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.metrics import ttft_ms
from loadkit.transport import TransportOptions, make_transport
from tests.support.simproc import start_simulator

TTFT, ITL, TOKENS = 60.0, 15.0, 4
TOL_MS = 3.0
STALL_S, STALL_EVERY_S = 0.020, 0.050
REQUESTS = 20
MSG = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def fixed_sim():
    with start_simulator("--profile", "fixed", "--fixed", f"ttft_ms={TTFT:g},itl_ms={ITL:g},tokens={TOKENS}",
                         "--cold-start-ms", "0", "--error-rate", "0") as sim:
        yield sim


def _stall() -> None:
    """Hold the event loop for STALL_S of every STALL_EVERY_S (a generator busy with its own work)."""
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < STALL_S:
            pass
        gevent.sleep(STALL_EVERY_S - STALL_S)


def _records_under_stall(client: ChatClient) -> list:
    req = ChatRequest("gpt-4o-mini", MSG, max_tokens=TOKENS)
    client.chat(req)  # connect outside the measured requests
    staller = gevent.spawn(_stall)
    try:
        return [client.chat(req) for _ in range(REQUESTS)]
    finally:
        staller.kill()
        client.close()


def test_kernel_stamped_ttft_holds_under_a_loop_stall_while_the_loop_clock_is_late(fixed_sim):
    kernel = _records_under_stall(ChatClient(make_transport("fasthttp", TransportOptions(fixed_sim.base_url))))
    assert [r.outcome for r in kernel] == ["ok"] * REQUESTS
    assert {r.timing_clock for r in kernel} == {"kernel"}
    assert all(len(r.token_times) == TOKENS for r in kernel)
    ttfts = [ttft_ms(r) for r in kernel]
    assert statistics.median(ttfts) == pytest.approx(TTFT, abs=TOL_MS), ttfts
    assert min(ttfts) >= TTFT - TOL_MS, ttfts  # a kernel stamp mapped to the wrong place would show early
    # The stall was there and measured: first tokens read late by it (read time - kernel arrival).
    late = [r for r in kernel if r.first_token_read_lag_ms >= 5.0]
    assert len(late) >= 3, [r.first_token_read_lag_ms for r in kernel]
    assert all(r.first_token_read_lag_ms <= STALL_S * 1000 + 15.0 for r in kernel), [r.first_token_read_lag_ms for r in kernel]
    assert all(r.read_lag_ms >= r.first_token_read_lag_ms for r in kernel)
    # those requests' TTFT, as the loop would have stamped it, is late by the stall; the kernel's is not
    assert statistics.median(ttft_ms(r) for r in late) == pytest.approx(TTFT, abs=TOL_MS), [ttft_ms(r) for r in late]
    assert statistics.median(ttft_ms(r) + r.first_token_read_lag_ms for r in late) >= TTFT + 5.0

    # The same requests through a client with its own clock (not perf_counter): loop-stamped, late by the stall.
    loop = _records_under_stall(ChatClient(make_transport("fasthttp", TransportOptions(fixed_sim.base_url)),
                                           clock=lambda: time.perf_counter()))
    assert [r.outcome for r in loop] == ["ok"] * REQUESTS
    assert {r.timing_clock for r in loop} == {None}  # the client alone does not measure it; the monitor says "loop"
    loop_ttfts = [ttft_ms(r) for r in loop]
    assert sum(t >= TTFT + 5.0 for t in loop_ttfts) >= 3, loop_ttfts


def test_kernel_stamps_are_on_the_perf_counter_timeline_of_the_record(fixed_sim):
    client = ChatClient(make_transport("fasthttp", TransportOptions(fixed_sim.base_url)))
    try:
        rec = client.chat(ChatRequest("gpt-4o-mini", MSG, max_tokens=TOKENS))
    finally:
        client.close()
    assert rec.outcome == "ok" and rec.timing_clock == "kernel"
    # sent <= headers <= first event <= tokens (ascending) <= done: one timeline
    times = [rec.sent_at, rec.headers_at, rec.first_event_at, *rec.token_times, rec.done_at]
    assert times == sorted(times), times
    assert (rec.done_at - rec.sent_at) * 1000 == pytest.approx(TTFT + (TOKENS - 1) * ITL, abs=TOL_MS + 15.0)
    assert 0.0 <= rec.first_token_read_lag_ms <= rec.read_lag_ms
