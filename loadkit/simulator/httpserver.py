"""A small HTTP/1.1 keep-alive server on a raw asyncio Protocol (the hot path).

Measured on this machine (2 cores; server pinned to one core with uvloop,
wrk with 64 keep-alive connections on the other; bench/simulator_throughput.py):

    scenario                           aiohttp.web 3.14    this protocol
    non-stream chat                      25,200 req/s      25,500 req/s
    stream, 60 events, write per event    2,080 str/s       2,250 str/s
    stream, 60 events, corked (zero)          -            11,200 str/s

aiohttp.web is as fast for plain requests; the win is control of the
writes: the zero profile corks a whole stream into one ``transport.write``
(still one SSE event and one HTTP chunk per token), which a StreamResponse
cannot do without giving up per-event chunks.  Timed profiles write every
event on its own, at its time.  (The aiohttp numbers come from a throwaway
aiohttp.web app doing the same JSON work, run with the same wrk command.)
It understands exactly what the simulator needs: requests with
a Content-Length body (or none), keep-alive, pipelined requests handled in
order, fixed-length responses and chunked streaming responses.
"""

from __future__ import annotations

import asyncio
import logging

from loadkit.simulator.clock import now_s

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class Request:
    """One parsed request; header names are lower-case; ``received_s`` is monotonic."""

    __slots__ = ("method", "path", "query", "headers", "body", "received_s", "keep_alive")

    def __init__(self, method, path, query, headers, body, received_s, keep_alive):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.received_s = received_s
        self.keep_alive = keep_alive


class ResponseWriter:
    """Writes one response on a connection; ``cork`` batches writes until `flush`."""

    __slots__ = ("_protocol", "_transport", "_keep_alive", "_corked", "_chunked", "finished", "status")

    def __init__(self, protocol: "HttpProtocol", keep_alive: bool):
        self._protocol = protocol
        self._transport = protocol.transport
        self._keep_alive = keep_alive
        self._corked: list[bytes] | None = None
        self._chunked = False
        self.finished = False
        self.status = 0

    @property
    def keep_alive(self) -> bool:
        """True while the connection stays open after this response."""
        return self._keep_alive

    @property
    def closed(self) -> bool:
        """True when the client went away."""
        return self._protocol.closed

    def _head(self, status: int, headers, extra: str) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        if not self._keep_alive:
            lines.append("connection: close\r\n")
        lines.append(extra)
        return "".join(lines).encode("latin-1")

    def _write(self, data: bytes) -> None:
        if self._corked is not None:
            self._corked.append(data)
        elif not self._protocol.closed:
            self._transport.write(data)

    def send(self, status: int, body: bytes, headers=(), content_type: str = "application/json") -> None:
        """Write a whole fixed-length response and finish."""
        self.status = status
        head = self._head(status, (("content-type", content_type), *headers), f"content-length: {len(body)}\r\n\r\n")
        self._write(head + body)
        self.finish()

    def start_stream(self, status: int, headers=(), content_type: str = "text/event-stream") -> None:
        """Write the head of a chunked (streaming) response."""
        self.status = status
        self._chunked = True
        base = (("content-type", content_type), ("cache-control", "no-cache"), *headers)
        self._write(self._head(status, base, "transfer-encoding: chunked\r\n\r\n"))

    def write_chunk(self, data: bytes) -> None:
        """Write one chunk of a streaming response (empty data is skipped)."""
        if data:
            self._write(b"%x\r\n%b\r\n" % (len(data), data))

    def cork(self) -> None:
        """Collect writes in memory until `flush` (one syscall for many events)."""
        if self._corked is None:
            self._corked = []

    def flush(self) -> None:
        """Send everything collected since `cork` and stop collecting."""
        corked, self._corked = self._corked, None
        if corked and not self._protocol.closed:
            self._transport.write(b"".join(corked))

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        await self._protocol.drain()

    def finish(self) -> None:
        """End the response (the final chunk when streaming); close if not keep-alive."""
        if self.finished:
            return
        self.finished = True
        if self._chunked:
            self._write(b"0\r\n\r\n")
        self.flush()
        if not self._keep_alive and not self._protocol.closed:
            self._transport.close()

    def close(self) -> None:
        """Finish, then close the connection gracefully."""
        self._keep_alive = False
        self.finish()
        if not self._protocol.closed:
            self._transport.close()

    def abort(self) -> None:
        """Cut the connection at once (no final chunk), as a crashed backend would."""
        self.finished = True
        self._corked = None
        if not self._protocol.closed:
            self._transport.abort()


class HttpProtocol(asyncio.Protocol):
    """Parses requests from a connection and runs ``handler(request, writer)`` in order."""

    def __init__(self, handler):
        self._handler = handler
        self._buffer = bytearray()
        self._busy = False
        self._paused = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self.transport = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        """Wait until the peer has read enough of what we wrote."""
        if self._paused and not self.closed:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next_request()

    def _bad_request(self, status: int, message: str) -> None:
        body = b'{"error":{"message":"%s","type":"invalid_request_error","code":null}}' % message.encode()
        writer = ResponseWriter(self, keep_alive=False)
        writer.send(status, body)
        self._buffer.clear()

    def _next_request(self) -> None:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._bad_request(400, "request head too large")
            return
        try:
            head = bytes(buffer[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, version = request_line.split(" ", 2)
        except ValueError:
            self._bad_request(400, "malformed request line")
            return
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._bad_request(411, "chunked request bodies are not supported; send content-length")
            return
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._bad_request(400, "invalid content-length")
            return
        if length > MAX_BODY_BYTES:
            self._bad_request(413, "request body too large")
            return
        total = end + 4 + length
        if len(buffer) < total:
            return
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        path, _, query = target.partition("?")
        request = Request(method, path, query, headers, body, now_s(), keep_alive)
        self._busy = True
        if len(buffer) > MAX_HEADER_BYTES:  # a pipelining client is far ahead: stop reading
            self._reading_paused = True
            self.transport.pause_reading()
        writer = ResponseWriter(self, keep_alive)
        task = asyncio.get_running_loop().create_task(self._run(request, writer))
        task.add_done_callback(_log_task_error)

    async def _run(self, request: Request, writer: ResponseWriter) -> None:
        try:
            await self._handler(request, writer)
        except asyncio.CancelledError:  # shutting down mid-response: cut, don't fake an end
            writer.abort()
            raise
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            if not writer.finished and writer.status == 0:
                writer.send(500, b'{"error":{"message":"simulator bug","type":"server_error","code":null}}')
            else:
                writer.abort()
        finally:
            if not writer.finished:
                writer.finish()
            self._busy = False
            if not self.closed:
                if not writer.keep_alive:
                    return
                if self._reading_paused:
                    self._reading_paused = False
                    self.transport.resume_reading()
                if self._buffer:
                    self._next_request()


def _log_task_error(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("connection task failed", exc_info=task.exception())
