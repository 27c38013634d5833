"""The verdict of a failed attempt: (outcome, error key) from a transport error or an HTTP error body.

Typed (dispatch on the transport error's class, never on its message) and safe: a body's ``error.code``
or ``error.type`` enters a key only through :func:`loadkit.core.redact.error_key` (redacted, bounded).
"""

from __future__ import annotations

import orjson

from loadkit.core.redact import error_key
from loadkit.transport import (
    TransportBadFraming,
    TransportBrokenStream,
    TransportConnectError,
    TransportError,
    TransportTimeout,
    TransportTLSError,
)

__all__ = ["error_body_key", "transport_verdict"]


def error_body_key(status: int, body: bytes, secrets: tuple[str, ...]) -> str:
    """``http_<status>`` plus the body's ``error.code``/``error.type`` when there is one (redacted, bounded)."""
    key = f"http_{status}"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return key
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return error_key(key, err.get("code") or err.get("type"), secrets)
    return key


def transport_verdict(exc: TransportError, during_body: bool) -> tuple[str, str]:
    """(outcome, error key) of a transport failure; typed, never a string match on the message."""
    if isinstance(exc, TransportTimeout):
        return "timeout", "timeout"
    if isinstance(exc, TransportBadFraming):
        return "upstream_error", f"http_{exc.status or 200}:bad_framing"
    if isinstance(exc, TransportTLSError):
        return "connect_error", "tls_error"
    if isinstance(exc, TransportBrokenStream):
        return ("in_stream_error", "stream_broken") if during_body else ("connect_error", "connection_closed")
    if isinstance(exc, TransportConnectError):
        return "connect_error", "connect_error"
    return "connect_error", exc.key
