"""The small interface between the chat client and an HTTP library.

A transport sends one request and returns a :class:`TransportResponse` whose
body is read chunk by chunk as it arrives, so the client can timestamp every
SSE event. Two implementations pass the same tests:

- ``fasthttp`` (:mod:`loadkit.transport.gevent_http`): geventhttpclient, the
  Locust hot path (measured ~4.5x httpx's request rate under gevent).
- ``httpx`` (:mod:`loadkit.transport.httpx_http`): plain-Python use,
  preflight, HTTP/2, anything without gevent.

Each user owns its transport: never share one across gevent users (httpx's
sync pool polls every pooled socket per request and collapses under sharing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from loadkit.errors import LoadkitError

__all__ = [
    "Transport",
    "TransportResponse",
    "TransportOptions",
    "TransportError",
    "TransportTimeout",
    "TransportConnectError",
    "TransportTLSError",
    "TransportBadFraming",
    "TransportBrokenStream",
    "make_transport",
]


class TransportError(LoadkitError):
    """A request failed below HTTP. Dispatch on the subclass; ``key`` is its stable short name for grouping."""

    key = "transport_error"


class TransportTimeout(TransportError):
    """The attempt's deadline (``timeout_s``, headers and body) or its idle-read timeout passed."""

    key = "timeout"


class TransportConnectError(TransportError):
    """No connection: refused, unresolvable, unreachable."""

    key = "connect_error"


class TransportTLSError(TransportConnectError):
    """The TLS handshake failed (certificate not verified, protocol mismatch)."""

    key = "tls_error"


class TransportBrokenStream(TransportError):
    """The connection broke after the request was sent (mid-headers or mid-body)."""

    key = "stream_broken"


class TransportBadFraming(TransportBrokenStream):
    """The response's framing is wrong (bytes beyond its Content-Length, an unparsable chunk size).

    The connection it came on is discarded, so no other request reads its leftovers.
    """

    key = "bad_framing"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """``timeout_s`` bounds a whole attempt (connect, headers and body); ``idle_timeout_s``, when set,
    also bounds each wait for the next bytes (a stalled stream fails before its deadline)."""

    base_url: str
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    ca_bundle: str = ""
    insecure: bool = False
    idle_timeout_s: float | None = None


class TransportResponse(Protocol):
    status: int
    headers: Mapping[str, str]  # lower-case names

    def iter_chunks(self) -> Iterator[bytes]:
        """Body bytes as they arrive (transfer-decoded); raises TransportError subclasses."""

    def close(self) -> None:
        """Release the connection (reading to the end first keeps it reusable)."""


class Transport(Protocol):
    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> TransportResponse:
        """Send a request; returns once the response headers are in."""

    def close(self) -> None:
        ...


def make_transport(kind: str, options: TransportOptions) -> Transport:
    """A new transport of ``kind`` ("fasthttp" or "httpx"). One per user."""
    if kind == "httpx":
        from loadkit.transport.httpx_http import HttpxTransport

        return HttpxTransport(options)
    if kind == "fasthttp":
        from loadkit.transport.gevent_http import GeventTransport

        return GeventTransport(options)
    raise LoadkitError(f"unknown transport {kind!r}; use fasthttp or httpx")
