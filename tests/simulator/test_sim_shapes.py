"""OpenAI response shapes, auth and model errors, validation, counters, seeds."""

import json
import math

import httpx
import pytest

from tests.support.simproc import start_simulator, timed_sse_events

FIXED = ("--profile", "fixed", "--fixed", "ttft_ms=0,itl_ms=0,tokens=7", "--cold-start-ms", "0")
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "tell me about load testing"}]


def body(**extra):
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


@pytest.fixture(scope="module")
def sim():
    with start_simulator(*FIXED, "--seed", "3") as process:
        yield process


def stream_chunks(sim, **extra):
    status, headers, _, events = timed_sse_events(sim.base_url + "/chat/completions", body(stream=True, **extra))
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert events[-1][1] == "[DONE]"
    return [json.loads(data) for _, data in events[:-1]]


def test_non_stream_shape_and_usage(sim):
    data = httpx.post(sim.base_url + "/chat/completions", json=body()).json()
    assert data["object"] == "chat.completion" and data["model"] == "gpt-4o-mini"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert len(choice["message"]["content"].split()) == 7
    prompt_chars = len("be brief") + len("tell me about load testing")
    assert data["usage"] == {
        "prompt_tokens": math.ceil(prompt_chars / 4),
        "completion_tokens": 7,
        "total_tokens": math.ceil(prompt_chars / 4) + 7,
    }


def test_stream_role_chunk_tokens_finish_and_usage(sim):
    chunks = stream_chunks(sim, stream_options={"include_usage": True})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    tokens = chunks[1:-2]
    assert len(tokens) == 7
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["choices"][0]["delta"]["content"].endswith(" ") for c in tokens)
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 7


def test_stream_without_include_usage_has_no_usage_chunk(sim):
    chunks = stream_chunks(sim)
    assert len(chunks) == 1 + 7 + 1
    assert all("usage" not in c for c in chunks)


def test_max_tokens_cuts_with_finish_reason_length(sim):
    chunks = stream_chunks(sim, max_tokens=3, stream_options={"include_usage": True})
    assert len(chunks[1:-2]) == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    data = httpx.post(sim.base_url + "/chat/completions", json=body(max_tokens=2)).json()
    assert data["choices"][0]["finish_reason"] == "length" and data["usage"]["completion_tokens"] == 2


def test_usage_shape_empty_delta():
    with start_simulator(*FIXED, "--usage-shape", "empty-delta") as sim:
        chunks = stream_chunks(sim, stream_options={"include_usage": True})
        assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": None}]
        assert chunks[-1]["usage"]["completion_tokens"] == 7


def test_invalid_json_and_missing_messages_are_400(sim):
    url = sim.base_url + "/chat/completions"
    bad = httpx.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(url, json={"model": "gpt-4o-mini"})
    assert missing.status_code == 400 and "messages" in missing.json()["error"]["message"]


@pytest.mark.parametrize("status", ["401", "403", "400"])
def test_auth_error_shapes(status):
    with start_simulator(*FIXED, "--auth-error-status", status, env={"LOADKIT_SIM_API_KEY": "k1"}) as sim:
        url = sim.base_url + "/chat/completions"
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = httpx.post(url, json=body(), headers=headers)
            assert response.status_code == int(status)
            assert response.json() == {
                "error": {"message": "Invalid API key", "type": "invalid_request_error", "code": "invalid_api_key"}
            }
        assert httpx.post(url, json=body(), headers={"Authorization": "Bearer k1"}).status_code == 200
        stats = sim.stats()
        assert stats["by_model_status"]["gpt-4o-mini"] == {status: 2, "200": 1}


@pytest.mark.parametrize("status", ["404", "400"])
def test_unknown_model_shapes(status):
    with start_simulator(*FIXED, "--unknown-model-status", status) as sim:
        response = httpx.post(sim.base_url + "/chat/completions", json=dict(body(), model="gpt-9"))
        assert response.status_code == int(status)
        assert response.json() == {
            "error": {
                "message": "The model `gpt-9` does not exist",
                "type": "invalid_request_error",
                "code": "model_not_found",
            }
        }


def test_stats_count_every_request_exactly():
    with start_simulator(*FIXED, "--api-key", "k") as sim:
        url, auth = sim.base_url + "/chat/completions", {"Authorization": "Bearer k"}
        for _ in range(3):
            httpx.post(url, json=body(), headers=auth)
        httpx.post(url, json=body(stream=True), headers=auth)
        httpx.post(url, json=dict(body(), model="claude-4-haiku"), headers=auth)
        httpx.post(url, json=dict(body(), model="nope"), headers=auth)
        httpx.post(url, json=body())  # no key
        httpx.post(url, content=b"garbage", headers=auth)
        stats = sim.stats()
        assert stats["chat_requests"] == {"gpt-4o-mini": 5, "claude-4-haiku": 1, "nope": 1, "<unknown>": 1}
        assert stats["chat_requests_total"] == 8
        assert stats["by_status"] == {"200": 5, "404": 1, "401": 1, "400": 1}
        assert stats["by_model_status"]["gpt-4o-mini"] == {"200": 4, "401": 1}
        assert stats["tokens_out"] == {"gpt-4o-mini": 28, "claude-4-haiku": 7}
        assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1
        sim.reset_stats()
        assert sim.stats()["chat_requests_total"] == 0 and sim.stats()["by_status"] == {}


def test_same_seed_same_answers_different_seed_differs():
    def answers(seed):
        with start_simulator("--profile", "zero", "--seed", seed) as sim:
            out = []
            for category in ("math", "code", "creative", "factual"):
                response = httpx.post(
                    sim.base_url + "/chat/completions", json=body(), headers={"x-loadkit-task": category}
                )
                out.append(response.json()["choices"][0]["message"]["content"])
            return out

    first = answers("11")
    assert answers("11") == first
    assert answers("12") != first


def test_anthropic_messages_non_stream(sim):
    response = httpx.post(
        sim.base_url + "/messages",
        json={"model": "claude-4-haiku", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    data = response.json()
    assert response.status_code == 200 and data["type"] == "message"
    assert data["usage"]["output_tokens"] == 5 and data["stop_reason"] == "max_tokens"
