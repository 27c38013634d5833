"""httpx transport: one ``httpx.Client`` per transport (never shared across users)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping

import httpx

from loadkit.transport import TransportBrokenStream, TransportConnectError, TransportError, TransportOptions, TransportTimeout

__all__ = ["HttpxTransport"]


def _classify(exc: Exception) -> TransportError:
    text = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeout(f"timed out ({text})")
    if isinstance(exc, httpx.ConnectError):
        msg = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in msg or "certificate" in msg.lower():
            err = TransportConnectError(f"TLS certificate verification failed: {msg}; use --ca-bundle or --insecure")
            err.key = "tls_error"
            return err
        return TransportConnectError(f"cannot connect ({msg or text})")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return TransportBrokenStream(f"connection broken ({text})")
    return TransportError(f"{text}: {exc}")


class _Response:
    __slots__ = ("status", "headers", "_cm", "_resp")

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
        except httpx.HTTPError as exc:
            raise _classify(exc) from None

    def close(self) -> None:
        try:
            self._cm.__exit__(None, None, None)
        except httpx.HTTPError:
            pass


class HttpxTransport:
    def __init__(self, options: TransportOptions, http2: bool = False) -> None:
        verify: bool | ssl.SSLContext = True
        if options.insecure:
            verify = False
        elif options.ca_bundle:
            verify = ssl.create_default_context(cafile=options.ca_bundle)
        timeout = httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s)
        self._client = httpx.Client(base_url=options.base_url, timeout=timeout, verify=verify, http2=http2)

    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> _Response:
        cm = self._client.stream(method, path, content=body, headers=headers)
        try:
            resp = cm.__enter__()
        except httpx.HTTPError as exc:
            raise _classify(exc) from None
        return _Response(cm, resp)

    def close(self) -> None:
        self._client.close()
