"""Chat client: one ``/v1/chat/completions`` request -> one RequestRecord.

Timing is recorded here once, the same way for every transport: ``sent_at``
just before the request is handed to the transport, ``headers_at`` when it
returns, and, per body chunk, the arrival time of that chunk for every SSE
event parsed out of it. The first token is the first event whose delta has
non-empty ``content`` or ``reasoning_content`` (the role-only opening chunk
is not a token). The body is always read to its end so the connection can
be reused.

Kernel receive times: a response with ``arrived_at`` (the gevent transport on
plain TCP, :mod:`loadkit.transport.gevent_http`) says when the kernel received
each chunk; that time, not the read's, stamps the chunk's events (and the
headers), so a busy event loop does not bend TTFT/ITL. The record's
``timing_clock`` is then "kernel" and its ``first_token_read_lag_ms`` /
``read_lag_ms`` are how late the chunks were read (read time minus kernel
time). Only with the default ``perf_counter`` clock (the stamps' timeline).

Tokens: the server's ``usage`` (requested with ``stream_options.include_usage``)
is the truth; without it the count of token events is used and
``usage_reported`` is False.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from loadkit.client.retry import RetryPolicy
from loadkit.client.verdicts import error_body_key, transport_verdict
from loadkit.core.records import RequestRecord
from loadkit.core.redact import redact, safe_label
from loadkit.protocol import ratelimit
from loadkit.protocol.chat_stream import ChatStream
from loadkit.protocol.encoding import BodyDecodeError, body_decoder, media_type
from loadkit.transport import Transport, TransportBadFraming, TransportError

__all__ = ["ChatRequest", "ChatClient", "estimate_tokens"]

_MAX_ERROR_BODY = 64 * 1024


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text`` (4 characters a token, at least 1 for non-empty text)."""
    return (len(text) + 3) // 4 if text else 0


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int = 256
    stream: bool = True
    category: str = "generic"
    expected: str | None = None
    temperature: float | None = None
    allow_truncation: bool = True
    keep_content: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        payload: dict[str, Any] = {"model": self.model, "messages": self.messages, "max_tokens": self.max_tokens}
        if self.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        if self.extra_body:
            payload.update(self.extra_body)
        return orjson.dumps(payload)

    def input_chars(self) -> int:
        total = 0
        for msg in self.messages:
            content = msg.get("content")
            if isinstance(content, str):
                total += len(content)
        return total


class ChatClient:
    """Sends chat requests over one transport and times them. One per user."""

    def __init__(
        self,
        transport: Transport,
        *,
        api_key: str = "",
        path: str = "/chat/completions",
        worker: str = "local",
        target: str = "gateway",
        clock: Callable[[], float] = time.perf_counter,
        wall_ns: Callable[[], int] = time.time_ns,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._transport = transport
        self._path = path
        self._worker = worker
        self._target = target
        self._clock = clock
        # kernel receive stamps are on the perf_counter timeline: with another clock they would not compare
        self._kernel_times = clock is time.perf_counter
        self._wall_ns = wall_ns
        # Everything the gateway sends back is redacted against these before it is kept.
        self._secrets = tuple(s for s in (api_key, *secrets) if s)
        self._headers = {
            "content-type": "application/json",
            "accept": "text/event-stream, application/json",
            "accept-encoding": "identity",
        }
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        # perf_counter of the attempt now with the gateway (None between attempts): what a user that is
        # stopped mid-request records as the interrupted attempt's send time.
        self.in_flight_since: float | None = None

    def close(self) -> None:
        self._transport.close()

    def chat(self, req: ChatRequest, intended_at: float | None = None) -> RequestRecord:
        """Send ``req`` once; returns its record (never raises for network or HTTP failures)."""
        headers = self._headers
        if req.extra_headers or req.category != "generic":
            headers = dict(headers)
            if req.category != "generic":
                headers["x-loadkit-task"] = req.category
            headers.update(req.extra_headers)
        body = req.body()
        clock = self._clock
        rec = RequestRecord(
            model=req.model, category=req.category, stream=req.stream, target=self._target, worker=self._worker
        )
        rec.started_wall_ns = self._wall_ns()
        rec.sent_at = clock()
        rec.intended_at = rec.sent_at if intended_at is None else intended_at
        self.in_flight_since = rec.sent_at
        rec = self._exchange(rec, req, body, headers)
        self.in_flight_since = None  # not in a finally: a user cut mid-request reads it after the exception
        return rec

    def _exchange(self, rec: RequestRecord, req: ChatRequest, body: bytes, headers: dict[str, str]) -> RequestRecord:
        clock = self._clock
        try:
            resp = self._transport.send("POST", self._path, body, headers)
        except TransportError as exc:
            rec.done_at = clock()
            rec.outcome, rec.error_key = transport_verdict(exc, during_body=False)
            if isinstance(exc, TransportBadFraming):
                rec.status = exc.status
            return rec
        rec.headers_at = clock()
        kernel = self._kernel_times and getattr(resp, "clock", "loop") == "kernel"
        if kernel:
            at = resp.arrived_at
            if at is not None and rec.sent_at <= at <= rec.headers_at:
                rec.headers_at = at
        rec.status = resp.status
        h = resp.headers
        rec.ratelimit_remaining_requests = ratelimit.remaining(h, "requests")
        rec.ratelimit_remaining_tokens = ratelimit.remaining(h, "tokens")
        try:
            decode = body_decoder(h.get("content-encoding"))
        except BodyDecodeError as exc:
            resp.close()  # not read: the connection is discarded, not reused
            rec.done_at = clock()
            rec.outcome = "upstream_error" if resp.status >= 500 or resp.status == 200 else "client_error"
            if resp.status == 429:
                rec.outcome = "rate_limited"
            rec.error_key = f"http_{resp.status}:{exc.key}"
            return rec
        if resp.status != 200:
            self._read_error(resp, rec, decode)
            if resp.status == 429:
                rec.retry_after_s = ratelimit.retry_after_s(h)
            return rec
        if req.stream and media_type(h.get("content-type")) == "text/event-stream":
            self._read_stream(resp, rec, req, decode, kernel)
        else:
            self._read_whole(resp, rec, req, decode)
        return rec

    def _read_body(self, resp, decode, limit: int | None) -> bytes:
        """The whole body (at most ``limit`` bytes kept), transfer- and content-decoded; closes ``resp``."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_chunks():
                if decode is not None:
                    chunk = decode(chunk)
                if limit is None or size < limit:
                    chunks.append(chunk)
                size += len(chunk)
        finally:
            resp.close()
        data = b"".join(chunks)
        return data if limit is None else data[:limit]

    def _read_error(self, resp, rec: RequestRecord, decode) -> None:
        status = rec.status or 0
        try:
            body = self._read_body(resp, decode, _MAX_ERROR_BODY)
        except (TransportError, BodyDecodeError):
            body = b""
        rec.done_at = self._clock()
        rec.error_key = error_body_key(status, body, self._secrets)
        if status == 429:
            rec.outcome = "rate_limited"
        elif 400 <= status < 500:
            rec.outcome = "client_error"
        else:
            rec.outcome = "upstream_error"

    def _finish_tokens(self, rec: RequestRecord, req: ChatRequest, usage: Any, events: int, text: str) -> None:
        rec.estimated_output_tokens = events
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(completion, int) and not isinstance(completion, bool) and completion >= 0:
            rec.output_tokens = completion
            prompt = usage.get("prompt_tokens")
            rec.input_tokens = prompt if isinstance(prompt, int) and prompt >= 0 else estimate_tokens(" " * req.input_chars())
            rec.usage_reported = True
        else:
            rec.output_tokens = events if events else estimate_tokens(text)
            rec.input_tokens = estimate_tokens(" " * req.input_chars())

    def _read_whole(self, resp, rec: RequestRecord, req: ChatRequest, decode) -> None:
        try:
            body = self._read_body(resp, decode, None)
        except TransportError as exc:
            rec.done_at = self._clock()
            rec.outcome, rec.error_key = transport_verdict(exc, during_body=True)
            return
        except BodyDecodeError as exc:
            rec.done_at = self._clock()
            rec.outcome, rec.error_key = "upstream_error", exc.key
            return
        rec.done_at = self._clock()
        try:
            data = orjson.loads(body)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                rec.outcome, rec.error_key = "upstream_error", error_body_key(200, body, self._secrets)
                return
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or message.get("reasoning_content") or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            rec.outcome, rec.error_key = "upstream_error", "invalid_json"
            return
        if not isinstance(text, str):
            text = ""
        reason = choice.get("finish_reason")
        rec.finish_reason = safe_label(reason if isinstance(reason, str) or reason is None else str(reason), self._secrets)
        self._finish_tokens(rec, req, data.get("usage"), 0, text)
        if not rec.usage_reported:
            rec.output_tokens = estimate_tokens(text)
        if req.keep_content:
            rec.content = redact(text, self._secrets)
        self._set_final_outcome(rec, req)

    def _read_stream(self, resp, rec: RequestRecord, req: ChatRequest, decode, kernel: bool) -> None:
        """Events stamped by their chunk's read time, or with ``kernel`` by its kernel receive time
        (``resp.arrived_at``); a chunk without a usable stamp (missing, before the headers, after its
        read) is stamped by the clock and leaves the attempt's ``timing_clock`` to the monitor ("loop")."""
        clock = self._clock
        parser = ChatStream(keep_content=req.keep_content, secrets=self._secrets)
        failure: tuple[str, str] | None = None
        floor = rec.headers_at or rec.sent_at
        max_lag, first_lag, last = 0.0, None, floor
        try:
            for chunk in resp.iter_chunks():
                now = at = clock()
                if kernel:
                    at = resp.arrived_at
                    if at is None or not floor <= at <= now:
                        at, kernel = now, False
                    elif now - at > max_lag:
                        max_lag = now - at
                if decode is not None:
                    chunk = decode(chunk)
                parser.feed(chunk, at)
                last = at
                if first_lag is None and parser.token_times:
                    first_lag = now - at
                if parser.failed:
                    break  # e.g. an event over the bound: the rest is not read, the connection is discarded
            else:
                parser.close(last if kernel else clock())
        except TransportError as exc:
            failure = transport_verdict(exc, during_body=True)
        except BodyDecodeError as exc:
            failure = ("in_stream_error", exc.key)
        finally:
            resp.close()
        # a complete kernel-stamped stream ends when its last bytes arrived; any other when it was seen to end
        rec.done_at = last if kernel and failure is None and not parser.failed else clock()
        if kernel:
            rec.timing_clock = "kernel"
            rec.read_lag_ms = max_lag * 1000.0
            rec.first_token_read_lag_ms = None if first_lag is None else first_lag * 1000.0
        rec.first_event_at = parser.first_event_at
        rec.token_times = parser.token_times
        rec.first_token_at = parser.token_times[0] if parser.token_times else None
        rec.finish_reason = parser.finish_reason
        text = parser.text
        self._finish_tokens(rec, req, parser.usage, len(parser.token_times), text)
        if req.keep_content:
            rec.content = text
        if failure is not None:
            outcome, key = failure
            if outcome == "in_stream_error" and parser.error_key is not None:
                key = parser.error_key  # the gateway said why before the connection broke
            rec.outcome, rec.error_key = outcome, key
            return
        verdict = parser.verdict()
        if verdict is not None:
            rec.outcome, rec.error_key = verdict
            return
        self._set_final_outcome(rec, req)

    @staticmethod
    def _set_final_outcome(rec: RequestRecord, req: ChatRequest) -> None:
        if rec.finish_reason == "length" and not req.allow_truncation:
            rec.outcome, rec.error_key = "truncated", "finish_length"
        elif rec.finish_reason == "content_filter":
            # The gateway answered, but withheld the answer: not a success, and counted on its own.
            rec.outcome, rec.error_key = "content_filter", "finish_content_filter"
        else:
            rec.outcome = "ok"

    def chat_with_retries(
        self,
        req: ChatRequest,
        policy: RetryPolicy,
        *,
        intended_at: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_attempt: Callable[[RequestRecord], None] | None = None,
    ) -> list[RequestRecord]:
        """Send ``req``, retrying 429s per ``policy``; returns every attempt, the last one ``final``.

        ``on_attempt`` is called with each attempt as soon as it ends (its ``final`` already decided), before
        any wait: a retry chain cut off during a wait has accounted every attempt it made. Each attempt's
        ``throttled_s`` is the total time waited before it; ``retry_after_s`` is capped at
        ``policy.max_backoff_s``, for accounting as for waiting.
        """
        rng = rng or random.Random()
        attempts: list[RequestRecord] = []
        throttled = 0.0
        first_sent: float | None = None
        while True:
            rec = self.chat(req, intended_at)
            rec.attempt = len(attempts) + 1
            rec.throttled_s = throttled
            if rec.retry_after_s is not None:
                rec.retry_after_s = min(rec.retry_after_s, policy.max_backoff_s)
            if first_sent is None:
                first_sent = rec.sent_at
            else:
                rec.first_sent_at = first_sent
                rec.intended_at = intended_at if intended_at is not None else first_sent
            attempts.append(rec)
            wait = policy.wait_s(rec.attempt, rec.retry_after_s, rng) if rec.status == 429 else None
            if wait is not None:
                rec.final = False
            if on_attempt is not None:
                on_attempt(rec)
            if wait is None:
                return attempts
            start = self._clock()
            sleep(wait)
            throttled += self._clock() - start
