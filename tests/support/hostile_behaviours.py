"""The misbehaviours of the hostile gateway (tests/support/hostile.py), one function each.

A behaviour gets a :class:`Reply` (the raw socket of one request, with counters) and writes whatever bytes
it likes. It returns True to keep the connection open for the next request, False to close it. Every byte
goes through ``Reply.write``, which counts it; a token event is written with ``tokens=1`` and the usage that
a correct client must count (the last one before ``[DONE]``) is declared with ``Reply.usage``.

The behaviours are what real gateways and proxies were seen doing (issue #14): the API key echoed back, a
1 byte/s trickle, data after ``[DONE]``, a wrong Content-Length, encodings nobody asked for, SSE oddities
that the WHATWG rules allow, absurd Retry-After values, huge events, broken connections.
"""

from __future__ import annotations

import functools
import gzip
import socket
import struct
import time
import zlib
from collections.abc import Callable
from email.utils import formatdate

import brotli

from tests.support.hostile_wire import (
    SSE_HEADERS,
    TOKENS,
    Reply,
    answer,
    chunk,
    error_body,
    event,
    stream,
    whole_answer,
)

__all__ = ["BEHAVIOURS", "IDLE_CLOSE_S"]

IDLE_CLOSE_S = 0.5  # hostile-idle-close: a kept-alive connection idle this long is closed by the "proxy"
SILENCE_MAX_S = 60.0  # how long the silent behaviours wait for the client to give up


def wait_for_client_to_leave(r: Reply) -> None:
    """Send nothing more and hold the connection until the client closes it (its timeout)."""
    r.sock.settimeout(SILENCE_MAX_S)
    try:
        while r.sock.recv(4096):
            pass
    except OSError:
        pass


def encoded(r: Reply, name: str, compress: Callable[[bytes], bytes], as_stream: bool = True) -> bool:
    if as_stream:
        parts = answer(r)
        body = compress(b"".join(p for p, _ in parts))
        r.head(200, {**SSE_HEADERS, "Content-Encoding": name}, framing="chunked")
        r.part(body, sum(t for _, t in parts))
        r.end()
        return True
    return r.whole(200, compress(whole_answer(r)), {"Content-Encoding": name})


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


def line_ends(parts, end: bytes):
    return [(p.replace(b"\n", end), t) for p, t in parts]


def utf8_split(r: Reply) -> bool:
    # Every multi-byte character is cut in two by a chunk boundary, and each half is flushed on its own.
    tokens = (" h\u00e9", "llo \u20ac", " \U0001f600", " \u00fc", "ber")
    r.head(200, SSE_HEADERS)
    for data, count in answer(r, tokens):
        cut = next((i for i, b in enumerate(data) if b >= 0xC0), None)
        if cut is None:
            r.part(data, count)
        else:
            r.part(data[:cut + 1], count)
            time.sleep(0.005)  # its own TCP segment
            r.part(data[cut + 1:])
    r.end()
    return True


def trickle(r: Reply) -> bool:
    r.head(200, SSE_HEADERS)
    for data, tokens in answer(r):
        for i in range(len(data)):
            r.part(data[i:i + 1], tokens if i == len(data) - 1 else 0)
            time.sleep(1.0)
    r.end()
    return True


def reset(r: Reply) -> bool:
    r.head(200, SSE_HEADERS)
    for data, tokens in answer(r)[:3]:
        r.part(data, tokens)
    time.sleep(0.02)
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    r.sock.close()
    return False


def cut(r: Reply) -> bool:
    r.head(200, SSE_HEADERS)
    for data, tokens in answer(r)[:3]:
        r.part(data, tokens)
    return False  # closed without the last chunk: the body never ends


def headers_then_silence(r: Reply) -> bool:
    r.head(200, SSE_HEADERS)
    wait_for_client_to_leave(r)
    return False


def no_headers(r: Reply) -> bool:
    wait_for_client_to_leave(r)
    return False


def after_done(r: Reply) -> bool:
    parts = answer(r)
    parts += [(event(chunk(" more")), 0), (event(chunk(usage=999, choices=False)), 0), (b"data: [DONE]\n\n", 0)]
    return stream(r, parts)


def short_length(r: Reply, as_stream: bool) -> bool:
    body = b"".join(p for p, _ in answer(r)) if as_stream else whole_answer(r)
    headers = SSE_HEADERS if as_stream else {"Content-Type": "application/json"}
    r.head(200, headers, framing="length", length=len(body) - 20)
    r.write(body, len(TOKENS))
    return True


def long_length(r: Reply) -> bool:
    body = b"".join(p for p, _ in answer(r))
    r.head(200, SSE_HEADERS, framing="length", length=len(body) + 20)
    r.write(body, len(TOKENS))
    return False


@functools.lru_cache(maxsize=8)
def _big_body(mib: int) -> bytes:
    # built once per size: the gateway's own CPU must not be what slows a run down
    parts = answer(Reply(None, "", True), ("x" * (mib * 1024 * 1024 - 1024),))
    events = b"".join(p for p, _ in parts)
    return f"{len(events):x}\r\n".encode() + events + b"\r\n0\r\n\r\n"  # one chunk, then the last


def big_event(r: Reply, mib: int) -> bool:
    # One token event of ``mib`` MiB on the wire (a tool call or an image answer, all at once); 8 MiB stays
    # just under loadkit's bound on one event (DEFAULT_MAX_EVENT_BYTES), 9 MiB is over it.
    r.head(200, SSE_HEADERS)
    r.write(_big_body(mib), 1)
    r.usage(1)
    return True


def interleaved(r: Reply, extra: bytes, every: int = 1) -> bool:
    parts = answer(r)
    out = []
    for i, part in enumerate(parts):
        out.append(part)
        if i % every == 0:
            out.append((extra, 0))
    return stream(r, out)


def huge_chunk(r: Reply) -> bool:
    tokens = tuple(f" t{i}" for i in range(2000))
    parts = answer(r, tokens)
    r.head(200, SSE_HEADERS)
    r.part(b"".join(p for p, _ in parts), len(tokens))
    r.end()
    return True


def too_many_requests(r: Reply, headers: dict[str, str]) -> bool:
    return r.whole(429, error_body("Rate limit reached", "requests", "rate_limit_exceeded"), headers)


def idle_close(r: Reply) -> bool:
    stream(r, answer(r))
    r.sock.settimeout(IDLE_CLOSE_S)
    return True  # the server loop closes it when no request comes within IDLE_CLOSE_S


def mid_stream(r: Reply, bad: bytes) -> bool:
    parts = answer(r)
    return stream(r, parts[:3] + [(bad, 0)] + parts[3:])


def usage_with_choices(r: Reply) -> bool:
    # usage in the same chunk as the finish_reason, with a choice (not the "choices": [] chunk)
    parts = answer(r, usage=False, done=False)[:-1]
    parts.append((event(chunk(finish="stop", usage=len(TOKENS))), 0))
    r.usage(len(TOKENS))
    return stream(r, parts + [(b"data: [DONE]\n\n", 0)])


def chunked_trailer(r: Reply) -> bool:
    r.head(200, {**SSE_HEADERS, "Trailer": "X-Hostile-Trailer"})
    for data, tokens in answer(r):
        r.part(data, tokens)
    r.end("X-Hostile-Trailer: 1\r\n")
    return True


def interim_100(r: Reply) -> bool:
    r.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # an interim response some proxies send, then the real one
    r.head(200, SSE_HEADERS)
    time.sleep(0.1)  # the body comes later than the headers, as from a model (not in the headers' read)
    for data, tokens in answer(r):
        r.part(data, tokens)
    r.end()
    return True


def bad_chunk_size(r: Reply) -> bool:
    r.head(200, SSE_HEADERS)
    parts = answer(r)
    for data, tokens in parts[:3]:
        r.part(data, tokens)
    r.write(b"zz\r\n" + parts[3][0] + b"\r\n")  # not a hex size: the framing is broken from here
    return False


def te_and_length(r: Reply) -> bool:
    # Both framings (RFC 9112 6.3: Transfer-Encoding wins; a request smuggling classic)
    parts = answer(r)
    r.head(200, {**SSE_HEADERS, "Content-Length": "17"})
    for data, tokens in parts:
        r.part(data, tokens)
    r.end()
    return False


def slow_tokens(r: Reply) -> bool:
    # every event in time for a per-read timeout, the whole answer not in time for the attempt's deadline
    r.head(200, SSE_HEADERS)
    for data, tokens in answer(r):
        r.part(data, tokens)
        time.sleep(0.6)  # 7 events: 4.2 s, past both tests' deadlines (1.5 s, 3 s), each gap far inside them
    r.end()
    return True


def sse_error(code: Callable[[Reply], str]) -> Callable[[Reply], bool]:
    return lambda r: mid_stream(r, event({"error": {"message": "upstream failed", "type": "server_error",
                                                     "code": code(r)}}))


BEHAVIOURS: dict[str, Callable[[Reply], bool]] = {
    "healthy": lambda r: stream(r, answer(r)),
    "healthy-json": lambda r: r.whole(200, whole_answer(r)),
    # the API key echoed back, everywhere a gateway can put it
    "key-sse-code": sse_error(lambda r: r.key),
    "key-http-code": lambda r: r.whole(400, error_body("bad key", "invalid_request_error", r.key)),
    "key-http-type": lambda r: r.whole(500, error_body(f"key {r.key} failed", r.key, None)),
    "key-header": lambda r: stream(r, answer(r), {"X-Echo-Key": r.key, "Set-Cookie": f"k={r.key}"}),
    "key-reason-phrase": lambda r: r.whole(400, error_body("no", "invalid_request_error", None), reason=r.key),
    "key-finish-reason": lambda r: stream(r, answer(r, finish=r.key)),
    "401-key-message": lambda r: r.whole(401, error_body(f"Incorrect API key provided: {r.key}.",
                                                         "invalid_request_error", "invalid_api_key")),
    "key-content": lambda r: stream(r, answer(r, ("your key is ", r.key, " ok", ".", "!"))),
    # time
    "trickle": trickle,
    "headers-then-silence": headers_then_silence,
    "no-headers": no_headers,
    "slow-tokens": slow_tokens,
    # stream semantics
    "after-done": after_done,
    "ping-no-data": lambda r: interleaved(r, b"event: ping\n\n"),
    "comments": lambda r: interleaved(r, b": keep-alive\n\n: OPENROUTER PROCESSING\n\n"),
    "mixed-case-type": lambda r: stream(r, answer(r), {"Content-Type": "Text/Event-Stream; charset=utf-8"}),
    "bom": lambda r: stream(r, [(b"\xef\xbb\xbf", 0)] + answer(r)),
    "crlf": lambda r: stream(r, line_ends(answer(r), b"\r\n")),
    "cr": lambda r: stream(r, line_ends(answer(r), b"\r")),
    "no-space-after-colon": lambda r: stream(r, [(p.replace(b"data: ", b"data:"), t) for p, t in answer(r)]),
    "multi-line-data": lambda r: stream(r, [(p.replace(b', "', b',\ndata: "'), t) for p, t in answer(r)]),
    "utf8-split": utf8_split,
    "usage-with-choices": usage_with_choices,
    "no-usage": lambda r: stream(r, answer(r, usage=False)),
    "usage-as-string": lambda r: stream(r, [(p.replace(b'"completion_tokens": 5', b'"completion_tokens": "5"'), t)
                                            for p, t in answer(r, usage=False)] + [
        (event(chunk(choices=False) | {"usage": {"prompt_tokens": "7", "completion_tokens": "5"}}), 0),
        (b"data: [DONE]\n\n", 0)]),
    "double-done": lambda r: stream(r, answer(r) + [(b"data: [DONE]\n\n", 0)]),
    "reasoning": lambda r: stream(r, answer(r, field="reasoning_content")),
    "done-without-blank-line": lambda r: stream(r, answer(r)[:-1] + [(b"data: [DONE]", 0)]),
    "content-filter": lambda r: stream(r, answer(r, ("I", " cannot"), finish="content_filter")),
    "length": lambda r: stream(r, answer(r, finish="length")),
    "truncated": lambda r: stream(r, answer(r, usage=False, done=False)[:-1]),
    "non-json-data": lambda r: mid_stream(r, b"data: upstream hiccup, not json\n\n"),
    "error-event": lambda r: mid_stream(r, b"event: error\ndata: {\"message\": \"overloaded\"}\n\n"),
    "error-chunk": sse_error(lambda r: "server_overloaded"),
    "event-1mib": lambda r: big_event(r, 1),
    "event-2mib": lambda r: big_event(r, 2),
    "event-4mib": lambda r: big_event(r, 4),
    "event-8mib": lambda r: big_event(r, 8),
    "event-9mib": lambda r: big_event(r, 9),
    # encodings nobody asked for (accept-encoding: identity was sent)
    "gzip": lambda r: encoded(r, "gzip", gzip.compress),
    "gzip-json": lambda r: encoded(r, "gzip", gzip.compress, as_stream=False),
    "deflate": lambda r: encoded(r, "deflate", zlib.compress),
    "deflate-raw": lambda r: encoded(r, "deflate", raw_deflate),
    "br": lambda r: encoded(r, "br", brotli.compress),
    "unknown-encoding": lambda r: encoded(r, "x-hostile", lambda b: b[::-1]),
    # framing
    "short-length": lambda r: short_length(r, True),
    "short-length-json": lambda r: short_length(r, False),
    "long-length-then-close": long_length,
    "http10": lambda r: stream(r, answer(r), framing="close", version="HTTP/1.0"),
    "connection-close": lambda r: stream(r, answer(r), {"Connection": "close"}, framing="close"),
    "keepalive-close": lambda r: stream(r, answer(r)) and False,  # closed right after, no Connection: close
    "idle-close": idle_close,
    "huge-chunk": huge_chunk,
    "chunk-extensions": lambda r: stream(r, answer(r), ext=";hostile=1;x=\"y\""),
    "chunked-trailer": chunked_trailer,
    "interim-100": interim_100,
    "bad-chunk-size": bad_chunk_size,
    "te-and-length": te_and_length,
    "huge-headers": lambda r: stream(r, answer(r), {f"X-Pad-{i}": "p" * 1000 for i in range(40)}),
    "stray-crlf": lambda r: r.whole(200, whole_answer(r)) and r.write(b"\r\n") is None,  # RFC 9112 2.2: ignorable
    "done-only": lambda r: stream(r, [(b"data: [DONE]\n\n", 0)]),
    "cut-mid-stream": cut,
    "reset-mid-stream": reset,
    # status codes and bodies
    "502-html": lambda r: r.whole(502, b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
                                  {"Content-Type": "text/html"}),
    "503-retry-after": lambda r: r.whole(503, error_body("overloaded", "server_error", "overloaded"),
                                         {"Retry-After": "1"}),
    "200-empty": lambda r: stream(r, []),
    "200-empty-json": lambda r: r.whole(200, b""),
    "200-error-json": lambda r: r.whole(200, error_body("upstream timeout", "server_error", "upstream_timeout")),
    "401": lambda r: r.whole(401, error_body("Invalid API key", "invalid_request_error", "invalid_api_key")),
    "404": lambda r: r.whole(404, error_body("The model does not exist", "invalid_request_error", "model_not_found")),
    "400": lambda r: r.whole(400, error_body("too long", "invalid_request_error", "context_length_exceeded")),
    # 429 hints: only delay-seconds digits, HTTP-date, retry-after-ms and x-ratelimit-reset-* are hints
    "retry-after-1e9": lambda r: too_many_requests(r, {"Retry-After": "1e9"}),
    "retry-after-1.5": lambda r: too_many_requests(r, {"Retry-After": "1.5"}),
    "retry-after-date": lambda r: too_many_requests(r, {"Retry-After": formatdate(time.time() + 3600, usegmt=True)}),
    "retry-after-ms": lambda r: too_many_requests(r, {"retry-after-ms": "150"}),
    "ratelimit-reset": lambda r: too_many_requests(r, {"x-ratelimit-reset-requests": "6m0s"}),
}
