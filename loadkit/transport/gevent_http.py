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
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
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

__all__ = ["GeventTransport"]

_BLOCK = 64 * 1024


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


class _Response:
    __slots__ = ("status", "headers", "_resp", "_deadline", "_idle_s", "_restore_timeout_s")

    def __init__(self, resp, deadline: float, idle_s: float | None, restore_timeout_s: float) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.items()}
        self._deadline = deadline
        self._idle_s = idle_s
        self._restore_timeout_s = restore_timeout_s

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
