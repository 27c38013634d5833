"""httpx transport: one ``httpx.Client`` per transport (never shared across users).

``timeout_s`` is a deadline for the whole attempt. httpx's own timeouts are
per read, so the connection pool runs on a network backend whose streams
clamp every read and write to the attempt's deadline (a 1 byte/s trickle ends
there, in the headers as in the body), without a watchdog thread. A response
that carries bytes beyond its Content-Length (h11 keeps them as the start of
the next response) is :class:`TransportBadFraming`, and its socket is shut
down so the pool drops that connection instead of handing the leftovers to
the next request.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpcore
import httpx

from loadkit.transport import (
    TransportBadFraming,
    TransportBrokenStream,
    TransportConnectError,
    TransportError,
    TransportOptions,
    TransportTimeout,
    TransportTLSError,
)

__all__ = ["HttpxTransport"]

# httpx logs every request at INFO with the server's reason phrase, and httpcore/hpack log response headers
# at DEBUG: a gateway can put the API key in either (issue #14), and a line per request is load on the loop.
_CHATTY_LOGGERS = ("httpx", "httpcore", "hpack")


def _quiet_library_loggers() -> None:
    """WARNING for httpx's own loggers, unless someone set their level on purpose."""
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _classify(exc: Exception) -> TransportError:
    text = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeout(f"timed out ({text})")
    if isinstance(exc, httpx.ConnectError):
        msg = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in msg or "certificate" in msg.lower() or "SSL" in msg:
            return TransportTLSError(f"TLS failed: {msg}; use --ca-bundle or --insecure")
        return TransportConnectError(f"cannot connect ({msg or text})")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return TransportBrokenStream(f"connection broken ({text})")
    return TransportError(f"{text}: {exc}")


def _socket_of(resp: httpx.Response) -> socket.socket | None:
    stream = resp.extensions.get("network_stream")
    try:
        return stream.get_extra_info("socket") if stream is not None else None
    except Exception:  # a backend without a plain socket (mocked or HTTP/2): no watchdog, per-read bounds only
        return None


def _h11_trailing_bytes(resp: httpx.Response) -> bytes:
    """The bytes h11 holds beyond this response's end (b"" when none, or when the chain below is not h11).

    The chain (httpx stream -> httpcore pool stream -> HTTP/1.1 connection -> h11) is internal to httpx
    and httpcore, pinned in the lock file and covered by the framing tests; any change makes this 0.
    """
    obj = resp.stream
    for _ in range(6):  # BoundSyncStream -> ResponseStream -> PoolByteStream -> HTTP11ConnectionByteStream
        conn = getattr(obj, "_connection", None)
        if conn is not None:
            try:
                data, _closed = conn._h11_state.trailing_data
            except AttributeError:
                return b""
            return bytes(data)
        obj = getattr(obj, "_stream", None) or getattr(obj, "_httpcore_stream", None)
        if obj is None:
            return b""
    return b""


class _Response:
    __slots__ = ("_cm", "_resp", "headers", "status")

    def __init__(self, cm, resp: httpx.Response) -> None:
        self._cm = cm
        self._resp = resp
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    def iter_chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self._resp.iter_raw():
                if chunk:
                    yield chunk
        except httpx.RemoteProtocolError as exc:
            # h11 says "peer closed connection without sending complete message body" for a body cut short
            # (a broken stream); every other protocol error mid-body is the body's framing ("illegal chunk
            # header"). httpx has no type for either; the text is h11's, pinned in the lock file and covered
            # by tests/hostile. httpcore closes the connection on either.
            if str(exc).startswith("peer closed connection"):
                raise _classify(exc) from None
            raise TransportBadFraming(f"HTTP {self.status} body does not match its framing ({exc})",
                                      self.status) from None
        except httpx.HTTPError as exc:
            raise _classify(exc) from None
        trailing = _h11_trailing_bytes(self._resp)
        if trailing:
            sock = _socket_of(self._resp)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the pool sees it readable at EOF and drops it
                except OSError:
                    pass
            # A stray CRLF after a body (old servers, some proxies) is an ignorable empty line (RFC 9112
            # 2.2), not a framing error: the answer stands, only the connection is dropped.
            if trailing.strip(b"\r\n"):
                raise TransportBadFraming(f"HTTP {self.status} response with bytes beyond its Content-Length",
                                          self.status)

    def close(self) -> None:
        try:
            self._cm.__exit__(None, None, None)
        except httpx.HTTPError:
            pass


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never wait past its backend's current deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: _DeadlineBackend) -> None:
        self._inner = inner
        self._backend = backend

    def _bound(self, timeout: float | None) -> float | None:
        deadline = self._backend.deadline
        if deadline is None:
            return timeout
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise httpcore.ReadTimeout("the attempt's deadline (timeout_s) passed")
        return remaining_s if timeout is None else min(timeout, remaining_s)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._bound(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, self._bound(timeout)), self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with the deadline of the attempt in progress (one attempt at a time per user)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self.deadline: float | None = None

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options), self)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options), self)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class HttpxTransport:
    def __init__(self, options: TransportOptions, http2: bool = False) -> None:
        _quiet_library_loggers()
        verify: bool | ssl.SSLContext = True
        if options.insecure:
            verify = False
        elif options.ca_bundle:
            verify = ssl.create_default_context(cafile=options.ca_bundle)
        read_s = options.timeout_s if options.idle_timeout_s is None else min(options.timeout_s, options.idle_timeout_s)
        timeout = httpx.Timeout(read_s, connect=options.connect_timeout_s)
        self._timeout_s = options.timeout_s
        self._backend = _DeadlineBackend()
        # Loading the CA bundle costs ~100 ms of CPU (it blocks a gevent loop): build the context once.
        ssl_context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        transport = httpx.HTTPTransport(verify=ssl_context, http2=http2)
        # httpx.HTTPTransport takes no network backend; its pool is rebuilt with ours (same settings as httpx's).
        transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, http1=True, http2=http2,
                                                  network_backend=self._backend)
        self._client = httpx.Client(base_url=options.base_url, timeout=timeout, transport=transport)

    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> _Response:
        self._backend.deadline = time.monotonic() + self._timeout_s
        cm = self._client.stream(method, path, content=body, headers=headers)
        try:
            resp = cm.__enter__()
        except httpx.HTTPError as exc:
            raise _classify(exc) from None
        if "transfer-encoding" in resp.headers and "content-length" in resp.headers:
            # RFC 9112 6.3: "ought to be handled as an error" (response splitting); h11 would let
            # Transfer-Encoding win, geventhttpclient's parser rejects it: both transports reject it.
            cm.__exit__(None, None, None)  # unread: httpcore closes the connection instead of reusing it
            raise TransportBadFraming(f"HTTP {resp.status_code} response with both Transfer-Encoding and "
                                      "Content-Length", resp.status_code)
        return _Response(cm, resp)

    def close(self) -> None:
        self._client.close()
