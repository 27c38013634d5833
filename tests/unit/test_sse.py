"""The SSE decoder gives the same events however the bytes are split."""

import pytest

from loadkit.protocol.sse import ServerSentEvent as E
from loadkit.protocol.sse import SSEDecoder, SSEError

STREAM = (
    b": keep-alive comment\n"
    b"data: {\"a\": 1}\n\n"
    b"event: error\ndata: {\"error\": {\"code\": \"x\"}}\n\n"
    b"id: 7\nretry: 1500\ndata: line one\ndata: line two\n\n"
    b"data:no-space\n\n"
    b"data\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    E('{"a": 1}'),
    E('{"error": {"code": "x"}}', event="error"),
    E("line one\nline two", id="7", retry=1500),
    E("no-space", id="7", retry=1500),
    E("", id="7", retry=1500),
    E("[DONE]", id="7", retry=1500),
]


def decode(chunks):
    d = SSEDecoder()
    out = []
    for c in chunks:
        out.extend(d.feed(c))
    out.extend(d.close())
    return out


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_whole_stream_with_each_line_ending(eol):
    assert decode([STREAM.replace(b"\n", eol)]) == EXPECTED


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_byte_by_byte(eol):
    s = STREAM.replace(b"\n", eol)
    assert decode([s[i : i + 1] for i in range(len(s))]) == EXPECTED


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_split_at_every_offset(eol):
    s = STREAM.replace(b"\n", eol)
    for i in range(len(s) + 1):
        assert decode([s[:i], s[i:]]) == EXPECTED, f"split at {i}"


def test_crlf_split_between_chunks_is_one_line_end():
    assert decode([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [E("a"), E("b")]


def test_missing_trailing_newline_still_dispatches_at_close():
    assert decode([b"data: {\"x\":1}\n\ndata: [DONE]"]) == [E('{"x":1}'), E("[DONE]")]


def test_event_without_blank_line_before_close_is_dispatched():
    d = SSEDecoder()
    assert d.feed(b"data: partial\n") == []
    assert d.close() == [E("partial")]


def test_comment_only_stream_gives_no_events():
    assert decode([b": ping\n\n: ping\n\n"]) == []


def test_utf8_split_inside_a_character():
    payload = "data: héllo ✓\n\n".encode()
    for i in range(len(payload) + 1):
        assert decode([payload[:i], payload[i:]]) == [E("héllo ✓")]


def test_oversized_line_is_an_error_not_unbounded_memory():
    d = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(SSEError, match="longer than 1024"):
        d.feed(b"data: " + b"x" * 5000)


def test_oversized_event_over_many_lines_is_an_error():
    d = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(SSEError):
        for _ in range(100):
            d.feed(b"data: " + b"x" * 100 + b"\n")


def test_id_with_nul_is_ignored():
    assert decode([b"id: a\0b\ndata: x\n\n"]) == [E("x")]


def test_event_with_an_empty_data_buffer_is_not_dispatched():
    # WHATWG: "event: ping" with no data line is not an event; a "data:" line with no value is
    assert decode([b"event: ping\n\n: c\n\nevent: ping\nid: 3\n\ndata: x\n\n"]) == [E("x", id="3")]
    assert decode([b"event: ping\ndata:\n\n"]) == [E("", event="ping")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_leading_bom_is_stripped_however_the_stream_is_split(eol):
    s = b"\xef\xbb\xbf" + STREAM.replace(b"\n", eol)
    for i in range(len(s) + 1):
        assert decode([s[:i], s[i:]]) == EXPECTED, f"split at {i}"
    assert decode([s[i : i + 1] for i in range(len(s))]) == EXPECTED


def test_bom_only_at_the_start_and_a_short_stream_that_looks_like_one_survives():
    assert decode([b"data: \xef\xbb\xbfx\n\n"]) == [E("\ufeffx")]
    assert decode([b"\xef"]) == []  # two-thirds of a BOM then EOF: nothing, no crash


def test_one_huge_event_arriving_in_small_reads_is_decoded_once_and_whole():
    payload = b"y" * (3 * 1024 * 1024)
    stream = b"data: " + payload + b"\n\ndata: [DONE]\n\n"
    d = SSEDecoder()
    out = []
    for i in range(0, len(stream), 65536):
        out.extend(d.feed(stream[i : i + 65536]))
    out.extend(d.close())
    assert [len(e.data) for e in out] == [len(payload), 6]


def test_event_over_the_bound_raises_event_too_large():
    from loadkit.protocol.sse import SSEEventTooLarge

    d = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(SSEEventTooLarge):
        for _ in range(20):
            d.feed(b"data: " + b"z" * 100)
