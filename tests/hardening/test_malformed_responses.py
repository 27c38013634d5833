"""Malformed gateway responses: each is classified (outcome + error key), counted, never an exception.

A tiny threaded HTTP server answers `POST /<case>/chat/completions` with the
case's bytes; the client talks to it over real sockets on both transports,
and one client per transport sends every case in turn, so a case that leaves
the connection in a bad state would break the next one (the pool must recover).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.core.records import OUTCOMES
from loadkit.protocol.sse import DEFAULT_MAX_EVENT_BYTES
from loadkit.transport import TransportOptions, make_transport
from tests.support.servers import http_handler_server

SSE = "text/event-stream"
JSON = "application/json"


def chunk(content=None, finish=None, usage=None, role=False) -> bytes:
    delta = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    obj = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        obj = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def good_stream(n=3, usage=True, done=True, finish=True) -> bytes:
    body = chunk(role=True) + b"".join(chunk(f"t{i} ") for i in range(n))
    if finish:
        body += chunk(finish="stop")
    if usage:
        body += chunk(usage={"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5})
    if done:
        body += b"data: [DONE]\n\n"
    return body


WHOLE = json.dumps({"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
                    "content": "hello there"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}).encode()

# case -> (status, content type, body, expected (outcome, error key), extra checks on the record)
CASES = {
    "html_200": (200, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>", ("upstream_error", "invalid_json"),
                 None),
    "truncated_json": (200, JSON, WHOLE[: len(WHOLE) // 2], ("upstream_error", "invalid_json"), None),
    "sse_without_data_lines": (200, SSE, b": keep-alive\n\n: still here\n\nretry: 100\n\n", ("in_stream_error", "no_events"),
                               None),
    # WHATWG: an event with an empty data buffer is not dispatched, so "event: ping" alone is no event
    "sse_event_without_data": (200, SSE, b"event: ping\n\n", ("in_stream_error", "no_events"), None),
    # lines that are not SSE fields are ignored (WHATWG rules): no event at all
    "sse_plain_text": (200, SSE, b"hello, this is not an event stream\n", ("in_stream_error", "no_events"), None),
    "giant_single_event": (200, SSE, b"data: {\"x\": \"" + b"x" * (DEFAULT_MAX_EVENT_BYTES + 1024) + b"\"}\n\n",
                           ("in_stream_error", "event_too_large"), None),
    "giant_line_no_newline": (200, SSE, b"data: " + b"y" * (DEFAULT_MAX_EVENT_BYTES + 1024),
                              ("in_stream_error", "event_too_large"), None),
    "non_utf8_event": (200, SSE, b"data: \xff\xfe\x00garbage\n\n" + good_stream(), ("in_stream_error", "invalid_json_event"),
                       None),
    "non_utf8_inside_content": (200, SSE, good_stream().replace(b"t0 ", b"t\xff\xfe "), ("ok", None),
                                lambda r: len(r.token_times) == 3 and r.output_tokens == 3),
    "usage_missing": (200, SSE, good_stream(usage=False), ("ok", None),
                      lambda r: not r.usage_reported and r.output_tokens == 3 == len(r.token_times)),
    "usage_zero_tokens": (200, SSE, good_stream().replace(b'"completion_tokens": 3', b'"completion_tokens": 0'), ("ok", None),
                          lambda r: r.usage_reported and r.output_tokens == 0 and r.estimated_output_tokens == 3),
    "usage_negative_tokens": (200, SSE, good_stream().replace(b'"completion_tokens": 3', b'"completion_tokens": -7'),
                              ("ok", None), lambda r: not r.usage_reported and r.output_tokens == 3),
    "json_for_a_stream_request": (200, JSON, WHOLE, ("ok", None),
                                  lambda r: r.output_tokens == 2 and r.first_token_at is None and not r.token_times),
    "done_missing_with_finish": (200, SSE, good_stream(done=False), ("ok", None), lambda r: r.output_tokens == 3),
    "done_and_finish_missing": (200, SSE, good_stream(done=False, finish=False, usage=False),
                                ("in_stream_error", "stream_ended_early"), lambda r: len(r.token_times) == 3),
    "empty_stream": (200, SSE, b"", ("in_stream_error", "no_events"), None),
    "error_object_mid_stream": (200, SSE, chunk("a") + b'data: {"error": {"code": "overloaded", "message": "x"}}\n\n',
                                ("in_stream_error", "error_event:overloaded"), lambda r: len(r.token_times) == 1),
    "error_event_type": (200, SSE, chunk("a") + b"event: error\ndata: upstream died\n\n", ("in_stream_error", "error_event"),
                         None),
    "not_a_chat_chunk": (200, SSE, b'data: {"choices": [null]}\n\n' + good_stream(), ("in_stream_error", "invalid_chunk"),
                         None),
    "html_500": (500, "text/html", b"<html>Internal Server Error</html>", ("upstream_error", "http_500"), None),
    "429_without_json": (429, "text/plain", b"slow down", ("rate_limited", "http_429"), None),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served: dict[str, int] = {}

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        case = self.path.strip("/").split("/")[0]
        status, ctype, body, _, _ = CASES[case]
        Handler.served[case] = Handler.served.get(case, 0) + 1
        self.send_response(status)
        self.send_header("content-type", ctype)
        if case == "giant_line_no_newline":  # close-delimited, like a proxy that gave up
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    with http_handler_server(Handler) as url:
        yield url


@pytest.mark.parametrize("kind", ["fasthttp", "httpx"])
def test_every_malformed_response_is_classified_counted_and_never_raises(server, kind):
    Handler.served.clear()
    got = {}
    for case, (_, _, _, expected, check) in CASES.items():
        # one client per case path (the transport's base URL carries the case); each sends the case twice
        client = ChatClient(make_transport(kind, TransportOptions(f"{server}/{case}", timeout_s=10, connect_timeout_s=2)))
        recs = [client.chat(ChatRequest("m", [{"role": "user", "content": "q"}], max_tokens=8)) for _ in range(2)]
        client.close()
        for rec in recs:
            assert rec.outcome in OUTCOMES
            got[case] = (rec.outcome, rec.error_key)
            assert (rec.outcome, rec.error_key) == expected, (case, rec.outcome, rec.error_key)
            if check is not None:
                assert check(rec), (case, rec)
    assert Handler.served == {case: 2 for case in CASES}  # every request reached the server and was recorded once
    print(kind, json.dumps(got))


@pytest.mark.parametrize("kind", ["fasthttp", "httpx"])
def test_one_connection_survives_a_sequence_of_malformed_responses(server, kind):
    """Cases that end cleanly keep the keep-alive connection usable; the next good answer is ok."""
    for case in ("truncated_json", "usage_missing", "error_object_mid_stream", "html_500", "giant_single_event",
                 "usage_missing"):
        client = ChatClient(make_transport(kind, TransportOptions(f"{server}/{case}", timeout_s=10, connect_timeout_s=2)))
        first = client.chat(ChatRequest("m", [{"role": "user", "content": "q"}]))
        again = client.chat(ChatRequest("m", [{"role": "user", "content": "q"}]))
        client.close()
        assert (first.outcome, first.error_key) == (again.outcome, again.error_key) == CASES[case][3]
