"""geventhttpclient transport: Locust FastHttpUser's engine, read chunk by chunk.

geventhttpclient's ``response.read(n)`` blocks until n bytes; a stream needs
"whatever has arrived", so :meth:`_Response.iter_chunks` feeds the socket's
``recv`` into the response's own parser (its ``feed``/``_body_buffer`` API,
stable since 1.x; pinned in the lock file and covered by the transport tests).
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError

from loadkit.transport import TransportBrokenStream, TransportConnectError, TransportError, TransportOptions, TransportTimeout

__all__ = ["GeventTransport"]

_BLOCK = 64 * 1024


def _classify(exc: BaseException, during_body: bool = False) -> TransportError:
    name = type(exc).__name__
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransportTimeout(f"timed out ({name})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        err = TransportConnectError(f"TLS certificate verification failed ({exc.verify_message}); use --ca-bundle or --insecure")
        err.key = "tls_error"
        return err
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


class _Response:
    __slots__ = ("status", "headers", "_resp")

    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.items()}

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
                data = sock.recv(_BLOCK)
                if not data:
                    if resp.message_complete:
                        return
                    # EOF: let the parser decide (a close-delimited body is complete).
                    resp.feed(data)
                    if not resp.message_complete:
                        raise TransportBrokenStream("connection closed before the response ended")
                    continue
                resp.feed(data)
        except TransportError:
            self.close()
            raise
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
        kwargs = {}
        if ssl_context_factory is not None:
            kwargs["ssl_context_factory"] = ssl_context_factory
        self._client = HTTPClient.from_url(
            f"{parts.scheme}://{parts.netloc}/",
            concurrency=1,
            connection_timeout=options.connect_timeout_s,
            network_timeout=options.timeout_s,
            insecure=insecure,
            ssl_options=ssl_options,
            **kwargs,
        )

    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> _Response:
        try:
            resp = self._client.request(method, self._prefix + path, body=body, headers=dict(headers))
        except Exception as exc:  # GreenletExit, gevent.Timeout and KeyboardInterrupt pass through
            raise _classify(exc) from None
        return _Response(resp)

    def close(self) -> None:
        self._client.close()
