"""Chat client: one ``/v1/chat/completions`` request -> one RequestRecord.

Timing is recorded here once, the same way for every transport: ``sent_at``
just before the request is handed to the transport, ``headers_at`` when it
returns, and, per body chunk, the arrival time of that chunk for every SSE
event parsed out of it. The first token is the first event whose delta has
non-empty ``content`` or ``reasoning_content`` (the role-only opening chunk
is not a token). The body is always read to its end so the connection can
be reused.

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

from loadkit.client import retry as ratelimit
from loadkit.core.records import RequestRecord
from loadkit.protocol.sse import SSEDecoder, SSEError
from loadkit.transport import Transport, TransportError

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


def _error_key(status: int, body: bytes) -> str:
    key = f"http_{status}"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return key
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        if isinstance(code, str) and code and len(code) <= 64:
            return f"{key}:{code}"
    return key


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
    ) -> None:
        self._transport = transport
        self._path = path
        self._worker = worker
        self._target = target
        self._clock = clock
        self._wall_ns = wall_ns
        self._headers = {
            "content-type": "application/json",
            "accept": "text/event-stream, application/json",
            "accept-encoding": "identity",
        }
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

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
        try:
            resp = self._transport.send("POST", self._path, body, headers)
        except TransportError as exc:
            rec.done_at = clock()
            rec.outcome = "timeout" if exc.key == "timeout" else "connect_error"
            rec.error_key = exc.key if exc.key != "connect_error" else "connect_error"
            if exc.key == "stream_broken":
                rec.outcome, rec.error_key = "connect_error", "connection_closed"
            return rec
        rec.headers_at = clock()
        rec.status = resp.status
        h = resp.headers
        rec.ratelimit_remaining_requests = ratelimit.remaining(h, "requests")
        rec.ratelimit_remaining_tokens = ratelimit.remaining(h, "tokens")
        if resp.status != 200:
            self._read_error(resp, rec)
            if resp.status == 429:
                rec.retry_after_s = ratelimit.retry_after_s(h)
            return rec
        if req.stream and "text/event-stream" in h.get("content-type", ""):
            self._read_stream(resp, rec, req)
        else:
            self._read_whole(resp, rec, req)
        return rec

    def _read_error(self, resp, rec: RequestRecord) -> None:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_chunks():
                if size < _MAX_ERROR_BODY:
                    chunks.append(chunk)
                size += len(chunk)
        except TransportError:
            pass
        finally:
            resp.close()
        rec.done_at = self._clock()
        status = rec.status or 0
        rec.error_key = _error_key(status, b"".join(chunks)[:_MAX_ERROR_BODY])
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
            rec.output_tokens = usage["completion_tokens"]
            prompt = usage.get("prompt_tokens")
            rec.input_tokens = prompt if isinstance(prompt, int) and prompt >= 0 else estimate_tokens(" " * req.input_chars())
            rec.usage_reported = True
        else:
            rec.output_tokens = events if events else estimate_tokens(text)
            rec.input_tokens = estimate_tokens(" " * req.input_chars())

    def _read_whole(self, resp, rec: RequestRecord, req: ChatRequest) -> None:
        chunks: list[bytes] = []
        try:
            for chunk in resp.iter_chunks():
                chunks.append(chunk)
        except TransportError as exc:
            rec.done_at = self._clock()
            rec.outcome = "timeout" if exc.key == "timeout" else "in_stream_error"
            rec.error_key = exc.key
            resp.close()
            return
        resp.close()
        rec.done_at = self._clock()
        try:
            data = orjson.loads(b"".join(chunks))
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or message.get("reasoning_content") or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            rec.outcome, rec.error_key = "upstream_error", "invalid_json"
            return
        if isinstance(data.get("error"), dict):
            rec.outcome, rec.error_key = "upstream_error", _error_key(200, b"".join(chunks))
            return
        if not isinstance(text, str):
            text = ""
        rec.finish_reason = choice.get("finish_reason")
        if text:
            rec.first_token_at = None  # no token timing without streaming
        self._finish_tokens(rec, req, data.get("usage"), 0, text)
        if not rec.usage_reported:
            rec.output_tokens = estimate_tokens(text)
        if req.keep_content:
            rec.content = text
        self._set_final_outcome(rec, req)

    def _read_stream(self, resp, rec: RequestRecord, req: ChatRequest) -> None:
        clock = self._clock
        decoder = SSEDecoder()
        token_times = rec.token_times
        loads = orjson.loads
        pieces: list[str] | None = [] if req.keep_content else None
        usage = None
        done = False
        error_key = None
        finish = None
        events = 0
        try:
            try:
                for chunk in resp.iter_chunks():
                    now = clock()
                    for ev in decoder.feed(chunk):
                        if rec.first_event_at is None:
                            rec.first_event_at = now
                        data = ev.data
                        if data == "[DONE]":
                            done = True
                            continue
                        if ev.event == "error":
                            error_key = error_key or "error_event"
                            continue
                        try:
                            obj = loads(data)
                        except orjson.JSONDecodeError:
                            error_key = error_key or "invalid_json_event"
                            continue
                        if not isinstance(obj, dict):
                            continue
                        err = obj.get("error")
                        if err:
                            if error_key is None:
                                code = err.get("code") or err.get("type") if isinstance(err, dict) else None
                                error_key = f"error_event:{code}" if isinstance(code, str) and len(code) <= 64 else "error_event"
                            continue
                        try:
                            choices = obj.get("choices")
                            if choices:
                                choice = choices[0]
                                delta = choice.get("delta")
                                if delta:
                                    text = delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
                                    if text and isinstance(text, str):
                                        if rec.first_token_at is None:
                                            rec.first_token_at = now
                                        token_times.append(now)
                                        events += 1
                                        if pieces is not None:
                                            pieces.append(text)
                                reason = choice.get("finish_reason")
                                if reason:
                                    finish = reason if isinstance(reason, str) else str(reason)[:64]
                        except (AttributeError, TypeError, KeyError, IndexError):
                            # JSON, but not a chat chunk ("choices": [null], "delta": 5, ...)
                            error_key = error_key or "invalid_chunk"
                        u = obj.get("usage")
                        if u:
                            usage = u
                for ev in decoder.close():
                    if ev.data == "[DONE]":
                        done = True
            except SSEError:
                error_key = error_key or "sse_invalid"
        except TransportError as exc:
            rec.done_at = clock()
            resp.close()
            rec.finish_reason = finish
            self._finish_tokens(rec, req, usage, events, "".join(pieces or ()))
            if exc.key == "timeout":
                rec.outcome, rec.error_key = "timeout", "timeout"
            else:
                rec.outcome, rec.error_key = "in_stream_error", error_key or "stream_broken"
            return
        rec.done_at = clock()
        resp.close()
        rec.finish_reason = finish
        text = "".join(pieces) if pieces is not None else ""
        self._finish_tokens(rec, req, usage, events, text)
        if pieces is not None:
            rec.content = text
        if error_key is not None:
            rec.outcome, rec.error_key = "in_stream_error", error_key
            return
        if rec.first_event_at is None:
            rec.outcome, rec.error_key = "in_stream_error", "no_events"
            return
        if not done and finish is None:
            rec.outcome, rec.error_key = "in_stream_error", "stream_ended_early"
            return
        self._set_final_outcome(rec, req)

    @staticmethod
    def _set_final_outcome(rec: RequestRecord, req: ChatRequest) -> None:
        if rec.finish_reason == "length" and not req.allow_truncation:
            rec.outcome, rec.error_key = "truncated", "finish_length"
        else:
            rec.outcome = "ok"

    def chat_with_retries(
        self,
        req: ChatRequest,
        policy: ratelimit.RetryPolicy,
        *,
        intended_at: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> list[RequestRecord]:
        """Send ``req``, retrying 429s per ``policy``; returns every attempt, the last one ``final``.

        Each attempt's ``throttled_s`` is the total time waited before it.
        """
        rng = rng or random.Random()
        attempts: list[RequestRecord] = []
        throttled = 0.0
        first_sent: float | None = None
        while True:
            rec = self.chat(req, intended_at)
            rec.attempt = len(attempts) + 1
            rec.throttled_s = throttled
            if first_sent is None:
                first_sent = rec.sent_at
            else:
                rec.first_sent_at = first_sent
                rec.intended_at = intended_at if intended_at is not None else first_sent
            attempts.append(rec)
            if rec.status != 429:
                break
            wait = policy.wait_s(rec.attempt, rec.retry_after_s, rng)
            if wait is None:
                break
            rec.final = False
            start = self._clock()
            sleep(wait)
            throttled += self._clock() - start
        return attempts
