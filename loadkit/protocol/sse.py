"""A sans-IO Server-Sent-Events decoder (WHATWG "event stream" rules).

It takes bytes and returns events; it knows nothing about sockets, so the same
object works under gevent, threads or asyncio, and tests can feed a stream
whole, byte by byte or split at any offset.

Line ends may be LF, CRLF or CR, also when a CRLF pair is split across two
chunks. A leading UTF-8 BOM is stripped (also when split across chunks).
Comments (``:``) are skipped. Several ``data:`` lines join with ``\\n``. An
event is dispatched at a blank line, and only when its data buffer is not
empty (``event: ping`` alone dispatches nothing, per the spec).
:meth:`SSEDecoder.close` also dispatches a last event that the server did not
terminate (lenient on purpose: gateways are seen to end a stream with
``data: [DONE]`` and no blank line).

Linear time for any event size: an unfinished line is kept in a bytearray and
only joined once, when its line end arrives (an event of 4 MiB in 64 KiB reads
used to be re-joined and re-scanned on every read). The bound on one event is
``max_event_bytes``; over it, :class:`SSEEventTooLarge` is raised.
"""

from __future__ import annotations

from loadkit.errors import LoadkitError

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "SSEError", "SSEEventTooLarge", "ServerSentEvent"]

DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_VIEW_BYTES = 64 * 1024  # data lines longer than this are sliced as memoryviews (no copy)


class SSEError(LoadkitError):
    """The byte stream cannot be an event stream."""


class SSEEventTooLarge(SSEError):
    """One event (or one line) is longer than the decoder's bound."""


class ServerSentEvent:
    __slots__ = ("data", "event", "id", "retry")

    def __init__(self, data: str, event: str = "message", id: str | None = None, retry: int | None = None):
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerSentEvent) and (self.event, self.data, self.id, self.retry) == (
            other.event,
            other.data,
            other.id,
            other.retry,
        )


class SSEDecoder:
    """Feed bytes with :meth:`feed`, get complete events back; call :meth:`close` at EOF."""

    __slots__ = (
        "_after_cr",
        "_data",
        "_event",
        "_event_bytes",
        "_head",
        "_last_id",
        "_max_event_bytes",
        "_retry",
        "_tail",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._tail = bytearray()  # the unfinished last line (no line end in it)
        self._data: list[bytes] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._after_cr = False
        self._max_event_bytes = max_event_bytes
        self._event_bytes = 0
        self._head: bytes | None = b""  # first bytes while a BOM is still possible; None once decided

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Return the events completed by ``chunk`` (possibly none)."""
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._head = chunk
                return []
            self._head = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if not chunk:
            return []
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A CR at the very end may be the first half of a CRLF split across chunks.
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            self._append_tail(chunk)
            return []
        events: list[ServerSentEvent] = []
        if self._tail:
            # Finish the pending line where it is: the buffered bytes (maybe megabytes of one event) are
            # neither copied into a new joined chunk nor scanned again; only the new chunk is.
            end = chunk.index(b"\n")
            self._append_tail(chunk[:end])
            line, self._tail = self._tail, bytearray()
            self._line(line, events)
            chunk = chunk[end + 1:]
            if b"\n" not in chunk:
                self._append_tail(chunk)
                return events
        if not self._data and not self._event and b"\n\n" in chunk:
            events.extend(self._feed_events(chunk))
        else:
            events.extend(self._feed_lines(chunk))
        return events

    def _append_tail(self, data: bytes) -> None:
        self._tail += data
        if len(self._tail) > self._max_event_bytes:
            raise SSEEventTooLarge(f"an SSE line is longer than {self._max_event_bytes} bytes")

    def _feed_events(self, chunk: bytes) -> list[ServerSentEvent]:
        # Fast path for what nearly every LLM stream sends: events that are one
        # "data: ..." line each. Anything else goes to the line-by-line path.
        parts = chunk.split(b"\n\n")
        rest = parts.pop()
        events: list[ServerSentEvent] = []
        limit = self._max_event_bytes + 6
        for i, part in enumerate(parts):
            if part[:6] == b"data: " and b"\n" not in part and len(part) <= limit:
                events.append(ServerSentEvent(part[6:].decode("utf-8", "replace"), "message", self._last_id, self._retry))
            else:
                events.extend(self._feed_lines(b"\n\n".join(parts[i:]) + b"\n\n" + rest))
                return events
        if rest:
            events.extend(self._feed_lines(rest))
        return events

    def _feed_lines(self, chunk: bytes) -> list[ServerSentEvent]:
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if len(tail) > self._max_event_bytes:
            raise SSEEventTooLarge(f"an SSE line is longer than {self._max_event_bytes} bytes")
        self._tail = bytearray(tail)
        events: list[ServerSentEvent] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: process an unterminated last line and event."""
        events: list[ServerSentEvent] = []
        if self._head:
            self._tail += self._head  # fewer than 3 bytes that only looked like a BOM's start
            self._head = None
        if self._tail:
            self._line(bytes(self._tail), events)
            self._tail = bytearray()
        self._line(b"", events)
        return events

    def _line(self, line: bytes | bytearray, events: list[ServerSentEvent]) -> None:
        if not line:
            if self._data:
                joined = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
                data = str(joined, "utf-8", "replace")  # bytes, or a view into a long line: decoded once
                events.append(ServerSentEvent(data, self._event or "message", self._last_id, self._retry))
            # An empty data buffer dispatches nothing (WHATWG "dispatch the event", step 2).
            self._data = []
            self._event = ""
            self._event_bytes = 0
            return
        if line[:5] == b"data:":
            # a long line is a bytearray of its own (see feed): a view of it, not a copy of megabytes
            value = memoryview(line)[5:] if len(line) > _VIEW_BYTES else line[5:]
            if value[:1] == b" ":
                value = value[1:]
            self._event_bytes += len(value)
            if self._event_bytes > self._max_event_bytes:
                raise SSEEventTooLarge(f"an SSE event is longer than {self._max_event_bytes} bytes")
            self._data.append(value)
            return
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit():
                self._retry = int(value)
        elif name == b"data":  # "data" with no colon: an empty data line
            self._data.append(b"")
