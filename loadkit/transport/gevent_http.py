"""geventhttpclient transport: Locust FastHttpUser's engine, read chunk by chunk.

geventhttpclient's ``response.read(n)`` blocks until n bytes; a stream needs
"whatever has arrived", so :meth:`_Response.iter_chunks` feeds the socket's
``recv`` into the response's own parser (its ``feed``/``_body_buffer`` API,
stable since 1.x; pinned in the lock file and covered by the transport tests).

``timeout_s`` is a deadline for the whole attempt: a ``gevent.Timeout`` bounds
the headers, and every body ``recv`` waits at most until the deadline (a
1 byte/s trickle ends at the deadline, not never). A response whose bytes run
past its framing (more than its Content-Length) is :class:`TransportBadFraming`
with its status; geventhttpclient discards that socket.

Kernel receive times (issue 17): on Linux a plain-TCP connection is a
:class:`_StampedSocket` with ``SO_TIMESTAMPNS`` on, read with ``recvmsg``, so
every read (headers and body) also returns the time the kernel received the
last segment in it. :attr:`_Response.arrived_at` is that time on the
``perf_counter`` timeline (:class:`_WallToPerf`) for the bytes just yielded,
so a chunk is stamped when it arrived, not when the greenlet got round to
reading it; ``clock`` says "kernel". TLS sockets (``ssl`` reads through its
own buffer, no ``recvmsg``) and systems without the option keep
``arrived_at = None`` and ``clock = "loop"``: the caller stamps with its own
clock. Several SSE events in one read share that read's time (the last
segment's: the kernel merges queued segments and keeps the newest stamp, so
smaller reads would not help), so the earlier ones are stamped late by up to
their gap. A read can come without a stamp: Linux turns receive stamping on
for the whole system through a deferred switch when the first such socket
appears, so the first packets after that may have none (one stamped socket
is kept open per process from the first transport on); such an attempt falls
back to the loop clock and says so.
"""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import sys
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient import response as _ghc_response
from geventhttpclient.response import HTTPParseError

from loadkit.transport import (
    TransportBadFraming,
    TransportBrokenStream,
    TransportConnectError,
    TransportError,
    TransportOptions,
    TransportTimeout,
    TransportTLSError,
)


def _release_after_the_final_response(self) -> None:
    """geventhttpclient (2.6) returns the socket to the pool when any message completes, an interim
    ``100 Continue`` too: the final response then reads nothing and the next request reads its leftovers.
    Only a final (>= 200) response gives the connection back."""
    _ghc_response.HTTPResponse._on_message_complete(self)
    if self.get_code() >= 200:
        self.release()


_ghc_response.HTTPSocketResponse._on_message_complete = _release_after_the_final_response

__all__ = ["GeventTransport"]

_BLOCK = 64 * 1024
# SO_TIMESTAMPNS, and SCM_TIMESTAMPNS for its control message, are 35 on Linux (x86, arm, riscv);
# the socket module does not export them.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# Elsewhere option 35 means something else (BSD options are bit flags) and stamps come in other forms.
_STAMPING = sys.platform.startswith("linux") and hasattr(socket.socket, "recvmsg")
_CMSG_BYTES = socket.CMSG_SPACE(16) if hasattr(socket, "CMSG_SPACE") else 0
_TIMESPEC = {16: struct.Struct("qq"), 8: struct.Struct("ii")}  # struct timespec, 64- / 32-bit longs
# The wall-to-perf offset is re-measured at most this often (a wall-clock step shows within this long).
REMEASURE_S = 1.0


class _WallToPerf:
    """CLOCK_REALTIME nanoseconds (the kernel's receive stamps) -> ``time.perf_counter()`` seconds.

    perf_counter is CLOCK_MONOTONIC; NTP slews both clocks at the same rate, so their offset moves only
    when the wall clock is stepped. It is measured as the best of 3 brackets ``perf, wall, perf``
    (error: half the narrowest bracket, ~0.1-0.5 us on a idle core), re-measured every
    :data:`REMEASURE_S` and whenever a mapped stamp lands after the read that returned it (a step).
    ``error_ns`` is the last bracket's half-width; a step inside the last ``REMEASURE_S`` is not in it.
    """

    __slots__ = ("offset_ns", "error_ns", "measured_at_s")

    def __init__(self) -> None:
        self.offset_ns = 0
        self.error_ns = 0
        self.measured_at_s = float("-inf")

    def measure(self) -> None:
        perf_ns, wall_ns = time.perf_counter_ns, time.time_ns
        best_width, best_offset = None, 0
        for _ in range(3):
            a = perf_ns()
            w = wall_ns()
            b = perf_ns()
            if best_width is None or b - a < best_width:
                best_width, best_offset = b - a, w - (a + b) // 2
        self.offset_ns, self.error_ns, self.measured_at_s = best_offset, (best_width or 0) // 2, b / 1e9

    def to_perf_s(self, rx_wall_ns: int, now_s: float) -> float | None:
        """``rx_wall_ns`` on the perf_counter timeline, or None when it cannot be right (after ``now_s``)."""
        if now_s - self.measured_at_s > REMEASURE_S:
            self.measure()
        at = (rx_wall_ns - self.offset_ns) / 1e9
        if at > now_s:
            self.measure()  # the wall clock was stepped since the last measurement
            at = (rx_wall_ns - self.offset_ns) / 1e9
            if at > now_s:
                return None
        return at


WALL_TO_PERF = _WallToPerf()


class _StampedSocket(gevent.socket.socket):
    """A gevent TCP socket whose ``recv`` is a ``recvmsg`` that keeps the kernel's receive time.

    ``rx_wall_ns``: CLOCK_REALTIME ns of the last segment in the last read (0: that read had none).
    geventhttpclient reads headers and bodies through ``recv``, so both are stamped.
    """

    __slots__ = ("rx_wall_ns",)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _flags, _addr = self.recvmsg(bufsize, _CMSG_BYTES, flags)
        if ancillary:  # SO_TIMESTAMPNS is the only control message this socket asks for
            _level, kind, raw = ancillary[-1]
            unpack = _TIMESPEC.get(len(raw)) if kind == _SO_TIMESTAMPNS else None
            if unpack is not None:
                sec, nsec = unpack.unpack(raw)
                self.rx_wall_ns = sec * 1_000_000_000 + nsec
                return data
        self.rx_wall_ns = 0
        return data


_KEEP_STAMPING: list[socket.socket] = []


def _keep_rx_stamping_on() -> None:
    """Hold one stamped socket open for the process, so the kernel's system-wide switch is already on
    when the first connection's first bytes arrive (it is turned on lazily, off when the last closes)."""
    if _KEEP_STAMPING:
        return
    try:
        keeper = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return
    try:
        keeper.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        keeper.close()
        return
    _KEEP_STAMPING.append(keeper)


def _stamped_tcp_socket(family: int, socktype: int, protocol: int):
    """geventhttpclient's TCP socket factory, with kernel receive timestamps where the system has them."""
    sock = _StampedSocket(family, socktype, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        sock.close()
        return gevent.socket.socket(family, socktype, protocol)  # no such option here: the loop clock
    sock.rx_wall_ns = 0
    return sock


def _classify(exc: BaseException, during_body: bool = False) -> TransportError:
    name = type(exc).__name__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransportTimeout(f"timed out ({name})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportTLSError(f"TLS certificate verification failed ({exc.verify_message}); use --ca-bundle or --insecure")
    if isinstance(exc, ssl.SSLError):
        return TransportTLSError(f"TLS failed ({exc.reason or name})")
    if isinstance(exc, HTTPParseError):
        status = _parsed_status(exc)
        if status:
            return TransportBadFraming(f"HTTP {status} response with bytes beyond its framing", status)
    if during_body:
        return TransportBrokenStream(f"connection broken mid-response ({name})")
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return TransportConnectError("connection refused")
    if isinstance(exc, socket.gaierror):
        return TransportConnectError(f"cannot resolve host ({exc.strerror})")
    if isinstance(exc, (HTTPParseError, ConnectionResetError, BrokenPipeError)):
        # A pooled keep-alive socket closed by the server: reported as a broken connection.
        return TransportBrokenStream(f"connection closed by the server ({name})")
    if isinstance(exc, OSError):
        return TransportConnectError(f"cannot connect ({exc.strerror or name})")
    return TransportError(f"{name}: {exc}")


def _parsed_status(exc: HTTPParseError) -> int:
    """The status of the response that was being parsed when ``exc`` was raised (0 if none was).

    geventhttpclient raises from inside the response's constructor, so the response object is only
    reachable from the traceback; a parse error after a complete status line is a framing error of
    that response (e.g. bytes beyond its Content-Length), not a dead connection.
    """
    tb = exc.__traceback__
    status = 0
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        get_code = getattr(owner, "get_code", None)
        if get_code is not None:
            try:
                status = int(get_code()) or status
            except Exception:  # a parser already torn down: no status to report
                pass
        tb = tb.tb_next
    return status if 100 <= status <= 599 else 0


def _arrival(sock) -> float | None:
    """The kernel receive time of ``sock``'s last read on the perf_counter timeline (None: not known)."""
    rx = getattr(sock, "rx_wall_ns", 0)
    if not rx:
        return None
    now_s, clock = time.perf_counter(), WALL_TO_PERF
    at = (rx - clock.offset_ns) / 1e9
    if at > now_s or now_s - clock.measured_at_s > REMEASURE_S:  # a step, or due: the slow path
        return clock.to_perf_s(rx, now_s)
    return at


class _Response:
    """``arrived_at``: perf_counter seconds at which the kernel received the bytes last yielded by
    :meth:`iter_chunks` (before the first chunk: the end of the headers); None where not known.
    ``clock``: "kernel" when the connection is kernel-stamped, else "loop"."""

    __slots__ = ("status", "headers", "arrived_at", "clock", "_resp", "_deadline", "_idle_s", "_restore_timeout_s")

    def __init__(self, resp, deadline: float, idle_s: float | None, restore_timeout_s: float) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.items()}
        self._deadline = deadline
        self._idle_s = idle_s
        self._restore_timeout_s = restore_timeout_s
        sock = resp._sock
        # The headers' last read; body bytes that came in it are yielded first and share its time.
        # (A response already complete has handed its socket back: no stamp, the loop clock.)
        self.clock = "kernel" if isinstance(sock, _StampedSocket) else "loop"
        self.arrived_at = _arrival(sock) if sock is not None else None

    def iter_chunks(self) -> Iterator[bytes]:
        resp = self._resp
        buf = resp._body_buffer
        try:
            while True:
                if buf:
                    data = bytes(buf)
                    del buf[:]
                    yield data
                    continue
                if resp.message_complete:
                    return
                sock = resp._sock
                if sock is None:
                    raise TransportBrokenStream("connection closed before the response ended")
                remaining_s = self._deadline - time.monotonic()
                if remaining_s <= 0:
                    raise TransportTimeout("the attempt's deadline (timeout_s) passed mid-body")
                sock.settimeout(remaining_s if self._idle_s is None else min(remaining_s, self._idle_s))
                try:
                    data = sock.recv(_BLOCK)
                finally:
                    # the parser may hand this socket back to the pool: it keeps the client's own timeout
                    sock.settimeout(self._restore_timeout_s)
                if data:
                    self.arrived_at = _arrival(sock)
                if not data:
                    if resp.message_complete:
                        return
                    # EOF: let the parser decide (a close-delimited body is complete).
                    try:
                        resp.feed(data)
                    except HTTPParseError:
                        raise TransportBrokenStream("connection closed before the response ended") from None
                    if not resp.message_complete:
                        raise TransportBrokenStream("connection closed before the response ended")
                    continue
                resp.feed(data)
        except TransportError:
            self.close()
            raise
        except HTTPParseError:
            self.close()  # a half-read socket must never go back to the pool
            raise TransportBadFraming(f"HTTP {self.status} body does not match its framing", self.status) from None
        except Exception as exc:
            self.close()  # a half-read socket must never go back to the pool
            raise _classify(exc, during_body=True) from None
        except BaseException:
            # GreenletExit (Locust stopping the user), gevent.Timeout, KeyboardInterrupt: not a
            # network failure to record; let it end the greenlet.
            self.close()
            raise

    def close(self) -> None:
        resp = self._resp
        if not resp.message_complete and resp._sock is not None:
            # Not read to the end: the socket cannot be reused.
            sock, pool = resp._sock, getattr(resp, "_pool", None)
            resp._sock = None
            if pool is not None:
                pool.release_socket(sock)
            else:
                sock.close()
            return
        resp.release()


class _AttemptDeadline(Exception):
    """Raised by the attempt's gevent.Timeout inside :meth:`GeventTransport.send`."""


def _unverified_context(cafile: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class GeventTransport:
    def __init__(self, options: TransportOptions) -> None:
        parts = urlsplit(options.base_url)
        self._prefix = parts.path.rstrip("/")
        ssl_options = None
        ssl_context_factory = None
        insecure = False
        if parts.scheme == "https":
            if options.insecure:
                # geventhttpclient's insecure=True only skips the hostname check; the chain is still verified
                insecure = True
                ssl_context_factory = _unverified_context
            elif options.ca_bundle:
                ssl_options = {"ca_certs": options.ca_bundle}
                ca = options.ca_bundle
                ssl_context_factory = lambda: ssl.create_default_context(cafile=ca)  # noqa: E731
        self._timeout_s = options.timeout_s
        self._idle_s = options.idle_timeout_s
        self._network_timeout_s = options.timeout_s if options.idle_timeout_s is None else options.idle_timeout_s
        kwargs = {}
        if ssl_context_factory is not None:
            kwargs["ssl_context_factory"] = ssl_context_factory
        self._client = HTTPClient.from_url(
            f"{parts.scheme}://{parts.netloc}/",
            concurrency=1,
            connection_timeout=options.connect_timeout_s,
            network_timeout=self._network_timeout_s,
            insecure=insecure,
            ssl_options=ssl_options,
            **kwargs,
        )
        if parts.scheme == "http" and _STAMPING:
            # geventhttpclient has no hook for the socket class; its pool's factory is the one seam
            # (geventhttpclient 2.x, pinned; tests/transport cover it). TLS keeps its own sockets.
            self._client._connection_pool._create_tcp_socket = _stamped_tcp_socket
            _keep_rx_stamping_on()

    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> _Response:
        deadline = time.monotonic() + self._timeout_s
        # Our own exception class: a gevent.Timeout set by the caller (a user's own bound) passes through.
        timer = gevent.Timeout(self._timeout_s, _AttemptDeadline)
        timer.start()
        try:
            resp = self._client.request(method, self._prefix + path, body=body, headers=dict(headers))
        except _AttemptDeadline:
            raise TransportTimeout("the attempt's deadline (timeout_s) passed before the response headers") from None
        except Exception as exc:  # GreenletExit, other gevent.Timeouts and KeyboardInterrupt pass through
            raise _classify(exc) from None
        finally:
            timer.close()
        return _Response(resp, deadline, self._idle_s, self._network_timeout_s)

    def close(self) -> None:
        self._client.close()
