"""ChatClient's verdicts as a table: an in-memory transport answers each request from a script, an injected
clock makes every timing exact. One row per way an answer can go; outcome, error key, tokens and timings are
all pinned (DESIGN.md's outcome list: every attempt lands in exactly one)."""

from __future__ import annotations

import gzip
import json

import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.metrics import e2e_ms, itl_ms, ttft_ms
from loadkit.core.records import record_to_dict
from loadkit.transport import TransportBadFraming, TransportBrokenStream, TransportConnectError, TransportTimeout
from tests.support.memtransport import FakeClock, MemoryTransport, Scripted

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
KEY = "sk-live-0123456789abcdefABCDEF"
STEP_S = 0.005  # the fake clock's advance per body chunk
HEADERS_S = 0.01


def delta(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


def finish(reason: str = "stop", completion: int | None = 3) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    if completion is not None:
        chunk["usage"] = {"prompt_tokens": 7, "completion_tokens": completion}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
GOOD = [delta("a"), delta("b"), delta("c"), finish(), DONE]


def body(obj) -> list[bytes]:
    return [json.dumps(obj).encode()]


# name -> (script, stream, expected outcome, expected error key (None: none), extra check of the record)
ROWS = {
    "stream ok": (Scripted(headers=SSE, chunks=GOOD), True, "ok", None,
                  lambda r: r.output_tokens == 3 and r.usage_reported and len(r.token_times) == 3),
    "whole ok": (Scripted(headers=JSON, chunks=body({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                                                    "usage": {"prompt_tokens": 5, "completion_tokens": 2}})),
                 False, "ok", None, lambda r: r.output_tokens == 2 and r.first_token_at is None),
    "429 with Retry-After": (Scripted(429, {**JSON, "retry-after": "2"}, body({"error": {"code": "rate_limit_exceeded"}})),
                             True, "rate_limited", "http_429:rate_limit_exceeded", lambda r: r.retry_after_s == 2.0),
    "400": (Scripted(400, JSON, body({"error": {"type": "invalid_request_error", "code": "model_not_found"}})), True,
            "client_error", "http_400:model_not_found", None),
    "503 html": (Scripted(503, {"content-type": "text/html"}, [b"<html>Service Unavailable</html>"]), True,
                 "upstream_error", "http_503", None),
    "error body echoes the key": (Scripted(401, JSON, body({"error": {"code": KEY, "type": KEY}})), True,
                                  "client_error", "http_401:<redacted>", None),
    "in-stream error event": (Scripted(headers=SSE, chunks=[delta("a"), b'data: {"error": {"code": "overloaded"}}\n\n']),
                              True, "in_stream_error", "error_event:overloaded", None),
    "in-stream error echoes the key": (Scripted(headers=SSE, chunks=[b'data: {"error": {"code": "' + KEY.encode() + b'"}}\n\n']),
                                       True, "in_stream_error", "error_event:<redacted>", None),
    "content_filter": (Scripted(headers=SSE, chunks=[delta("a"), finish("content_filter", 1), DONE]), True,
                       "content_filter", None, lambda r: r.finish_reason == "content_filter"),
    "length": (Scripted(headers=SSE, chunks=[delta("a"), finish("length", 1), DONE]), True, "ok", None,
               lambda r: r.finish_reason == "length"),
    "nothing after [DONE] counts": (Scripted(headers=SSE, chunks=[*GOOD, finish("stop", 999)]), True, "ok", None,
                                    lambda r: r.output_tokens == 3),
    "ping events with no data": (Scripted(headers=SSE, chunks=[b"event: ping\n\n", delta("a"), b": keep-alive\n\n",
                                                                b"event: ping\n\n", finish("stop", 1), DONE]),
                                 True, "ok", None, lambda r: r.output_tokens == 1),
    "BOM and mixed-case media type": (Scripted(headers={"content-type": "Text/Event-Stream; charset=utf-8"},
                                               chunks=[b"\xef\xbb\xbf" + delta("a"), finish("stop", 1), DONE]),
                                      True, "ok", None, lambda r: len(r.token_times) == 1),
    "gzip not asked for": (Scripted(headers={**SSE, "content-encoding": "gzip"}, chunks=[gzip.compress(b"".join(GOOD))]),
                           True, "ok", None, lambda r: r.output_tokens == 3),
    "unknown content-encoding": (Scripted(headers={**SSE, "content-encoding": "zstd-x"}, chunks=GOOD), True,
                                 "upstream_error", "http_200:content_encoding:zstd-x", None),
    "timeout before headers": (Scripted(send_error=TransportTimeout("deadline")), True, "timeout", None, None),
    "timeout mid-stream": (Scripted(headers=SSE, chunks=[delta("a"), TransportTimeout("deadline")]), True,
                           "timeout", None, lambda r: len(r.token_times) == 1),
    "connect refused": (Scripted(send_error=TransportConnectError("refused")), True, "connect_error", None, None),
    "connection broken mid-stream": (Scripted(headers=SSE, chunks=[delta("a"), TransportBrokenStream("reset")]), True,
                                     "in_stream_error", None, None),
    "wrong Content-Length": (Scripted(send_error=TransportBadFraming("short body", status=200)), True,
                             "upstream_error", "http_200:bad_framing", lambda r: r.status == 200),
    "stream ends without finish or [DONE]": (Scripted(headers=SSE, chunks=[delta("a"), delta("b")]), True,
                                             "in_stream_error", "stream_ended_early", None),
    "non-JSON data line": (Scripted(headers=SSE, chunks=[delta("a"), b"data: {not json\n\n"]), True,
                           "in_stream_error", "invalid_json_event", None),
}


def run_row(script: Scripted, stream: bool):
    clock = FakeClock()
    transport = MemoryTransport([script], clock, step_s=STEP_S)
    client = ChatClient(transport, api_key=KEY, clock=clock, secrets=(KEY,))
    rec = client.chat(ChatRequest("gpt-4o-mini", [{"role": "user", "content": "hi"}], max_tokens=16, stream=stream))
    return rec, transport


@pytest.mark.parametrize("name", list(ROWS))
def test_every_answer_gets_its_one_verdict(name):
    script, stream, outcome, key, check = ROWS[name]
    rec, transport = run_row(script, stream)
    assert (rec.outcome, rec.error_key if key is not None else None) == (outcome, key), (rec.outcome, rec.error_key)
    if outcome not in ("ok", "content_filter"):
        assert rec.error_key, "every failure names its cause"
    assert KEY not in json.dumps(record_to_dict(rec))  # never in a record, whatever the gateway echoed
    assert rec.done_at >= rec.sent_at and e2e_ms(rec) >= 0
    if check is not None:
        assert check(rec), rec
    assert len(transport.sent) == 1 and transport.sent[0][3]["authorization"] == f"Bearer {KEY}"


def test_timings_follow_the_injected_clock_exactly():
    rec, _ = run_row(Scripted(headers=SSE, chunks=GOOD), True)
    # headers after 10 ms; every body chunk advances 5 ms; the first token is in the first chunk
    assert ttft_ms(rec) == pytest.approx((HEADERS_S + STEP_S) * 1000, abs=1e-6)
    assert itl_ms(rec) == pytest.approx([STEP_S * 1000] * 2, abs=1e-6)
    assert e2e_ms(rec) == pytest.approx((HEADERS_S + STEP_S * len(GOOD)) * 1000, abs=1e-6)
