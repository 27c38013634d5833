"""Injected 5xx and mid-stream failures in all three shapes."""

import json

import httpx
import pytest

from tests.support.simproc import start_simulator, timed_sse_events

FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=0,itl_ms=0,tokens=8", "--cold-start-ms", "0")
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_error_every_nth_is_500_exactly():
    with start_simulator(*FIXED, "--error-every", "4") as sim, httpx.Client() as client:
        responses = [client.post(sim.base_url + "/chat/completions", json=BODY) for _ in range(8)]
        assert [r.status_code for r in responses] == [200, 200, 200, 500] * 2
        assert responses[3].json()["error"]["type"] == "server_error"
        assert sim.stats()["by_status"] == {"200": 6, "500": 2}


def test_error_rate_one_gives_only_5xx_and_default_reference_rate_is_small():
    with start_simulator(*FIXED, "--error-rate", "1", "--seed", "1") as sim, httpx.Client() as client:
        statuses = {client.post(sim.base_url + "/chat/completions", json=BODY).status_code for _ in range(30)}
        assert statuses <= {500, 502, 503} and len(statuses) >= 2
    with start_simulator("--seed", "1") as sim:
        assert sim.config()["error_rate"] == 0.003
    with start_simulator(*FIXED) as sim:
        assert sim.config()["error_rate"] == 0.0


def read_raw_stream(sim):
    """Return (data events, how the body ended: 'complete' or 'cut')."""
    body = dict(BODY, stream=True)
    try:
        _, _, _, events = timed_sse_events(sim.base_url + "/chat/completions", body)
        return [data for _, data in events], "complete"
    except httpx.HTTPError:
        return None, "cut"


@pytest.mark.parametrize("shape", ["event-then-done", "event-only", "cut"])
def test_midstream_error_every_nth_shapes(shape):
    args = (*FIXED, "--midstream-error-every", "2", "--midstream-error-shape", shape)
    with start_simulator(*args) as sim:
        ok, ending = read_raw_stream(sim)
        assert ending == "complete" and ok[-1] == "[DONE]" and len(ok) == 1 + 8 + 1 + 1
        events, ending = read_raw_stream(sim)
        if shape == "cut":
            assert ending == "cut"
        else:
            assert ending == "complete"
            tokens = [e for e in events if e != "[DONE]" and json.loads(e).get("choices")]
            assert len(tokens) == 1 + 4  # role chunk + half the tokens
            error_index = 1 + 4
            assert json.loads(events[error_index])["error"]["type"] == "server_error"
            assert events[-1] == ("[DONE]" if shape == "event-then-done" else events[error_index])
        stats = sim.stats()
        assert stats["by_status"] == {"200": 2}
        assert stats["tokens_out"] == {"gpt-4o-mini": 8 + 4}


def test_midstream_error_rate_one_always_fails_streams_but_not_non_stream():
    with start_simulator(*FIXED, "--midstream-error-rate", "1", "--seed", "5") as sim:
        for _ in range(3):
            events, ending = read_raw_stream(sim)
            assert ending == "complete" and events[-1] == "[DONE]"
            assert any("error" in json.loads(e) for e in events[:-1])
        assert httpx.post(sim.base_url + "/chat/completions", json=BODY).status_code == 200
