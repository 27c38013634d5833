"""The chat-stream parser gives the same facts however the bytes are split (tested the way h11 is)."""

import json

import pytest

from loadkit.protocol.chat_stream import ChatStream


def ev(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def delta(text=None, finish=None, **extra):
    d = {} if text is None else {"content": text}
    d.update(extra)
    return ev({"choices": [{"index": 0, "delta": d, "finish_reason": finish}]})


USAGE = ev({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}})
STREAM = (
    "\ufeff".encode() + b": comment\n\n" + delta(role="assistant") + delta("Hel") + b"event: ping\n\n"
    + delta("lo ✓") + delta(reasoning_content="think") + delta(finish="stop") + USAGE + b"data: [DONE]\n\n"
    # after [DONE]: nothing counts (a second usage chunk, more tokens, an error)
    + ev({"choices": [], "usage": {"completion_tokens": 999}}) + delta("late") + ev({"error": {"code": "x"}})
)


def parse(chunks, keep_content=True):
    p = ChatStream(keep_content=keep_content)
    for i, c in enumerate(chunks):
        p.feed(c, float(i))
    p.close(float(len(chunks)))
    return p


def facts(p: ChatStream):
    return (len(p.token_times), p.usage, p.finish_reason, p.error_key, p.done, p.text, p.verdict())


EXPECTED = (3, {"prompt_tokens": 4, "completion_tokens": 3}, "stop", None, True, "Hello ✓think", None)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_whole_byte_by_byte_and_split_at_every_offset_give_the_same_facts(eol):
    s = STREAM.replace(b"\n", eol)
    assert facts(parse([s])) == EXPECTED
    assert facts(parse([s[i : i + 1] for i in range(len(s))])) == EXPECTED
    for i in range(len(s) + 1):
        assert facts(parse([s[:i], s[i:]])) == EXPECTED, f"split at {i}"


def test_token_times_are_the_arrival_times_of_the_chunks_that_carried_them():
    p = ChatStream()
    p.feed(delta(role="assistant"), 1.0)
    p.feed(delta("a") + delta("b"), 2.0)
    p.feed(delta("c")[:10], 3.0)
    p.feed(delta("c")[10:] + b"data: [DONE]\n\n", 4.0)
    assert (p.first_event_at, p.token_times, p.done) == (1.0, [2.0, 2.0, 4.0], True)


def test_nothing_after_done_counts_not_even_a_bigger_usage():
    p = parse([delta("a") + USAGE + b"data: [DONE]\n\n" + ev({"choices": [], "usage": {"completion_tokens": 999}})])
    assert p.usage["completion_tokens"] == 3 and len(p.token_times) == 1


@pytest.mark.parametrize("body, key", [
    (delta("a") + ev({"error": {"code": "overloaded"}}), "error_event:overloaded"),
    (delta("a") + ev({"error": {"type": "server_error"}}), "error_event:server_error"),
    (delta("a") + ev({"error": "boom"}), "error_event"),
    (delta("a") + b"event: error\ndata: upstream died\n\n", "error_event"),
    (b"data: {not json\n\n", "invalid_json_event"),
    (b'data: {"choices": [null]}\n\n', "invalid_chunk"),
    (b'data: {"choices": [{"delta": 5}]}\n\n', "invalid_chunk"),
    (ev({"error": {"code": "sk-live-abcdef123456"}}), "error_event:<redacted>"),
    (ev({"error": {"code": "bad code/with spaces\u00e9" * 9}}), "error_event:" + ("bad_code_with_spaces_" * 4)[:64]),
])
def test_in_stream_errors_have_stable_bounded_keys(body, key):
    p = parse([body + b"data: [DONE]\n\n"])
    assert p.verdict() == ("in_stream_error", key)


def test_configured_secret_in_an_error_code_is_redacted():
    p = ChatStream(secrets=("hunter2-secret",))
    p.feed(ev({"error": {"code": "hunter2-secret"}}), 0.0)
    assert p.error_key == "error_event:<redacted>"


def test_an_event_over_the_bound_is_event_too_large_and_stops_parsing():
    p = ChatStream(max_event_bytes=1000)
    p.feed(delta("a"), 0.0)
    for i in range(20):
        p.feed(b"data: " + b"x" * 100 if i == 0 else b"x" * 100, 1.0)
    assert p.failed and p.verdict() == ("in_stream_error", "event_too_large")
    p.feed(delta("b"), 2.0)
    assert len(p.token_times) == 1


@pytest.mark.parametrize("body, verdict", [
    (b"", ("in_stream_error", "no_events")),
    (b": only comments\n\nevent: ping\n\n", ("in_stream_error", "no_events")),
    (delta("a"), ("in_stream_error", "stream_ended_early")),
    (delta("a", finish="stop"), None),  # finish without [DONE]: complete
    (delta("a") + b"data: [DONE]", None),  # [DONE] without its blank line
    (b"data: [DONE]\n\n", ("in_stream_error", "done_without_chunks")),  # no answer, not an empty success
    (b": ping\n\ndata: [DONE]\n\n", ("in_stream_error", "done_without_chunks")),
])
def test_end_of_stream_verdicts(body, verdict):
    assert parse([body]).verdict() == verdict


def test_finish_reason_is_a_safe_label():
    assert parse([delta("a", finish="content_filter")]).finish_reason == "content_filter"
    assert parse([delta("a", finish="sk-live-0123456789abcdef")]).finish_reason == "<redacted>"
    assert parse([delta("a", finish=7)]).finish_reason == "7"
