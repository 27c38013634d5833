"""What each hostile-gateway behaviour must become in loadkit: one row per behaviour (both hostile tests use it)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from loadkit.core.redact import REDACTED
from tests.support.hostile_behaviours import IDLE_CLOSE_S
from tests.support.hostile_wire import TOKENS

__all__ = ["ANSWER", "BACKOFF_CAP_S", "KEY", "ROWS", "TIMEOUT_S", "TIMEOUT_SLACK_S", "Row"]

KEY = "sk-hostile-9f8e7d6c5b4a39281706"
TIMEOUT_S = 1.5
TIMEOUT_SLACK_S = 0.5  # the bound of a timeout: at the deadline, at most this late (never early)
BACKOFF_CAP_S = 0.2
ANSWER = "".join(TOKENS)


@dataclass(frozen=True)
class Row:
    outcome: str
    key: str | None = None
    tokens: int | None = None  # output_tokens (None: not pinned, e.g. how much of a reset stream arrived)
    usage: bool | None = None  # usage_reported
    finish: str | None = None
    slow: bool = False  # ends at the attempt's deadline
    retry_after_s: float | None | str = "n/a"  # for 429 rows: the hint kept (capped at BACKOFF_CAP_S), or None
    content: str | None = None  # with keep_content=True
    hold_s: float = 0.0  # idle time before the next request (a proxy's idle keep-alive close)


OK = Row("ok", tokens=5, usage=True, finish="stop", content=ANSWER)
RATE_LIMITED = Row("rate_limited", "http_429:rate_limit_exceeded", tokens=0)

ROWS: dict[str, Row] = {
    "healthy": OK,
    "healthy-json": OK,
    "key-sse-code": Row("in_stream_error", f"error_event:{REDACTED}"),
    "key-http-code": Row("client_error", f"http_400:{REDACTED}", tokens=0),
    "key-http-type": Row("upstream_error", f"http_500:{REDACTED}", tokens=0),
    "key-header": OK,
    "key-reason-phrase": Row("client_error", "http_400:invalid_request_error", tokens=0),
    "key-finish-reason": Row("ok", tokens=5, usage=True, finish=REDACTED),
    "401-key-message": Row("client_error", "http_401:invalid_api_key", tokens=0),
    "key-content": Row("ok", tokens=5, usage=True, finish="stop", content=f"your key is {REDACTED} ok.!"),
    "trickle": Row("timeout", "timeout", slow=True),
    "headers-then-silence": Row("timeout", "timeout", slow=True),
    "no-headers": Row("timeout", "timeout", slow=True),
    "slow-tokens": Row("timeout", "timeout", slow=True),  # each event in time, the whole answer not
    "after-done": OK,  # the usage of 999 and the token after [DONE] do not count
    "ping-no-data": OK,
    "comments": OK,
    "mixed-case-type": OK,
    "bom": OK,
    "crlf": OK,
    "cr": OK,
    "no-space-after-colon": OK,
    "multi-line-data": OK,
    "utf8-split": Row("ok", tokens=5, usage=True, finish="stop", content=" h\u00e9llo \u20ac \U0001f600 \u00fcber"),
    "usage-with-choices": OK,
    "no-usage": Row("ok", tokens=5, usage=False, finish="stop", content=ANSWER),
    "usage-as-string": Row("ok", tokens=5, usage=False, finish="stop", content=ANSWER),  # not a count: events
    "double-done": OK,
    "reasoning": Row("ok", tokens=5, usage=True, finish="stop"),
    "done-without-blank-line": OK,
    "content-filter": Row("content_filter", "finish_content_filter", tokens=2, finish="content_filter"),
    "length": Row("ok", tokens=5, usage=True, finish="length"),
    "truncated": Row("in_stream_error", "stream_ended_early", tokens=5, usage=False),
    "non-json-data": Row("in_stream_error", "invalid_json_event"),
    "error-event": Row("in_stream_error", "error_event"),
    "error-chunk": Row("in_stream_error", "error_event:server_overloaded"),
    "event-1mib": Row("ok", tokens=1, usage=True, finish="stop"),
    "event-2mib": Row("ok", tokens=1, usage=True, finish="stop"),
    "event-4mib": Row("ok", tokens=1, usage=True, finish="stop"),
    "event-8mib": Row("ok", tokens=1, usage=True, finish="stop"),  # just under the 8 MiB bound
    "event-9mib": Row("in_stream_error", "event_too_large", tokens=0),
    "gzip": OK,
    "gzip-json": OK,
    "deflate": OK,
    "deflate-raw": OK,
    "br": OK,
    "unknown-encoding": Row("upstream_error", "http_200:content_encoding:x-hostile", tokens=0),
    "short-length": Row("upstream_error", "http_200:bad_framing"),
    "short-length-json": Row("upstream_error", "http_200:bad_framing", tokens=0),
    "long-length-then-close": Row("in_stream_error", "stream_broken"),
    "http10": OK,
    "connection-close": OK,
    "keepalive-close": OK,
    "idle-close": Row("ok", tokens=5, usage=True, finish="stop", hold_s=IDLE_CLOSE_S + 0.3),
    "huge-chunk": Row("ok", tokens=2000, usage=True, finish="stop"),
    "chunk-extensions": OK,
    "chunked-trailer": OK,
    "interim-100": OK,
    "bad-chunk-size": Row("upstream_error", "http_200:bad_framing"),  # tokens before it: fasthttp loses them
    "te-and-length": Row("upstream_error", "http_200:bad_framing", tokens=0),
    "huge-headers": OK,
    "stray-crlf": OK,  # an ignorable empty line after the body: the answer stands (the connection is dropped)
    "done-only": Row("in_stream_error", "done_without_chunks", tokens=0),
    "cut-mid-stream": Row("in_stream_error", "stream_broken", tokens=2, usage=False),
    "reset-mid-stream": Row("in_stream_error", "stream_broken"),  # how much arrived before the RST varies
    "502-html": Row("upstream_error", "http_502", tokens=0),
    "503-retry-after": Row("upstream_error", "http_503:overloaded", tokens=0),
    "200-empty": Row("in_stream_error", "no_events", tokens=0),
    "200-empty-json": Row("upstream_error", "invalid_json", tokens=0),
    "200-error-json": Row("upstream_error", "http_200:upstream_timeout", tokens=0),
    "401": Row("client_error", "http_401:invalid_api_key", tokens=0),
    "404": Row("client_error", "http_404:model_not_found", tokens=0),
    "400": Row("client_error", "http_400:context_length_exceeded", tokens=0),
    "retry-after-1e9": replace(RATE_LIMITED, retry_after_s=None),
    "retry-after-1.5": replace(RATE_LIMITED, retry_after_s=None),
    "retry-after-date": replace(RATE_LIMITED, retry_after_s=BACKOFF_CAP_S),
    "retry-after-ms": replace(RATE_LIMITED, retry_after_s=0.15),
    "ratelimit-reset": replace(RATE_LIMITED, retry_after_s=BACKOFF_CAP_S),
}

# (transport, behaviour) -> why loadkit still gets it wrong. The client test expects these to fail (once
# fixed, they XPASS: remove the entry); the run test leaves them out of that transport's mix.
KNOWN_MISHANDLED: dict[tuple[str, str], str] = {}  # (client, behaviour) -> why; none left
