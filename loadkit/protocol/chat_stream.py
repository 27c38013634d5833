"""A sans-IO parser of an OpenAI chat-completions stream.

Bytes (each with the time it arrived) in; the facts of the answer out:
the first event's time, every token event's time, the server's ``usage``,
the ``finish_reason``, whether ``[DONE]`` came, and the first in-stream
error as a stable short key. It knows nothing about sockets or clocks, so
it is tested like h11: the same stream whole, byte by byte and split at
every offset must give the same facts.

Rules (DESIGN.md "Real gateways differ", issue #14):

- a token is an event whose delta has non-empty ``content``,
  ``reasoning_content`` or ``reasoning`` (the role-only opening chunk is not);
- ``usage`` may come in a chunk with ``choices: []`` or with a choice whose
  delta is empty; the last one seen before ``[DONE]`` wins;
- nothing after ``data: [DONE]`` counts (a second usage chunk, more tokens);
- ``[DONE]`` with no chunk before it is no answer (``done_without_chunks``), not an empty success;
- an error after a 200 arrives as ``data: {"error": ...}`` or ``event: error``;
  its ``code``/``type`` becomes part of the key only through
  :func:`loadkit.core.redact.error_key` (redacted, safe alphabet, bounded);
- one event over the decoder's bound is ``event_too_large`` and ends parsing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from loadkit.core.redact import error_key as make_error_key
from loadkit.core.redact import redact, safe_label
from loadkit.protocol.sse import (
    DEFAULT_MAX_EVENT_BYTES,
    ServerSentEvent,
    SSEDecoder,
    SSEError,
    SSEEventTooLarge,
)

__all__ = ["ChatStream", "StreamVerdict"]

StreamVerdict = tuple[str, str | None]  # (outcome, error key)


class ChatStream:
    """Feed body bytes with :meth:`feed` (or decoded events with :meth:`event`); call :meth:`close` at EOF."""

    __slots__ = (
        "_decoder",
        "_pieces",
        "_secrets",
        "chunks",
        "done",
        "error_key",
        "events",
        "failed",
        "finish_reason",
        "first_event_at",
        "token_times",
        "usage",
    )

    def __init__(self, *, keep_content: bool = False, secrets: Iterable[str] = (),
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._decoder = SSEDecoder(max_event_bytes)
        self._secrets = tuple(secrets)
        self._pieces: list[str] | None = [] if keep_content else None
        self.first_event_at: float | None = None
        self.token_times: list[float] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.error_key: str | None = None
        self.done = False  # "[DONE]" seen: everything after it is ignored
        self.failed = False  # the bytes cannot be parsed further: stop reading, discard the connection
        self.events = 0  # dispatched SSE events, [DONE] included
        self.chunks = 0  # JSON objects among them (chat chunks, usage chunks, errors)

    @property
    def text(self) -> str:
        """The kept content (redacted), or "" when ``keep_content`` was False."""
        return redact("".join(self._pieces), self._secrets) if self._pieces else ""

    def feed(self, chunk: bytes, now: float) -> None:
        """Parse ``chunk``, which arrived at ``now`` (any clock; the times come back unchanged)."""
        if self.done or self.failed:
            return
        try:
            events = self._decoder.feed(chunk)
        except SSEError as exc:
            self._fail(exc)
            return
        for ev in events:
            self.event(ev, now)
            if self.done:
                return

    def close(self, now: float) -> None:
        """End of body: an unterminated last event still counts (gateways end with ``[DONE]`` and no blank line)."""
        if self.done or self.failed:
            return
        try:
            events = self._decoder.close()
        except SSEError as exc:
            self._fail(exc)
            return
        for ev in events:
            self.event(ev, now)

    def _fail(self, exc: SSEError) -> None:
        self.failed = True
        if self.error_key is None:
            self.error_key = "event_too_large" if isinstance(exc, SSEEventTooLarge) else "sse_invalid"

    def event(self, ev: ServerSentEvent, now: float) -> None:
        """One dispatched SSE event."""
        if self.done:
            return
        self.events += 1
        if self.first_event_at is None:
            self.first_event_at = now
        data = ev.data
        if data == "[DONE]":
            self.done = True
            return
        if ev.event == "error":
            self._error("error_event", None)
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._error("invalid_json_event", None)
            return
        if not isinstance(obj, dict):
            return
        self.chunks += 1
        err = obj.get("error")
        if err:
            code = (err.get("code") or err.get("type")) if isinstance(err, dict) else None
            self._error("error_event", code)
            return
        choices = obj.get("choices")
        if choices:
            if not isinstance(choices, list):  # JSON, but not a chat chunk ("choices": true, {...}, "x")
                self._error("invalid_chunk", None)
                return
            self._choice(choices[0], now)
        usage = obj.get("usage")
        if usage and isinstance(usage, dict):
            self.usage = usage

    def _choice(self, choice: Any, now: float) -> None:
        if not isinstance(choice, dict):
            # JSON, but not a chat chunk ("choices": [null], [5], ...)
            self._error("invalid_chunk", None)
            return
        delta = choice.get("delta")
        if delta:
            if not isinstance(delta, dict):
                self._error("invalid_chunk", None)
                return
            text = delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
            if text and isinstance(text, str):
                self.token_times.append(now)
                if self._pieces is not None:
                    self._pieces.append(text)
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = safe_label(reason if isinstance(reason, str) else str(reason), self._secrets)

    def _error(self, prefix: str, code: object) -> None:
        if self.error_key is None:
            self.error_key = make_error_key(prefix, code, self._secrets)

    def verdict(self) -> StreamVerdict | None:
        """The stream's failure as (outcome, error key), or None when it is a complete answer."""
        if self.error_key is not None:
            return "in_stream_error", self.error_key
        if self.first_event_at is None:
            return "in_stream_error", "no_events"
        if self.done and not self.chunks:
            # "[DONE]" and nothing else: no answer came (some proxies end a failed upstream this way)
            return "in_stream_error", "done_without_chunks"
        if not self.done and self.finish_reason is None:
            return "in_stream_error", "stream_ended_early"
        return None
