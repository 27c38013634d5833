"""Every hostile-gateway behaviour, through ``ChatClient`` on both transports, against the real fixture process.

One row per behaviour (tests/support/hostile_behaviours.py): the outcome and error key it must get, the
tokens it must count, its time bound, and what the gateway must have seen (exactly one request per
``chat``: a transport that silently re-sends a POST shows up here). One client per transport serves every
row in turn, and after each row the same client asks a healthy model: a framing error, a reset or an
encoding must not poison the pooled connection for the next request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest

from loadkit.client.chat import ChatClient, ChatRequest
from loadkit.client.retry import RetryPolicy
from loadkit.core.redact import REDACTED
from loadkit.transport import TransportOptions, make_transport
from tests.support.hostile import HostileProcess, model_of
from tests.support.hostile_behaviours import BEHAVIOURS, IDLE_CLOSE_S, TOKENS
from tests.support.waits import hold_for

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
    "key-401-message": Row("client_error", "http_401:invalid_api_key", tokens=0),
    "key-content": Row("ok", tokens=5, usage=True, finish="stop", content=f"your key is {REDACTED} ok.!"),
    "trickle": Row("timeout", "timeout", slow=True),
    "headers-then-silence": Row("timeout", "timeout", slow=True),
    "no-headers": Row("timeout", "timeout", slow=True),
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
    "reasoning": Row("ok", tokens=5, usage=True, finish="stop"),
    "done-without-blank-line": OK,
    "content-filter": Row("content_filter", "finish_content_filter", tokens=2, finish="content_filter"),
    "length": Row("ok", tokens=5, usage=True, finish="length"),
    "truncated": Row("in_stream_error", "stream_ended_early", tokens=5, usage=False),
    "non-json-data": Row("in_stream_error", "invalid_json_event"),
    "error-event": Row("in_stream_error", "error_event"),
    "error-chunk": Row("in_stream_error", "error_event:server_overloaded"),
    "event-2mib": Row("ok", tokens=1, usage=True, finish="stop"),
    "event-4mib": Row("ok", tokens=1, usage=True, finish="stop"),
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


@pytest.fixture(scope="module")
def gateway():
    with HostileProcess() as gw:
        yield gw


@pytest.fixture(scope="module", params=["fasthttp", "httpx"])
def client(request, gateway):
    c = ChatClient(make_transport(request.param, TransportOptions(gateway.base_url, timeout_s=TIMEOUT_S)),
                   api_key=KEY)
    yield c
    c.close()


def ask(model: str, **kw) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "hello"}], keep_content=True, **kw)


def requests_seen(gateway: HostileProcess, model: str) -> int:
    return gateway.stats().get(model, {}).get("requests", 0)


def test_the_table_has_one_row_per_behaviour_and_there_are_at_least_40():
    assert set(ROWS) == set(BEHAVIOURS)
    assert len(BEHAVIOURS) >= 40


def test_the_gateway_lists_every_hostile_model(gateway):
    import httpx

    listed = {m["id"] for m in httpx.get(gateway.base_url + "/models", timeout=5).json()["data"]}
    assert listed == {model_of(b) for b in BEHAVIOURS}


@pytest.mark.parametrize("behaviour", list(ROWS))
def test_behaviour_gets_its_outcome_and_leaves_the_next_request_unharmed(gateway, client, behaviour):
    row, model = ROWS[behaviour], model_of(behaviour)
    before = requests_seen(gateway, model)
    if row.retry_after_s != "n/a":
        attempts = client.chat_with_retries(ask(model), RetryPolicy("respect", max_retries=1,
                                                                    max_backoff_s=BACKOFF_CAP_S),
                                            rng=random.Random(1))
        assert [a.final for a in attempts] == [False, True]
        assert [a.retry_after_s for a in attempts] == [row.retry_after_s] * 2  # capped for accounting too
        assert requests_seen(gateway, model) - before == 2
        rec = attempts[-1]
    else:
        rec = client.chat(ask(model))
        assert requests_seen(gateway, model) - before == 1, "the transport re-sent the request"
    assert (rec.outcome, rec.error_key) == (row.outcome, row.key), rec
    if row.tokens is not None:
        assert rec.output_tokens == row.tokens
    if row.usage is not None:
        assert rec.usage_reported is row.usage
    if row.finish is not None:
        assert rec.finish_reason == row.finish
    if row.content is not None:
        assert rec.content == row.content
    assert KEY not in repr(rec)
    elapsed_s = rec.done_at - rec.sent_at
    if row.slow:
        assert TIMEOUT_S - 0.01 <= elapsed_s <= TIMEOUT_S + TIMEOUT_SLACK_S, elapsed_s
    else:
        assert 0 <= elapsed_s < TIMEOUT_S, elapsed_s  # ended by itself, well before the deadline
    if row.hold_s:
        hold_for(row.hold_s, "idle past the gateway's keep-alive idle close")
    healthy_before = requests_seen(gateway, "hostile-healthy")
    nxt = client.chat(ask("hostile-healthy"))
    assert (nxt.outcome, nxt.error_key, nxt.output_tokens, nxt.content) == ("ok", None, 5, ANSWER), nxt
    assert requests_seen(gateway, "hostile-healthy") - healthy_before == 1
